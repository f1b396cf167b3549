package runtime

import (
	"slices"
	"testing"
)

// countingEngine is an Engine other than *Model: it forwards to a CPU model and counts passes.
type countingEngine struct {
	*Model
	passes int
}

func (e *countingEngine) Forward(batch []BatchEntry, cache KVCache, logits []float32) error {
	e.passes++
	return e.Model.Forward(batch, cache, logits)
}

// TestNewSessionOn drives a session through the Engine interface alone: it generates what the
// model's own session generates, with one pass for the prompt and one per generated token.
func TestNewSessionOn(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 64})
	o := GenerateOptions{MaxTokens: 20}
	want, err := m.NewSession().Generate([]int32{1, 403, 407}, o)
	if err != nil {
		t.Fatal(err)
	}
	e := &countingEngine{Model: m}
	got, err := NewSessionOn(e).Generate([]int32{1, 403, 407}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Tokens, want.Tokens) {
		t.Fatalf("engine session generated %v, model session %v", got.Tokens, want.Tokens)
	}
	// The prompt is one pass, and every generated token is fed back (so that a later Generate
	// continues the text) in one pass each.
	if e.passes != 1+len(got.Tokens) {
		t.Fatalf("%d passes for a prompt and %d generated tokens, want %d", e.passes, len(got.Tokens), 1+len(got.Tokens))
	}
}
