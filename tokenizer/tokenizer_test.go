package tokenizer

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sparkrun/sparkrun/gguf"
)

// TestPreTokenizerWords checks the hand-written matchers on cases chosen to exercise each
// alternative of the expressions: lookahead backtracking (\s+(?!\S)), newline runs, digit
// groups, contractions, and multi-stage splits. Expected words follow the regex semantics
// (leftmost match, ordered alternation, greedy quantifiers, gaps kept as words).
func TestPreTokenizerWords(t *testing.T) {
	tests := []struct {
		pre, text string
		want      []string
	}{
		{"llama-bpe", "hello  world", []string{"hello", " ", " world"}},
		{"llama-bpe", "(hello", []string{"(hello"}},
		{"llama-bpe", "I'VE 12345", []string{"I", "'VE", " ", "123", "45"}},
		{"llama-bpe", "x  \n  y", []string{"x", "  \n", " ", " y"}},
		{"llama-bpe", "Hello!!\n\nok  ", []string{"Hello", "!!\n\n", "ok", "  "}},
		{"llama-bpe", "\t\tb", []string{"\t", "\tb"}},
		{"qwen2", "a 12345", []string{"a", " ", "1", "2", "3", "4", "5"}},
		{"gpt-2", "Hello world's 2024!", []string{"Hello", " world", "'s", " 2024", "!"}},
		{"gpt-2", "a\tb", []string{"a", "\t", "b"}},
		{"gpt-2", "I'VE", []string{"I", "'", "VE"}},
		{"gpt-2", "trailing   ", []string{"trailing", "   "}},
		{"starcoder", "x=12 ab", []string{"x", "=", "1", "2", " ab"}},
		{"falcon", "a+=b 1234", []string{"a", "+=", "b", " ", "123", "4"}},
		{"deepseek-coder", "def f(x):\n\treturn 42", []string{"def", " f", "(", "x", "):", "\n", "\treturn", " ", "4", "2"}},
		{"deepseek-llm", "Hi  there  ", []string{"Hi", " ", " there", "  "}},
		{"deepseek-llm", "你好world 12", []string{"你好", "world", " ", "12"}},
	}
	for _, tc := range tests {
		sp, err := compileSplitter(preTokenizers[tc.pre])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := sp.words(tc.text, func(w string) error { got = append(got, w); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: got %q, want %q", tc.pre, tc.text, got, tc.want)
		}
	}
}

// TestUnsupported checks that vocabularies we cannot tokenize exactly are refused with an
// error naming what is unsupported.
func TestUnsupported(t *testing.T) {
	_, err := FromGGUF(openGGUF(t, filepath.Join("testdata", "vocab", "ggml-vocab-bert-bge.gguf.gz")))
	if err == nil || !strings.Contains(err.Error(), `unsupported tokenizer model "bert"`) {
		t.Errorf("bert-bge: err = %v", err)
	}

	base := func(extra ...gguf.KV) *gguf.File {
		kv := []gguf.KV{
			{Key: keyModel, Value: "gpt2"},
			{Key: keyTokens, Value: []string{"a", "b", "ab"}},
			{Key: keyMerges, Value: []string{"a b"}},
		}
		return gguf.NewFile(append(extra, kv...), nil, nil) // first occurrence of a key wins
	}
	if _, err := FromGGUF(base()); err != nil {
		t.Fatalf("minimal vocabulary: %v", err)
	}
	ggufCases := []struct {
		name string
		f    *gguf.File
		want string
	}{
		{"pre", base(gguf.KV{Key: keyPre, Value: "made-up"}), `unsupported pre-tokenizer "made-up"`},
		{"model", base(gguf.KV{Key: keyModel, Value: "t5"}), `unsupported tokenizer model "t5"`},
		{"no model", gguf.NewFile(nil, nil, nil), keyModel},
		{"merge", base(gguf.KV{Key: keyMerges, Value: []string{"ab"}}), `merge rule 0 "ab"`},
		{"bos", base(gguf.KV{Key: keyBOS, Value: uint32(7)}), keyBOS},
		{"types", base(gguf.KV{Key: keyTokenType, Value: []int32{1}}), "1 token types for 3 tokens"},
		{"tokens type", base(gguf.KV{Key: keyTokens, Value: "abc"}), keyTokens},
	}
	for _, tc := range ggufCases {
		if _, err := FromGGUF(tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}

	hf := func(pre, model string) []byte {
		return []byte(`{"added_tokens":[],"normalizer":null,"pre_tokenizer":` + pre +
			`,"post_processor":null,"model":` + model + `}`)
	}
	okPre := `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`
	okModel := `{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}`
	if _, err := FromHF(hf(okPre, okModel), nil); err != nil {
		t.Fatalf("minimal tokenizer.json: %v", err)
	}
	hfCases := []struct {
		name string
		json []byte
		want string
	}{
		{"regex", hf(`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]}`, okModel), `unsupported pre-tokenizer regex "\\w+"`},
		{"pre type", hf(`{"type":"Whitespace"}`, okModel), `unsupported pre-tokenizer "Whitespace"`},
		{"model", hf(okPre, `{"type":"Unigram","vocab":[]}`), `unsupported tokenizer model "Unigram"`},
		{"byte fallback", hf(okPre, `{"type":"BPE","byte_fallback":true,"vocab":{},"merges":[]}`), "byte_fallback"},
		{"syntax", []byte(`{"model":`), "tokenizer.json"},
		{"sparse ids", hf(okPre, `{"type":"BPE","vocab":{"a":0,"b":1000000000},"merges":[]}`), "largest token id 1000000000"},
	}
	for _, tc := range hfCases {
		if _, err := FromHF(tc.json, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// TestSpecialTokens checks that control tokens are parsed only on request, that
// user-defined tokens are always matched, and that text around them is tokenized as if
// it stood alone.
func TestSpecialTokens(t *testing.T) {
	encode := func(tk *Tokenizer, text string, parseSpecial bool) []int32 {
		t.Helper()
		ids, err := tk.Encode(text, false, parseSpecial)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	cat := func(parts ...[]int32) []int32 { return slices.Concat(parts...) }

	q := hfVocab(t, "qwen3")
	const imStart, imEnd, toolCall = 151644, 151645, 151657
	chat := "<|im_start|>user\nhi<|im_end|>"
	if got, want := encode(q, chat, true), cat([]int32{imStart}, encode(q, "user\nhi", false), []int32{imEnd}); !slices.Equal(got, want) {
		t.Errorf("qwen parse: got %v, want %v", got, want)
	}
	for _, id := range encode(q, chat, false) {
		if q.types[id] == typeControl {
			t.Errorf("qwen plain text produced control token %d %q", id, q.Piece(id))
		}
	}
	if got, want := encode(q, "a<tool_call>b", false), cat(encode(q, "a", false), []int32{toolCall}, encode(q, "b", false)); !slices.Equal(got, want) {
		t.Errorf("qwen user-defined: got %v, want %v", got, want)
	}

	// SPM: text after a special token gets the space prefix, as at the start.
	s := vocabTokenizer(t, "llama-spm")
	if got, want := encode(s, "<s>hi</s>", true), cat([]int32{1}, encode(s, "hi", false), []int32{2}); !slices.Equal(got, want) {
		t.Errorf("spm parse: got %v, want %v", got, want)
	}
	if got := encode(s, "<s>hi", false); slices.Contains(got, 1) {
		t.Errorf("spm plain text produced BOS: %v", got)
	}

	// addSpecial follows the vocabulary: BOS for Llama 3 and SPM, nothing for Qwen.
	for _, tc := range []struct {
		tk    *Tokenizer
		first int32
	}{{hfVocab(t, "llama3-8b-instruct"), 128000}, {s, 1}} {
		ids, err := tc.tk.Encode("hi", true, false)
		if err != nil || len(ids) == 0 || ids[0] != tc.first || ids[0] != tc.tk.BOS() {
			t.Errorf("addSpecial: %v %v, want BOS %d first", ids, err, tc.first)
		}
	}
	if ids, _ := q.Encode("hi", true, false); !slices.Equal(ids, encode(q, "hi", false)) {
		t.Errorf("qwen added special tokens: %v", ids)
	}
}

// TestPartitionLongestFirst checks that a special token containing another is matched
// whole, and lstrip/rstrip from tokenizer.json.
func TestPartitionLongestFirst(t *testing.T) {
	j := []byte(`{"added_tokens":[
		{"id":3,"content":"<a>","special":true},
		{"id":4,"content":"<a><b>","special":true},
		{"id":5,"content":"<r>","special":true,"rstrip":true,"lstrip":true}],
	"normalizer":null,
	"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
	"model":{"type":"BPE","vocab":{"x":0,"Ġ":1,"Ġx":2},"merges":["Ġ x"]}}`)
	tk, err := FromHF(j, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int32
	}{
		{"x<a><b>x<a>", []int32{0, 4, 0, 3}},
		{"x <r>  x", []int32{0, 5, 0}},
		{"x <a> x", []int32{0, 1, 3, 2}},
	} {
		if got, err := tk.Encode(tc.text, false, true); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.text, got, err, tc.want)
		}
	}
}

// TestMetadata checks special ids, end-of-generation tokens and chat templates as read
// from GGUF and from tokenizer.json + tokenizer_config.json.
func TestMetadata(t *testing.T) {
	tests := []struct {
		name     string
		tk       *Tokenizer
		bos, eos int32
		addBOS   bool
		eog      []int32 // tokens that must end generation
		template bool
	}{
		{"llama-spm", vocabTokenizer(t, "llama-spm"), 1, 2, true, []int32{2}, false},
		{"phi-3", vocabTokenizer(t, "phi-3"), 1, 32000, true, []int32{32000, 32007}, true},
		{"llama3", hfVocab(t, "llama3-8b-instruct"), 128000, 128009, true, []int32{128001, 128009}, true},
		{"qwen3", hfVocab(t, "qwen3"), -1, 151645, false, []int32{151643, 151645}, true},
	}
	for _, tc := range tests {
		tk := tc.tk
		if tk.BOS() != tc.bos || tk.EOS() != tc.eos || tk.AddBOS() != tc.addBOS {
			t.Errorf("%s: BOS %d EOS %d AddBOS %v, want %d %d %v", tc.name, tk.BOS(), tk.EOS(), tk.AddBOS(), tc.bos, tc.eos, tc.addBOS)
		}
		for _, id := range tc.eog {
			if !tk.IsEOG(id) {
				t.Errorf("%s: %d %q is not EOG", tc.name, id, tk.Piece(id))
			}
		}
		if tk.IsEOG(tk.BOS()) || tk.IsEOG(100) {
			t.Errorf("%s: BOS or an ordinary token is EOG", tc.name)
		}
		if (tk.ChatTemplate() != "") != tc.template {
			t.Errorf("%s: chat template present = %v", tc.name, tk.ChatTemplate() != "")
		}
	}
}

// TestStreamDecoder checks that streamed chunks are whole UTF-8 characters and add up to
// Decode, when a character is split over byte-fallback tokens (SPM) or over byte-level
// tokens (BPE).
func TestStreamDecoder(t *testing.T) {
	tests := []struct {
		tk   *Tokenizer
		text string
	}{
		{vocabTokenizer(t, "llama-spm"), "🦙 hi 😶‍🌫️ ok"},
		{hfVocab(t, "qwen3"), "日本語🦙 ǅ 😶‍🌫️"},
		{vocabTokenizer(t, "gpt-2"), "🦙🦙 Здравствуй"},
	}
	for _, tc := range tests {
		ids, err := tc.tk.Encode(tc.text, true, false)
		if err != nil {
			t.Fatal(err)
		}
		d := tc.tk.NewDecoder()
		var all []byte
		held := false
		for _, id := range ids {
			chunk := d.Add(id)
			if !utf8.Valid(chunk) {
				t.Errorf("%q: chunk %q after token %d is not complete UTF-8", tc.text, chunk, id)
			}
			held = held || (len(chunk) == 0 && len(tc.tk.TokenBytes(id)) > 0)
			all = append(all, chunk...)
		}
		all = append(all, d.Flush()...)
		if string(all) != tc.text || tc.tk.Decode(ids) != tc.text {
			t.Errorf("%q: stream %q, Decode %q", tc.text, all, tc.tk.Decode(ids))
		}
		if !held {
			t.Errorf("%q: no token was held back; the case does not split a character", tc.text)
		}
	}
	s := vocabTokenizer(t, "llama-spm")
	// A decoder primed with a prompt keeps the space of the first generated word.
	prompt, _ := s.Encode("Once upon a", true, false)
	next, _ := s.Encode(" time", false, false)
	d := s.NewDecoder()
	for _, id := range prompt {
		d.Add(id)
	}
	if out := d.Add(next[len(next)-1]); string(out) != " time" {
		t.Errorf("continuation: %q, want %q", out, " time")
	}
	// An incomplete character at the end comes out of Flush.
	d = s.NewDecoder()
	if out := d.Add(s.byteID[0xF0]); len(out) != 0 {
		t.Errorf("lead byte emitted early: %q", out)
	}
	if out := d.Flush(); string(out) != "\xF0" {
		t.Errorf("Flush = %q", out)
	}
	if s.Decode([]int32{-1, 1 << 30}) != "" || s.Piece(-1) != "" || s.TokenBytes(1<<30) != nil {
		t.Error("ids outside the vocabulary must decode to nothing")
	}
}

// TestRoundTrip checks decode(encode(s)) == s on the llama.cpp test strings for the
// vocabularies without golden ids (stories260K, GPT-NeoX, Baichuan) and the others.
func TestRoundTrip(t *testing.T) {
	texts := []string{"Once upon a time, there was a little girl named Lily.", "Tom said: \"Let's go!\"\n\nThe end."}
	for _, c := range readVocabCases(t, "llama-spm") {
		texts = append(texts, c.text)
	}
	stories := cached(t, "stories260K", func() (*Tokenizer, error) {
		return FromGGUF(openGGUF(t, filepath.Join("testdata", "models", "stories260K.gguf.gz")))
	})
	tests := []struct {
		name string
		tk   *Tokenizer
	}{
		{"stories260K", stories},
		{"gpt-neox", vocabTokenizer(t, "gpt-neox")},
		{"baichuan", vocabTokenizer(t, "baichuan")},
		{"llama-spm", vocabTokenizer(t, "llama-spm")},
		{"deepseek-coder", vocabTokenizer(t, "deepseek-coder")},
		{"qwen3", hfVocab(t, "qwen3")},
	}
	for _, tc := range tests {
		for _, text := range texts {
			ids, err := tc.tk.Encode(text, true, false)
			if err != nil {
				t.Errorf("%s %q: %v", tc.name, text, err)
				continue
			}
			if got := tc.tk.Decode(ids); got != text {
				t.Errorf("%s: Decode(Encode(%q)) = %q", tc.name, text, got)
			}
		}
	}
	if stories.VocabSize() != 512 || stories.Kind() != KindSPM {
		t.Errorf("stories260K: %d tokens, kind %s", stories.VocabSize(), stories.Kind())
	}
}

// TestGGUFMetadata checks that GGUFMetadata describes the vocabulary completely: a
// tokenizer rebuilt from it encodes the golden vectors identically (the conversion path
// from tokenizer.json to GGUF).
func TestGGUFMetadata(t *testing.T) {
	tests := []struct {
		name    string
		tk      *Tokenizer
		vectors string
	}{
		{"qwen3", hfVocab(t, "qwen3"), "qwen2"},
		{"llama3", hfVocab(t, "llama3-8b-instruct"), "llama-bpe"},
		{"llama-spm", vocabTokenizer(t, "llama-spm"), "llama-spm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the real file format: the writer must accept every value type.
			var buf bytes.Buffer
			w := gguf.NewWriter(&buf)
			for _, kv := range tc.tk.GGUFMetadata() {
				if err := w.AddKV(kv.Key, kv.Value); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			if back.Kind() != tc.tk.Kind() || back.Pre() != tc.tk.Pre() || back.VocabSize() != tc.tk.VocabSize() ||
				back.BOS() != tc.tk.BOS() || back.EOS() != tc.tk.EOS() || back.AddBOS() != tc.tk.AddBOS() ||
				back.ChatTemplate() != tc.tk.ChatTemplate() || !slices.Equal(back.eog, tc.tk.eog) {
				t.Errorf("metadata differs after the round trip")
			}
			checkCases(t, back, readVocabCases(t, tc.vectors))
		})
	}
}

// TestDescendingKey checks the float ordering used for SPM heap priorities.
func TestDescendingKey(t *testing.T) {
	scores := []float32{float32(math.Inf(1)), 1e9, 2.5, 0, -0.5, -1, -1e9, float32(math.Inf(-1))}
	for i := 1; i < len(scores); i++ {
		if descendingKey(scores[i-1]) >= descendingKey(scores[i]) {
			t.Errorf("key(%g) >= key(%g)", scores[i-1], scores[i])
		}
	}
}

// TestConcurrentEncode checks that one Tokenizer serves goroutines at once (each gets its
// own scratch and word cache) with the same results as a single caller.
func TestConcurrentEncode(t *testing.T) {
	tk := hfVocab(t, "qwen3")
	var texts []string
	for _, c := range readVocabCases(t, "qwen2") {
		texts = append(texts, c.text)
	}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i], _ = tk.Encode(s, true, true)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for k := range 3 * len(texts) {
				i := (k + g*7) % len(texts)
				got, err := tk.Encode(texts[i], true, true)
				if err == nil && !slices.Equal(got, want[i]) {
					err = fmt.Errorf("goroutine %d text %d: %v, want %v", g, i, got, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSPMCuts checks on the multilingual inputs and the llama.cpp test strings that SPM
// encoding with cuts equals the merge loop over the whole text (see encodeSPM).
func TestSPMCuts(t *testing.T) {
	var inputs []struct{ Text string }
	readJSON(t, "multilingual_inputs.json", &inputs)
	for _, tk := range []*Tokenizer{vocabTokenizer(t, "llama-spm"), vocabTokenizer(t, "phi-3"), vocabTokenizer(t, "baichuan")} {
		for _, in := range inputs {
			checkSPMCuts(t, tk, in.Text)
		}
		for _, c := range readVocabCases(t, "llama-spm") {
			checkSPMCuts(t, tk, c.text)
		}
	}
}
