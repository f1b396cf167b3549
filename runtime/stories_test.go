package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/tokenizer"
)

// storiesTokenizer returns the tokenizer of stories260K.gguf.
func storiesTokenizer(t *testing.T, f *gguf.File) *tokenizer.Tokenizer {
	t.Helper()
	tk, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestStories260KGolden reproduces karpathy's documented greedy output of stories260K: BOS at
// position 0, then argmax at every step for 256 positions, stopping if BOS is sampled, decoded
// with package tokenizer (which, like llama2.c, drops the leading space of the first piece). It
// runs with the default f16 KV cache, as `sparkrun run` would, and with f32.
func TestStories260KGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "stories260K.greedy-t0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []KVType{KVF16, KVF32} {
		t.Run(kv.String(), func(t *testing.T) {
			f, m := openModel(t, "stories260K.gguf", Options{KVType: kv})
			var streamed strings.Builder
			res, err := m.NewSession().Generate([]int32{1}, GenerateOptions{
				MaxTokens:  256,
				IsEOG:      func(id int32) bool { return id == 1 },
				Detokenize: storiesTokenizer(t, f).Decode,
				OnText:     func(s string) error { streamed.WriteString(s); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != string(want) {
				t.Errorf("text differs\ngot:  %q\nwant: %q", res.Text, want)
			}
			if streamed.String() != res.Text {
				t.Errorf("streamed text %q differs from the result %q", streamed.String(), res.Text)
			}
			if res.Finish != FinishLength || len(res.Tokens) != 256 {
				t.Errorf("finish %q after %d tokens, want length after 256", res.Finish, len(res.Tokens))
			}
		})
	}
}
