package runtime

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// SamplerOptions choose how the next token is picked from the logits. The zero value is
// greedy decoding without penalties.
type SamplerOptions struct {
	Temperature float32 // <= 0: greedy (argmax, lowest id on ties)
	TopK        int     // keep the K most likely tokens; <= 0: off
	TopP        float32 // keep the smallest set whose probability reaches P; <= 0 or >= 1: off
	MinP        float32 // drop tokens less likely than MinP times the most likely; <= 0: off

	RepeatPenalty    float32 // divides positive (multiplies negative) logits of recent tokens; 0 or 1: off
	FrequencyPenalty float32 // subtracted once per occurrence in the window
	PresencePenalty  float32 // subtracted once if the token occurs in the window
	PenaltyWindow    int     // how many recent tokens the penalties look at; <= 0: 64

	Seed uint64 // random seed: the same seed gives the same choices
}

// Sampler picks tokens. It keeps scratch buffers, so sampling allocates nothing once warm; a
// Sampler is not safe for concurrent use.
type Sampler struct {
	o      SamplerOptions
	rng    *rand.Rand
	cand   []candidate // [n_vocab] scratch
	counts map[int32]int32
	logits []float32 // [n_vocab] penalized copy of the logits
}

// candidate is a token with its logit and, after normalization, its probability.
type candidate struct {
	id    int32
	logit float32
	p     float32
}

// NewSampler returns a sampler with the given options.
func NewSampler(o SamplerOptions) *Sampler {
	if o.PenaltyWindow <= 0 {
		o.PenaltyWindow = 64
	}
	return &Sampler{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), counts: map[int32]int32{}}
}

// Sample returns the next token for logits ([n_vocab]); history is the sequence so far (prompt
// and generated tokens), of which the last PenaltyWindow feed the penalties. logits is not
// modified.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	logits = s.penalize(logits, history)
	if s.o.Temperature <= 0 {
		return Argmax(logits)
	}
	c := s.cand[:0]
	for i, l := range logits {
		c = append(c, candidate{id: int32(i), logit: l})
	}
	s.cand = c
	if k := s.o.TopK; k > 0 && k < len(c) {
		// Select before sorting: O(V log k) instead of sorting the whole vocabulary.
		c = selectTop(c, k)
	}
	slices.SortFunc(c, before)
	// Top-p and min-p look at the untempered distribution, as llama.cpp's default chain does.
	normalize(c, 1)
	if p := s.o.TopP; p > 0 && p < 1 {
		var sum float32
		for i := range c {
			sum += c[i].p
			if sum >= p {
				c = c[:i+1]
				break
			}
		}
	}
	if mp := s.o.MinP; mp > 0 {
		limit := mp * c[0].p
		for i := range c {
			if c[i].p < limit {
				c = c[:i]
				break
			}
		}
	}
	normalize(c, s.o.Temperature)
	r := s.rng.Float32()
	for _, x := range c {
		if r < x.p {
			return x.id
		}
		r -= x.p
	}
	return c[len(c)-1].id // rounding left r just above the total
}

// penalize returns logits with the repetition, frequency and presence penalties applied to the
// tokens of the window, or logits itself when no penalty is set.
func (s *Sampler) penalize(logits []float32, history []int32) []float32 {
	o := &s.o
	if (o.RepeatPenalty == 0 || o.RepeatPenalty == 1) && o.FrequencyPenalty == 0 && o.PresencePenalty == 0 {
		return logits
	}
	window := history[max(0, len(history)-o.PenaltyWindow):]
	clear(s.counts)
	for _, id := range window {
		s.counts[id]++
	}
	s.logits = append(s.logits[:0], logits...)
	for id, n := range s.counts {
		if id < 0 || int(id) >= len(s.logits) {
			continue
		}
		l := s.logits[id]
		if rp := o.RepeatPenalty; rp != 0 && rp != 1 {
			if l > 0 {
				l /= rp
			} else {
				l *= rp
			}
		}
		l -= float32(n)*o.FrequencyPenalty + o.PresencePenalty
		s.logits[id] = l
	}
	return s.logits
}

// normalize sets p of each candidate to softmax(logit / temp) over c (sorted, c[0] largest).
func normalize(c []candidate, temp float32) {
	var sum float64
	for i := range c {
		e := math.Exp(float64((c[i].logit - c[0].logit) / temp))
		c[i].p = float32(e)
		sum += e
	}
	for i := range c {
		c[i].p = float32(float64(c[i].p) / sum)
	}
}

// Argmax returns the index of the largest value, the lowest index on ties: the greedy choice.
func Argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// before orders candidates most likely first, ties by lower id, so that the order (and the
// seeded draw) is deterministic.
func before(a, b candidate) int {
	if r := cmp.Compare(b.logit, a.logit); r != 0 {
		return r
	}
	return cmp.Compare(a.id, b.id)
}

// selectTop moves the k candidates that come first in the order of before into c[:k] (in no
// particular order) and returns c[:k]. c[:k] is kept as a heap whose root is the one that
// comes last, so each other candidate costs one comparison, or a replacement and a sift.
func selectTop(c []candidate, k int) []candidate {
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, x := range c[k:] {
		if before(x, h[0]) < 0 {
			h[0] = x
			siftDown(h, 0)
		}
	}
	return h
}

// siftDown restores the heap property below i: every parent comes after its children.
func siftDown(h []candidate, i int) {
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && before(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && before(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}
