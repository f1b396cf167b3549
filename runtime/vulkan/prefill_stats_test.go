//go:build cgo && unix

package vulkan

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
)

// BenchmarkPrefillStats times what ObservedAttention and ExpectedAttention add to a prefill, on a
// Llama-3.2-1B layer (32 query heads over 8 KV heads of 64, f32 cache): per prefill chunk of 256
// rows at positions 256..511, the chunk's attention (Attend, for scale) and each press's
// statistics pass; at the end of a 512-token prompt, the compression of the layer at token ratio
// 0.5 by SnapKV (for scale) and by each of the two presses. One submission per op, without
// validation. As in BenchmarkMatVec, cpu-us/op (the process's CPU time, lavapipe's worker
// threads included) is the figure to compare on lavapipe; min-gpu-us comes from timestamps.
func BenchmarkPrefillStats(b *testing.B) {
	c := openBench(b)
	const H, nKV, D, T, rows = 32, 8, 64, 512, 256
	rng := rand.New(rand.NewPCG(5, 6))
	buf := func(n int) *Buffer {
		x, err := c.NewBuffer(4 * uint64(n))
		if err == nil {
			err = x.WriteF32(0, randF32(rng, n))
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(x.Close)
		return x
	}
	k, v, q, out := buf(nKV*T*D), buf(nKV*T*D), buf(rows*H*D), buf(rows*H*D)
	inv := make([]float64, D/2)
	for i := range inv {
		inv[i] = math.Pow(10000, -2*float64(i)/D)
	}
	presses := map[string]*DevicePress{}
	stats := map[string]*PrefillStats{} // nil for SnapKV
	var err error
	for _, name := range []string{"snapkv", "observed_attention", "expected_attention"} {
		if presses[name], err = NewDevicePress(name, press.Options{TokenRatio: 0.5}); err != nil {
			b.Fatal(err)
		}
		if stats[name], err = c.NewPrefillStats(presses[name], StatsShape{NHeads: H, NKV: nKV, HeadDim: D, TMax: T,
			MaxRows: rows, InvFreq: inv}); err != nil {
			b.Fatal(err)
		}
		if st := stats[name]; st != nil {
			b.Cleanup(st.Close)
		}
	}
	cm, err := c.NewCompressor(1, T, H, nKV, D, 64)
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Close()
	r, err := c.NewRecorder()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	// Statistics of the whole prompt, for the compression cases.
	for pos := 0; pos < T; pos += rows {
		if err := r.Begin(); err == nil {
			err = errors.Join(r.AccumulateObserved(stats["observed_attention"], q.All(), k.All(), ggml.TypeF32, rows, pos),
				r.AccumulateExpected(stats["expected_attention"], q.All(), rows, pos), r.Submit())
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	var last *CompressedLayer // the previous compression's layer, freed once its submission ran
	defer func() {
		if last != nil {
			last.Close()
		}
	}()
	compress := func(name string) func(r *Recorder) error {
		return func(r *Recorder) error {
			if last != nil {
				last.Close()
			}
			var err error
			last, err = r.CompressLayer(presses[name], LayerInput{K: k.All(), V: v.All(), KV: ggml.TypeF32, TMax: T, Window: q.All(),
				WinCap: 64, T: T, NHeads: H, NKV: nKV, HeadDim: D, NLayers: 1, Stats: stats[name]}, cm)
			return err
		}
	}
	for _, bc := range []struct {
		name string
		op   func(r *Recorder) error
	}{
		{"chunk/attend", func(r *Recorder) error {
			return r.Attend(q.All(), k.All(), v.All(), out.All(), Attention{NHeads: H, NKV: nKV, HeadDim: D, T: T, TMax: T,
				Queries: rows, Scale: float32(1 / math.Sqrt(D)), KV: ggml.TypeF32})
		}},
		{"chunk/observed", func(r *Recorder) error {
			return r.AccumulateObserved(stats["observed_attention"], q.All(), k.All(), ggml.TypeF32, rows, T-rows)
		}},
		{"chunk/expected", func(r *Recorder) error {
			return r.AccumulateExpected(stats["expected_attention"], q.All(), rows, T-rows)
		}},
		{"compress/snapkv", compress("snapkv")},
		{"compress/observed", compress("observed_attention")},
		{"compress/expected", compress("expected_attention")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			gpu, cpu := timeOps(b, r, bc.op)
			b.ReportMetric(gpu, "min-gpu-us")
			b.ReportMetric(cpu, "cpu-us/op")
		})
	}
}
