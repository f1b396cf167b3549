package runtime

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Session is one conversation with a model: its own KV cache (one sequence), the tokens seen so
// far and the logits after the last one.
type Session struct {
	m       Engine // the model: *Model, or another backend's (NewSessionOn)
	cache   KVCache
	history []int32      // every token fed so far; len(history) is the next position
	logits  []float32    // [n_vocab] logits after the last token fed
	batch   []BatchEntry // scratch for Prefill and Decode
}

// NewSession starts an empty session with a cache of Options.ContextSize positions.
func (m *Model) NewSession() *Session { return m.newSession(m.NewCache(1)) }

// newSession starts an empty session on cache (one sequence).
func (m *Model) newSession(cache KVCache) *Session { return newSessionOn(m, cache) }

// Pos returns the number of tokens fed so far, the position of the next one.
func (s *Session) Pos() int { return len(s.history) }

// Tokens returns the tokens fed so far (a view; do not modify).
func (s *Session) Tokens() []int32 { return s.history }

// Logits returns the logits after the last token fed ([n_vocab]; a view that the next Prefill
// or Decode overwrites).
func (s *Session) Logits() []float32 { return s.logits }

// Reset empties the session so that it starts again at position 0.
func (s *Session) Reset() { s.history = s.history[:0] }

// feed runs ids at the next positions; all logits rows go to out ([count][n_vocab]), where
// count is len(ids) when every is set, else 1 (the last token's).
func (s *Session) feed(ids []int32, every bool, out []float32) error {
	if len(ids) == 0 {
		return fmt.Errorf("runtime: no tokens to feed")
	}
	pos, ctx := len(s.history), s.cache.Context()
	if pos+len(ids) > ctx {
		return fmt.Errorf("runtime: %d tokens at position %d exceed the context size %d", len(ids), pos, ctx)
	}
	s.batch = s.batch[:0]
	for i, id := range ids {
		s.batch = append(s.batch, BatchEntry{Pos: pos + i, Token: id, Logits: every || i == len(ids)-1})
	}
	if err := s.m.Forward(s.batch, s.cache, out); err != nil {
		return err
	}
	s.history = append(s.history, ids...)
	return nil
}

// Prefill feeds ids (the prompt, or its continuation) in one batched pass and keeps the logits
// of the last one. It fails, feeding nothing, when the tokens do not fit in the context.
// A press cache compresses the prompt after the first Prefill; later ones are post-prefill tokens.
func (s *Session) Prefill(ids []int32) error {
	if err := s.feed(ids, false, s.logits); err != nil {
		return err
	}
	return s.endPrefill()
}

// Decode feeds one token and keeps its logits. A prompt fed by PromptLogits is compressed first.
func (s *Session) Decode(id int32) error {
	if err := s.endPrefill(); err != nil {
		return err
	}
	var one [1]int32
	one[0] = id
	return s.feed(one[:], false, s.logits)
}

// endPrefill tells a cache that needs it (a press cache) that the prompt is complete.
func (s *Session) endPrefill() error {
	if pe, ok := s.cache.(prefillEnder); ok && len(s.history) > 0 {
		return pe.EndPrefill(0)
	}
	return nil
}

// Cache returns the session's KV cache (a *PressCache for a press session).
func (s *Session) Cache() KVCache { return s.cache }

// PromptLogits feeds ids and returns the logits after every one of them: [len(ids)][n_vocab]
// (what `sparkrun logits` prints). The last row is also kept as Logits().
func (s *Session) PromptLogits(ids []int32) ([]float32, error) {
	out := make([]float32, len(ids)*s.m.Config().NVocab)
	if err := s.feed(ids, true, out); err != nil {
		return nil, err
	}
	copy(s.logits, out[len(out)-s.m.Config().NVocab:])
	return out, nil
}

// Finish reasons reported by Generate.
const (
	FinishStop   = "stop"   // a stop string appeared in the text
	FinishLength = "length" // MaxTokens were generated, or the context is full
	FinishEOS    = "eos"    // the model produced an end-of-generation token
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxTokens int                 // most tokens to generate; <= 0: until the context is full
	Sampler   *Sampler            // nil: greedy
	IsEOG     func(id int32) bool // end-of-generation tokens (EOS, EOT, ...); nil: none
	// Detokenize turns generated ids into text; needed for Stop and OnText.
	Detokenize func(ids []int32) string
	Stop       []string // stop strings, matched on the generated text; not included in Text
	// OnToken, if set, receives each generated token as it is sampled (EOG tokens included).
	// Returning an error stops generation with that error.
	OnToken func(id int32) error
	// OnText, if set, receives the generated text in pieces as soon as they can no longer be
	// part of a stop string or an incomplete UTF-8 sequence. The pieces concatenate to Text.
	OnText func(text string) error
}

// Result is the outcome of Generate.
type Result struct {
	Tokens []int32 // generated tokens, without the EOG token
	Text   string  // Detokenize(Tokens) cut before the stop string ("" without Detokenize)
	Finish string  // FinishStop, FinishLength or FinishEOS
}

// Generate prefills prompt (which may be empty when the session already holds tokens) and
// samples until an end-of-generation token, a stop string, MaxTokens or the end of the context.
// Every token in Result.Tokens has been fed to the session (except the last one when the
// context is full), so a later Generate continues the same text; an EOG token is not fed.
func (s *Session) Generate(prompt []int32, o GenerateOptions) (Result, error) {
	var r Result
	if len(prompt) > 0 {
		if err := s.Prefill(prompt); err != nil {
			return r, err
		}
	} else if len(s.history) == 0 {
		return r, fmt.Errorf("runtime: Generate needs a prompt or a session that already holds tokens")
	}
	sampler := o.Sampler
	if sampler == nil {
		sampler = NewSampler(SamplerOptions{})
	}
	emitted := 0 // bytes of the text already passed to OnText
	for {
		id := sampler.Sample(s.logits, s.history)
		if o.OnToken != nil {
			if err := o.OnToken(id); err != nil {
				return r, err
			}
		}
		if o.IsEOG != nil && o.IsEOG(id) {
			r.Finish = FinishEOS
			break
		}
		r.Tokens = append(r.Tokens, id)
		// Feed the token, so that the session holds prompt + Result.Tokens and a later
		// Generate continues from there; only a full context prevents it.
		if len(s.history) >= s.cache.Context() {
			r.Finish = FinishLength
			break
		}
		if err := s.Decode(id); err != nil {
			return r, err
		}
		if o.Detokenize != nil {
			r.Text = o.Detokenize(r.Tokens)
			if cut, ok := findStop(r.Text, o.Stop); ok {
				r.Text, r.Finish = r.Text[:cut], FinishStop
				break
			}
			if err := emit(o.OnText, r.Text, &emitted, safeEnd(r.Text, o.Stop)); err != nil {
				return r, err
			}
		}
		if o.MaxTokens > 0 && len(r.Tokens) >= o.MaxTokens {
			r.Finish = FinishLength
			break
		}
	}
	if o.Detokenize != nil && r.Finish != FinishStop {
		r.Text = o.Detokenize(r.Tokens)
	}
	return r, emit(o.OnText, r.Text, &emitted, len(r.Text))
}

// emit passes text[*emitted:end] to fn (if any) and advances *emitted.
func emit(fn func(string) error, text string, emitted *int, end int) error {
	if fn == nil || end <= *emitted {
		return nil
	}
	piece := text[*emitted:end]
	*emitted = end
	return fn(piece)
}

// findStop returns where the earliest stop string starts in text.
func findStop(text string, stops []string) (int, bool) {
	cut, found := len(text), false
	for _, st := range stops {
		if i := strings.Index(text, st); st != "" && i >= 0 && i < cut {
			cut, found = i, true
		}
	}
	return cut, found
}

// safeEnd returns how much of text can be shown: everything except a trailing incomplete UTF-8
// sequence and a suffix that could still grow into a stop string.
func safeEnd(text string, stops []string) int {
	end := len(text)
	// Back off over a trailing partial rune (at most 3 bytes).
	for i := 1; i <= 3 && i <= len(text); i++ {
		if utf8.RuneStart(text[len(text)-i]) {
			if !utf8.FullRuneInString(text[len(text)-i:]) {
				end = len(text) - i
			}
			break
		}
	}
	for _, st := range stops {
		for k := min(len(st)-1, len(text)); k > 0; k-- {
			if strings.HasSuffix(text, st[:k]) {
				end = min(end, len(text)-k)
				break
			}
		}
	}
	return end
}
