package tokenizer

import (
	"strings"
	"testing"
)

// benchText repeats texts (joined by newlines) to about size bytes.
func benchText(texts []string, size int) string {
	unit := strings.Join(texts, "\n") + "\n"
	return strings.Repeat(unit, size/len(unit)+1)[:size]
}

// benchCorpora returns ~1 MB of English-like text (the English swift-transformers test
// inputs: prose, code, numbers, whitespace runs) and of multilingual text (the 83 inputs
// of multilingual_inputs.json: Latin diacritics, Cyrillic, Greek, Arabic, CJK, emoji ...).
func benchCorpora(b *testing.B) map[string]string {
	var golden map[string][]struct{ Input string }
	readJSON(b, "tokenizer_tests.json", &golden)
	var english []string
	for _, c := range golden["distilgpt2"] {
		english = append(english, c.Input)
	}
	var inputs []struct{ Text string }
	readJSON(b, "multilingual_inputs.json", &inputs)
	var multi []string
	for _, in := range inputs {
		multi = append(multi, in.Text)
	}
	const size = 1 << 20
	return map[string]string{"english": benchText(english, size), "multilingual": benchText(multi, size)}
}

// BenchmarkEncode measures encoding throughput (MB/s of input text) for the Llama 3 and
// Qwen vocabularies, and the Llama 2 SPM vocabulary for comparison.
func BenchmarkEncode(b *testing.B) {
	corpora := benchCorpora(b)
	vocabs := []struct {
		name string
		load func(testing.TB) *Tokenizer
	}{
		{"llama3", func(tb testing.TB) *Tokenizer { return hfVocab(tb, "llama3-8b-instruct") }},
		{"qwen3", func(tb testing.TB) *Tokenizer { return hfVocab(tb, "qwen3") }},
		{"llama2-spm", func(tb testing.TB) *Tokenizer { return vocabTokenizer(tb, "llama-spm") }},
	}
	for _, v := range vocabs {
		tk := v.load(b)
		for _, name := range []string{"english", "multilingual"} {
			text := corpora[name]
			b.Run(v.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					if _, err := tk.Encode(text, true, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
