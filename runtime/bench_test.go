package runtime

import (
	"fmt"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

// benchModels are the synthetic shapes and types the issue compares with llama-bench (2 threads
// on the 2-core machine: Llama-3.2-1B Q8_0 tg ~20 tok/s, Q4_0 ~30; Qwen2.5-0.5B Q8_0 tg ~40).
var benchModels = []struct {
	shape string
	typ   ggml.Type
}{
	{"llama3.2-1b", ggml.TypeQ8_0},
	{"llama3.2-1b", ggml.TypeQ4_0},
	{"qwen2.5-0.5b", ggml.TypeQ8_0},
}

func loadSynth(b *testing.B, shape string, typ ggml.Type) *Model {
	f, err := synth.Build(shape, typ, 1)
	if err != nil {
		b.Fatal(err)
	}
	m, err := Load(f, Options{Threads: 2, ContextSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	return m
}

// BenchmarkDecode measures token generation (one token per forward pass, f16 cache) after a
// 16-token prompt; tok/s = 1e9 / ns/op.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchModels {
		b.Run(fmt.Sprintf("%s-%s", c.shape, c.typ), func(b *testing.B) {
			m := loadSynth(b, c.shape, c.typ)
			s := m.NewSession()
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

// BenchmarkPrefill measures a 128-token batched prompt; tok/s counts prompt tokens.
func BenchmarkPrefill(b *testing.B) {
	const n = 128
	for _, c := range benchModels {
		b.Run(fmt.Sprintf("%s-%s", c.shape, c.typ), func(b *testing.B) {
			m := loadSynth(b, c.shape, c.typ)
			s := m.NewSession()
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
