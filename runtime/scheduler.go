package runtime

import (
	"fmt"
	"time"
)

// BatchRequest is one prompt for RunBatch. Of Options, MaxTokens, Sampler, IsEOG, Detokenize
// and Stop are used; the streaming callbacks are not (results arrive whole).
type BatchRequest struct {
	Prompt  []int32
	Options GenerateOptions
}

// BatchResult is the outcome of one BatchRequest, with its timings.
type BatchResult struct {
	Result
	PromptTokens int
	Start        time.Time // when the request got a slot
	FirstToken   time.Time // when its first token was sampled (prompt processed)
	End          time.Time
}

// slot is one sequence of the shared cache and the request it is serving.
type slot struct {
	req     *BatchRequest
	res     BatchResult
	pending []int32 // prompt tokens not fed yet
	history []int32 // prompt and generated tokens, for the sampler's penalties
	pos     int     // next position
	next    int32   // sampled token to feed next step; -1 if none
	row     int     // logits row of this slot in the current step; -1 if none
}

// RunBatch generates continuations for many prompts with continuous batching: up to parallel
// sequences share every forward pass (their prompt chunks and decode tokens in one batch), and a
// finished sequence's slot takes the next request at once. next supplies requests until it
// returns false; done receives each finished request (in completion order) with its result or
// its own error (a prompt longer than the context fails only that request). An error returned by
// done, or a forward-pass failure, stops the run.
func (m *Model) RunBatch(parallel int, next func() (*BatchRequest, bool), done func(*BatchRequest, BatchResult, error) error) error {
	if parallel < 1 {
		return fmt.Errorf("runtime: parallel must be at least 1, got %d", parallel)
	}
	cache := m.NewCache(parallel)
	ctx := cache.Context()
	slots := make([]slot, parallel)
	logits := make([]float32, parallel*m.cfg.NVocab)
	var batch []BatchEntry
	exhausted := false
	for {
		// Refill free slots.
		for i := range slots {
			s := &slots[i]
			for s.req == nil && !exhausted {
				req, ok := next()
				if !ok {
					exhausted = true
					break
				}
				if len(req.Prompt) == 0 || len(req.Prompt) >= ctx {
					err := fmt.Errorf("runtime: prompt of %d tokens does not fit the context of %d (needs 1 to %d)", len(req.Prompt), ctx, ctx-1)
					if err := done(req, BatchResult{}, err); err != nil {
						return err
					}
					continue
				}
				*s = slot{req: req, pending: req.Prompt, history: append([]int32(nil), req.Prompt...), next: -1}
				s.res.Start, s.res.PromptTokens = time.Now(), len(req.Prompt)
			}
		}
		// Build one batch: every decoding slot's token, then prompt chunks up to BatchSize.
		batch = batch[:0]
		budget := m.opts.BatchSize
		rows := 0
		for i := range slots {
			s := &slots[i]
			s.row = -1
			if s.req != nil && s.next >= 0 {
				batch = append(batch, BatchEntry{Seq: i, Pos: s.pos, Token: s.next, Logits: true})
				s.pos++
				s.next = -1
				s.row, rows = rows, rows+1
				budget--
			}
		}
		for i := range slots {
			s := &slots[i]
			if s.req == nil || len(s.pending) == 0 || budget <= 0 {
				continue
			}
			n := min(len(s.pending), budget)
			for j := 0; j < n; j++ {
				last := j == len(s.pending)-1
				batch = append(batch, BatchEntry{Seq: i, Pos: s.pos, Token: s.pending[j], Logits: last})
				s.pos++
				if last {
					s.row, rows = rows, rows+1
				}
			}
			s.pending = s.pending[n:]
			budget -= n
		}
		if len(batch) == 0 {
			return nil // no requests left and every slot is idle
		}
		if err := m.Forward(batch, cache, logits); err != nil {
			return err
		}
		// Sample for every slot that got logits; finish or schedule its next token.
		for i := range slots {
			s := &slots[i]
			if s.row < 0 {
				continue
			}
			if finished := s.step(logits[s.row*m.cfg.NVocab:(s.row+1)*m.cfg.NVocab], ctx); finished {
				s.res.End = time.Now()
				if err := done(s.req, s.res, nil); err != nil {
					return err
				}
				*s = slot{}
			}
		}
	}
}

// step samples one token from logits and reports whether the request is finished. The rules
// are Session.Generate's: EOG ends without the token; stop strings cut the text; MaxTokens and a
// full context end with FinishLength.
func (s *slot) step(logits []float32, ctx int) bool {
	o := &s.req.Options
	sampler := o.Sampler
	if sampler == nil {
		sampler = NewSampler(SamplerOptions{})
		o.Sampler = sampler
	}
	id := sampler.Sample(logits, s.history)
	if s.res.FirstToken.IsZero() {
		s.res.FirstToken = time.Now()
	}
	r := &s.res.Result
	if o.IsEOG != nil && o.IsEOG(id) {
		r.Finish = FinishEOS
		s.text()
		return true
	}
	r.Tokens = append(r.Tokens, id)
	s.history = append(s.history, id)
	if o.Detokenize != nil && len(o.Stop) > 0 {
		text := o.Detokenize(r.Tokens)
		if cut, ok := findStop(text, o.Stop); ok {
			r.Text, r.Finish = text[:cut], FinishStop
			return true
		}
	}
	if (o.MaxTokens > 0 && len(r.Tokens) >= o.MaxTokens) || s.pos >= ctx {
		r.Finish = FinishLength
		s.text()
		return true
	}
	s.next = id
	return false
}

// text fills in the result's text when it ends other than by a stop string.
func (s *slot) text() {
	if d := s.req.Options.Detokenize; d != nil {
		s.res.Text = d(s.res.Tokens)
	}
}
