//go:build cgo

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// TestDeviceLoadVulkan loads the embedded model with --device vulkan (lavapipe here, with the
// validation layer on) and checks that it runs on the device and gives the CPU's greedy tokens.
func TestDeviceLoadVulkan(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	f, _, err := openModel("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gen := func(spec string) []int32 {
		var stderr bytes.Buffer
		d := &deviceFlag{spec: spec, stderr: &stderr}
		e, cpu, closeFn, err := d.load(f, runtime.Options{ContextSize: 64})
		if errors.Is(err, vulkan.ErrNoDevice) && os.Getenv("SPARKRUN_VK_OPTIONAL") == "1" {
			t.Skipf("no Vulkan device and SPARKRUN_VK_OPTIONAL=1: %v", err)
		}
		if err != nil {
			t.Fatalf("--device %s: %v", spec, err)
		}
		if (cpu == nil) != (spec == "vulkan") {
			t.Fatalf("--device %s: CPU model %v", spec, cpu)
		}
		res, err := runtime.NewSessionOn(e).Generate([]int32{1}, runtime.GenerateOptions{MaxTokens: 24})
		closeFn()
		if err != nil {
			t.Fatal(err)
		}
		if spec == "vulkan" && (!strings.Contains(stderr.String(), "running on vulkan:") || strings.Contains(stderr.String(), "validation")) {
			t.Fatalf("--device vulkan: stderr %q, want the device named and no validation message", stderr.String())
		}
		return res.Tokens
	}
	if got, want := gen("vulkan"), gen("cpu"); !slices.Equal(got, want) {
		t.Fatalf("vulkan generated %v, cpu %v", got, want)
	}
}

// TestDeviceNoVulkan hides every Vulkan device: --device vulkan is a runtime failure (exit 1)
// that says there is no device, and auto runs on the CPU, saying so.
func TestDeviceNoVulkan(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VISIBLE_DEVICES", "")
	f, _, err := openModel("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	_, _, _, err = (&deviceFlag{spec: "vulkan", stderr: &stderr}).load(f, runtime.Options{})
	var ue usageError
	var me modelError
	if !errors.Is(err, vulkan.ErrNoDevice) || errors.As(err, &ue) || errors.As(err, &me) {
		t.Fatalf("--device vulkan without devices: error %v, want a runtime failure (exit 1) wrapping ErrNoDevice", err)
	}
	e, cpu, closeFn, err := (&deviceFlag{spec: "auto", stderr: &stderr}).load(f, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if cpu == nil || e != runtime.Engine(cpu) || !strings.Contains(stderr.String(), "no Vulkan device; running on the CPU") {
		t.Fatalf("--device auto without devices: CPU model %v, stderr %q", cpu, stderr.String())
	}
}

// TestCLIDevice runs commands end to end with --device: the embedded stories260K on Vulkan
// (lavapipe here, validation layer on) reproduces karpathy's greedy text like the CPU, logits and
// ppl run there, and --device vulkan with every device hidden is a runtime failure (exit 1).
func TestCLIDevice(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	want, err := os.ReadFile("testdata/stories260K.greedy-t0.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := sparkrun(t, "run", "", "--device", "vulkan", "--temp", "0", "-n", "256")
	if code != exitOK || strings.TrimSuffix(out, "\n") != string(want) || strings.Contains(errs, "validation") {
		t.Fatalf("run --device vulkan: exit %d, stderr %q\n got %q\nwant %q", code, errs, out, want)
	}
	cpuLogits := mustRun(t, "logits", "--device", "cpu", "--kv-type", "f32", "--ids", "1,403,407,261,378")
	vkLogits, errs, code := sparkrun(t, "logits", "--device", "vulkan", "--kv-type", "f32", "--ids", "1,403,407,261,378")
	if code != exitOK || strings.Contains(errs, "validation") {
		t.Fatalf("logits --device vulkan: exit %d, stderr %q", code, errs)
	}
	// Printed with %.6g: stories260K's logits reach ±22, so the device's float32 differences
	// (< 3e-4, package vkmodel's TestLogits) show in the last digit at most.
	cl, vl := strings.Fields(cpuLogits), strings.Fields(vkLogits)
	if len(cl) != len(vl) {
		t.Fatalf("logits: %d fields on the CPU, %d on Vulkan", len(cl), len(vl))
	}
	for i := range cl {
		c, err1 := strconv.ParseFloat(strings.TrimSuffix(cl[i], ","), 64)
		v, err2 := strconv.ParseFloat(strings.TrimSuffix(vl[i], ","), 64)
		if err1 != nil || err2 != nil || math.Abs(c-v) > 1e-3 {
			t.Fatalf("logits field %d: cpu %q, vulkan %q", i, cl[i], vl[i])
		}
	}
	// Perplexity prints 4 decimals, which the device's float32 differences do not reach.
	ppl := func(device string) string {
		out := mustRun(t, "ppl", "--device", device, "--kv-type", "f32", "--ctx", "64", "testdata/story.txt")
		_, final, _ := strings.Cut(out, "Final estimate")
		return final
	}
	if c, v := ppl("cpu"), ppl("vulkan"); c == "" || c != v {
		t.Fatalf("ppl: cpu %q, vulkan %q", c, v)
	}
	t.Setenv("SPARKRUN_VK_VISIBLE_DEVICES", "")
	if _, errs, code := sparkrun(t, "run", "", "--device", "vulkan", "-n", "2"); code != exitFailure || !strings.Contains(errs, "no Vulkan device") {
		t.Fatalf("run --device vulkan without devices: exit %d, stderr %q; want exit 1 saying there is no device", code, errs)
	}
}

// TestBenchDevice: bench runs on the device --device names and says so in its results.
func TestBenchDevice(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	for _, c := range []struct{ device, backend string }{{"cpu", "CPU"}, {"vulkan", "Vulkan"}} {
		out := mustRun(t, "bench", "-p", "8", "-n", "4", "-r", "1", "--json", "--device", c.device)
		var rows []benchResult
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("--device %s: %d results, want 2", c.device, len(rows))
		}
		for _, r := range rows {
			if r.Backend != c.backend || r.MeanTPS <= 0 {
				t.Errorf("--device %s: %s backend %q at %g tok/s, want %s", c.device, r.Test, r.Backend, r.MeanTPS, c.backend)
			}
		}
	}
}

// TestBatchDevice: batch runs on Vulkan (one pass per slot and step, since a device pass serves
// one sequence) and, greedy, writes the CPU's results.
func TestBatchDevice(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var lines []string
	for i, s := range []string{"dog", "cat", "little girl", "boy", "bird"} {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "prompt": "Once upon a time, there was a %s", "max_tokens": %d, "temperature": 0}`, i, s, 12+i))
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, device := range []string{"cpu", "vulkan"} {
		out := filepath.Join(dir, device+".jsonl")
		_, errs, code := sparkrun(t, "batch", "--device", device, "--kv-type", "f32", "--parallel", "3", "--quiet", "--in", in, "--out", out)
		if code != exitOK || strings.Contains(errs, "validation") {
			t.Fatalf("batch --device %s: exit %d, stderr %q", device, code, errs)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rs []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r struct {
				ID   int    `json:"id"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.Text == "" {
				t.Fatalf("batch --device %s: bad result line %q (%v)", device, l, err)
			}
			rs = append(rs, fmt.Sprintf("%d:%s", r.ID, r.Text))
		}
		sort.Strings(rs)
		results[device] = strings.Join(rs, "\n")
	}
	if results["cpu"] != results["vulkan"] {
		t.Errorf("batch results differ:\ncpu:\n%s\nvulkan:\n%s", results["cpu"], results["vulkan"])
	}
}

// TestPressDevice: with a press, --device vulkan compresses on the device and gives the CPU's
// greedy text (run), and bench reports the device cache's compressed bytes: for the tiny shape
// within 10% above the CPU layout's (the device keeps masks in 32-bit words and per-tile
// checkpoints) and well under dense.
func TestPressDevice(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	// Longer than SparK's 32-query window, so the prompt really is compressed (the text changes).
	prompt := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree."
	press := []string{"--temp", "0", "-n", "32", "--kv-type", "f32", "--press", "spark", "--key-ratio", "0.8"}
	cpu := mustRun(t, append([]string{"run", "", prompt, "--device", "cpu"}, press...)...)
	if dense := mustRun(t, "run", "", prompt, "--device", "cpu", "--temp", "0", "-n", "32", "--kv-type", "f32"); dense == cpu {
		t.Fatalf("SparK λ=0.8 did not change the text %q: the prompt was not compressed", dense)
	}
	vk, errs, code := sparkrun(t, append([]string{"run", "", prompt, "--device", "vulkan"}, press...)...)
	if code != exitOK || strings.Contains(errs, "validation") || vk != cpu {
		t.Fatalf("run --press spark --device vulkan: exit %d, stderr %q\n got %q\nwant %q (cpu)", code, errs, vk, cpu)
	}
	withTinyShape(t)
	args := []string{"--synthetic", "tiny:f32", "--press", "spark", "--key-ratio", "0.8", "-p", "64", "-n", "4", "-d", "64", "-r", "1"}
	c := benchJSON(t, append(args, "--device", "cpu")...)
	v := benchJSON(t, append(args, "--device", "vulkan")...)
	for i := range v {
		if v[i].Backend != "Vulkan" || v[i].KVCompressedBytes < c[i].KVCompressedBytes || float64(v[i].KVCompressedBytes) > 1.1*float64(c[i].KVCompressedBytes) || v[i].KVCompressedBytes >= v[i].KVBytes {
			t.Errorf("%s on %s: %d compressed of %d dense bytes; the CPU stores %d", v[i].Test, v[i].Backend, v[i].KVCompressedBytes, v[i].KVBytes, c[i].KVCompressedBytes)
		}
	}
}

// TestDeviceNoFit: a model larger than the device memory allowed is refused before any upload
// with needed and available bytes (exit 1) under --device vulkan; auto would run it on the CPU.
func TestDeviceNoFit(t *testing.T) {
	t.Setenv("SPARKRUN_VK_VALIDATE", "1")
	t.Setenv("SPARKRUN_VK_MAX_MEMORY", "1") // 1 MiB: stories260K needs more with its activations
	_, errs, code := sparkrun(t, "run", "", "--device", "vulkan", "-n", "2")
	if code != exitFailure || !strings.Contains(errs, "does not fit") || !strings.Contains(errs, "bytes") {
		t.Fatalf("run --device vulkan with 1 MiB: exit %d, stderr %q; want exit 1 saying the model does not fit", code, errs)
	}
}
