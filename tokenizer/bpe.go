package tokenizer

import (
	"fmt"
	"strings"
)

// Byte-level BPE (GPT-2 and its descendants) stores every byte as a printable character so
// that tokens are valid text: bytes that are printable Latin-1 stand for themselves, the
// others map in order to U+0100 onwards (space becomes "Ġ", newline "Ċ"). The merge loop
// here works on raw bytes instead, so the mapping is only undone when the vocabulary is
// loaded and redone when it is exported.

// byteToRune and runeToByte are the byte-level alphabet (GPT-2's bytes_to_unicode).
var byteToRune, runeToByte = func() (b2r [256]rune, r2b map[rune]byte) {
	r2b = make(map[rune]byte, 256)
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !('!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF) {
			r = next
			next++
		}
		b2r[b] = r
		r2b[r] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelDecode maps byte-level text back to raw bytes; ok is false if s holds a
// character outside the alphabet (such pieces are kept as raw text).
func byteLevelDecode(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c, ok := runeToByte[r]
		if !ok {
			return "", false
		}
		b = append(b, c)
	}
	return string(b), true
}

// byteLevelEncode maps raw bytes to byte-level text.
func byteLevelEncode(raw string) string {
	var sb strings.Builder
	for k := 0; k < len(raw); k++ {
		sb.WriteRune(byteToRune[raw[k]])
	}
	return sb.String()
}

// bpeMerge is the rank of a merge rule and the piece it produces.
type bpeMerge struct {
	rank   int32
	result int32
}

// bpeModel holds the merge rules over pieces. Pieces are the vocabulary tokens (same ids)
// followed by pieces that merges produce but that are not tokens a text may yield (a rule
// whose result is missing from the vocabulary or is a control token); they are kept so
// that later merges see the same symbols as llama.cpp's text-based loop.
type bpeModel struct {
	bytes  []string   // [n_pieces] raw bytes of each piece
	emit   []bool     // [n_pieces] the piece is a token that text may produce (else: bytes)
	byteSy [256]int32 // piece of each single byte (a token when the vocabulary has it)
	merges mergeTable // (left piece, right piece) -> merge
}

// mergeTable is an open-addressing hash table from piece pairs to merges. The merge loop
// does one lookup per adjacent pair and per merge; this is several times faster than a Go
// map with uint64 keys there.
type mergeTable struct {
	slots []mergeSlot // [capacity]; key and value side by side: one cache miss per probe
	mask  uint64
}

type mergeSlot struct {
	key uint64 // pairKey | usedBit, 0 when the slot is empty
	val bpeMerge
}

const usedBit = 1 << 63 // pair keys are below 2^62: piece ids are below 2^31

func pairKey(left, right int32) uint64 { return uint64(left)<<32 | uint64(right) }

func newMergeTable(n int) mergeTable {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return mergeTable{slots: make([]mergeSlot, size), mask: uint64(size - 1)}
}

func (m *mergeTable) slot(key uint64) *mergeSlot {
	// Fibonacci hashing; the high bits are the well-mixed ones.
	for h := (key * 0x9E3779B97F4A7C15) >> 32; ; h++ {
		if s := &m.slots[h&m.mask]; s.key == 0 || s.key == key|usedBit {
			return s
		}
	}
}

// get returns the merge of the pair key.
func (m *mergeTable) get(key uint64) (bpeMerge, bool) {
	s := m.slot(key)
	return s.val, s.key != 0
}

// add inserts a merge unless the pair already has one (the first rule wins).
func (m *mergeTable) add(key uint64, v bpeMerge) {
	if s := m.slot(key); s.key == 0 {
		*s = mergeSlot{key | usedBit, v}
	}
}

// bpeSymbol is a piece in the doubly linked list of the merge loop.
type bpeSymbol struct {
	piece      int32 // -1 once merged into its left neighbour
	prev, next int32
}

// bpeCand is a candidate merge of adjacent symbols left and right holding the recorded
// pieces; it is stale when either symbol changed since.
type bpeCand struct {
	left, right int32
	lp, rp      int32
	result      int32
}

// buildBPE decodes the byte-level vocabulary and the merge rules.
func (t *Tokenizer) buildBPE() error {
	n := len(t.pieces)
	m := &bpeModel{merges: newMergeTable(len(t.merges))}
	t.text = make([]string, n)
	t.encode = make(map[string]int32, n)
	m.bytes = make([]string, n, n+len(t.merges)/8)
	pieceOf := make(map[string]int32, n) // raw bytes -> piece, for merges
	for id, p := range t.pieces {
		ty := t.types[id]
		raw := p
		if ty == typeNormal || ty == typeUnused {
			if dec, ok := byteLevelDecode(p); ok {
				raw = dec
			}
		}
		m.bytes[id] = raw
		switch ty {
		case typeNormal, typeUserDefined:
			t.text[id] = raw
		}
	}
	// Normal tokens first: when a user-defined token has the same bytes as a normal one,
	// the BPE model's own token is the one merges produce.
	for _, pass := range []int32{typeNormal, typeUserDefined} {
		for id, ty := range t.types {
			if ty != pass {
				continue
			}
			if _, dup := t.encode[m.bytes[id]]; !dup {
				t.encode[m.bytes[id]] = int32(id)
				pieceOf[m.bytes[id]] = int32(id)
			}
		}
	}
	piece := func(raw string) int32 {
		if id, ok := pieceOf[raw]; ok {
			return id
		}
		id := int32(len(m.bytes))
		m.bytes = append(m.bytes, raw)
		pieceOf[raw] = id
		return id
	}
	for b := range 256 {
		raw := string([]byte{byte(b)})
		m.byteSy[b] = piece(raw)
		t.byteID[b] = -1
		if id, ok := t.encode[raw]; ok {
			t.byteID[b] = id
		}
	}
	for rank, rule := range t.merges {
		// The separator is the first space after the first character (llama.cpp), since
		// byte-level text never contains a literal space.
		k := strings.IndexByte(rule[min(1, len(rule)):], ' ') + min(1, len(rule))
		if k < 1 || k >= len(rule)-1 {
			return fmt.Errorf("tokenizer: merge rule %d %q is not \"left right\"", rank, rule)
		}
		left, ok1 := byteLevelDecode(rule[:k])
		right, ok2 := byteLevelDecode(rule[k+1:])
		if !ok1 || !ok2 {
			return fmt.Errorf("tokenizer: merge rule %d %q has characters outside the byte-level alphabet", rank, rule)
		}
		m.merges.add(pairKey(piece(left), piece(right)), bpeMerge{rank: int32(rank), result: piece(left + right)})
	}
	m.emit = make([]bool, len(m.bytes))
	for id := range t.pieces {
		m.emit[id] = t.encode[m.bytes[id]] == int32(id)
	}
	t.bpe = m
	return nil
}

// encodeBPE pre-tokenizes one raw fragment and runs the merges on each word.
func (t *Tokenizer) encodeBPE(raw string, out []int32) ([]int32, error) {
	sc := t.getScratch()
	defer t.pool.Put(sc)
	err := t.split.words(raw, func(w string) error {
		if t.ignoreMerges {
			if id, ok := t.encode[w]; ok {
				out = append(out, id)
				return nil
			}
		}
		var err error
		out, err = sc.cached(w, out, t.encodeWord)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encodeWord runs the merge loop of llama.cpp's llm_tokenizer_bpe_session on one word:
// starting from one symbol per byte, the adjacent pair with the lowest merge rank (the
// leftmost on ties) is merged until no rule applies.
func (t *Tokenizer) encodeWord(w string, sc *scratch, out []int32) ([]int32, error) {
	if w == "" {
		return out, nil
	}
	m := t.bpe
	syms := sc.bpeSyms[:0]
	for k := 0; k < len(w); k++ {
		syms = append(syms, bpeSymbol{piece: m.byteSy[w[k]], prev: int32(k - 1), next: int32(k + 1)})
	}
	syms[len(syms)-1].next = -1
	cands, h := sc.bpeCands[:0], sc.heap[:0]
	tryAdd := func(left, right int32) {
		if left < 0 || right < 0 {
			return
		}
		lp, rp := syms[left].piece, syms[right].piece
		if mg, ok := m.merges.get(pairKey(lp, rp)); ok {
			// Lowest rank first, then leftmost (llama.cpp's comparator).
			h.push(uint64(mg.rank)<<32|uint64(left), int32(len(cands)))
			cands = append(cands, bpeCand{left: left, right: right, lp: lp, rp: rp, result: mg.result})
		}
	}
	for k := 1; k < len(syms); k++ {
		tryAdd(int32(k-1), int32(k))
	}
	for len(h) > 0 {
		c := cands[h.pop()]
		l, r := &syms[c.left], &syms[c.right]
		if l.piece != c.lp || r.piece != c.rp || l.next != c.right {
			continue
		}
		l.piece = c.result
		r.piece = -1
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		tryAdd(l.prev, c.left)
		tryAdd(c.left, l.next)
	}
	var err error
	for k := int32(0); k >= 0; k = syms[k].next {
		p := syms[k].piece
		if m.emit[p] {
			out = append(out, p)
			continue
		}
		if out, err = t.appendBytes(out, m.bytes[p]); err != nil {
			return nil, err
		}
	}
	sc.bpeSyms, sc.bpeCands, sc.heap = syms, cands, h
	return out, nil
}
