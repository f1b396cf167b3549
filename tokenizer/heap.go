package tokenizer

import "math"

// prioHeap is a binary min-heap of merge candidates: each item is a precomputed priority
// and the index of the candidate in the caller's slice. Comparing plain integers keeps
// the merge loops, the hottest code of encoding, free of comparator calls.
type prioHeap []prioItem

type prioItem struct {
	prio uint64 // smaller first
	cand int32  // index of the candidate
}

func (h *prioHeap) push(prio uint64, cand int32) {
	*h = append(*h, prioItem{prio, cand})
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[i].prio >= s[p].prio {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes the item with the smallest priority and returns its candidate index.
func (h *prioHeap) pop() int32 {
	s := *h
	top := s[0].cand
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].prio < s[m].prio {
			m = l
		}
		if r < len(s) && s[r].prio < s[m].prio {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// descendingKey maps a float to a uint32 whose ascending order is the float's descending
// order (higher scores first), so that scores can lead a heap priority.
func descendingKey(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		b = ^b // negative: larger magnitude sorts lower
	} else {
		b |= 1 << 31
	}
	return ^b
}
