package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/defaultmodel"
	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

// tinyShape is a Llama-like shape small enough to build, save and benchmark in milliseconds
// (the real shapes take seconds and hundreds of MB). Widths are multiples of 32 for Q8_0/Q4_0.
var tinyShape = synth.Shape{
	Arch: "llama", Name: "synthetic tiny", Embd: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16,
	FF: 128, Vocab: 256, Context: 256, RopeTheta: 10000, NormEps: 1e-5, Tied: true, Llama3Rope: true,
}

// withTinyShape makes --synthetic accept "tiny" for the duration of the test.
func withTinyShape(t *testing.T) {
	t.Helper()
	orig := lookupShape
	lookupShape = func(name string) (synth.Shape, bool) {
		if name == "tiny" {
			return tinyShape, true
		}
		return orig(name)
	}
	t.Cleanup(func() { lookupShape = orig })
}

// benchJSON runs `sparkrun bench --json args...` and decodes its output.
func benchJSON(t *testing.T, args ...string) []benchResult {
	t.Helper()
	out := mustRun(t, append([]string{"bench", "--json"}, args...)...)
	var res []benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json output %q: %v", out, err)
	}
	return res
}

// TestBenchJSON checks every field of the JSON results on the embedded stories260K: 5 layers,
// 4 KV heads of 8 dimensions, so a token of f16 cache is 5*2*4*8*2 = 640 bytes (1280 in f32).
func TestBenchJSON(t *testing.T) {
	f, err := defaultmodel.Open()
	if err != nil {
		t.Fatal(err)
	}
	var bytesWant, paramsWant int64
	for i := range f.Tensors {
		bytesWant += f.Tensors[i].Size
		paramsWant += f.Tensors[i].Elements()
	}
	f.Close()
	cases := []struct {
		args     []string
		tests    []string
		reps     int
		perTok   int64
		ctx      int
		kvType   string
		threadsN int
	}{
		{[]string{"-p", "8", "-n", "4", "-r", "2"}, []string{"pp8", "tg4"}, 2, 640, 12, "f16", 0},
		{[]string{"-p", "8", "-n", "0", "-r", "1", "--threads", "1"}, []string{"pp8"}, 1, 640, 8, "f16", 1},
		{[]string{"-p", "0", "-n", "5", "-r", "3", "--kv-type", "f32", "--ctx", "32"}, []string{"tg5"}, 3, 1280, 32, "f32", 0},
	}
	for _, c := range cases {
		res := benchJSON(t, c.args...)
		if len(res) != len(c.tests) {
			t.Fatalf("%v: %d results, want %d", c.args, len(res), len(c.tests))
		}
		for i, r := range res {
			if r.Test != c.tests[i] || r.Reps != c.reps || len(r.SamplesTPS) != c.reps || r.Threads != c.threadsN {
				t.Errorf("%v: result %d = %+v, want test %s, %d reps, threads %d", c.args, i, r, c.tests[i], c.reps, c.threadsN)
			}
			if r.Model != defaultmodel.Name {
				t.Errorf("%v: model %q, want %q", c.args, r.Model, defaultmodel.Name)
			}
			if r.Bytes != bytesWant || r.Params != paramsWant {
				t.Errorf("%v: %d bytes, %d params; the file's tensors have %d, %d", c.args, r.Bytes, r.Params, bytesWant, paramsWant)
			}
			mean, sd := meanStddev(r.SamplesTPS)
			if r.MeanTPS != mean || r.StddevTPS != sd || mean <= 0 || (c.reps == 1 && sd != 0) {
				t.Errorf("%v: mean %g ± %g, samples %v", c.args, r.MeanTPS, r.StddevTPS, r.SamplesTPS)
			}
			if r.KVBytesPerToken != c.perTok || r.KVContext != c.ctx || r.KVBytes != c.perTok*int64(c.ctx) || r.KVType != c.kvType {
				t.Errorf("%v: KV %+v, want %d bytes/token, %d positions, %s", c.args, r.kvFootprint, c.perTok, c.ctx, c.kvType)
			}
			if _, ok := peakRSS(); ok && r.PeakRSS <= 0 {
				t.Errorf("%v: peak RSS %d although /proc/self/status has it", c.args, r.PeakRSS)
			}
		}
	}
}

// TestBenchTable checks the llama-bench layout: header, alignment row, one row per test, then
// the memory lines.
func TestBenchTable(t *testing.T) {
	out := mustRun(t, "bench", "-p", "16", "-n", "4", "-r", "2", "--threads", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 6 {
		t.Fatalf("table too short:\n%s", out)
	}
	header := strings.Fields(strings.ReplaceAll(lines[0], "|", " "))
	if want := []string{"model", "size", "params", "backend", "threads", "test", "t/s"}; !reflect.DeepEqual(header, want) {
		t.Errorf("header %q, want columns %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "| ---") || !strings.HasSuffix(lines[1], ": |") {
		t.Errorf("alignment row %q", lines[1])
	}
	for i, test := range []string{"pp16", "tg4"} {
		cells := strings.Split(strings.Trim(lines[2+i], "|"), "|")
		if len(cells) != 7 {
			t.Fatalf("row %q: %d cells, want 7", lines[2+i], len(cells))
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if cells[0] != defaultmodel.Name || !strings.HasSuffix(cells[1], " GiB") || !strings.HasSuffix(cells[2], " K") ||
			cells[3] != "CPU" || cells[4] != "2" || cells[5] != test || !strings.Contains(cells[6], " ± ") {
			t.Errorf("row %q", lines[2+i])
		}
	}
	if !strings.Contains(out, "KV cache (f16): 640 bytes/token, 0.01 MiB for 20 tokens") {
		t.Errorf("no KV line:\n%s", out)
	}
	if _, ok := peakRSS(); ok && !strings.Contains(out, "peak RSS: ") {
		t.Errorf("no peak RSS line:\n%s", out)
	}
}

// TestBenchSyntheticSave: --save writes a GGUF whose metadata, tensor table and tensor bytes
// are those of the synthetic model, and the bench then runs on that model (or not, with -p 0
// -n 0).
func TestBenchSyntheticSave(t *testing.T) {
	withTinyShape(t)
	for _, typ := range []ggml.Type{ggml.TypeQ8_0, ggml.TypeQ4_0, ggml.TypeF16} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tiny.gguf")
			spec := "tiny:" + strings.ToLower(typ.String())
			res := benchJSON(t, "--synthetic", spec, "--save", path, "-p", "4", "-n", "2", "-r", "1")
			if len(res) != 2 || res[0].Model != "tiny "+typ.String() || res[0].Test != "pp4" || res[1].Test != "tg2" {
				t.Fatalf("results %+v", res)
			}
			// 2 layers * 2 (K and V) * 2 KV heads * 16 dims * 2 bytes (f16).
			if res[0].KVBytesPerToken != 256 {
				t.Errorf("KV bytes/token %d, want 256", res[0].KVBytesPerToken)
			}
			want, err := synth.BuildShape(tinyShape, typ, benchSeed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if !reflect.DeepEqual(got.KV, want.KV) {
				t.Errorf("metadata:\n got %v\nwant %v", got.KV, want.KV)
			}
			if len(got.Tensors) != len(want.Tensors) {
				t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
			}
			var size int64
			for i := range want.Tensors {
				g, w := &got.Tensors[i], &want.Tensors[i]
				if g.Name != w.Name || g.Type != w.Type || !reflect.DeepEqual(g.Dims, w.Dims) || g.Offset != w.Offset || g.Size != w.Size {
					t.Fatalf("tensor %d: %+v, want %+v", i, *g, *w)
				}
				gd, err1 := got.TensorData(g)
				wd, err2 := want.TensorData(w)
				if err1 != nil || err2 != nil || !bytes.Equal(gd, wd) {
					t.Fatalf("%s: saved data differs (%v, %v)", g.Name, err1, err2)
				}
				size += w.Size
			}
			if res[0].Bytes != size {
				t.Errorf("bench size %d, tensors hold %d", res[0].Bytes, size)
			}
			// The saved file benchmarks as a MODEL, named by its file name.
			fromFile := benchJSON(t, path, "-p", "4", "-n", "0", "-r", "1")
			if len(fromFile) != 1 || fromFile[0].Model != "tiny.gguf" || fromFile[0].Bytes != size || fromFile[0].Params != res[0].Params {
				t.Errorf("bench of the saved file: %+v", fromFile)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "only.gguf")
	if out := mustRun(t, "bench", "--synthetic", "tiny:Q8_0", "--save", path, "-p", "0", "-n", "0"); out != "" {
		t.Errorf("-p 0 -n 0 printed %q, want nothing", out)
	}
	if f, err := gguf.Open(path); err != nil {
		t.Errorf("-p 0 -n 0 --save: %v", err)
	} else {
		f.Close()
	}
}

func TestBenchUsageErrors(t *testing.T) {
	withTinyShape(t)
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"--synthetic", "llama9-1t:q8_0"}, "known: llama3-8b, llama3.2-1b, qwen2.5-0.5b"},
		{[]string{"--synthetic", "tiny:q9_9"}, "(types: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, "},
		// ggml can quantize Q8_1, but llama.cpp has no file type for models made of it.
		{[]string{"--synthetic", "tiny:q8_1"}, "cannot build tiny in type \"q8_1\""},
		{[]string{"--synthetic", "tiny"}, "SHAPE:TYPE"},
		{[]string{"-r", "0"}, "-r 0"},
		{[]string{"-p", "-1"}, "-p -1"},
		{[]string{"-p", "0", "-n", "0"}, "nothing to measure"},
		{[]string{"model.gguf", "--synthetic", "tiny:q8_0"}, "not both"},
		{[]string{"a.gguf", "b.gguf"}, "at most one MODEL"},
		{[]string{"--save", "x.gguf"}, "--synthetic"},
		{[]string{"-p", "64", "--ctx", "32"}, "--ctx 32"},
		{[]string{"--kv-type", "q8"}, "--kv-type"},
		{[]string{"-r", "x"}, "invalid value"},
	}
	for _, c := range cases {
		_, errs, code := sparkrun(t, append([]string{"bench"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.msg) {
			t.Errorf("bench %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, exitUsage, c.msg)
		}
		if strings.Contains(errs, "Q8_1") {
			t.Errorf("bench %v: stderr %q offers Q8_1, which cannot be built", c.args, errs)
		}
	}
}

func TestMeanStddev(t *testing.T) {
	cases := []struct {
		v        []float64
		mean, sd float64
	}{
		{[]float64{7}, 7, 0},
		{[]float64{10, 10, 10}, 10, 0},
		{[]float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3)}, // squares of deviations sum to 5, over n-1 = 3
	}
	for _, c := range cases {
		mean, sd := meanStddev(c.v)
		// Exact up to float64 rounding of a few additions.
		if math.Abs(mean-c.mean) > 1e-12 || math.Abs(sd-c.sd) > 1e-12 {
			t.Errorf("meanStddev(%v) = %g, %g; want %g, %g", c.v, mean, sd, c.mean, c.sd)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	cases := []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tsparkrun\nVmPeak:\t  900 kB\nVmHWM:\t    1234 kB\nVmRSS:\t  1000 kB\n", 1234 * 1024, true},
		{"VmHWM:\t0 kB", 0, true},
		{"Name:\tsparkrun\nVmRSS:\t  1000 kB\n", 0, false}, // kernels without VmHWM
		{"VmHWM:\t12 MB\n", 0, false},
		{"VmHWM:\tlots kB\n", 0, false},
	}
	for _, c := range cases {
		got, ok := parseVmHWM([]byte(c.status))
		if got != c.want || ok != c.ok {
			t.Errorf("parseVmHWM(%q) = %d, %v; want %d, %v", c.status, got, ok, c.want, c.ok)
		}
	}
}

func TestHumanCount(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{{999, "999"}, {292500, "292.50 K"}, {494032768, "494.03 M"}, {1235814400, "1.24 B"}}
	for _, c := range cases {
		if got := humanCount(c.n); got != c.want {
			t.Errorf("humanCount(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
