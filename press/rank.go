package press

import (
	"cmp"
	"math"
	"slices"
)

// rankDesc fills idx with 0..len(score)-1 ordered by score descending, ties broken by lower index
// first (the ranking rule of spec section 1). "The n lowest" are the last n of this order.
func rankDesc(idx []int, score []float64) {
	for j := range idx {
		idx[j] = j
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
}

// topTokens returns, per KV head, the n highest-scoring positions in ascending order.
func topTokens(scores []float64, nKV, T, n int) []int32 {
	kept := make([]int32, nKV*n)
	idx := make([]int, T)
	for i := range nKV {
		rankDesc(idx, scores[i*T:(i+1)*T])
		dst := kept[i*n : (i+1)*n]
		for r, t := range idx[:n] {
			dst[r] = int32(t)
		}
		slices.Sort(dst)
	}
	return kept
}

// forceMax gives the positions selected by force the score max(scores)+1, the maximum taken over
// every KV head (spec 4.1, A12: +1 so that no tie can evict them).
func forceMax(scores []float64, nKV, T int, force func(t int) bool) {
	m := math.Inf(-1)
	for i := range nKV {
		for t := range T {
			if !force(t) {
				m = max(m, scores[i*T+t])
			}
		}
	}
	if math.IsInf(m, -1) {
		m = 0 // every token is forced: any common value keeps them all
	}
	for i := range nKV {
		for t := range T {
			if force(t) {
				scores[i*T+t] = m + 1
			}
		}
	}
}

// nKeptTokens is ScorerPress's token count (spec 2.5): min(Budget, T) when a budget is set, else
// int(T·(1 - TokenRatio)) truncated; compress reports false when the press is a no-op
// (TokenRatio 0 and no budget).
func nKeptTokens(T int, o *Options) (n int, compress bool) {
	if o.Budget > 0 {
		return min(o.Budget, T), true
	}
	if o.TokenRatio == 0 {
		return T, false
	}
	return int(float64(T) * (1 - o.TokenRatio)), true
}

// softmaxInPlace replaces xs by softmax(xs) (float64, max-subtracted).
func softmaxInPlace(xs []float64) {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	var s float64
	for i, x := range xs {
		e := math.Exp(x - m)
		xs[i] = e
		s += e
	}
	for i := range xs {
		xs[i] /= s
	}
}
