package runtime

import (
	"testing"
)

// Tolerances against llama.cpp (see testdata/README.md, from the reference README):
//
//   - f32Tol: exact float32 arithmetic. An independent float64 numpy forward pass agrees with
//     llama.cpp's F32 logits to <= 5.6e-6 on every micro model, and llama.cpp's own batch vs
//     incremental difference is <= 7.2e-7; 1e-4 leaves room for float32 summation order while
//     staying far below the smallest typical bug (ignoring llama3's rope_freqs moves the long
//     logits by 0.02, a flipped eps by 0.016).
//   - storiesTol: stories260K's logits reach ±22 (numpy agrees to < 6e-5), so the same relative
//     accuracy (1e-5 of the largest logit) gives 3e-4.
//   - quantTol: package cpu quantizes activations to the same blocks as llama.cpp (Q8_0 for
//     Q4_0, Q8_K for Q4_K/Q6_K) with the same rounding, so the integer dot products are the same
//     and only float32 summation order differs, as for F32: measured max |diff| 4.4e-6 (Q4_0),
//     4.1e-6 (Q4_K), 3.7e-6 (Q4_K_M), logged by the test. The reference README's 1e-2 allows
//     for kernels that round activations differently; ours do not, so the F32 bound applies.
//     (Activation quantization as a whole moves these logits by 0.03-0.06, so a kernel that
//     skipped or changed it fails here.)
const (
	f32Tol     = 1e-4
	storiesTol = 3e-4
	quantTol   = 1e-4
)

// logitCases are the llama.cpp logit files the fast path must reproduce, with KV cache F32 as
// llama.cpp used.
var logitCases = []struct {
	model, logits string
	tol           float64
}{
	{"micro-llama3.f32.gguf", "micro-llama3.f32.logits.txt", f32Tol},
	{"micro-llama3.f32.gguf", "micro-llama3.f32.long.logits.txt", f32Tol},
	{"micro-qwen2.f32.gguf", "micro-qwen2.f32.logits.txt", f32Tol},
	{"stories260K.gguf", "stories260K.logits.txt", storiesTol},
	{"micro-llama.Q4_0.gguf", "micro-llama.Q4_0.logits.txt", quantTol},
	{"micro-llama.Q4_K.gguf", "micro-llama.Q4_K.logits.txt", quantTol},
	{"micro-qwen3.Q4_K_M.gguf", "micro-qwen3.Q4_K_M.logits.txt", quantTol},
}

// TestLogitsVsLlamaCpp checks the fast path's logits at every prompt position, both from one
// batched pass and from one token at a time.
func TestLogitsVsLlamaCpp(t *testing.T) {
	for _, c := range logitCases {
		t.Run(c.logits, func(t *testing.T) {
			_, m := openModel(t, c.model, Options{KVType: KVF32})
			ids, want := readLogits(t, c.logits)
			if testing.Short() && len(ids) > 32 {
				ids, want = ids[:32], want[:32]
			}
			db := checkRows(t, "batch", batchLogits(t, m, ids), want, c.tol)
			di := checkRows(t, "incremental", incrementalLogits(t, m, ids), want, c.tol)
			t.Logf("max |diff| vs llama.cpp: batch %.3g, incremental %.3g", db, di)
		})
	}
}

// TestRefVsLlamaCpp checks the float64 reference itself: on F32 files against llama.cpp's
// logits, on quantized files against llama.cpp run on the dequantized-F32 copy (the
// "exact arithmetic on these weights" reference; numpy f64 agrees with it to 5.6e-6).
func TestRefVsLlamaCpp(t *testing.T) {
	cases := []struct {
		model, logits string
		tol           float64
	}{
		{"micro-llama3.f32.gguf", "micro-llama3.f32.long.logits.txt", f32Tol},
		{"micro-qwen2.f32.gguf", "micro-qwen2.f32.logits.txt", f32Tol},
		{"stories260K.gguf", "stories260K.logits.txt", storiesTol},
		{"micro-llama.Q4_0.gguf", "micro-llama.Q4_0.dequant.f32.logits.txt", f32Tol},
		{"micro-llama.Q4_K.gguf", "micro-llama.Q4_K.dequant.f32.logits.txt", f32Tol},
		{"micro-qwen3.Q4_K_M.gguf", "micro-qwen3.Q4_K_M.dequant.f32.logits.txt", f32Tol},
	}
	for _, c := range cases {
		t.Run(c.logits, func(t *testing.T) {
			f, m := openModel(t, c.model, Options{})
			r := refModel(t, f, m.Config())
			ids, want := readLogits(t, c.logits)
			if testing.Short() && len(ids) > 32 {
				ids, want = ids[:32], want[:32]
			}
			worst := 0.0
			for i, id := range ids {
				got, err := r.Forward(int(id))
				if err != nil {
					t.Fatal(err)
				}
				d, at := maxDiff(toF32(got), want[i])
				if d > c.tol {
					t.Fatalf("position %d token %d: |diff| %.3g > %.3g", i, at, d, c.tol)
				}
				worst = max(worst, d)
			}
			t.Logf("max |diff| vs llama.cpp: %.3g", worst)
		})
	}
}

func toF32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// TestGreedyVsLlamaCpp generates 32 tokens greedily after the prompt (one token per decode,
// as llama.cpp did) and compares them with llama.cpp's, up to the first step whose top-two
// margin in greedy-margins.tsv is below 10x the logit tolerance: there a flip is legitimate.
// Every margin of the shipped files is above that, so all 32 tokens are compared. The ref
// path is checked against the dequantized-F32 runs the same way.
func TestGreedyVsLlamaCpp(t *testing.T) {
	margins := readMargins(t)
	cases := []struct {
		model, greedy, margins string
		useRef                 bool
	}{
		{"micro-llama3.f32.gguf", "micro-llama3.f32.greedy.txt", "micro-llama3.f32.gguf", false},
		{"micro-qwen2.f32.gguf", "micro-qwen2.f32.greedy.txt", "micro-qwen2.f32.gguf", false},
		{"micro-llama.Q4_0.gguf", "micro-llama.Q4_0.greedy.txt", "micro-llama.Q4_0.gguf", false},
		{"micro-llama.Q4_K.gguf", "micro-llama.Q4_K.greedy.txt", "micro-llama.Q4_K.gguf", false},
		{"micro-qwen3.Q4_K_M.gguf", "micro-qwen3.Q4_K_M.greedy.txt", "micro-qwen3.Q4_K_M.gguf", false},
		{"micro-llama.Q4_K.gguf", "micro-llama.Q4_K.dequant.f32.greedy.txt", "micro-llama.Q4_K.dequant.f32.gguf", true},
		{"micro-qwen3.Q4_K_M.gguf", "micro-qwen3.Q4_K_M.dequant.f32.greedy.txt", "micro-qwen3.Q4_K_M.dequant.f32.gguf", true},
	}
	prompt, _ := readLogits(t, "micro-llama3.f32.logits.txt") // every micro file uses the same prompt
	for _, c := range cases {
		t.Run(c.greedy, func(t *testing.T) {
			want := readIDs(t, c.greedy)
			mg, ok := margins[c.margins]
			if !ok || len(mg) != len(want) {
				t.Fatalf("no margins for %s", c.margins)
			}
			f, m := openModel(t, c.model, Options{KVType: KVF32})
			var got []int32
			if c.useRef {
				got = refGreedy(t, refModel(t, f, m.Config()), prompt, len(want))
			} else {
				res, err := m.NewSession().Generate(prompt, GenerateOptions{MaxTokens: len(want)})
				if err != nil {
					t.Fatal(err)
				}
				got = res.Tokens
			}
			compareGreedy(t, got, want, mg, 10*f32Tol)
		})
	}
}

// compareGreedy compares generated ids up to the first step with a margin below minMargin.
func compareGreedy(t *testing.T, got, want []int32, margins []float64, minMargin float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("generated %d tokens, want %d", len(got), len(want))
	}
	for i := range want {
		if margins != nil && margins[i] < minMargin {
			t.Logf("step %d: margin %.3g, comparison stops", i, margins[i])
			return
		}
		if got[i] != want[i] {
			t.Fatalf("step %d: token %d, llama.cpp %d\ngot  %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
}

// refGreedy feeds prompt to the reference and then n argmax tokens.
func refGreedy(t *testing.T, r interface {
	Forward(int) ([]float64, error)
}, prompt []int32, n int) []int32 {
	t.Helper()
	var logits []float64
	var err error
	for _, id := range prompt {
		if logits, err = r.Forward(int(id)); err != nil {
			t.Fatal(err)
		}
	}
	var out []int32
	for len(out) < n {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		out = append(out, int32(best))
		if logits, err = r.Forward(best); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestLongGreedy continues the 128-token story with 32 greedy tokens on micro-llama3 (positions
// 128..159, where the rope_freqs factors matter). No margins were published for this run; a
// failure here with the logits test passing would point at a near-tie.
func TestLongGreedy(t *testing.T) {
	_, m := openModel(t, "micro-llama3.f32.gguf", Options{KVType: KVF32})
	ids, _ := readLogits(t, "micro-llama3.f32.long.logits.txt")
	want := readIDs(t, "micro-llama3.f32.long.greedy.txt")
	res, err := m.NewSession().Generate(ids, GenerateOptions{MaxTokens: len(want)})
	if err != nil {
		t.Fatal(err)
	}
	compareGreedy(t, res.Tokens, want, nil, 0)
}
