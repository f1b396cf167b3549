package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The subset of Hugging Face tokenizer.json that byte-level BPE models (Llama 3, Qwen2/3,
// GPT-2 style) use. Every other component is rejected by name rather than ignored, because
// ignoring it would change token ids silently.

type hfTokenizer struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"` // decoded once the type is known
		Merges                  json.RawMessage `json:"merges"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		ByteFallback            bool            `json:"byte_fallback"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	} `json:"model"`
}

type hfAddedToken struct {
	ID      int32  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
	Lstrip  bool   `json:"lstrip"`
	Rstrip  bool   `json:"rstrip"`
}

// hfComponent is a normalizer, pre-tokenizer or post-processor node.
type hfComponent struct {
	Type           string          `json:"type"`
	Pretokenizers  []hfComponent   `json:"pretokenizers"`
	Processors     []hfComponent   `json:"processors"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
	IndividualDig  bool            `json:"individual_digits"`
	Single         []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

type hfConfig struct {
	AddBOS       *bool           `json:"add_bos_token"`
	AddEOS       *bool           `json:"add_eos_token"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	UNK          json.RawMessage `json:"unk_token"`
	PAD          json.RawMessage `json:"pad_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// hfRegexAliases maps tokenizer.json spellings to the llama.cpp spellings used as
// pre-tokenizer definitions ((?i:...) is not supported by std::regex, hence llama.cpp's).
var hfRegexAliases = map[string]string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: reLlama3,
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      reQwen2,
}

// hfPreNames lists the names given to a tokenizer.json pre-tokenizer, in order of
// preference, by comparing its expressions with the named definitions.
var hfPreNames = []string{"gpt-2", "llama-bpe", "qwen2", "starcoder", "falcon", "deepseek-coder", "deepseek-llm", "default"}

// FromHF builds a tokenizer from a Hugging Face tokenizer.json and, optionally (nil),
// its tokenizer_config.json, which supplies BOS/EOS/UNK/PAD, add_bos_token and the chat
// template. Only byte-level BPE models with a known pre-tokenizer are supported.
//
// A Unicode NFC normalizer (Qwen2/3) is accepted but not applied, as llama.cpp does with
// the same vocabulary from GGUF: text that is not already NFC may tokenize differently
// from Hugging Face.
func FromHF(tokenizerJSON, tokenizerConfigJSON []byte) (*Tokenizer, error) {
	var j hfTokenizer
	if err := json.Unmarshal(tokenizerJSON, &j); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	if j.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: unsupported tokenizer model %q", j.Model.Type)
	}
	switch {
	case j.Model.ByteFallback:
		return nil, fmt.Errorf("tokenizer: tokenizer.json: BPE with byte_fallback (SentencePiece-style) is not supported; use the GGUF vocabulary")
	case j.Model.ContinuingSubwordPrefix != nil && *j.Model.ContinuingSubwordPrefix != "",
		j.Model.EndOfWordSuffix != nil && *j.Model.EndOfWordSuffix != "":
		return nil, fmt.Errorf("tokenizer: tokenizer.json: BPE with subword prefix or suffix is not supported")
	}
	if err := checkNormalizer(j.Normalizer); err != nil {
		return nil, err
	}
	var vocab map[string]int32
	if err := json.Unmarshal(j.Model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json model.vocab: %w", err)
	}
	s := &spec{model: "gpt2", ignoreMerges: j.Model.IgnoreMerges,
		bos: -1, eos: -1, unk: -1, sep: -1, pad: -1, eot: -1, eom: -1,
		lstrip: map[int32]bool{}, rstrip: map[int32]bool{}}
	var err error
	if s.preExprs, err = hfPreTokenizer(j.PreTokenizer); err != nil {
		return nil, err
	}
	for _, name := range hfPreNames {
		if slices.Equal(preTokenizers[name], s.preExprs) {
			s.pre = name
			break
		}
	}
	if s.pre == "" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: pre-tokenizer expressions %q match no known pre-tokenizer", s.preExprs)
	}
	if s.merges, err = hfMerges(j.Model.Merges); err != nil {
		return nil, err
	}

	// Vocabulary: the model's tokens, then the added tokens (which win on a shared id);
	// ids nobody uses become unused padding tokens, as llama.cpp's converter does.
	n := int32(0)
	for _, id := range vocab {
		n = max(n, id+1)
	}
	for _, a := range j.AddedTokens {
		n = max(n, a.ID+1)
	}
	// Ids index arrays: a hostile file must not make us allocate for ids nobody uses.
	if entries := len(vocab) + len(j.AddedTokens); n > maxVocab || int(n) > 2*entries+1024 {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: largest token id %d for %d tokens (limit %d)", n-1, entries, maxVocab)
	}
	s.tokens = make([]string, n)
	s.types = make([]int32, n)
	seen := make([]bool, n)
	for p, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: token %q has negative id %d", p, id)
		}
		s.tokens[id], s.types[id], seen[id] = p, typeNormal, true
	}
	for _, a := range j.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: added token %q has negative id %d", a.Content, a.ID)
		}
		s.tokens[a.ID], s.types[a.ID], seen[a.ID] = a.Content, typeUserDefined, true
		if a.Special {
			s.types[a.ID] = typeControl
		}
		s.lstrip[a.ID], s.rstrip[a.ID] = a.Lstrip, a.Rstrip
	}
	for id := range s.tokens {
		if !seen[id] {
			s.tokens[id], s.types[id] = fmt.Sprintf("[PAD%d]", id), typeUnused
		}
	}
	byText := make(map[string]int32, n)
	for id, p := range s.tokens {
		if _, dup := byText[p]; !dup {
			byText[p] = int32(id)
		}
	}

	if s.addBOS, s.addEOS, err = hfTemplateSpecials(j.PostProcessor); err != nil {
		return nil, err
	}
	if j.Model.UnkToken != nil {
		s.unk = lookupToken(byText, *j.Model.UnkToken)
	}
	if tokenizerConfigJSON != nil {
		if err := applyHFConfig(s, tokenizerConfigJSON, byText); err != nil {
			return nil, err
		}
	}
	return build(s)
}

func lookupToken(byText map[string]int32, text string) int32 {
	if id, ok := byText[text]; ok {
		return id
	}
	return -1
}

func checkNormalizer(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("tokenizer: tokenizer.json normalizer: %w", err)
	}
	if c.Type != "NFC" {
		return fmt.Errorf("tokenizer: tokenizer.json: unsupported normalizer %q", c.Type)
	}
	return nil
}

// hfPreTokenizer returns the expressions a tokenizer.json pre-tokenizer applies.
func hfPreTokenizer(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json has no pre-tokenizer; byte-level BPE needs one")
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json pre_tokenizer: %w", err)
	}
	nodes := []hfComponent{c}
	if c.Type == "Sequence" {
		nodes = c.Pretokenizers
	}
	var exprs []string
	byteLevel := false
	for _, n := range nodes {
		switch n.Type {
		case "Split":
			var pat struct{ Regex *string }
			if err := json.Unmarshal(n.Pattern, &pat); err != nil || pat.Regex == nil {
				return nil, fmt.Errorf("tokenizer: tokenizer.json: unsupported Split pattern %s", n.Pattern)
			}
			if n.Behavior != "Isolated" || n.Invert {
				return nil, fmt.Errorf("tokenizer: tokenizer.json: unsupported Split behavior %q (invert %v)", n.Behavior, n.Invert)
			}
			e := *pat.Regex
			if alias, ok := hfRegexAliases[e]; ok {
				e = alias
			}
			if _, ok := regexMatchers[e]; !ok {
				return nil, fmt.Errorf("tokenizer: tokenizer.json: unsupported pre-tokenizer regex %q", *pat.Regex)
			}
			exprs = append(exprs, e)
		case "Digits":
			if n.IndividualDig {
				exprs = append(exprs, `\p{N}`)
			} else {
				exprs = append(exprs, `\p{N}+`)
			}
		case "ByteLevel":
			if n.AddPrefixSpace {
				return nil, fmt.Errorf("tokenizer: tokenizer.json: ByteLevel pre-tokenizer with add_prefix_space is not supported")
			}
			if n.UseRegex == nil || *n.UseRegex { // the Hugging Face default is true
				exprs = append(exprs, reGPT2)
			}
			byteLevel = true
		default:
			return nil, fmt.Errorf("tokenizer: tokenizer.json: unsupported pre-tokenizer %q", n.Type)
		}
	}
	if !byteLevel {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: pre-tokenizer has no ByteLevel step")
	}
	return exprs, nil
}

// hfMerges reads merges written as "left right" strings or as [left, right] pairs.
func hfMerges(raw json.RawMessage) ([]string, error) {
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		return asStrings, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json model.merges: %w", err)
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json model.merges[%d] has %d parts, want 2", i, len(p))
		}
		out[i] = p[0] + " " + p[1]
	}
	return out, nil
}

// hfTemplateSpecials reports whether a TemplateProcessing post-processor (possibly inside
// a Sequence) puts a special token before or after a single sequence.
func hfTemplateSpecials(raw json.RawMessage) (bos, eos bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, false, nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, false, fmt.Errorf("tokenizer: tokenizer.json post_processor: %w", err)
	}
	for _, p := range append([]hfComponent{c}, c.Processors...) {
		if p.Type == "TemplateProcessing" && len(p.Single) > 0 {
			bos = p.Single[0].SpecialToken != nil
			eos = len(p.Single) > 1 && p.Single[len(p.Single)-1].SpecialToken != nil
		}
	}
	return bos, eos, nil
}

// applyHFConfig reads the special tokens, add_bos/add_eos and chat template of a
// tokenizer_config.json.
func applyHFConfig(s *spec, raw []byte, byText map[string]int32) error {
	var c hfConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
	}
	for _, tok := range []struct {
		name string
		raw  json.RawMessage
		dst  *int32
	}{{"bos_token", c.BOS, &s.bos}, {"eos_token", c.EOS, &s.eos}, {"unk_token", c.UNK, &s.unk}, {"pad_token", c.PAD, &s.pad}} {
		text, err := hfTokenText(tok.raw)
		if err != nil {
			return fmt.Errorf("tokenizer: tokenizer_config.json %s: %w", tok.name, err)
		}
		if text == "" {
			continue
		}
		id := lookupToken(byText, text)
		if id < 0 {
			return fmt.Errorf("tokenizer: tokenizer_config.json %s %q is not in the vocabulary", tok.name, text)
		}
		*tok.dst = id
	}
	if c.AddBOS != nil {
		s.addBOS = *c.AddBOS
	}
	if c.AddEOS != nil {
		s.addEOS = *c.AddEOS
	}
	var err error
	s.chatTemplate, err = hfChatTemplate(c.ChatTemplate)
	return err
}

// hfTokenText reads a special token given as a string, as {"content": ...}, or null.
func hfTokenText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct{ Content string }
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", err
	}
	return obj.Content, nil
}

// hfChatTemplate reads chat_template: a string, or a list of named templates of which
// "default" is the one used for chat.
func hfChatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("tokenizer: tokenizer_config.json chat_template: %w", err)
	}
	for _, t := range named {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", fmt.Errorf("tokenizer: tokenizer_config.json chat_template has no \"default\" entry")
}
