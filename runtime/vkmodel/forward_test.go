//go:build cgo

package vkmodel

import (
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/runtime"
)

// TestForwardRejectsBadBatch checks the batch rules of a device pass: the engine-wide ones
// (runtime.CheckBatch: a token outside the vocabulary would leave GetRows' row unwritten) and
// the device's own (one sequence, consecutive positions), each an error naming the entry, and
// that a good batch still runs afterwards.
func TestForwardRejectsBadBatch(t *testing.T) {
	m := loadVK(t, "stories260K.gguf", runtime.Options{ContextSize: 16})
	cache := m.NewCache(2).(*Cache)
	defer cache.Close()
	V := m.Config().NVocab
	logits := make([]float32, 2*V)
	cases := []struct {
		name  string
		batch []runtime.BatchEntry
		want  string
	}{
		{"token", []runtime.BatchEntry{{Token: int32(V)}}, "token 512 outside the vocabulary [0, 512)"},
		{"position", []runtime.BatchEntry{{Pos: 16, Token: 1}}, "position 16 exceeds the context size 16"},
		{"two sequences", []runtime.BatchEntry{{Token: 1}, {Seq: 1, Pos: 1, Token: 1}}, "entry 1: sequence 1, but a Vulkan pass runs one sequence"},
		{"gap", []runtime.BatchEntry{{Token: 1}, {Pos: 2, Token: 1}}, "entry 1: position 2, want 1 (positions must be consecutive)"},
	}
	for _, c := range cases {
		err := m.Forward(c.batch, cache, logits)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if err := m.Forward([]runtime.BatchEntry{{Token: 1, Logits: true}}, cache, logits); err != nil {
		t.Errorf("a good batch after the bad ones: %v", err)
	}
}
