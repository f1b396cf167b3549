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
	// promptDone is set in the step that feeds the prompt's last token: after that pass the
	// cache is told the prompt is complete (a press compresses it) before the first decode.
	promptDone bool
}

// RunBatch generates continuations for many prompts with continuous batching: up to parallel
// sequences share every forward pass (their prompt chunks and decode tokens in one batch), and a
// finished sequence's slot takes the next request at once. next supplies requests until it
// returns false; done receives each finished request (in completion order) with its result or
// its own error (a prompt longer than the context fails only that request). An error returned by
// done, or a forward-pass failure, stops the run. With a press (Options.Press), each slot's
// prompt is compressed once it has been fed whole, as Session.Prefill does, so every sequence
// decodes over its own compressed prompt.
//
// The CPU model runs every slot's tokens in one forward pass; another engine (Vulkan, whose pass
// serves one sequence) gets one pass per slot in the step, so each still reads the weights once
// per step for all its tokens.
func RunBatch(e Engine, parallel int, next func() (*BatchRequest, bool), done func(*BatchRequest, BatchResult, error) error) error {
	if parallel < 1 {
		return fmt.Errorf("runtime: parallel must be at least 1, got %d", parallel)
	}
	nVocab, batchSize := e.Config().NVocab, e.Options().BatchSize
	cache := e.NewCache(parallel)
	if c, ok := cache.(interface{ Close() }); ok {
		defer c.Close() // device caches hold device memory
	}
	ender, _ := cache.(prefillEnder)
	ctx := cache.Context()
	slots := make([]slot, parallel)
	logits := make([]float32, parallel*nVocab)
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
		budget := batchSize
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
					s.promptDone = true
				}
			}
			s.pending = s.pending[n:]
			budget -= n
		}
		if len(batch) == 0 {
			return nil // no requests left and every slot is idle
		}
		if err := forwardSteps(e, batch, cache, logits); err != nil {
			return err
		}
		// Sample for every slot that got logits; finish or schedule its next token.
		for i := range slots {
			s := &slots[i]
			if s.row < 0 {
				continue
			}
			if s.promptDone {
				s.promptDone = false
				if ender != nil {
					if err := ender.EndPrefill(i); err != nil {
						return fmt.Errorf("runtime: sequence %d: end of prefill: %w", i, err)
					}
				}
			}
			if finished := s.step(logits[s.row*nVocab:(s.row+1)*nVocab], ctx); finished {
				s.res.End = time.Now()
				if err := done(s.req, s.res, nil); err != nil {
					return err
				}
				*s = slot{}
			}
		}
	}
}

// forwardSteps runs one scheduler step's batch on e: in one pass on the CPU model, which mixes
// sequences, and otherwise in one pass per run of entries of one sequence (each slot's entries
// are contiguous in the batch, and so are its logits rows).
func forwardSteps(e Engine, batch []BatchEntry, cache KVCache, logits []float32) error {
	if _, mixed := e.(*Model); mixed {
		return e.Forward(batch, cache, logits)
	}
	V := e.Config().NVocab
	for len(batch) > 0 {
		n, out := 0, 0
		for n < len(batch) && batch[n].Seq == batch[0].Seq {
			if batch[n].Logits {
				out++
			}
			n++
		}
		if err := e.Forward(batch[:n], cache, logits[:out*V]); err != nil {
			return err
		}
		batch, logits = batch[n:], logits[out*V:]
	}
	return nil
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
