//go:build cgo && unix

package vulkan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
)

// layerCase is one way of storing a layer's KV cache for BenchmarkLayerAttention: op records
// its decode attention step, bytes is what the cache holds on the device.
type layerCase struct {
	name  string
	bytes uint64
	op    func(r *Recorder) error
	cpu   []float64 // ms of process CPU time per step, one per round
	gpu   []float64 // ms between the dispatches' timestamps per step, one per round
}

// BenchmarkLayerAttention times one decode attention step of one layer of the Llama-3.2-1B shape
// (8 KV heads, 32 query heads, head dim 64, f16 storage, no validation) at T = 4096 and 16384
// tokens (1024 with -short), the attention dispatches alone (no projections): the dense op
// (Attend) over the full cache; AttendCompressed over the same tokens stored as dense records
// (press "none"), as SparK λ = 0.5 and 0.8 records, and as snap_spark (SnapKV to T/2 tokens,
// then SparK λ = 0.8). The cases take turns within each iteration, so that the load of other
// processes on a shared machine falls on all of them alike; each reports the median over the
// iterations of the process CPU time per step (NAME-cpu-ms: on lavapipe the "GPU" is this
// process's worker threads, and CPU time is what a busy machine distorts least) and of the GPU
// timestamps (NAME-gpu-ms), and the layer's device bytes (NAME-kv-MB: K and V, with the record
// headers, checkpoints and ρ of AttendCompressed's layout).
func BenchmarkLayerAttention(b *testing.B) {
	c := openBench(b)
	const nKV, H, D = 8, 32, 64
	ctxs := []int{4096, 16384}
	if testing.Short() {
		ctxs = []int{1024}
	}
	rng := rand.New(rand.NewPCG(31, 32))
	q, out := newBuf(b, c, 4*H*D), newBuf(b, c, 4*H*D)
	if err := q.WriteF32(0, randNorm(rng, H*D)); err != nil {
		b.Fatal(err)
	}
	r, err := c.NewRecorder()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, T := range ctxs {
		in := randPressInput(rng, H, nKV, T, D)
		var cases []*layerCase
		// The dense cache as the model keeps it: [n_kv_heads][T][head_dim] f16 K and V.
		var kv [2]*Buffer
		for n, x := range [][]float32{in.KV.K, in.KV.V} {
			raw := wordBytes(appendElems(nil, x, press.F16))
			kv[n] = newBuf(b, c, uint64(len(raw)))
			if err := kv[n].Write(0, raw); err != nil {
				b.Fatal(err)
			}
		}
		p := Attention{NHeads: H, NKV: nKV, HeadDim: D, T: T, TMax: T, Scale: float32(1 / math.Sqrt(D)), KV: ggml.TypeF16}
		cases = append(cases, &layerCase{name: "dense", bytes: kv[0].Size() + kv[1].Size(),
			op: func(r *Recorder) error { return r.Attend(q.All(), kv[0].All(), kv[1].All(), out.All(), p) }})
		for _, pr := range []struct {
			label, press string
			o            press.Options
		}{
			{"records", "none", press.Options{}},
			{"spark0.5", "spark", press.Options{KeyRatio: 0.5}},
			{"spark0.8", "spark", press.Options{KeyRatio: 0.8}},
			{"snap_spark0.8", "snap_spark", press.Options{KeyRatio: 0.8, TokenRatio: 0.5}},
		} {
			pr.o.DType = press.F16
			dl, err := c.UploadCompressed(mustCompress(b, pr.press, pr.o, in))
			if err != nil {
				b.Fatal(err)
			}
			defer dl.Close()
			cases = append(cases, &layerCase{name: pr.label, bytes: dl.Bytes(),
				op: func(r *Recorder) error { return r.AttendCompressed(q.All(), dl, DenseTail{}, out.All(), H) }})
		}
		b.Run(fmt.Sprintf("T%d", T), func(b *testing.B) {
			for _, lc := range cases {
				lc.cpu, lc.gpu = lc.cpu[:0], lc.gpu[:0]
				benchStep(b, r, lc) // lavapipe compiles a pipeline at its first dispatch
			}
			for b.Loop() {
				for _, lc := range cases {
					benchStep(b, r, lc)
				}
			}
			for _, lc := range cases {
				b.ReportMetric(median(lc.cpu[1:]), lc.name+"-cpu-ms")
				b.ReportMetric(median(lc.gpu[1:]), lc.name+"-gpu-ms")
				b.ReportMetric(float64(lc.bytes)/1e6, lc.name+"-kv-MB")
			}
		})
	}
}

// benchStep records and submits one step of lc and appends its CPU and GPU times.
func benchStep(b *testing.B, r *Recorder, lc *layerCase) {
	cpu0 := cpuTime()
	if err := r.Begin(); err != nil {
		b.Fatal(err)
	}
	if err := lc.op(r); err != nil {
		b.Fatal(err)
	}
	if err := r.Submit(); err != nil {
		b.Fatal(err)
	}
	lc.cpu = append(lc.cpu, float64(cpuTime()-cpu0)/float64(time.Millisecond))
	gpu := 0.0
	for _, kt := range r.Times() {
		gpu += kt.Micros / 1e3
	}
	lc.gpu = append(lc.gpu, gpu)
}

// median returns the middle value of xs (the mean of the middle two for an even count); NaN for
// none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
