package tokenizer

import (
	"slices"
	"testing"
)

// checkCases encodes every case (no BOS/EOS, no special parsing, as llama.cpp's
// test-tokenizer-0 does) and compares ids; it also checks that decoding gives back the
// text where the vocabulary can represent it exactly.
func checkCases(t *testing.T, tk *Tokenizer, cases []vocabCase) {
	t.Helper()
	for i, c := range cases {
		got, err := tk.Encode(c.text, false, false)
		if err != nil {
			t.Errorf("case %d %q: %v", i, c.text, err)
			continue
		}
		if !slices.Equal(got, c.ids) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.ids)
		}
	}
}

// TestVocabVectors checks llama.cpp's tokenizer vectors for every vocabulary GGUF.
func TestVocabVectors(t *testing.T) {
	tests := []struct {
		vocab, kind, pre string
	}{
		{"llama-spm", KindSPM, ""},
		{"phi-3", KindSPM, ""},
		{"gpt-2", KindBPE, "gpt-2"},
		{"deepseek-llm", KindBPE, "deepseek-llm"},
		{"deepseek-coder", KindBPE, "deepseek-coder"},
		{"falcon", KindBPE, "falcon"},
		{"mpt", KindBPE, "mpt"},
		{"refact", KindBPE, "refact"},
		{"starcoder", KindBPE, "starcoder"},
	}
	for _, tc := range tests {
		t.Run(tc.vocab, func(t *testing.T) {
			tk := vocabTokenizer(t, tc.vocab)
			if tk.Kind() != tc.kind || tk.Pre() != tc.pre {
				t.Fatalf("kind %q pre %q, want %q %q", tk.Kind(), tk.Pre(), tc.kind, tc.pre)
			}
			checkCases(t, tk, readVocabCases(t, tc.vocab))
		})
	}
}

// TestHFVectors checks llama.cpp's vectors for the Llama 3 and Qwen2 vocabularies, whose
// GGUF files are too large to ship, with the same vocabularies from tokenizer.json.
func TestHFVectors(t *testing.T) {
	tests := []struct {
		hf, vectors, pre string
	}{
		{"llama3-8b-instruct", "llama-bpe", "llama-bpe"},
		{"qwen3", "qwen2", "qwen2"},
	}
	for _, tc := range tests {
		t.Run(tc.hf, func(t *testing.T) {
			tk := hfVocab(t, tc.hf)
			if tk.Kind() != KindBPE || tk.Pre() != tc.pre {
				t.Fatalf("kind %q pre %q, want %q %q", tk.Kind(), tk.Pre(), KindBPE, tc.pre)
			}
			checkCases(t, tk, readVocabCases(t, tc.vectors))
		})
	}
}
