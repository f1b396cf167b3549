//go:build cgo

package vkmodel

import (
	"bufio"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// testdata is package runtime's test data (the models and llama.cpp's reference outputs; see
// its README.md for provenance and licences), shared rather than copied since both packages test
// the same files.
const testdata = "../testdata"

// openFile opens testdata/name; it is closed when the test ends.
func openFile(t testing.TB, name string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// loadCPU loads testdata/name on the CPU runtime with two threads.
func loadCPU(t testing.TB, name string, opts runtime.Options) *runtime.Model {
	t.Helper()
	opts.Threads = 2
	m, err := runtime.Load(openFile(t, name), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// loadVK loads testdata/name on the best Vulkan device with the validation layer on and mods
// applied to the options (see loadVKFile).
func loadVK(t testing.TB, name string, opts runtime.Options, mods ...func(*vulkan.Options)) *Model {
	t.Helper()
	return loadVKFile(t, openFile(t, name), opts, mods...)
}

// loadVKFile loads f on the best Vulkan device with the validation layer on and mods applied to
// the options. The test fails on any validation message, reported while it runs or when the
// model closes. Without a Vulkan device it fails, unless SPARKRUN_VK_OPTIONAL=1 (machines
// without lavapipe).
func loadVKFile(t testing.TB, f *gguf.File, opts runtime.Options, mods ...func(*vulkan.Options)) *Model {
	t.Helper()
	vo, err := vulkan.OptionsFromEnv("auto")
	if err != nil {
		t.Fatal(err)
	}
	vo.Validate = true
	for _, mod := range mods {
		mod(&vo)
	}
	m, err := Load(f, opts, vo)
	if errors.Is(err, vulkan.ErrNoDevice) && os.Getenv("SPARKRUN_VK_OPTIONAL") == "1" {
		t.Skipf("no Vulkan device and SPARKRUN_VK_OPTIONAL=1: %v", err)
	}
	if err != nil {
		t.Fatalf("loading on Vulkan (install mesa-vulkan-drivers and vulkan-validationlayers, or set SPARKRUN_VK_OPTIONAL=1 to skip): %v", err)
	}
	t.Cleanup(func() {
		if msgs := m.Context().ValidationMessages(); len(msgs) > 0 {
			t.Errorf("validation messages:\n%s", strings.Join(msgs, "\n"))
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// fallbacks selects what a discrete GPU without subgroup arithmetic or 16-bit storage runs:
// staging uploads, shared-memory reductions and f16 read as 32-bit words.
func fallbacks(o *vulkan.Options) { o.ForceStaging, o.NoSubgroup, o.NoF16 = true, true, true }

// readLogits reads a llama.cpp .logits.txt file: the prompt ids, then one row of logits per
// position.
func readLogits(t testing.TB, name string) (ids []int32, rows [][]float32) {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var vals []float64
		for _, s := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			vals = append(vals, v)
		}
		if ids == nil {
			for _, v := range vals {
				ids = append(ids, int32(v))
			}
			continue
		}
		row := make([]float32, len(vals))
		for i, v := range vals {
			row[i] = float32(v)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ids) {
		t.Fatalf("%s: %d logit rows for %d ids", name, len(rows), len(ids))
	}
	return ids, rows
}

// maxDiff returns the largest |got[i] - want[i]| (+Inf when a value is NaN) and its index.
func maxDiff(got, want []float32) (float64, int) {
	worst, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1), i
		}
		if d > worst {
			worst, at = d, i
		}
	}
	return worst, at
}
