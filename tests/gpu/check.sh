#!/usr/bin/env bash
# GPU check: run on a machine with a real Vulkan GPU (the project's lent H200, or any desktop).
# Prints the Vulkan summary, runs the Vulkan parity tests against the CPU references on that
# GPU, then `sparkrun bench --device vulkan` on synthetic Llama-3.2-1B and Llama-3-8B shapes
# (Q4_0, Q8_0, F16) and one table: tokens/s and the fraction of the GPU's memory bandwidth
# that token generation uses (weight bytes per token x tg tokens/s / bandwidth). Then the
# long-context KV press cases of issue 8: tg after a 4k and a 16k prompt on the synthetic
# Llama-3.2-1B shape, dense vs SparK λ=0.5 / 0.8 vs snap_spark, compressed on the GPU, with the
# KV bytes of each, and the per-layer attention (dense vs compressed) and long-context Go benchmarks.
#
# Usage: tests/gpu/check.sh [BANDWIDTH_GBPS]   (default 4800, the H200's HBM3e)
# Needs: Go, gcc, libvulkan (the loader), the GPU's Vulkan ICD. Installs nothing.
set -uo pipefail
cd "$(dirname "$0")/../.."
bw=${1:-4800}
out=${OUT:-$(mktemp -d)}
echo "== vulkaninfo"
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | head -40 || echo "vulkaninfo not installed"
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
echo "== build"
go build -o "$out/sparkrun" ./cmd/sparkrun || exit 1
"$out/sparkrun" devices
echo "== Vulkan parity tests (ops and whole models) on this GPU"
go test -count=1 ./runtime/vulkan/... ./runtime/vkmodel/... 2>&1 | tail -20
echo "== bench"
printf '%-22s %-6s %10s %10s %12s %8s\n' shape test tok/s stddev "GB/token" "bw used" > "$out/table.txt"
for shape in llama3.2-1b llama3-8b; do
  for typ in q4_0 q8_0 f16; do
    json="$out/$shape-$typ.json"
    if ! timeout 300 "$out/sparkrun" bench --synthetic "$shape:$typ" --device vulkan -p 512 -n 128 -r 3 --json > "$json" 2> "$out/$shape-$typ.err"; then
      echo "$shape:$typ failed: $(tail -1 "$out/$shape-$typ.err")"
      continue
    fi
    python3 - "$json" "$shape:$typ" "$bw" >> "$out/table.txt" <<'PY'
import json, sys
rows, name, bw = json.load(open(sys.argv[1])), sys.argv[2], float(sys.argv[3])
for r in rows:
    gb = r["bytes"] / 1e9
    used = f'{gb * r["mean_tps"] / bw:.1%}' if r["test"].startswith("tg") else "-"
    print(f'{name:<22} {r["test"]:<6} {r["mean_tps"]:10.1f} {r["stddev_tps"]:10.1f} {gb:12.2f} {used:>8}')
PY
  done
done
cat "$out/table.txt"
echo "== long context with KV presses (compression and decode on the GPU)"
printf '%-14s %-7s %12s %10s %12s %9s\n' press depth tg_tok/s stddev "KV MiB" "of dense" > "$out/press.txt"
for d in 4096 16384; do
  for p in none spark:0.5 spark:0.8 snap_spark:0.8; do
    name=${p%%:*}; args=()
    [ "$p" != none ] && args=(--press "$name" --key-ratio "${p#*:}")
    [ "$name" = snap_spark ] && args+=(--token-ratio 0.5)
    json="$out/press-$name-${p#*:}-$d.json"
    if ! timeout 600 "$out/sparkrun" bench --synthetic llama3.2-1b:q4_0 --device vulkan -p 0 -n 64 -d "$d" -r 3 --ctx $((d + 128)) "${args[@]}" --json > "$json" 2> "$json.err"; then
      echo "$p at $d failed: $(tail -1 "$json.err")"
      continue
    fi
    python3 - "$json" "$p" "$d" >> "$out/press.txt" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    kv = r.get("kv_compressed_bytes") or r["kv_bytes"]
    print(f'{sys.argv[2]:<14} {sys.argv[3]:<7} {r["mean_tps"]:12.2f} {r["stddev_tps"]:10.2f} {kv / 2**20:12.1f} {kv / r["kv_bytes"]:9.3f}')
PY
  done
done
cat "$out/press.txt"
go test -count=1 -run XXX -bench 'LongContext' -benchtime 3x ./runtime/vkmodel/ 2>&1 | grep -E "Benchmark|ok|FAIL"
go test -count=1 -run XXX -bench 'LayerAttention' -benchtime 6x ./runtime/vulkan/ 2>&1 | grep -E "Benchmark|ok|FAIL"
