package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sparkrun/sparkrun/gguf"
)

// GGUF metadata keys of the vocabulary (llama.cpp's LLM_KV_TOKENIZER_*).
const (
	keyModel          = "tokenizer.ggml.model"
	keyPre            = "tokenizer.ggml.pre"
	keyTokens         = "tokenizer.ggml.tokens"
	keyTokenType      = "tokenizer.ggml.token_type"
	keyScores         = "tokenizer.ggml.scores"
	keyMerges         = "tokenizer.ggml.merges"
	keyBOS            = "tokenizer.ggml.bos_token_id"
	keyEOS            = "tokenizer.ggml.eos_token_id"
	keyUNK            = "tokenizer.ggml.unknown_token_id"
	keySEP            = "tokenizer.ggml.seperator_token_id" // sic, as llama.cpp spells it
	keyPAD            = "tokenizer.ggml.padding_token_id"
	keyEOT            = "tokenizer.ggml.eot_token_id"
	keyEOM            = "tokenizer.ggml.eom_token_id"
	keyAddBOS         = "tokenizer.ggml.add_bos_token"
	keyAddEOS         = "tokenizer.ggml.add_eos_token"
	keyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	keyChatTemplate   = "tokenizer.chat_template"
)

// noToken is how GGUF files mark an absent special token id (uint32 -1).
const noToken = math.MaxUint32

// FromGGUF builds the tokenizer described by the tokenizer.* metadata of a GGUF file.
// Supported models are "llama" (SPM) and "gpt2" (byte-level BPE) with the pre-tokenizers
// llama.cpp names in tokenizer.ggml.pre; anything else is an error naming it.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, err := f.String(keyModel)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	s := &spec{model: model}
	switch model {
	case "llama":
		// llama.cpp's defaults for SPM vocabularies without the keys.
		s.bos, s.eos, s.unk = 1, 2, 0
		s.addBOS, s.addSpacePrefix = true, true
	case "gpt2":
		s.bos, s.eos, s.unk = -1, -1, -1
		s.pre = "default" // llama.cpp's choice when the key is missing
		if s.pre, err = optional(f.String, keyPre, s.pre); err != nil {
			return nil, err
		}
		exprs, ok := preTokenizers[s.pre]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q (%s)", s.pre, keyPre)
		}
		s.preExprs = exprs
		if exprs[0] == reLlama3 {
			// Llama 3 emits a word that is a whole token without merging (llama.cpp's
			// ignore_merges) and starts sequences with BOS unless the file says otherwise.
			s.ignoreMerges, s.addBOS = true, true
		}
		if s.merges, err = f.Strings(keyMerges); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q (%s)", model, keyModel)
	}
	if s.tokens, err = f.Strings(keyTokens); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if s.types, err = optional(f.Int32s, keyTokenType, nil); err != nil {
		return nil, err
	}
	if s.scores, err = optional(f.Float32s, keyScores, nil); err != nil {
		return nil, err
	}
	s.sep, s.pad, s.eot, s.eom = -1, -1, -1, -1
	for _, id := range []struct {
		key string
		dst *int32
	}{{keyBOS, &s.bos}, {keyEOS, &s.eos}, {keyUNK, &s.unk}, {keySEP, &s.sep},
		{keyPAD, &s.pad}, {keyEOT, &s.eot}, {keyEOM, &s.eom}} {
		v, err := optional(f.Int, id.key, int64(*id.dst))
		if err != nil {
			return nil, err
		}
		switch {
		case v == noToken || v == -1:
			*id.dst = -1
		case v < 0 || v >= int64(len(s.tokens)):
			return nil, fmt.Errorf("tokenizer: %s = %d outside the vocabulary of %d tokens", id.key, v, len(s.tokens))
		default:
			*id.dst = int32(v)
		}
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{keyAddBOS, &s.addBOS}, {keyAddEOS, &s.addEOS}, {keyAddSpacePrefix, &s.addSpacePrefix}} {
		if *b.dst, err = optional(f.Bool, b.key, *b.dst); err != nil {
			return nil, err
		}
	}
	if s.chatTemplate, err = optional(f.String, keyChatTemplate, ""); err != nil {
		return nil, err
	}
	return build(s)
}

// optional reads a key with a typed getter, returning def when the key is absent.
func optional[T any](get func(string) (T, error), key string, def T) (T, error) {
	v, err := get(key)
	if errors.Is(err, gguf.ErrKeyNotFound) {
		return def, nil
	}
	if err != nil {
		return def, fmt.Errorf("tokenizer: %w", err)
	}
	return v, nil
}

// GGUFMetadata returns the tokenizer.* keys that describe this vocabulary in a GGUF file,
// in the form llama.cpp reads (used when converting a Hugging Face model). The values are
// copies the caller may keep or change.
func (t *Tokenizer) GGUFMetadata() []gguf.KV {
	model, pre := "llama", "default"
	if t.kind == KindBPE {
		model, pre = "gpt2", t.pre
	}
	kv := []gguf.KV{
		{Key: keyModel, Value: model},
		{Key: keyPre, Value: pre},
		{Key: keyTokens, Value: slices.Clone(t.pieces)},
		{Key: keyTokenType, Value: slices.Clone(t.types)},
	}
	if t.scores != nil {
		kv = append(kv, gguf.KV{Key: keyScores, Value: slices.Clone(t.scores)})
	}
	if t.kind == KindBPE {
		kv = append(kv, gguf.KV{Key: keyMerges, Value: slices.Clone(t.merges)})
	}
	for _, id := range []struct {
		key string
		id  int32
	}{{keyBOS, t.bos}, {keyEOS, t.eos}, {keyUNK, t.unk}, {keySEP, t.sep}, {keyPAD, t.pad},
		{keyEOT, t.eot}, {keyEOM, t.eom}} {
		if id.id >= 0 {
			kv = append(kv, gguf.KV{Key: id.key, Value: uint32(id.id)})
		}
	}
	kv = append(kv, gguf.KV{Key: keyAddBOS, Value: t.addBOS}, gguf.KV{Key: keyAddEOS, Value: t.addEOS})
	if t.kind == KindSPM {
		kv = append(kv, gguf.KV{Key: keyAddSpacePrefix, Value: t.addSpacePrefix})
	}
	if t.chatTemplate != "" {
		kv = append(kv, gguf.KV{Key: keyChatTemplate, Value: t.chatTemplate})
	}
	return kv
}
