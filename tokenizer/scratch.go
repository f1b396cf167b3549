package tokenizer

import (
	"slices"
	"strings"
)

// scratch is reusable working memory of one encoding goroutine, kept in Tokenizer.pool.
type scratch struct {
	bpeSyms  []bpeSymbol
	bpeCands []bpeCand
	spmSyms  []spmSymbol
	spmCands []spmBigram
	heap     prioHeap
	cache    map[string][]int32 // word -> ids: natural text repeats most of its words
}

// Word cache bounds: long words rarely repeat, and the cache is dropped when full.
const (
	maxCachedWord = 64
	maxCacheWords = 1 << 16
)

func (t *Tokenizer) getScratch() *scratch {
	sc, _ := t.pool.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	if sc.cache == nil || len(sc.cache) >= maxCacheWords {
		sc.cache = make(map[string][]int32)
	}
	return sc
}

// cached appends the ids of word w, from the cache or from enc (whose result is cached
// when w is short). Encoding a word depends on nothing but the word.
func (sc *scratch) cached(w string, out []int32, enc func(string, *scratch, []int32) ([]int32, error)) ([]int32, error) {
	if w == "" {
		return out, nil
	}
	if ids, ok := sc.cache[w]; ok {
		return append(out, ids...), nil
	}
	start := len(out)
	out, err := enc(w, sc, out)
	if err != nil {
		return nil, err
	}
	if len(w) <= maxCachedWord {
		// Clones: w points into the caller's text, which the cache must not keep alive.
		sc.cache[strings.Clone(w)] = slices.Clone(out[start:])
	}
	return out, nil
}
