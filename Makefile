# sparkrun build, test and tooling. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/sparkrun
# Packages whose code runs goroutines concurrently: tested again under the race detector.
RACE_PKGS := ./runtime/... ./cmd/... ./tokenizer/... ./press/...
# Packages that pass Go memory to C (the Vulkan binding and its users): tested again with the
# runtime's full cgo pointer checks.
CGO_PKGS := ./runtime/vulkan/... ./runtime/vkmodel/...
FUZZTIME ?= 15s

.PHONY: help build test vet race cgocheck fuzz bench setup shaders shaders-check quickstart

help:
	@echo "make setup      install the Debian packages the tests need (root)"
	@echo "make build      build $(BIN)"
	@echo "make test       vet, shader check, all tests, race tests"
	@echo "make fuzz       run every fuzz target for FUZZTIME ($(FUZZTIME))"
	@echo "make bench      run the Go benchmarks"
	@echo "make shaders    compile shaders/*.comp to shaders/spv with glslc"

build:
	$(GO) build -o $(BIN) ./cmd/sparkrun

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

test: vet shaders-check
	$(GO) test ./...
	$(GO) test -race $(RACE_PKGS)
	$(MAKE) cgocheck

# The cgo pointer rules, checked at every call (GOEXPERIMENT=cgocheck2 rebuilds the runtime).
cgocheck:
	GOEXPERIMENT=cgocheck2 $(GO) test $(CGO_PKGS)

# Every fuzz target, each for FUZZTIME, one at a time (go test -fuzz takes one target).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

setup:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan-dev \
	  vulkan-validationlayers vulkan-tools glslc spirv-tools tmux

shaders:
	bash shaders/build.sh

# The committed SPIR-V must be what the sources compile to, and valid.
shaders-check:
	bash shaders/build.sh --check

# The README quick start's first command, as CI runs it.
quickstart: build
	./$(BIN) run "Once upon a time" -n 64
