package press

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchLayerInput is a Llama-3.2-1B-like layer: 32 query heads, 8 KV heads, head_dim 64, with
// the 32-row SparK window (no extra inputs: generating ExpectedAttention's statistics at T = 16k
// would dominate the benchmark setup).
func benchLayerInput(T int) *Input {
	const H, Hkv, D, W = 32, 8, 64, 32
	rng := rand.New(rand.NewPCG(uint64(T), 1))
	gauss := func(n int) []float32 {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(rng.NormFloat64())
			if i%D == 3 {
				xs[i] = 4 + 3*xs[i] // an outlier channel, as in real keys
			}
		}
		return xs
	}
	return &Input{
		KV:     LayerKV{NKVHeads: Hkv, T: T, HeadDim: D, K: gauss(Hkv * T * D), V: gauss(Hkv * T * D)},
		Window: Queries{NHeads: H, W: W, HeadDim: D, Q: gauss(H * W * D)},
	}
}

// BenchmarkAttend measures one decode step of attention for one layer (all 32 query heads) on
// the dense f16 cache and on SparK records at λ = 0.8 (f16), at T = 4096 and 16384. B/step is
// the bytes the step reads (the layer's Bytes); the MB/s column follows from it.
func BenchmarkAttend(b *testing.B) {
	for _, T := range []int{4096, 16384} {
		in := benchLayerInput(T)
		for _, cfg := range []struct {
			name, press string
			opts        Options
		}{
			{"dense", "none", Options{DType: F16}},
			{"spark0.8", "spark", Options{KeyRatio: 0.8, DType: F16}},
			{"spark0.5", "spark", Options{KeyRatio: 0.5, DType: F16}},
		} {
			L := mustCompress(b, cfg.press, cfg.opts, in).Layer
			b.Run(fmt.Sprintf("%s/T=%d", cfg.name, T), func(b *testing.B) {
				q := randQueries(1, 32, 64)
				out := make([]float32, 32*64)
				var s Scratch
				b.SetBytes(int64(L.Bytes()))
				for b.Loop() {
					if err := L.Attend(out, q, 32, nil, &s); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(L.Bytes()), "B/step")
			})
		}
	}
}

// BenchmarkCompress measures the end-of-prefill cost of SparK and snap_spark for one layer.
func BenchmarkCompress(b *testing.B) {
	in := benchLayerInput(4096)
	in.Window = benchLayerInput(64).Window // 64 rows for SnapKV
	in.Window.W, in.Window.Q = 64, append(in.Window.Q, in.Window.Q...)
	for _, cfg := range []struct {
		name string
		opts Options
	}{
		{"spark", Options{KeyRatio: 0.8}},
		{"snap_spark", Options{KeyRatio: 0.8, Budget: 1024}},
	} {
		p, err := New(cfg.name, cfg.opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(cfg.name+"/T=4096", func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Compress(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
