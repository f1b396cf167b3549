//go:build cgo

package vkmodel

import (
	"fmt"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/synth"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// benchModels are the synthetic shapes and types that package runtime's CPU benchmarks use, so
// that `go test -bench . ./runtime/ ./runtime/vkmodel/` compares the two paths side by side.
var benchModels = []struct {
	shape string
	typ   ggml.Type
}{
	{"llama3.2-1b", ggml.TypeQ8_0},
	{"llama3.2-1b", ggml.TypeQ4_0},
	{"qwen2.5-0.5b", ggml.TypeQ8_0},
}

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
	for _, c := range benchModels {
		b.Run(fmt.Sprintf("%s-%s", c.shape, c.typ), func(b *testing.B) {
			m := loadSynth(b, c.shape, c.typ)
			s := runtime.NewSessionOn(m)
			prompt := make([]int32, 16)
			for i := range prompt {
				prompt[i] = int32(100 + i)
			}
			if err := s.Prefill(prompt); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if s.Pos() == m.Options().ContextSize {
					s.Reset()
				}
				if err := s.Decode(int32(200 + i%100)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkPrefill measures a 128-token prompt in one submission; tok/s counts prompt tokens.
func BenchmarkPrefill(b *testing.B) {
	const n = 128
	for _, c := range benchModels {
		b.Run(fmt.Sprintf("%s-%s", c.shape, c.typ), func(b *testing.B) {
			m := loadSynth(b, c.shape, c.typ)
			s := runtime.NewSessionOn(m)
			prompt := make([]int32, n)
			for i := range prompt {
				prompt[i] = int32(100 + i)
			}
			for i := 0; i < b.N; i++ {
				s.Reset()
				if err := s.Prefill(prompt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
