package runtime

import (
	"strings"
	"testing"
)

// storiesSession returns a fresh stories260K session and its piece decoder.
func storiesSession(t *testing.T) (*Session, func([]int32) string) {
	f, m := openModel(t, "stories260K.gguf", Options{ContextSize: 64})
	return m.NewSession(), storiesTokenizer(t, f).Decode
}

// TestGenerateFinish checks the three finish reasons on stories260K's greedy story, whose text
// starts "Once upon a time, there was a little girl named Lily. She loved to play".
func TestGenerateFinish(t *testing.T) {
	s, dec := storiesSession(t)
	base, err := s.Generate([]int32{1}, GenerateOptions{MaxTokens: 12, Detokenize: dec})
	if err != nil {
		t.Fatal(err)
	}
	if base.Finish != FinishLength || len(base.Tokens) != 12 || s.Pos() != 13 {
		t.Fatalf("MaxTokens 12: finish %q, %d tokens, position %d", base.Finish, len(base.Tokens), s.Pos())
	}
	eog := base.Tokens[5]
	cases := []struct {
		name       string
		o          GenerateOptions
		wantFinish string
		wantText   string
		wantTokens int
	}{
		{"eos", GenerateOptions{IsEOG: func(id int32) bool { return id == eog }}, FinishEOS, dec(base.Tokens[:5]), 5},
		{"stop string", GenerateOptions{Stop: []string{"girl", "little"}}, FinishStop, "Once upon a time, there was a ", -1},
		{"stop across tokens", GenerateOptions{Stop: []string{"e, th"}}, FinishStop, "Once upon a tim", -1},
		{"max tokens", GenerateOptions{MaxTokens: 3}, FinishLength, dec(base.Tokens[:3]), 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.Reset()
			var streamed strings.Builder
			var seen []int32
			c.o.Detokenize = dec
			c.o.OnText = func(p string) error { streamed.WriteString(p); return nil }
			c.o.OnToken = func(id int32) error { seen = append(seen, id); return nil }
			r, err := s.Generate([]int32{1}, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Finish != c.wantFinish || r.Text != c.wantText {
				t.Fatalf("finish %q text %q, want %q %q", r.Finish, r.Text, c.wantFinish, c.wantText)
			}
			if c.wantTokens >= 0 && len(r.Tokens) != c.wantTokens {
				t.Fatalf("%d tokens, want %d", len(r.Tokens), c.wantTokens)
			}
			if streamed.String() != r.Text {
				t.Fatalf("streamed %q, result %q: a stop string leaked or text was lost", streamed.String(), r.Text)
			}
			for i, id := range r.Tokens {
				if id != base.Tokens[i] || seen[i] != id {
					t.Fatalf("token %d: %d (callback %d), want the greedy %d", i, id, seen[i], base.Tokens[i])
				}
			}
		})
	}
}

// TestGenerateContinues checks that a second Generate continues the text of the first.
func TestGenerateContinues(t *testing.T) {
	s, _ := storiesSession(t)
	whole, err := s.Generate([]int32{1}, GenerateOptions{MaxTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	s.Reset()
	first, err := s.Generate([]int32{1}, GenerateOptions{MaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.Generate(nil, GenerateOptions{MaxTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	got := append(first.Tokens, rest.Tokens...)
	for i := range whole.Tokens {
		if got[i] != whole.Tokens[i] {
			t.Fatalf("continued generation %v differs from one run %v", got, whole.Tokens)
		}
	}
}

func TestSafeEnd(t *testing.T) {
	cases := []struct {
		text  string
		stops []string
		want  int
	}{
		{"hello", nil, 5},
		{"hello wor", []string{"world"}, 6}, // "wor" may become "world"
		{"hello", []string{"xyz"}, 5},
		{"ab\xe2\x82", nil, 2},     // incomplete 3-byte rune
		{"ab\xe2\x82\xac", nil, 5}, // complete euro sign
		{"ab<|im", []string{"<|im_end|>"}, 2},
	}
	for _, c := range cases {
		if got := safeEnd(c.text, c.stops); got != c.want {
			t.Errorf("safeEnd(%q, %q) = %d, want %d", c.text, c.stops, got, c.want)
		}
	}
}

// TestConfig checks the hyperparameters read from the shipped files, including the defaults
// (stories260K has no rope.freq_base; head_dim defaults to n_embd/n_head).
func TestConfig(t *testing.T) {
	cases := []struct {
		file string
		want Config
	}{
		{"stories260K.gguf", Config{Arch: archs["llama"], NLayer: 5, NEmbd: 64, NFF: 172, NHead: 8, NKVHead: 4,
			HeadDim: 8, RopeDim: 8, RopeBase: 10000, RopeScale: 1, RMSEps: 1e-5, ContextLength: 2048, NVocab: 512}},
		{"micro-qwen2.f32.gguf", Config{Arch: archs["qwen2"], NLayer: 2, NEmbd: 256, NFF: 512, NHead: 4, NKVHead: 2,
			HeadDim: 64, RopeDim: 64, RopeBase: 1e6, RopeScale: 1, RMSEps: 1e-6, ContextLength: 256, NVocab: 512}},
		{"micro-qwen3.Q4_K_M.gguf", Config{Arch: archs["qwen3"], NLayer: 2, NEmbd: 256, NFF: 512, NHead: 4, NKVHead: 2,
			HeadDim: 64, RopeDim: 64, RopeBase: 1e6, RopeScale: 1, RMSEps: 1e-6, ContextLength: 256, NVocab: 512}},
	}
	for _, c := range cases {
		_, m := openModel(t, c.file, Options{})
		if got := m.Config(); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.file, got, c.want)
		}
	}
}

// TestTruncate checks that truncating and feeding different tokens gives the logits of a fresh
// session fed the same sequence (the dense cache overwrites the forgotten positions).
func TestTruncate(t *testing.T) {
	_, m := openModel(t, "micro-qwen2.f32.gguf", Options{KVType: KVF32})
	ids, _ := readLogits(t, "micro-qwen2.f32.logits.txt")
	s := m.NewSession()
	if err := s.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(len(ids) + 1); err == nil {
		t.Fatal("Truncate past the end succeeded")
	}
	if err := s.Truncate(5); err != nil {
		t.Fatal(err)
	}
	other := []int32{300, 301, 302}
	if err := s.Prefill(other); err != nil {
		t.Fatal(err)
	}
	want := batchLogits(t, m, append(append([]int32(nil), ids[:5]...), other...))
	vocab := m.Config().NVocab
	if d, _ := maxDiff(s.Logits(), want[len(want)-vocab:]); d > 1e-5 {
		t.Fatalf("after Truncate the logits differ from a fresh run by %.3g", d)
	}
}
