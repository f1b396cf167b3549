package cpu

import (
	"math"
	"math/bits"
	"sync"
	"unsafe"
)

// Decode attention over a compressed KV cache (package press, spec 3.6-3.7 of the SparK design):
// the keys of a KV head are masked records, each row storing only the channels its keep mask
// selects, plus one sign bit per pruned channel and a per-row scale α, so that a pruned entry j
// stands for ±α·ρ_j. The kernels here compute the scores of four query heads against such rows
// a block at a time without materialising the cache: each row is expanded in registers (AVX-512:
// VPEXPANDW/VEXPANDPS driven by the mask, the recovery merged under the sign mask) and dotted
// with the four queries. Softmax and the value side are those of the dense kernels (kvSoftmax,
// kvAccum), so a compressed head costs the dense kernels' value pass plus a key pass that reads
// the few stored bytes. At long context the records and values come from DRAM: the key pass
// prefetches every stream ahead, and the block's values, so that the memory traffic overlaps
// the arithmetic (sparkdot_amd64.s).

// SignSlack is the capacity a MaskedKeys sign stream should have past its last byte: the
// assembly kernels read sign bits with 8-byte loads that may reach that far (a stream without it
// takes the slower Go kernel).
const SignSlack = 16

// MaskedKeys is the keys of one KV head stored as masked records. E is float32, or uint16 for
// IEEE half-precision bit patterns.
type MaskedKeys[E uint16 | float32] struct {
	// D is the head dimension: the channels of a row.
	D int
	// Mask holds each row's keep bits, bit j%8 of byte j/8 set when channel j is stored, rows
	// MaskStride bytes apart. MaskStride 0 shares one mask between every row (ThinK's per-head
	// channels; an all-ones mask for dense rows).
	Mask       []byte // [n][ceil(D/8)], or [ceil(D/8)] when MaskStride is 0
	MaskStride int
	// Kept is the stored entries, row after row, each row's in channel order.
	Kept []E // [Σ_rows n_kept(row)]
	// Signs holds, per row, ceil(n_pruned/8) bytes: bit p%8 of byte p/8 is set when the p-th
	// pruned channel (channel order) is positive. Nil: pruned entries are zero (no recovery),
	// and Alpha and Rho are not read.
	Signs []byte // [Σ_rows ceil(n_pruned(row)/8)]
	// Alpha is the per-row recovery scale, Rho the per-channel one: pruned entry j of row r is
	// ±Alpha[r]·Rho[j].
	Alpha []E       // [n]
	Rho   []float32 // [D]
}

// streams returns the stored entries and sign bytes that rows r0..r0+n-1 take.
func (k *MaskedKeys[E]) streams(r0, n int) (kept, signs int) {
	mb := (k.D + 7) / 8
	if k.MaskStride == 0 {
		nk := popcountBytes(k.Mask[:mb])
		if k.Signs != nil {
			signs = n * ((k.D - nk + 7) / 8)
		}
		return n * nk, signs
	}
	for r := r0; r < r0+n; r++ {
		nk := popcountBytes(k.Mask[r*k.MaskStride:][:mb])
		kept += nk
		if k.Signs != nil {
			signs += (k.D - nk + 7) / 8
		}
	}
	return kept, signs
}

// popcountBytes returns the number of set bits in b.
func popcountBytes(b []byte) int {
	n := 0
	for len(b) >= 8 {
		n += bits.OnesCount64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
		b = b[8:]
	}
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

// QuadAttention is the streaming softmax attention of four query heads over blocks of key and
// value rows: Start, then any sequence of AttendMasked and AttendRows calls (the rows of one
// softmax, in any split), then Finish. The zero value is ready for Start; one QuadAttention must
// not be shared by concurrent calls.
type QuadAttention struct {
	d     int
	scale float32
	q     []float32 // [quad][d]
	out   []float32 // [quad][d] unnormalised output
	m     [quad]float32
	sum   [quad]float32
	s     [attendBlock * quad]float32 // [block][quad] scores, then weights
	// qr is the queries and ρ interleaved per 16-channel chunk for the assembly kernel.
	qr   []float32 // [d/16][quad+1][16]
	qrOK bool      // qr holds the current queries and ρ (set by AttendMasked)
	rho  []float32 // [d] the ρ qr was built with
	// The Go kernel's buffers: a block's kept values and α as float32, and the recovery
	// tables (see recoveryTables) with the ρ they were built with.
	kf, af []float32 // [n_kept], [rows]
	tab    []float32 // [ceil(d/8)][256][quad]
	tabOK  bool
	tabRho []float32 // [d]
}

// Start begins the attention of the four query heads q ([quad][d], d ≤ MaxHeadDim): logits are
// scale·q·k. q is copied.
func (a *QuadAttention) Start(q []float32, d int, scale float32) {
	a.d, a.scale = d, scale
	a.q = append(a.q[:0], q[:quad*d]...)
	a.out = append(a.out[:0], make([]float32, quad*d)...)
	for h := range quad {
		a.m[h], a.sum[h] = float32(math.Inf(-1)), 0
	}
	a.qrOK, a.tabOK = false, false
}

// fold turns the block of scores a.s[:nb*quad] into weights and adds Σ_r p[r][h]·v[r] to the
// output, rescaling what it holds when a head's running maximum rises.
func fold[E uint16 | float32](a *QuadAttention, nb int, v []E) {
	s, d := a.s[:nb*quad], a.d
	f := kvSoftmax(s, a.scale, &a.m, &a.sum)
	for h, fh := range f {
		if fh != 1 {
			o := a.out[h*d : (h+1)*d]
			for i := range o {
				o[i] *= fh
			}
		}
	}
	kvAccum(a.out, s, v[:nb*d], d)
}

// AttendRows adds dense key and value rows (k, v: [n][d]) to the attention.
func AttendRows[E uint16 | float32](a *QuadAttention, k, v []E) {
	d := a.d
	n := min(len(k), len(v)) / d
	for r0 := 0; r0 < n; r0 += attendBlock {
		nb := min(attendBlock, n-r0)
		kvScores(a.s[:nb*quad], a.q, k[r0*d:(r0+nb)*d], d)
		fold(a, nb, v[r0*d:])
	}
}

// AttendMasked adds n rows of masked keys k and their dense values v ([n][d]) to the attention.
// k's slices must hold the n rows' records (the cursors of a longer stream are the caller's);
// they may run past them. Each block's kernel reports how much of the kept and sign streams its
// rows took, which is where the next block starts, and prefetches the block's values while it
// scores the keys, so that the accumulation finds them in cache.
func AttendMasked[E uint16 | float32](a *QuadAttention, k *MaskedKeys[E], v []E, n int) {
	d := a.d
	kp, sp := 0, 0
	for r0 := 0; r0 < n; r0 += attendBlock {
		nb := min(attendBlock, n-r0)
		blk := MaskedKeys[E]{D: d, Mask: k.Mask, MaskStride: k.MaskStride, Kept: k.Kept[kp:], Rho: k.Rho}
		if k.MaskStride != 0 {
			blk.Mask = k.Mask[r0*k.MaskStride : (r0+nb)*k.MaskStride]
		}
		if k.Signs != nil {
			// The slices keep the stream's capacity: the assembly reads up to SignSlack bytes
			// past a row's last sign byte.
			blk.Signs, blk.Alpha = k.Signs[sp:], k.Alpha[r0:r0+nb]
		}
		nk, ns := maskedScores(a, a.s[:nb*quad], &blk, (*byte)(unsafe.Pointer(&v[r0*d])))
		fold(a, nb, v[r0*d:])
		kp, sp = kp+nk, sp+ns
	}
}

// Finish writes the normalised outputs of the four heads to out ([quad][d]; a head that saw no
// rows gets zeros).
func (a *QuadAttention) Finish(out []float32) {
	d := a.d
	for h := range quad {
		o, src := out[h*d:(h+1)*d], a.out[h*d:(h+1)*d]
		if a.sum[h] == 0 {
			clear(o)
			continue
		}
		inv := 1 / a.sum[h]
		for i, x := range src {
			o[i] = x * inv
		}
	}
}

// MaskedScores sets s[r][h] = q[h]·k̂_r for the len(s)/4 rows of k and the four query heads q
// ([4][k.D]), k̂_r being row r with its pruned entries recovered: the score pass of
// AttendMasked, for callers that need the logits themselves (a test oracle, diagnostics).
func MaskedScores[E uint16 | float32](s, q []float32, k *MaskedKeys[E]) {
	var a QuadAttention
	a.Start(q, k.D, 1)
	maskedScores(&a, s, k, nil)
}

// maskedScores sets s[r][h] = q[h]·k̂_r for the len(s)/quad rows of k, k̂_r being row r with its
// pruned entries recovered: the assembly kernel where the CPU and shape allow, else the Go one.
// It returns the kept entries and sign bytes (0 without recovery) the rows took. pf, the rows'
// values or nil, is prefetched by the AVX-512 kernels for the accumulation that follows.
func maskedScores[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E], pf *byte) (keptUsed, signsUsed int) {
	if ok, nk, ns := maskedScoresAsm(a, s, k, pf); ok {
		return nk, ns
	}
	return maskedScoresGo(a, s, k)
}

// maskedScoresGo is the pure-Go kernel and the reference of the assembly. Per row (spec 3.7) the
// score of head h is Σ_kept q_j·k_j + α·Σ_pruned σ_j·u_j with u = q·ρ. The kept sum walks the
// mask's set bits. The recovery sum is 2·Σ_{positive pruned} u − Σ_{pruned} u, both sums over
// bitmaps, which byte tables of u (recoveryTables) give eight channels per lookup; a mask byte's
// positive pruned channels come from depositTable, which scatters its sign bits to its clear
// bits (what PDEP does in the assembly). The four heads' sums stay in registers. It returns the
// kept entries and sign bytes the rows took.
func maskedScoresGo[E uint16 | float32](a *QuadAttention, s []float32, k *MaskedKeys[E]) (keptUsed, signsUsed int) {
	d, mb, n := k.D, (k.D+7)/8, len(s)/quad
	nk, _ := k.streams(0, n)
	a.kf = growF32(a.kf, nk)
	kept := toF32(a.kf, k.Kept[:nk])
	var alpha []float32
	var tab []float32
	if k.Signs != nil {
		a.af = growF32(a.af, n)
		alpha = toF32(a.af, k.Alpha[:n])
		tab = a.recoveryTables(k.Rho)
	}
	dep := depositTable()
	q0, q1, q2, q3 := a.q[:d], a.q[d:2*d], a.q[2*d:3*d], a.q[3*d:4*d]
	// last marks the channels of the mask's last byte beyond d as kept, so they are never
	// counted as pruned.
	last := byte(0)
	if d%8 != 0 {
		last = 0xff << (d % 8)
	}
	kp, sp := 0, 0
	for r := range n {
		mask := k.Mask[r*k.MaskStride:][:mb]
		var d0, d1, d2, d3 float32
		for b, m := range mask {
			for kb := m; kb != 0; kb &= kb - 1 {
				j := b*8 + bits.TrailingZeros8(kb)
				v := kept[kp]
				kp++
				d0 += q0[j] * v
				d1 += q1[j] * v
				d2 += q2[j] * v
				d3 += q3[j] * v
			}
		}
		if k.Signs == nil {
			s[r*quad], s[r*quad+1], s[r*quad+2], s[r*quad+3] = d0, d1, d2, d3
			continue
		}
		var pos, all [quad]float32 // Σ u over the positive pruned and over all pruned channels
		var buf uint64             // sign bits read from the row's stream, not yet used
		nb, bi := 0, sp            // bits in buf; next sign byte
		for b, m := range mask {
			if b == mb-1 {
				m |= last
			}
			c := bits.OnesCount8(^m)
			if c == 0 {
				continue
			}
			if nb < c {
				// The row's pruned channels use every bit of its sign bytes but the last's
				// padding, so a refill never reads past them.
				buf |= uint64(k.Signs[bi]) << nb
				bi++
				nb += 8
			}
			sg := byte(buf & (1<<c - 1))
			buf >>= c
			nb -= c
			tp := tab[(b*256+int(dep[int(m)<<8|int(sg)]))*quad:][:quad]
			ta := tab[(b*256+int(^m))*quad:][:quad]
			for h := range quad {
				pos[h] += tp[h]
				all[h] += ta[h]
			}
		}
		sp = bi
		al := alpha[r]
		s[r*quad] = d0 + al*(2*pos[0]-all[0])
		s[r*quad+1] = d1 + al*(2*pos[1]-all[1])
		s[r*quad+2] = d2 + al*(2*pos[2]-all[2])
		s[r*quad+3] = d3 + al*(2*pos[3]-all[3])
	}
	return kp, sp
}

// recoveryTables returns, for every mask byte position b and byte value v, the four heads' sums
// Σ u_j over the channels j = 8b+i of v's set bits (u = q·ρ; channels beyond d count 0), built
// once per Start and ρ: [ceil(d/8)][256][quad].
func (a *QuadAttention) recoveryTables(rho []float32) []float32 {
	d := a.d
	mb := (d + 7) / 8
	if a.tabOK && unsafe.SliceData(rho) == unsafe.SliceData(a.tabRho) && len(rho) == len(a.tabRho) {
		return a.tab
	}
	a.tab = growF32(a.tab, mb*256*quad)
	for b := range mb {
		t := a.tab[b*256*quad : (b+1)*256*quad]
		clear(t[:quad])
		for v := 1; v < 256; v++ {
			i := bits.TrailingZeros8(uint8(v))
			prev := t[(v&(v-1))*quad:][:quad]
			cur := t[v*quad:][:quad]
			j := b*8 + i
			for h := range quad {
				cur[h] = prev[h]
				if j < d {
					cur[h] += a.q[h*d+j] * rho[j]
				}
			}
		}
	}
	a.tabOK, a.tabRho = true, rho
	return a.tab
}

// depositTable returns the table dep[m<<8|s] = the bits of s scattered, lowest first, to the
// clear bits of m: a mask byte's positive pruned channels from its sign bits.
var depositTable = sync.OnceValue(func() []byte {
	dep := make([]byte, 1<<16)
	for m := range 256 {
		for sg := range 256 {
			var out byte
			bit := 0
			for i := range 8 {
				if m>>i&1 == 0 {
					out |= byte(sg>>bit&1) << i
					bit++
				}
			}
			dep[m<<8|sg] = out
		}
	}
	return dep
})

// growF32 returns b resized to n elements, reallocated only when its capacity is short.
func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// toF32 returns src as float32s: src itself if it is float32, else its halves converted into
// dst (len(dst) = len(src)).
func toF32[E uint16 | float32](dst []float32, src []E) []float32 {
	switch src := any(src).(type) {
	case []float32:
		return src
	case []uint16:
		return fromF16(dst, src)
	}
	return dst
}
