package runtime

import (
	"fmt"
	"math/rand/v2"
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

// BenchmarkPressDecodeLong measures decode at long context on the synthetic Llama-3.2-1B shape
// (Q8_0 weights, f16 KV, 2 threads), the dense cache versus SparK λ = 0.8 and 0.5, at 4k and 16k
// positions (the caches are filled with random keys, fillCache). "step" is one whole-model
// decode step, "attend" only the attention over the cache of all 16 layers for one token. The
// caches are measured in turns within each of b.N rounds and each reports its fastest round
// (<cache>-ms, wall time): on a shared machine the minimum is the figure least disturbed by the
// neighbours, and taking turns exposes every cache to the same disturbance. <cache>-x is the
// cache's speed relative to dense (dense time / its time: above 1 is faster). Run with
// -benchtime=Nx (N rounds).
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
	names := []string{"dense", "spark0.8", "spark0.5"}
	for _, T := range []int{4096, 16384} {
		caches := make([]KVCache, len(names))
		for i, name := range names {
			caches[i] = longCache(b, m, T, name)
		}
		b.Run(fmt.Sprintf("T%d/step", T), func(b *testing.B) {
			logits := make([]float32, m.cfg.NVocab)
			pairedRounds(b, names, func(c, round int) error {
				e := []BatchEntry{{Pos: T + round%1000, Token: int32(100 + round%100), Logits: true}}
				return m.Forward(e, caches[c], logits)
			})
		})
		b.Run(fmt.Sprintf("T%d/attend", T), func(b *testing.B) {
			qDim := m.cfg.NHead * m.cfg.HeadDim
			q, out := make([]float32, qDim), make([]float32, qDim)
			for i := range q {
				q[i] = float32(i%7) - 3
			}
			e := []BatchEntry{{Pos: T}}
			pairedRounds(b, names, func(c, _ int) error {
				for l := range m.cfg.NLayer {
					caches[c].Attend(l, e, q, out)
				}
				return nil
			})
		})
	}
}

// longCache returns cache "dense" or "spark<λ>" filled with T positions and with position T
// decoded once, so that attend has a query position with its key stored.
func longCache(b *testing.B, m *Model, T int, name string) KVCache {
	var cache KVCache = m.NewCache(1)
	var lambda float64
	if _, err := fmt.Sscanf(name, "spark%g", &lambda); err == nil {
		pc, err := m.NewPressCache(1, PressConfig{Name: "spark", Opts: press.Options{KeyRatio: lambda}})
		if err != nil {
			b.Fatal(err)
		}
		cache = pc
	}
	fillCache(b, m, cache, T)
	logits := make([]float32, m.cfg.NVocab)
	if err := m.Forward([]BatchEntry{{Pos: T, Token: 100, Logits: true}}, cache, logits); err != nil {
		b.Fatal(err)
	}
	if pc, ok := cache.(*PressCache); ok {
		kb, _ := pc.Bytes(0)
		b.Logf("T=%d spark λ=%v: prompt K+V %d of %d dense bytes (%.3f); resident %d bytes", T, lambda, kb.PromptStored, kb.PromptDense, float64(kb.PromptStored)/float64(kb.PromptDense), kb.Resident)
	}
	return cache
}

// pairedRounds runs b.N rounds of op on every cache in turn (op(c, round)) and reports each
// cache's fastest round in milliseconds and its speed relative to the first cache.
func pairedRounds(b *testing.B, names []string, op func(c, round int) error) {
	best := make([]time.Duration, len(names))
	for round := range b.N {
		for c := range names {
			start := time.Now()
			if err := op(c, round); err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); round == 0 || d < best[c] {
				best[c] = d
			}
		}
	}
	for c, name := range names {
		b.ReportMetric(float64(best[c])/1e6, name+"-ms")
		if c > 0 {
			b.ReportMetric(float64(best[0])/float64(best[c]), name+"-x")
		}
	}
}
