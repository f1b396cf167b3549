package press

import (
	"fmt"
	"math"
)

// LayerKV is one layer's dense key/value cache. Keys are post-RoPE, exactly as the model caches
// them (spec 1): every press works on post-RoPE keys.
type LayerKV struct {
	NKVHeads, T, HeadDim int
	K, V                 []float32 // [n_kv_heads][T][head_dim]
}

// Queries holds query vectors of NHeads heads for W consecutive positions.
type Queries struct {
	NHeads, W, HeadDim int
	Q                  []float32 // [n_heads][W][head_dim]
}

// Input is what a press needs from one layer at the end of prefill.
type Input struct {
	// KV is the layer's cache for prompt positions 0..T-1.
	KV LayerKV
	// Window holds the post-RoPE queries of the last Window.W prompt positions (T-W..T-1). SparK
	// and ThinK read its last 32 rows, SnapKV/PyramidKV the last 64, TOVA the last one, so a
	// runtime passes max of the windows it uses (64 for the compositions).
	Window Queries
	// LayerIdx and NLayers place the layer in the model (PyramidKV's per-layer budget).
	LayerIdx, NLayers int
	// ObservedColSums is only for ObservedAttention: for every query head the column sums
	// Σ_r A[h,r,t] of the causal prefill attention matrix, which a runtime can accumulate during
	// prefill instead of keeping A (spec 4.6).
	ObservedColSums []float64 // [n_heads][T]
	// PreRoPE is only for ExpectedAttention: the pre-RoPE queries of positions NSink..T-1
	// (PreRoPE.W = T - NSink), the statistics of spec 4.7.
	PreRoPE Queries
	// RoPEInvFreq is only for ExpectedAttention: the model's RoPE inverse frequencies (with any
	// rope scaling already applied).
	RoPEInvFreq []float64 // [head_dim/2]
}

// Result is a press's output for one layer.
type Result struct {
	// Layer is the compressed cache: what decode attention reads.
	Layer *CompressedLayer
	// Kept lists, per KV head, the prompt positions of the stored tokens in ascending order
	// (spec A13: position order; attention is order-invariant).
	Kept []int32 // [n_kv_heads][Layer.NTokens]
}

func (kv *LayerKV) validate(what string) error {
	if kv.NKVHeads <= 0 || kv.T < 0 || kv.HeadDim <= 0 {
		return fmt.Errorf("press: %s: bad shape n_kv_heads=%d T=%d head_dim=%d", what, kv.NKVHeads, kv.T, kv.HeadDim)
	}
	n := kv.NKVHeads * kv.T * kv.HeadDim
	if len(kv.K) != n || len(kv.V) != n {
		return fmt.Errorf("press: %s: len(K)=%d len(V)=%d, want %d = %d×%d×%d", what, len(kv.K), len(kv.V), n, kv.NKVHeads, kv.T, kv.HeadDim)
	}
	return nil
}

func (q *Queries) validate(what string) error {
	if q.NHeads <= 0 || q.W < 0 || q.HeadDim <= 0 {
		return fmt.Errorf("press: %s: bad shape n_heads=%d W=%d head_dim=%d", what, q.NHeads, q.W, q.HeadDim)
	}
	if n := q.NHeads * q.W * q.HeadDim; len(q.Q) != n {
		return fmt.Errorf("press: %s: len(Q)=%d, want %d = %d×%d×%d", what, len(q.Q), n, q.NHeads, q.W, q.HeadDim)
	}
	return nil
}

// row returns the query vector of head h at window row r.
func (q *Queries) row(h, r int) []float32 {
	o := (h*q.W + r) * q.HeadDim
	return q.Q[o : o+q.HeadDim]
}

// head returns K and V rows of KV head i.
func (kv *LayerKV) head(i int) (k, v []float32) {
	n := kv.T * kv.HeadDim
	return kv.K[i*n : (i+1)*n], kv.V[i*n : (i+1)*n]
}

// validate checks the shapes every press relies on and that the numbers are finite.
func (in *Input) validate() error {
	if err := in.KV.validate("input KV"); err != nil {
		return err
	}
	if err := in.Window.validate("window queries"); err != nil {
		return err
	}
	if in.Window.HeadDim != in.KV.HeadDim {
		return fmt.Errorf("press: window queries head_dim %d != KV head_dim %d", in.Window.HeadDim, in.KV.HeadDim)
	}
	if in.Window.NHeads%in.KV.NKVHeads != 0 {
		return fmt.Errorf("press: %d query heads is not a multiple of %d KV heads", in.Window.NHeads, in.KV.NKVHeads)
	}
	for _, f := range []struct {
		name string
		xs   []float32
	}{{"keys", in.KV.K}, {"values", in.KV.V}, {"window queries", in.Window.Q}} {
		for i, x := range f.xs {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("press: %s[%d] is %v", f.name, i, x)
			}
		}
	}
	return nil
}

// dot64 is a float64 dot product of float32 vectors: scores are accumulated in float64 so that the
// selections match the float64 reference except at genuine ties (README "Near ties").
func dot64(a, b []float32) float64 {
	var s float64
	for j, x := range a {
		s += float64(x) * float64(b[j])
	}
	return s
}
