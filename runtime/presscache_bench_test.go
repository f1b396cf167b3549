//go:build unix

package runtime

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

// fillCache stores T positions of random keys and values (unit normal, the scale of normed,
// rotated keys) in every layer of sequence 0, as a prefill would, and for a press cache random
// window queries, then ends the prefill (compressing). It stands in for a long prefill, which
// on 2 cores takes minutes for a 1B model at 16k tokens; decode speed does not depend on the
// numbers (SparK's fixed ratio stores the same record size for any keys).
func fillCache(tb testing.TB, m *Model, cache KVCache, T int) {
	tb.Helper()
	c := &m.cfg
	r := rand.New(rand.NewPCG(3, 4))
	const chunk = 256
	kvDim := c.NKVHead * c.HeadDim
	k, v := make([]float32, chunk*kvDim), make([]float32, chunk*kvDim)
	batch := make([]BatchEntry, 0, chunk)
	for p0 := 0; p0 < T; p0 += chunk {
		batch = batch[:0]
		for p := p0; p < min(p0+chunk, T); p++ {
			batch = append(batch, BatchEntry{Pos: p})
		}
		for l := range c.NLayer {
			for i := range k[:len(batch)*kvDim] {
				k[i], v[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			cache.Store(l, batch, k[:len(batch)*kvDim], v[:len(batch)*kvDim])
		}
	}
	pc, ok := cache.(*PressCache)
	if !ok {
		return
	}
	for _, w := range pc.seqs[0].win {
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
	}
	start := time.Now()
	if err := pc.EndPrefill(0); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("T=%d: compressing %d layers took %v", T, c.NLayer, time.Since(start))
}

// processCPU returns the CPU time (user + system) the process has used, in seconds: on the
// shared development machine wall time measures the neighbours too, CPU time only this work
// (the pool's workers block, they do not spin).
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// BenchmarkPressDecodeLong measures decode at long context on the synthetic Llama-3.2-1B shape
// (Q8_0 weights, f16 KV, 2 threads): "step" is one whole-model decode step (tok/s = 1e9/ns),
// "attend" only the attention over the cache of all 16 layers for one token, dense versus
// SparK λ = 0.8. Run with -benchtime=Nx; the cache is filled with random keys (fillCache).
// cpu-ms/op is the CPU time per operation, the figure to compare under load.
func BenchmarkPressDecodeLong(b *testing.B) {
	f, err := synth.Build("llama3.2-1b", ggml.TypeQ8_0, 1)
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(f, Options{Threads: 2, ContextSize: 16384 + 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, T := range []int{4096, 16384} {
		for _, name := range []string{"dense", "spark0.8"} {
			b.Run(fmt.Sprintf("T%d/%s", T, name), func(b *testing.B) { benchLongDecode(b, m, T, name) })
		}
	}
}

// benchLongDecode is one case of BenchmarkPressDecodeLong: cache "dense" or "spark0.8" filled
// with T positions.
func benchLongDecode(b *testing.B, m *Model, T int, name string) {
	var cache KVCache = m.NewCache(1)
	if name != "dense" {
		pc, err := m.NewPressCache(1, PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.8}})
		if err != nil {
			b.Fatal(err)
		}
		cache = pc
	}
	fillCache(b, m, cache, T)
	logits := make([]float32, m.cfg.NVocab)
	// Decode position T once, so that attend has a query position with its key stored.
	if err := m.Forward([]BatchEntry{{Pos: T, Token: 100, Logits: true}}, cache, logits); err != nil {
		b.Fatal(err)
	}
	if pc, ok := cache.(*PressCache); ok {
		kb, _ := pc.Bytes(0)
		b.Logf("T=%d spark λ=0.8: prompt K+V %d of %d dense bytes (%.3f); resident %d bytes", T, kb.PromptStored, kb.PromptDense, float64(kb.PromptStored)/float64(kb.PromptDense), kb.Resident)
	}
	b.Run("step", func(b *testing.B) {
		c0 := processCPU()
		for i := 0; i < b.N; i++ {
			e := []BatchEntry{{Pos: T + i%1000, Token: int32(100 + i%100), Logits: true}}
			if err := m.Forward(e, cache, logits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
		b.ReportMetric((processCPU()-c0)*1e3/float64(b.N), "cpu-ms/op")
	})
	b.Run("attend", func(b *testing.B) {
		qDim := m.cfg.NHead * m.cfg.HeadDim
		q, out := make([]float32, qDim), make([]float32, qDim)
		for i := range q {
			q[i] = float32(i%7) - 3
		}
		e := []BatchEntry{{Pos: T}}
		c0 := processCPU()
		for i := 0; i < b.N; i++ {
			for l := range m.cfg.NLayer {
				cache.Attend(l, e, q, out)
			}
		}
		b.ReportMetric((processCPU()-c0)*1e3/float64(b.N), "cpu-ms/op")
	})
}
