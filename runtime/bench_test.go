package runtime

import (
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/internal/enginebench"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

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
	for _, c := range enginebench.Models {
		b.Run(c.Name(), func(b *testing.B) {
			m := loadSynth(b, c.Shape, c.Type)
			enginebench.Decode(b, m.NewSession(), m.Options().ContextSize)
		})
	}
}

// BenchmarkPrefill measures a 128-token batched prompt; tok/s counts prompt tokens.
func BenchmarkPrefill(b *testing.B) {
	for _, c := range enginebench.Models {
		b.Run(c.Name(), func(b *testing.B) {
			m := loadSynth(b, c.Shape, c.Type)
			enginebench.Prefill(b, m.NewSession(), 128)
		})
	}
}
