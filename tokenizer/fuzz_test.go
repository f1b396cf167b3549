package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks that encoding never fails or panics on any input, with or without
// special-token parsing, and that decoding gives back valid UTF-8 input exactly, for a
// byte-level BPE vocabulary (Llama 3) and an SPM vocabulary (Llama 2); for SPM also that
// cutting the text before merging changes nothing (checkSPMCuts). The seed corpus is
// in testdata/fuzz/FuzzEncode; the llama.cpp test strings are added as seeds too.
func FuzzEncode(f *testing.F) {
	for _, c := range readVocabCases(f, "llama-spm") {
		f.Add(c.text)
	}
	bpe := hfVocab(f, "llama3-8b-instruct")
	spm := vocabTokenizer(f, "llama-spm")
	f.Fuzz(func(t *testing.T, text string) {
		for _, tk := range []*Tokenizer{bpe, spm} {
			for _, parse := range []bool{false, true} {
				if _, err := tk.Encode(text, true, parse); err != nil {
					t.Fatalf("%s parse=%v %q: %v", tk.Kind(), parse, text, err)
				}
			}
			// SentencePiece cannot represent U+2581 itself: it decodes as a space.
			if !utf8.ValidString(text) || tk.Kind() == KindSPM && strings.Contains(text, spmSpace) {
				continue
			}
			ids, err := tk.Encode(text, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Kind() == KindSPM {
				checkSPMCuts(t, tk, text)
			}
			if got := tk.Decode(ids); got != text {
				t.Fatalf("%s: Decode(Encode(%q)) = %q (ids %v)", tk.Kind(), text, got, ids)
			}
		}
	})
}

// checkSPMCuts compares SPM encoding, which cuts the text where no token can span, with
// llama.cpp's algorithm: one merge loop over the whole escaped text.
func checkSPMCuts(t *testing.T, tk *Tokenizer, text string) {
	t.Helper()
	got, err := tk.Encode(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	if text != "" {
		want, err = tk.encodeSPMPiece(strings.ReplaceAll(" "+text, " ", spmSpace), new(scratch), nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%q: cut encoding %v, whole-text merge loop %v", text, got, want)
	}
}
