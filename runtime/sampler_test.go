package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// logits5 has a clear order: token 3 > 1 > 4 > 0 > 2.
var logits5 = []float32{0.5, 2, -1, 3, 1}

func TestSamplerGreedy(t *testing.T) {
	cases := []struct {
		name    string
		o       SamplerOptions
		logits  []float32
		history []int32
		want    int32
	}{
		{"argmax", SamplerOptions{}, logits5, nil, 3},
		{"tie goes to lowest id", SamplerOptions{}, []float32{1, 5, 5}, nil, 1},
		// Repeat penalty 2 halves token 3's logit (3 -> 1.5), so token 1 (2) wins.
		{"repeat penalty", SamplerOptions{RepeatPenalty: 2}, logits5, []int32{3}, 1},
		// Frequency penalty 0.6 per occurrence: token 3 seen twice -> 3 - 1.2 = 1.8 < 2.
		{"frequency penalty", SamplerOptions{FrequencyPenalty: 0.6}, logits5, []int32{3, 3}, 1},
		// Presence penalty counts once: 3 - 0.6 = 2.4 > 2 even when seen twice.
		{"presence penalty", SamplerOptions{PresencePenalty: 0.6}, logits5, []int32{3, 3}, 3},
		// The window only sees the last token (1), so token 3 is not penalized.
		{"penalty window", SamplerOptions{RepeatPenalty: 2, PenaltyWindow: 1}, logits5, []int32{3, 1}, 3},
		// A negative logit is multiplied (-0.6 -> -1.2), not divided (which would give -0.3).
		{"negative logit", SamplerOptions{RepeatPenalty: 2}, []float32{-1, -0.6}, []int32{1}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := append([]float32(nil), c.logits...)
			if got := NewSampler(c.o).Sample(in, c.history); got != c.want {
				t.Errorf("Sample = %d, want %d", got, c.want)
			}
			for i := range in {
				if in[i] != c.logits[i] {
					t.Fatalf("Sample modified the logits")
				}
			}
		})
	}
}

// histogram samples n times and returns the frequency of each token.
func histogram(o SamplerOptions, logits []float32, n int) []float64 {
	s := NewSampler(o)
	h := make([]float64, len(logits))
	for i := 0; i < n; i++ {
		h[s.Sample(logits, nil)]++
	}
	for i := range h {
		h[i] /= float64(n)
	}
	return h
}

// TestSamplerFilters checks which tokens each filter leaves, and that the draw follows the
// tempered softmax over them. With 20000 draws a frequency's standard error is at most
// sqrt(0.25/20000) = 0.0035, so 0.02 is over 5 sigma.
func TestSamplerFilters(t *testing.T) {
	const n, tol = 20000, 0.02
	softmax := func(temp float64, keep ...int) []float64 {
		p := make([]float64, len(logits5))
		var sum float64
		for _, i := range keep {
			p[i] = math.Exp(float64(logits5[i]) / temp)
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	// Untempered probabilities of 3, 1, 4, 0, 2: 0.632, 0.233, 0.086, 0.038, 0.011.
	cases := []struct {
		name string
		o    SamplerOptions
		want []float64
	}{
		{"temperature 1", SamplerOptions{Temperature: 1}, softmax(1, 0, 1, 2, 3, 4)},
		{"temperature 0.5", SamplerOptions{Temperature: 0.5}, softmax(0.5, 0, 1, 2, 3, 4)},
		{"top-k 2", SamplerOptions{Temperature: 1, TopK: 2}, softmax(1, 3, 1)},
		{"top-p 0.8", SamplerOptions{Temperature: 1, TopP: 0.8}, softmax(1, 3, 1)},
		{"top-p 0.9", SamplerOptions{Temperature: 1, TopP: 0.9}, softmax(1, 3, 1, 4)},
		{"min-p 0.1", SamplerOptions{Temperature: 1, MinP: 0.1}, softmax(1, 3, 1, 4)},
		{"min-p 0.5", SamplerOptions{Temperature: 1, MinP: 0.5}, softmax(1, 3)},
		{"top-k 1 is greedy", SamplerOptions{Temperature: 2, TopK: 1}, softmax(1, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := histogram(c.o, logits5, n)
			for i := range got {
				if math.Abs(got[i]-c.want[i]) > tol {
					t.Fatalf("token %d drawn with frequency %.3f, want %.3f (all: %.3f)", i, got[i], c.want[i], got)
				}
			}
		})
	}
}

// TestSamplerSeed checks that a seed fixes the sequence of draws and that seeds differ.
func TestSamplerSeed(t *testing.T) {
	draw := func(seed uint64) []int32 {
		s := NewSampler(SamplerOptions{Temperature: 1, Seed: seed})
		out := make([]int32, 64)
		for i := range out {
			out[i] = s.Sample(logits5, nil)
		}
		return out
	}
	a, b, c := draw(42), draw(42), draw(43)
	same := func(x, y []int32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave different draws")
	}
	if same(a, c) {
		t.Error("seeds 42 and 43 gave the same 64 draws")
	}
}

// TestSelectTop compares the heap selection with a full sort on random logits with many ties.
func TestSelectTop(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{1, 2, 7, 40, 99} {
		c := make([]candidate, 100)
		for i := range c {
			c[i] = candidate{id: int32(i), logit: float32(r.IntN(20))}
		}
		want := slices.Clone(c)
		slices.SortFunc(want, before)
		got := selectTop(c, k)
		slices.SortFunc(got, before)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("k=%d: rank %d is %+v, want %+v", k, i, got[i], want[i])
			}
		}
	}
}
