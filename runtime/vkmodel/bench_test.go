//go:build cgo && unix

package vkmodel

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/internal/enginebench"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/synth"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// loadSynth uploads a synthetic model to the environment's Vulkan device (no validation layer,
// which would dominate the timings).
func loadSynth(b *testing.B, shape string, typ ggml.Type) *Model {
	f, err := synth.Build(shape, typ, 1)
	if err != nil {
		b.Fatal(err)
	}
	vo, err := vulkan.OptionsFromEnv("vulkan")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(f, runtime.Options{ContextSize: 1024}, vo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Close(); err != nil {
			b.Error(err)
		}
	})
	return m
}

// BenchmarkDecode measures token generation on the device (one submission per token, f16 cache)
// after a 16-token prompt; tok/s = 1e9 / ns/op.
func BenchmarkDecode(b *testing.B) {
	for _, c := range enginebench.Models {
		b.Run(c.Name(), func(b *testing.B) {
			m := loadSynth(b, c.Shape, c.Type)
			enginebench.Decode(b, runtime.NewSessionOn(m), m.Options().ContextSize)
		})
	}
}

// BenchmarkPrefill measures a 128-token prompt in one submission; tok/s counts prompt tokens.
func BenchmarkPrefill(b *testing.B) {
	for _, c := range enginebench.Models {
		b.Run(c.Name(), func(b *testing.B) {
			m := loadSynth(b, c.Shape, c.Type)
			enginebench.Prefill(b, runtime.NewSessionOn(m), 128)
		})
	}
}

// BenchmarkLongContext measures token generation at a long context on the synthetic
// Llama-3.2-1B shape (Q4_0 weights, f16 cache) with the dense cache and with the device press
// caches SparK λ = 0.5 and 0.8 and snap_spark (SnapKV to half the prompt, then SparK λ = 0.8):
// tok/s of one decode step at position T (rewritten every iteration, so the context stays T),
// the process CPU time per step (cpu-s/tok: on lavapipe the device is this process's threads,
// and CPU time is what other load on a shared machine distorts least), and the cache's KV bytes
// (kv-bytes: the layers' stored bytes, compressed prompt plus the tail's one position;
// dense-bytes: the same positions in a dense f16 cache). The T-token prompt is not run through
// the model, which would take minutes on lavapipe: every layer's cache and window ring are
// filled with Gaussian keys, values and queries (post-RoPE numbers of a real prompt would only
// change which channels are kept, not the work), then EndPrefill compresses them on the device.
// T is 4096 and 16384 (snap_spark at 16384 on GPUs only), 1024 with -short. On lavapipe the
// projections dominate a step; runtime/vulkan's BenchmarkLayerAttention times the attention
// dispatches alone.
func BenchmarkLongContext(b *testing.B) {
	f, err := synth.Build("llama3.2-1b", ggml.TypeQ4_0, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctxs := []int{4096, 16384}
	if testing.Short() {
		ctxs = []int{1024}
	}
	presses := []struct {
		label string
		cfg   *runtime.PressConfig
	}{
		{"dense", nil},
		{"spark-0.5", &runtime.PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.5}}},
		{"spark-0.8", &runtime.PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.8}}},
		{"snap_spark-0.8", &runtime.PressConfig{Name: "snap_spark", Opts: press.Options{KeyRatio: 0.8, TokenRatio: 0.5}}},
	}
	for _, T := range ctxs {
		for _, p := range presses {
			b.Run(fmt.Sprintf("T%d/%s", T, p.label), func(b *testing.B) { benchLongContext(b, f, T, p.cfg) })
		}
	}
}

// benchLongContext runs one case of BenchmarkLongContext.
func benchLongContext(b *testing.B, f *gguf.File, T int, cfg *runtime.PressConfig) {
	vo, err := vulkan.OptionsFromEnv("vulkan")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(f, runtime.Options{ContextSize: T + 8, BatchSize: 8, Press: cfg}, vo)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			b.Error(err)
		}
	}()
	if cfg != nil && strings.HasPrefix(cfg.Name, "snap") && T > 4096 && m.Device().Type == "CPU" {
		// SnapKV's scores over a 16k prompt take about a minute per layer on lavapipe, past the
		// device's fence timeout for the layer's submission; the GPU check runs these.
		b.Skipf("%d-token compression on the CPU Vulkan driver %s", T, m.Device().Name)
	}
	c := m.NewCache(1).(*Cache)
	if c.err != nil {
		b.Fatal(c.err)
	}
	fillPrompt(b, c, T)
	if err := c.EndPrefill(0); err != nil {
		b.Fatal(err)
	}
	logits := make([]float32, m.cfg.NVocab)
	step := []runtime.BatchEntry{{Pos: T, Token: 300, Logits: true}}
	if err := m.Forward(step, c, logits); err != nil { // warm-up: pipelines, descriptor sets
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	for b.Loop() {
		if err := m.Forward(step, c, logits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/tok")
	kb, err := c.Bytes(0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(kb.Stored), "kv-bytes")
	b.ReportMetric(float64(kb.Dense), "dense-bytes")
}

// fillPrompt writes T positions of Gaussian f16 keys and values into every layer of sequence 0 of
// c, and Gaussian queries into its window rings, as if a T-token prompt had been prefilled.
func fillPrompt(b testing.TB, c *Cache, T int) {
	rng := rand.New(rand.NewPCG(51, 52))
	cfg := &c.m.cfg
	half := func(n int) []byte {
		raw := make([]byte, 2*n)
		for i := range n {
			h := ggml.FP32ToFP16(float32(rng.NormFloat64()))
			raw[2*i], raw[2*i+1] = byte(h), byte(h>>8)
		}
		return raw
	}
	for l := range cfg.NLayer {
		for _, buf := range []*vulkan.Buffer{c.k[0][l], c.v[0][l]} {
			for h := range cfg.NKVHead {
				if err := buf.Write(uint64(2*h*c.ctx*cfg.HeadDim), half(T*cfg.HeadDim)); err != nil {
					b.Fatal(err)
				}
			}
		}
		if c.seqs[0].win != nil {
			q := make([]float32, c.m.winCap*cfg.NHead*cfg.HeadDim)
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			if err := c.seqs[0].win[l].WriteF32(0, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	c.seqs[0].filled = T
}

// cpuTime is the CPU time this process has used, lavapipe's worker threads included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
