package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestMultilingualVectors checks the Hugging Face multilingual baselines (83 texts in
// many scripts): qwen2_5_multilingual.json with the Qwen3 tokenizer.json (same BPE
// vocabulary and pre-tokenizer as Qwen2.5) and tinyllama_multilingual.json with the
// Llama 2 SPM vocabulary (TinyLlama uses it), ids with BOS and decoded text.
func TestMultilingualVectors(t *testing.T) {
	var inputs []struct{ ID, Text string }
	readJSON(t, "multilingual_inputs.json", &inputs)
	texts := map[string]string{}
	for _, in := range inputs {
		texts[in.ID] = in.Text
	}
	tests := []struct {
		file string
		tk   func(*testing.T) *Tokenizer
	}{
		{"qwen2_5_multilingual.json", func(t *testing.T) *Tokenizer { return hfVocab(t, "qwen3") }},
		{"tinyllama_multilingual.json", func(t *testing.T) *Tokenizer { return vocabTokenizer(t, "llama-spm") }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tk := tc.tk(t)
			var golden struct {
				Entries []struct {
					ID                 string  `json:"id"`
					InputIDs           []int32 `json:"input_ids"`
					DecodedSkipSpecial string  `json:"decoded_skip_special"`
				} `json:"entries"`
			}
			readJSON(t, tc.file, &golden)
			if len(golden.Entries) != len(inputs) {
				t.Fatalf("%d entries for %d inputs", len(golden.Entries), len(inputs))
			}
			for _, e := range golden.Entries {
				text, ok := texts[e.ID]
				if !ok {
					t.Fatalf("entry %q has no input", e.ID)
				}
				got, err := tk.Encode(text, true, false)
				if err != nil {
					t.Errorf("%s: %v", e.ID, err)
					continue
				}
				if !slices.Equal(got, e.InputIDs) {
					t.Errorf("%s %q:\n got %v\nwant %v", e.ID, text, got, e.InputIDs)
				}
				if dec := tk.Decode(e.InputIDs); dec != e.DecodedSkipSpecial {
					t.Errorf("%s: Decode = %q, want %q", e.ID, dec, e.DecodedSkipSpecial)
				}
			}
		})
	}
}

// TestLongTextVectors checks swift-transformers' long French text for Llama 2 (SPM) and
// Llama 3.2 (same BPE vocabulary as the Llama 3 tokenizer.json), BOS included.
func TestLongTextVectors(t *testing.T) {
	tests := []struct {
		file string
		tk   func(*testing.T) *Tokenizer
	}{
		{"llama_encoded.json", func(t *testing.T) *Tokenizer { return vocabTokenizer(t, "llama-spm") }},
		{"llama_3.2_encoded.json", func(t *testing.T) *Tokenizer { return hfVocab(t, "llama3-8b-instruct") }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var golden struct {
				Text     string  `json:"text"`
				TokenIDs []int32 `json:"token_ids"`
			}
			readJSON(t, tc.file, &golden)
			tk := tc.tk(t)
			got, err := tk.Encode(golden.Text, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, golden.TokenIDs) {
				t.Errorf("ids:\n got %v\nwant %v", got, golden.TokenIDs)
			}
			// decoded_text renders BOS, which Decode skips; both vocabularies decode these
			// ids back to the input.
			if dec := tk.Decode(got); dec != golden.Text {
				t.Errorf("Decode:\n got %q\nwant %q", dec, golden.Text)
			}
		})
	}
}

// TestSpecialTokenVectors checks swift-transformers' cases with special tokens added
// (input_ids include BOS where the model adds it) for the vocabularies we have.
func TestSpecialTokenVectors(t *testing.T) {
	var golden map[string][]struct {
		Input   string `json:"input"`
		Encoded struct {
			InputIDs []int32 `json:"input_ids"`
		} `json:"encoded"`
		DecodedWithout string `json:"decoded_without_special"`
	}
	readJSON(t, "tokenizer_tests.json", &golden)
	// The byte-level BPE goldens were decoded with Hugging Face's
	// clean_up_tokenization_spaces (" !" -> "!"), a lossy rewrite that llama.cpp does not
	// do for these vocabularies; their decode must give back the input instead.
	tests := []struct {
		model         string
		tk            func(*testing.T) *Tokenizer
		decodeIsInput bool
	}{
		{"coreml-projects/Llama-2-7b-chat-coreml", func(t *testing.T) *Tokenizer { return vocabTokenizer(t, "llama-spm") }, false},
		{"pcuenq/Llama-3.2-1B-Instruct-tokenizer", func(t *testing.T) *Tokenizer { return hfVocab(t, "llama3-8b-instruct") }, true},
		{"distilgpt2", func(t *testing.T) *Tokenizer { return vocabTokenizer(t, "gpt-2") }, true},
		{"tiiuae/falcon-7b", func(t *testing.T) *Tokenizer { return vocabTokenizer(t, "falcon") }, true},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			cases := golden[tc.model]
			if len(cases) == 0 {
				t.Fatalf("no cases for %s", tc.model)
			}
			tk := tc.tk(t)
			for i, c := range cases {
				got, err := tk.Encode(c.Input, true, false)
				if err != nil {
					t.Errorf("case %d: %v", i, err)
					continue
				}
				if !slices.Equal(got, c.Encoded.InputIDs) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Input, got, c.Encoded.InputIDs)
				}
				want := c.DecodedWithout
				if tc.decodeIsInput {
					want = c.Input
				}
				if dec := tk.Decode(got); dec != want {
					t.Errorf("case %d: Decode = %q, want %q", i, dec, want)
				}
			}
		})
	}
}
