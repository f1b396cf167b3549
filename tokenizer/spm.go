package tokenizer

import (
	"strings"
)

// spmSpace is U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's stand-in for a space.
const spmSpace = "\u2581"

// buildSPMText fills the decoded text, the encode map and the byte tokens of an SPM
// vocabulary.
func (t *Tokenizer) buildSPMText() {
	n := len(t.pieces)
	t.text = make([]string, n)
	t.encode = make(map[string]int32, n)
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	t.spmPairs = make(map[uint64]struct{})
	for id, p := range t.pieces {
		switch t.types[id] {
		case typeNormal:
			t.text[id] = strings.ReplaceAll(p, spmSpace, " ")
			t.encode[p] = int32(id)
		case typeUserDefined:
			t.text[id] = p
			t.encode[p] = int32(id)
		case typeByte:
			if b, ok := parseByteToken(p); ok {
				t.text[id] = string([]byte{b})
				t.byteID[b] = int32(id)
			}
		}
	}
	for p := range t.encode {
		prev := uint32(0)
		for off := 0; off < len(p); {
			n := symbolLen(p, off)
			cur := symbolKey(p[off : off+n])
			if off > 0 {
				t.spmPairs[uint64(prev)<<32|uint64(cur)] = struct{}{}
			}
			prev = cur
			off += n
		}
	}
}

// parseByteToken parses "<0xNN>".
func parseByteToken(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(p[3])
	lo, ok2 := hexDigit(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// spmSymbol is a run of the escaped text in the doubly linked list of the merge loop.
type spmSymbol struct {
	start, n   int // byte range in the text; n == 0 once merged into its left neighbour
	prev, next int // neighbour indices, -1 at the ends
}

// spmBigram is a candidate merge of two adjacent symbols into a vocabulary token.
type spmBigram struct {
	left, right int
	size        int // byte length of the merged text, to detect stale candidates
}

// encodeSPM tokenizes one raw fragment like llama.cpp's llm_tokenizer_spm: spaces become
// U+2581 (with one prefixed when spacePrefix is set), the text starts as one symbol per
// UTF-8 character, and the adjacent pair whose concatenation is the highest-scoring token
// is merged until none is left. Symbols that are not tokens become byte tokens.
//
// llama.cpp runs the merge loop over the whole text. Here the text is first cut between
// adjacent characters that no token contains side by side: no merge can cross such a
// cut, so the pieces evolve independently and the result is the same, while the pieces
// (about words) are short and repeat, so they can be cached like BPE words.
func (t *Tokenizer) encodeSPM(raw string, spacePrefix bool, out []int32) ([]int32, error) {
	if spacePrefix {
		raw = " " + raw
	}
	text := strings.ReplaceAll(raw, " ", spmSpace)
	sc := t.getScratch()
	defer t.pool.Put(sc)
	var err error
	start, prev := 0, uint32(0)
	for off := 0; off < len(text); {
		n := symbolLen(text, off)
		cur := symbolKey(text[off : off+n])
		if off > start {
			if _, joined := t.spmPairs[uint64(prev)<<32|uint64(cur)]; !joined {
				if out, err = sc.cached(text[start:off], out, t.encodeSPMPiece); err != nil {
					return nil, err
				}
				start = off
			}
		}
		prev = cur
		off += n
	}
	if start < len(text) {
		out, err = sc.cached(text[start:], out, t.encodeSPMPiece)
	}
	return out, err
}

// encodeSPMPiece runs the SPM merge loop on escaped text.
func (t *Tokenizer) encodeSPMPiece(text string, sc *scratch, out []int32) ([]int32, error) {
	syms := sc.spmSyms[:0]
	for off := 0; off < len(text); {
		n := symbolLen(text, off)
		syms = append(syms, spmSymbol{start: off, n: n, prev: len(syms) - 1, next: len(syms) + 1})
		off += n
	}
	syms[len(syms)-1].next = -1

	cands, q := sc.spmCands[:0], sc.heap[:0]
	tryAdd := func(left, right int) {
		if left < 0 || right < 0 {
			return
		}
		s := text[syms[left].start : syms[right].start+syms[right].n]
		id, ok := t.encode[s]
		if !ok {
			return
		}
		// Highest score first, then leftmost (llama.cpp's comparator).
		q.push(uint64(descendingKey(t.score(id)))<<32|uint64(left), int32(len(cands)))
		cands = append(cands, spmBigram{left: left, right: right, size: len(s)})
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(i-1, i)
	}
	for len(q) > 0 {
		b := cands[q.pop()]
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue // one side was merged since this candidate was queued
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		tryAdd(l.prev, b.left)
		tryAdd(b.left, l.next)
	}

	var err error
	for i := 0; i >= 0; i = syms[i].next {
		s := text[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := t.encode[s]; ok {
			out = append(out, id)
			continue
		}
		// Only single characters can be left without a token (every merge makes one).
		if out, err = t.appendBytes(out, s); err != nil {
			return nil, err
		}
	}
	sc.spmSyms, sc.spmCands, sc.heap = syms, cands, q
	return out, nil
}

// symbolKey packs a symbol of at most 4 bytes into an integer. Distinct symbols may share
// a key only through NUL padding; that can only hide a cut, never make a wrong one.
func symbolKey(s string) uint32 {
	var k uint32
	for i := 0; i < len(s) && i < 4; i++ {
		k |= uint32(s[i]) << (8 * i)
	}
	return k
}

func (t *Tokenizer) score(id int32) float32 {
	if t.scores == nil {
		return 0
	}
	return t.scores[id]
}

// symbolLen is the byte length of the SPM symbol (a UTF-8 character) at s[off].
func symbolLen(s string, off int) int { return min(utf8SeqLen(s[off]), len(s)-off) }

// utf8SeqLen is the sequence length announced by a UTF-8 lead byte; continuation and
// invalid bytes count by their high bits (llama.cpp's unicode_len_utf8).
func utf8SeqLen(c byte) int {
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}
