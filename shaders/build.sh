#!/bin/sh
# build.sh compiles every shaders/*.comp to shaders/spv/*.spv with glslc and checks each result with
# spirv-val. The first line of a .comp lists its variants ("// variants: sg s16"): besides the plain
# build, "sg" adds NAME_sg.spv (-DSG, subgroup reductions), "s16" adds NAME_s16.spv (-DF16, f16 data
# read through 16-bit storage), "i8" adds NAME_i8.spv (-DI8, int8 weights read through 8-bit
# storage), and "sg" together with "s16" or "i8" adds NAME_sg_s16.spv or NAME_sg_i8.spv. The SPIR-V
# is committed; CI runs `shaders/build.sh --check` to prove it matches the sources byte for byte (glslc is deterministic).
# Pinned tools: Debian 12 glslc (shaderc 2023.2, glslang 12.0.0) and spirv-tools 2023.1.
set -eu
cd "$(dirname "$0")"
check=0
[ "${1:-}" = "--check" ] && check=1
out=spv
if [ $check = 1 ]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
env=vulkan1.1 # subgroup operations need SPIR-V 1.3, which Vulkan 1.1 guarantees
for src in *.comp; do
	name=${src%.comp}
	variants=$(sed -n '1s,^// variants:,,p' "$src")
	builds="$name:"
	for v in $variants; do
		case $v in
		sg) builds="$builds ${name}_sg:-DSG" ;;
		s16) builds="$builds ${name}_s16:-DF16" ;;
		i8) builds="$builds ${name}_i8:-DI8" ;;
		*) echo "$src: unknown variant $v" >&2; exit 1 ;;
		esac
	done
	case " $variants " in *" sg "*) case " $variants " in *" s16 "*) builds="$builds ${name}_sg_s16:-DSG,-DF16" ;; esac ;; esac
	case " $variants " in *" sg "*) case " $variants " in *" i8 "*) builds="$builds ${name}_sg_i8:-DSG,-DI8" ;; esac ;; esac
	for b in $builds; do
		spv=${b%%:*}
		defs=$(echo "${b#*:}" | tr ',' ' ')
		# shellcheck disable=SC2086 # defs is a list of flags
		glslc --target-env=$env -O -Werror $defs "$src" -o "$out/$spv.spv"
		spirv-val --target-env $env "$out/$spv.spv"
	done
done
if [ $check = 1 ]; then
	if ! diff -r "$out" spv >/dev/null; then
		echo "shaders/spv is stale: run shaders/build.sh and commit the result" >&2
		diff -rq "$out" spv >&2 || true
		exit 1
	fi
	echo "shaders/spv matches the sources"
fi
