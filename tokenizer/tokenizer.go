// Package tokenizer turns text into token ids and back for the Llama and Qwen families, the
// way llama.cpp does, from the vocabulary stored in a GGUF file (tokenizer.ggml.*) or in a
// Hugging Face tokenizer.json.
//
// Two algorithms are implemented: SentencePiece-style BPE over scores ("spm", the Llama 1/2
// vocabulary: whitespace becomes U+2581, unknown characters fall back to <0xNN> byte
// tokens) and byte-level BPE over merge ranks ("bpe", GPT-2, Llama 3, Qwen2 and others),
// which first splits text into words with a pre-tokenizer. The pre-tokenizers are
// hand-written matchers for the known regular expressions (see pretok.go), because Go's
// regexp has no lookahead and an approximation would change token ids silently; unknown
// names or expressions are errors.
//
// Special and added tokens are cut out of the text before pre-tokenization, longest first.
// Control tokens (BOS, <|im_start|>, ...) are produced from text only when Encode is asked
// to parse special tokens; decoding never renders them. [StreamDecoder] emits decoded bytes
// only at UTF-8 character boundaries, for streaming generation to a terminal.
package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Token types as stored in tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	typeNormal      int32 = 1
	typeUnknown     int32 = 2
	typeControl     int32 = 3
	typeUserDefined int32 = 4
	typeUnused      int32 = 5
	typeByte        int32 = 6
)

// Kinds of vocabulary, as returned by Kind.
const (
	KindSPM = "spm"
	KindBPE = "bpe"
)

// Tokenizer encodes and decodes text for one vocabulary. It is immutable after
// construction and safe for concurrent use.
type Tokenizer struct {
	kind string // KindSPM or KindBPE
	pre  string // pre-tokenizer name ("" for SPM)

	pieces []string  // [n_vocab] vocabulary pieces as stored (byte-level or U+2581 escaped)
	types  []int32   // [n_vocab] token types (typeNormal, ...)
	scores []float32 // [n_vocab] SPM merge scores; nil when the source had none
	text   []string  // [n_vocab] raw bytes each token contributes to decoded text ("" for control)
	merges []string  // [n_merges] BPE merge rules "left right" in rank order, byte-level encoded

	// encode maps the raw text of every token that plain text may produce (normal and
	// user-defined tokens) to its id; control, unknown, unused and byte tokens are absent.
	encode map[string]int32
	byteID [256]int32 // token of each raw byte (<0xNN> for SPM, the byte-level char for BPE); -1 if none

	specials []int32 // control, user-defined and unknown tokens, longest text first
	lstrip   []bool  // [n_vocab] a special token absorbs whitespace on its left (HF lstrip)
	rstrip   []bool  // [n_vocab] ... and on its right (HF rstrip)

	bpe      *bpeModel           // byte-level BPE merges; nil for SPM
	split    splitter            // pre-tokenizer; nil for SPM
	spmPairs map[uint64]struct{} // SPM: adjacent symbol pairs (symbolKey) found inside tokens
	pool     sync.Pool           // *scratch

	bos, eos, unk, sep, pad, eot, eom int32   // special ids, -1 when absent
	eog                               []int32 // end-of-generation tokens
	addBOS, addEOS                    bool
	addSpacePrefix                    bool // SPM: prefix the text with a space (U+2581)
	ignoreMerges                      bool // BPE: a word that is a whole token is emitted as is (Llama 3)
	chatTemplate                      string
}

// maxVocab bounds vocabulary sizes (the largest real ones have ~260K tokens), so that
// token ids fit comfortably in int32 and a hostile file cannot demand huge tables.
const maxVocab = 1 << 24

// spec is what a vocabulary source (GGUF metadata or tokenizer.json) provides; build turns
// it into a Tokenizer.
type spec struct {
	model          string    // tokenizer.ggml.model: "llama" (SPM) or "gpt2" (byte-level BPE)
	pre            string    // pre-tokenizer name (for HF sources, the named list its expressions equal)
	preExprs       []string  // pre-tokenizer expressions (from preTokenizers[pre] or tokenizer.json)
	tokens         []string  // [n_vocab]
	types          []int32   // [n_vocab]; nil means all normal
	scores         []float32 // [n_vocab]; nil allowed
	merges         []string  // [n_merges] "left right"
	bos, eos, unk  int32
	sep, pad       int32
	eot, eom       int32
	addBOS, addEOS bool
	addSpacePrefix bool
	ignoreMerges   bool
	lstrip, rstrip map[int32]bool
	chatTemplate   string
}

// eogTexts are the texts of control tokens that end a generation turn, recognised by text
// like llama.cpp does, because GGUF files rarely record them all as eot/eom ids.
var eogTexts = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
	"<EOT>", "_<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
}

// build validates a spec and constructs the tokenizer.
func build(s *spec) (*Tokenizer, error) {
	n := len(s.tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if n > maxVocab {
		return nil, fmt.Errorf("tokenizer: vocabulary of %d tokens exceeds the limit of %d", n, maxVocab)
	}
	if s.types != nil && len(s.types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(s.types), n)
	}
	if s.scores != nil && len(s.scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(s.scores), n)
	}
	// Copies: the source (a gguf.File the caller keeps) must not be able to change us.
	t := &Tokenizer{
		pieces: slices.Clone(s.tokens), types: slices.Clone(s.types), scores: slices.Clone(s.scores),
		bos: s.bos, eos: s.eos, unk: s.unk, sep: s.sep, pad: s.pad, eot: s.eot, eom: s.eom,
		addBOS: s.addBOS, addEOS: s.addEOS, addSpacePrefix: s.addSpacePrefix,
		ignoreMerges: s.ignoreMerges, chatTemplate: s.chatTemplate,
		lstrip: make([]bool, n), rstrip: make([]bool, n),
	}
	if t.types == nil {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = typeNormal
		}
	}
	for name, id := range map[string]int32{"bos": t.bos, "eos": t.eos, "unknown": t.unk,
		"separator": t.sep, "padding": t.pad, "eot": t.eot, "eom": t.eom} {
		if id < -1 || int(id) >= n {
			return nil, fmt.Errorf("tokenizer: %s token id %d outside the vocabulary of %d tokens", name, id, n)
		}
	}
	for id, v := range s.lstrip {
		if id >= 0 && int(id) < n {
			t.lstrip[id] = v
		}
	}
	for id, v := range s.rstrip {
		if id >= 0 && int(id) < n {
			t.rstrip[id] = v
		}
	}
	switch s.model {
	case "llama":
		t.kind = KindSPM
		t.buildSPMText()
	case "gpt2":
		t.kind = KindBPE
		t.pre = s.pre
		sp, err := compileSplitter(s.preExprs)
		if err != nil {
			return nil, err
		}
		t.split = sp
		t.merges = slices.Clone(s.merges)
		if err := t.buildBPE(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q", s.model)
	}
	t.buildSpecials()
	return t, nil
}

// buildSpecials collects the tokens matched in text before pre-tokenization and the
// end-of-generation set.
func (t *Tokenizer) buildSpecials() {
	for id, ty := range t.types {
		if (ty == typeControl || ty == typeUserDefined || ty == typeUnknown) && t.pieces[id] != "" {
			t.specials = append(t.specials, int32(id))
		}
	}
	// Longest first, so that a token containing another is matched whole; ties by id
	// keep the order deterministic.
	slices.SortStableFunc(t.specials, func(a, b int32) int {
		return len(t.pieces[b]) - len(t.pieces[a])
	})
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id >= 0 && !slices.Contains(t.eog, id) {
			t.eog = append(t.eog, id)
		}
	}
	for id, p := range t.pieces {
		if t.types[id] == typeControl && slices.Contains(eogTexts, p) && !slices.Contains(t.eog, int32(id)) {
			t.eog = append(t.eog, int32(id))
		}
	}
}

// fragment is a piece of the input: raw text to tokenize, or a special token (id >= 0).
type fragment struct {
	text string
	id   int32
}

// partition cuts special tokens out of text. Each candidate, longest first, claims all its
// occurrences in the remaining raw fragments (llama.cpp's tokenizer_st_partition). Without
// parseSpecial only user-defined tokens are candidates: control tokens never come from
// plain text.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil // so that SPM does not turn "" into its space prefix
	}
	frags := []fragment{{text: text, id: -1}}
	for _, id := range t.specials {
		ty := t.types[id]
		if !parseSpecial && ty != typeUserDefined {
			continue
		}
		piece := t.pieces[id]
		found := false
		for _, f := range frags {
			if f.id < 0 && strings.Contains(f.text, piece) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		var out []fragment
		for _, f := range frags {
			if f.id >= 0 {
				out = append(out, f)
				continue
			}
			rest := f.text
			for {
				k := strings.Index(rest, piece)
				if k < 0 {
					break
				}
				left := rest[:k]
				rest = rest[k+len(piece):]
				if t.lstrip[id] {
					left = strings.TrimRight(left, asciiSpace)
				}
				if t.rstrip[id] {
					rest = strings.TrimLeft(rest, asciiSpace)
				}
				if left != "" {
					out = append(out, fragment{text: left, id: -1})
				}
				out = append(out, fragment{id: id})
			}
			if rest != "" {
				out = append(out, fragment{text: rest, id: -1})
			}
		}
		frags = out
	}
	return frags
}

// asciiSpace is what C's isspace accepts, which llama.cpp uses for lstrip/rstrip.
const asciiSpace = " \t\n\v\f\r"

// Encode converts text to token ids. With addSpecial, BOS and EOS are added when the
// vocabulary asks for them (AddBOS). With parseSpecial, the text of control tokens such as
// "<|im_start|>" becomes that token; without it such text is tokenized as plain text.
// User-defined added tokens are always matched, as in llama.cpp and Hugging Face.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	out := make([]int32, 0, len(text)/4+2) // ~4 bytes per token in English: few regrowths
	if addSpecial && t.addBOS {
		if t.bos < 0 {
			return nil, fmt.Errorf("tokenizer: the vocabulary asks for BOS but has no BOS token")
		}
		out = append(out, t.bos)
	}
	// SPM adds its space prefix at the start of the text and after every special token.
	prevSpecial := true
	var err error
	for _, f := range t.partition(text, parseSpecial) {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		if t.kind == KindSPM {
			out, err = t.encodeSPM(f.text, prevSpecial && t.addSpacePrefix, out)
		} else {
			out, err = t.encodeBPE(f.text, out)
		}
		if err != nil {
			return nil, err
		}
		prevSpecial = false
	}
	if addSpecial && t.addEOS {
		if t.eos < 0 {
			return nil, fmt.Errorf("tokenizer: the vocabulary asks for EOS but has no EOS token")
		}
		out = append(out, t.eos)
	}
	return out, nil
}

// appendBytes appends the byte tokens of raw bytes that no token covers, falling back to
// the unknown token; a vocabulary with neither cannot encode them.
func (t *Tokenizer) appendBytes(out []int32, raw string) ([]int32, error) {
	for k := 0; k < len(raw); k++ {
		switch {
		case t.byteID[raw[k]] >= 0:
			out = append(out, t.byteID[raw[k]])
		case t.unk >= 0:
			out = append(out, t.unk)
		default:
			return nil, fmt.Errorf("tokenizer: byte 0x%02X has no token and the vocabulary has no unknown token", raw[k])
		}
	}
	return out, nil
}

// Decode converts token ids to text: the concatenation of what each token contributes
// (TokenBytes), except that an SPM vocabulary with a space prefix drops the space that
// prefix put before the first word. Control tokens contribute nothing and ids outside the
// vocabulary are skipped. The result may hold invalid UTF-8 if the ids split a character.
func (t *Tokenizer) Decode(ids []int32) string {
	var b []byte
	d := t.NewDecoder()
	for _, id := range ids {
		b = append(b, d.Add(id)...)
	}
	return string(append(b, d.Flush()...))
}

// Piece returns the vocabulary entry of id as stored (byte-level or U+2581 escaped text),
// or "" for an id outside the vocabulary.
func (t *Tokenizer) Piece(id int32) string {
	if !t.valid(id) {
		return ""
	}
	return t.pieces[id]
}

// TokenBytes returns the bytes token id contributes to decoded text, as llama.cpp's
// llama_token_to_piece without special rendering: nil for control, unknown and unused
// tokens and for ids outside the vocabulary.
func (t *Tokenizer) TokenBytes(id int32) []byte {
	if !t.valid(id) || t.text[id] == "" {
		return nil
	}
	return []byte(t.text[id])
}

func (t *Tokenizer) valid(id int32) bool { return id >= 0 && int(id) < len(t.pieces) }

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// BOS returns the beginning-of-sequence token, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence token, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// IsEOG reports whether id ends generation: EOS, end-of-turn (EOT, <|im_end|>, <|eot_id|>,
// ...) or end-of-message.
func (t *Tokenizer) IsEOG(id int32) bool { return slices.Contains(t.eog, id) }

// AddBOS reports whether Encode with addSpecial puts BOS first.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// Kind returns KindSPM or KindBPE.
func (t *Tokenizer) Kind() string { return t.kind }

// Pre returns the pre-tokenizer name of a BPE vocabulary (tokenizer.ggml.pre), "" for SPM.
func (t *Tokenizer) Pre() string { return t.pre }

// ChatTemplate returns the Jinja chat template stored with the vocabulary, or "".
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// StreamDecoder turns generated tokens into text incrementally. Add returns only bytes
// that end on a UTF-8 character boundary, holding back the start of a character split
// across tokens (byte-fallback tokens), so every chunk can be printed at once.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte // decoded bytes not yet returned: at most an incomplete character
	started bool   // a token has contributed text
}

// NewDecoder returns a StreamDecoder at the start of a sequence. Like Decode, it drops the
// SPM space prefix from the first text it emits; to stream a continuation of a prompt
// (whose first word keeps its space), Add the prompt tokens first and discard their output.
func (t *Tokenizer) NewDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Add decodes one token and returns the bytes that are now complete (possibly none).
// Bytes that can never start a valid character are passed through unchanged.
func (d *StreamDecoder) Add(id int32) []byte {
	piece := d.t.TokenBytes(id)
	if len(piece) == 0 {
		return nil
	}
	// SPM: the first word carries the space the encoder prefixed; sentencepiece and
	// llama2.c drop it when decoding a sequence (after BOS, if any).
	if !d.started && d.t.kind == KindSPM && d.t.addSpacePrefix && piece[0] == ' ' {
		piece = piece[1:]
	}
	d.started = true
	d.pending = append(d.pending, piece...)
	cut := completeUTF8(d.pending)
	out := slices.Clone(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns the held-back bytes of an incomplete final character, if any.
func (d *StreamDecoder) Flush() []byte {
	out := d.pending
	d.pending = nil
	return out
}

// completeUTF8 returns the length of the longest prefix of p that does not end inside a
// character: a trailing lead byte with fewer continuation bytes than it announces is held
// back.
func completeUTF8(p []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				return len(p) - k
			}
			break
		}
	}
	return len(p)
}
