package runtime

import (
	"strings"
	"testing"
)

// TestForwardRejectsBadBatch checks that Forward refuses, with an error naming the entry and the
// limit, every batch CheckBatch rules out, and leaves the cache usable: a good batch afterwards
// runs.
func TestForwardRejectsBadBatch(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 16})
	cache := m.NewCache(2)
	V := m.Config().NVocab
	logits := make([]float32, 2*V)
	cases := []struct {
		name   string
		batch  []BatchEntry
		logits []float32
		want   string
	}{
		{"sequence", []BatchEntry{{Seq: 2, Token: 1}}, logits, "entry 0: sequence 2 outside the cache's 2 sequences"},
		{"negative sequence", []BatchEntry{{Seq: -1, Token: 1}}, logits, "sequence -1 outside"},
		{"position", []BatchEntry{{Token: 1}, {Pos: 16, Token: 1}}, logits, "entry 1: position 16 exceeds the context size 16"},
		{"negative position", []BatchEntry{{Pos: -1, Token: 1}}, logits, "position -1 exceeds"},
		{"token", []BatchEntry{{Token: int32(V)}}, logits, "token 512 outside the vocabulary [0, 512)"},
		{"negative token", []BatchEntry{{Token: -3}}, logits, "token -3 outside"},
		{"logits", []BatchEntry{{Token: 1, Logits: true}, {Pos: 1, Token: 2, Logits: true}}, logits[:V], "logits buffer holds 512 values, the batch needs 1024"},
	}
	for _, c := range cases {
		err := m.Forward(c.batch, cache, c.logits)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if err := m.Forward([]BatchEntry{{Token: 1, Logits: true}}, cache, logits); err != nil {
		t.Errorf("a good batch after the bad ones: %v", err)
	}
}
