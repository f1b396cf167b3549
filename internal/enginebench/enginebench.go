// Package enginebench holds the decode and prefill benchmark bodies that every engine's package
// runs (runtime's CPU model, vkmodel's Vulkan model) on the same synthetic models, so that
// `go test -bench . ./runtime/ ./runtime/vkmodel/` compares the two paths on identical work.
package enginebench

import (
	"fmt"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// Model is a synthetic shape (runtime/synth) in one weight type.
type Model struct {
	Shape string
	Type  ggml.Type
}

// Name is the sub-benchmark name, "llama3.2-1b-Q8_0".
func (m Model) Name() string { return fmt.Sprintf("%s-%s", m.Shape, m.Type) }

// Models are the shapes and types the CPU issue compares with llama-bench (2 threads on the
// 2-core machine: Llama-3.2-1B Q8_0 tg ~20 tok/s, Q4_0 ~30; Qwen2.5-0.5B Q8_0 tg ~40).
var Models = []Model{
	{"llama3.2-1b", ggml.TypeQ8_0},
	{"llama3.2-1b", ggml.TypeQ4_0},
	{"qwen2.5-0.5b", ggml.TypeQ8_0},
}

// Session is what the benchmarks drive; runtime.Session implements it. (An interface, not the
// type, so that package runtime's own tests can use this package without an import cycle.)
type Session interface {
	Prefill(ids []int32) error
	Decode(id int32) error
	Pos() int
	Reset()
}

// Decode measures token generation, one token per step, after a 16-token prompt, starting over
// when the context of ctx positions is full; it reports tok/s (= 1e9 / ns/op).
func Decode(b *testing.B, s Session, ctx int) {
	prompt := make([]int32, 16)
	for i := range prompt {
		prompt[i] = int32(100 + i)
	}
	if err := s.Prefill(prompt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Pos() == ctx {
			s.Reset()
		}
		if err := s.Decode(int32(200 + i%100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// Prefill measures an n-token prompt fed as one batch; tok/s counts prompt tokens.
func Prefill(b *testing.B, s Session, n int) {
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
}
