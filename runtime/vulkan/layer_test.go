//go:build cgo

package vulkan

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestDecoderLayerOneSubmit runs a small Llama-style layer (embedding, RMSNorm, Q/K/V in q8_0 and
// q4_0, RoPE, f16 KV cache, GQA attention, output projection, residual, SwiGLU MLP, residual) for
// several tokens, each token recorded into one command buffer and submitted once, and compares
// the final hidden state with the same chain computed by the op references in float64. It checks
// that the ops compose (barriers, shared buffers, descriptor-set reuse across tokens) and that one
// token costs exactly one queue submission.
func TestDecoderLayerOneSubmit(t *testing.T) {
	const (
		vocab, dim, nH, nKV, hd, ff, tmax = 50, 128, 4, 2, 32, 96, 8
		eps                               = 1e-5
	)
	c := openTest(t, func(*Options) {})
	rng := rand.New(rand.NewPCG(21, 22))
	mat := func(name string, tt ggml.Type, rows, cols int) (*Matrix, []float32) {
		raw, v := randMatrix(rng, tt, rows, cols)
		return upload(t, c, name, tt, rows, cols, raw), v
	}
	emb, embV := mat("token_embd", ggml.TypeF16, vocab, dim)
	wq, wqV := mat("attn_q", ggml.TypeQ8_0, nH*hd, dim)
	wk, wkV := mat("attn_k", ggml.TypeQ4_0, nKV*hd, dim)
	wv, wvV := mat("attn_v", ggml.TypeQ8_0, nKV*hd, dim)
	wo, woV := mat("attn_output", ggml.TypeF32, dim, nH*hd)
	wg, wgV := mat("ffn_gate", ggml.TypeQ4_0, ff, dim)
	wu, wuV := mat("ffn_up", ggml.TypeQ4_0, ff, dim)
	wd, wdV := mat("ffn_down", ggml.TypeF16, dim, ff)
	normV := randF32(rng, dim)
	norm := f32Buffer(t, c, normV)

	f32 := func(n int) *Buffer { return newBuf(t, c, 4*uint64(n)) }
	ids, x, xn, q, k, v, att, h := newBuf(t, c, 4), f32(dim), f32(dim), f32(nH*hd), f32(nKV*hd), f32(nKV*hd), f32(nH*hd), f32(dim)
	gate, up := f32(ff), f32(ff)
	kc, vc := newBuf(t, c, 2*nKV*tmax*hd), newBuf(t, c, 2*nKV*tmax*hd)
	rope := RoPE{HeadDim: hd, NRot: hd, Rows: 1, Base: 10000}
	attn := Attention{NHeads: nH, NKV: nKV, HeadDim: hd, TMax: tmax, Scale: float32(1 / math.Sqrt(hd)), KV: ggml.TypeF16}
	kvs := KVStore{NKV: nKV, HeadDim: hd, TMax: tmax, KV: ggml.TypeF16}

	r, err := c.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var refK, refV [][]float32 // [pos][nKV*hd], rounded to f16 like the cache
	for pos, tok := range []uint32{7, 42, 0, 7} {
		if err := ids.WriteU32(0, []uint32{tok}); err != nil {
			t.Fatal(err)
		}
		rope.Pos0, kvs.Pos, attn.T = pos, pos, pos+1
		before := c.Submits()
		if err := r.Begin(); err != nil {
			t.Fatal(err)
		}
		steps := []func() error{
			func() error { return r.GetRows(emb, ids.All(), x.All(), 1) },
			func() error { return r.RMSNorm(x.All(), norm.All(), xn.All(), 1, dim, eps) },
			func() error { return r.MatVec(wq, xn.All(), q.All(), 1) },
			func() error { return r.MatVec(wk, xn.All(), k.All(), 1) },
			func() error { return r.MatVec(wv, xn.All(), v.All(), 1) },
			func() error { p := rope; p.NHeads = nH; return r.RoPE(q.All(), Span{}, p) },
			func() error { p := rope; p.NHeads = nKV; return r.RoPE(k.All(), Span{}, p) },
			func() error { return r.KVStore(k.All(), kc.All(), kvs) },
			func() error { return r.KVStore(v.All(), vc.All(), kvs) },
			func() error { return r.Attend(q.All(), kc.All(), vc.All(), att.All(), attn) },
			func() error { return r.MatVec(wo, att.All(), h.All(), 1) },
			func() error { return r.Add(h.All(), x.All(), x.All(), dim) },
			func() error { return r.RMSNorm(x.All(), norm.All(), xn.All(), 1, dim, eps) },
			func() error { return r.MatVec(wg, xn.All(), gate.All(), 1) },
			func() error { return r.MatVec(wu, xn.All(), up.All(), 1) },
			func() error { return r.SwiGLU(gate.All(), up.All(), gate.All(), ff) },
			func() error { return r.MatVec(wd, gate.All(), h.All(), 1) },
			func() error { return r.Add(h.All(), x.All(), x.All(), dim) },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		if n := c.Submits() - before; n != 1 {
			t.Fatalf("token %d: %d submissions, want 1", pos, n)
		}

		// The same chain with the op references, storing f32 between ops as the device does.
		xr := append([]float32(nil), embV[int(tok)*dim:(int(tok)+1)*dim]...)
		xnr := rmsRef(xr, normV, eps)
		qr, kr, vr := mv(wqV, xnr, nH*hd, dim), mv(wkV, xnr, nKV*hd, dim), mv(wvV, xnr, nKV*hd, dim)
		rq, rk := rope, rope
		rq.NHeads, rk.NHeads = nH, nKV
		ones := make([]float32, hd/2)
		for i := range ones {
			ones[i] = 1
		}
		qw, _ := ropeRef(qr, ones, rq)
		kw, _ := ropeRef(kr, ones, rk)
		refK, refV = append(refK, f16Round(f32s(kw))), append(refV, f16Round(vr))
		kcache, vcache := make([]float32, nKV*tmax*hd), make([]float32, nKV*tmax*hd)
		for p := range refK {
			for g := 0; g < nKV; g++ {
				copy(kcache[(g*tmax+p)*hd:], refK[p][g*hd:(g+1)*hd])
				copy(vcache[(g*tmax+p)*hd:], refV[p][g*hd:(g+1)*hd])
			}
		}
		ar := f32s(attnRef(f32s(qw), kcache, vcache, attn))
		xr = addF32(mv(woV, ar, dim, nH*hd), xr)
		xnr = rmsRef(xr, normV, eps)
		g, u := mv(wgV, xnr, ff, dim), mv(wuV, xnr, ff, dim)
		for i := range g {
			g[i] = float32(float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i]))
		}
		xr = addF32(mv(wdV, g, dim, ff), xr)

		want := make([]float64, dim)
		for i, w := range xr {
			want[i] = float64(w)
		}
		// Eighteen f32 ops, sums of up to 128 products, and the f16 rounding of K and V (which the
		// reference repeats, but the device may round toward zero): lavapipe stays near 1.5e-7 of
		// the largest output (about 450); 1e-5 of it leaves margin for other drivers' rounding
		// while any wrong op moves outputs by far more.
		checkClose(t, "layer output", readF32(t, x, dim), want, []float64{1e-5 * maxAbs(want)})
	}
}

// mv is matvecRef rounded to f32.
func mv(w, x []float32, rows, cols int) []float32 {
	y, _ := matvecRef(w, x, rows, cols)
	return f32s(y)
}

// rmsRef is RMSNorm of one row in float64, rounded to f32.
func rmsRef(x, w []float32, eps float64) []float32 {
	ss := 0.0
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) * inv * float64(w[i]))
	}
	return out
}

// addF32 returns a + b.
func addF32(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// f32s rounds float64 values to f32.
func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// f16Round rounds each value to the nearest f16 (the values here are normal and in range), as
// the device's KV-cache store does.
func f16Round(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		e := math.Floor(math.Log2(math.Abs(float64(x))))
		step := math.Pow(2, e-10)
		out[i] = float32(math.RoundToEven(float64(x)/step) * step)
	}
	return out
}
