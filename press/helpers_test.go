package press

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randInput returns a synthetic layer with roughly LLM-like statistics: Gaussian keys and queries
// with two large, biased outlier channels (as real post-RoPE keys have), Gaussian values, W window
// queries. The prompt columns sums for ObservedAttention and the pre-RoPE queries for
// ExpectedAttention are filled too, so every press accepts it.
func randInput(seed uint64, H, Hkv, T, D, W int) *Input {
	rng := rand.New(rand.NewPCG(seed, 7))
	gauss := func(n int, outliers bool) []float32 {
		xs := make([]float32, n)
		for i := range xs {
			x := rng.NormFloat64()
			if outliers && (i%D == 1 || i%D == D/2+1) {
				x = 4 + 3*x
			}
			xs[i] = float32(x)
		}
		return xs
	}
	in := &Input{
		KV:      LayerKV{NKVHeads: Hkv, T: T, HeadDim: D, K: gauss(Hkv*T*D, true), V: gauss(Hkv*T*D, false)},
		Window:  Queries{NHeads: H, W: W, HeadDim: D, Q: gauss(H*W*D, true)},
		NLayers: 8, LayerIdx: 3,
	}
	in.ObservedColSums = make([]float64, H*T)
	for i := range in.ObservedColSums {
		in.ObservedColSums[i] = rng.Float64() * float64(T-i%T)
	}
	if T > 4 && D%2 == 0 {
		in.PreRoPE = Queries{NHeads: H, W: T - 4, HeadDim: D, Q: gauss(H*(T-4)*D, true)}
		in.RoPEInvFreq = make([]float64, D/2)
		for k := range in.RoPEInvFreq {
			in.RoPEInvFreq[k] = math.Pow(10000, -2*float64(k)/float64(D))
		}
	}
	return in
}

// randQueries returns n random decode query vectors [n_heads][head_dim].
func randQueries(seed uint64, H, D int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	q := make([]float32, H*D)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	return q
}

// mustCompress runs press name with opts on in.
func mustCompress(t testing.TB, name string, opts Options, in *Input) *Result {
	t.Helper()
	p, err := New(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Compress(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// withTail returns the dense cache of layer c followed by the first tail.Len tokens of tail.
func withTail(c *CompressedLayer, tail *DenseTail) LayerKV {
	kv := c.Decompress()
	if tail == nil || tail.Len == 0 {
		return kv
	}
	D, n, tl := c.HeadDim, c.NTokens, tail.Len
	out := LayerKV{NKVHeads: c.NKVHeads, T: n + tl, HeadDim: D,
		K: make([]float32, 0, c.NKVHeads*(n+tl)*D), V: make([]float32, 0, c.NKVHeads*(n+tl)*D)}
	for i := range c.NKVHeads {
		tk, tv := tail.Floats(i)
		out.K = append(append(out.K, kv.K[i*n*D:(i+1)*n*D]...), tk...)
		out.V = append(append(out.V, kv.V[i*n*D:(i+1)*n*D]...), tv...)
	}
	return out
}

// maxAbsDiff returns max|a-b| and max|b|.
func maxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

// allFinite reports whether no element is NaN or Inf.
func allFinite(xs []float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
