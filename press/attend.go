package press

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// DenseTail holds a layer's tokens added after prefill, stored dense: decoding never compresses
// (spec 2.2, 3.8). Capacity grows by doubling; Truncate rolls back to an earlier length.
type DenseTail struct {
	NKVHeads, HeadDim int
	// Len is the number of tokens stored.
	Len int
	// K and V hold the tokens with room for Cap() per KV head.
	K, V []float32 // [n_kv_heads][cap][head_dim]
}

// NewDenseTail returns an empty tail with room for capacity tokens.
func NewDenseTail(nKVHeads, headDim, capacity int) *DenseTail {
	n := nKVHeads * max(capacity, 1) * headDim
	return &DenseTail{NKVHeads: nKVHeads, HeadDim: headDim, K: make([]float32, n), V: make([]float32, n)}
}

// Cap returns the number of tokens per KV head the tail holds before it must grow.
func (d *DenseTail) Cap() int { return len(d.K) / (d.NKVHeads * d.HeadDim) }

// Append adds one token's key and value for every KV head.
func (d *DenseTail) Append(k, v []float32) error { // k, v: [n_kv_heads][head_dim]
	D := d.HeadDim
	if n := d.NKVHeads * D; len(k) != n || len(v) != n {
		return fmt.Errorf("press: dense tail append: len(k)=%d len(v)=%d, want n_kv_heads×head_dim = %d", len(k), len(v), n)
	}
	if d.Len == d.Cap() {
		old, newCap := d.Cap(), 2*d.Cap()
		nk, nv := make([]float32, d.NKVHeads*newCap*D), make([]float32, d.NKVHeads*newCap*D)
		for i := range d.NKVHeads {
			copy(nk[i*newCap*D:], d.K[i*old*D:(i*old+d.Len)*D])
			copy(nv[i*newCap*D:], d.V[i*old*D:(i*old+d.Len)*D])
		}
		d.K, d.V = nk, nv
	}
	c := d.Cap()
	for i := range d.NKVHeads {
		copy(d.K[(i*c+d.Len)*D:(i*c+d.Len+1)*D], k[i*D:(i+1)*D])
		copy(d.V[(i*c+d.Len)*D:(i*c+d.Len+1)*D], v[i*D:(i+1)*D])
	}
	d.Len++
	return nil
}

// Truncate drops the tokens after the first n (cache rollback to a mark, spec 2.9).
func (d *DenseTail) Truncate(n int) error {
	if n < 0 || n > d.Len {
		return fmt.Errorf("press: dense tail truncate to %d: have %d tokens", n, d.Len)
	}
	d.Len = n
	return nil
}

// block is the number of tokens whose logits are computed before one online-softmax update.
const block = 64

// Scratch holds the decode kernel's buffers so that Attend does not allocate per step. The zero
// value is ready to use; one Scratch must not be shared by concurrent calls.
type Scratch struct {
	acc, qsel []float32 // [G][head_dim]
	qT, uT    []float32 // [head_dim][G rounded up to 4]: the queries (and q·ρ) of one channel side by side
	m, l      []float32 // [G] running max and denominator
	logits    []float32 // [G][block]
}

func (s *Scratch) reset(G, D int) {
	grow := func(b []float32, n int) []float32 {
		if cap(b) < n {
			return make([]float32, n)
		}
		return b[:n]
	}
	s.acc, s.qsel = grow(s.acc, G*D), grow(s.qsel, G*D)
	s.qT, s.uT = grow(s.qT, (G+3)&^3*D), grow(s.uT, (G+3)&^3*D)
	s.m, s.l = grow(s.m, G), grow(s.l, G)
	s.logits = grow(s.logits, G*block)
}

// Attend computes one decode step of attention for every query head directly on the compressed
// layer plus the dense tail (nil for none): out[h] = Σ_t softmax_t(q_h·k_t/sqrt(D)) v_t over the
// compressed tokens of KV head h/G followed by the tail tokens, in one online-softmax pass.
// SparK records are read as stored: kept channels multiply the query, pruned channels add
// α·σ_j·q_j·ρ_j (spec 3.7), so no dense key is ever materialised. q and out are
// [n_heads][head_dim]. s may be nil (a temporary one is used). A layer not made by a press is
// validated on its first use; changing its arrays afterwards is not supported.
func (c *CompressedLayer) Attend(out, q []float32, nHeads int, tail *DenseTail, s *Scratch) error {
	if !c.checked {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	D, nKV := c.HeadDim, c.NKVHeads
	if nHeads <= 0 || nHeads%nKV != 0 || len(q) != nHeads*D || len(out) != nHeads*D {
		return fmt.Errorf("press: attend: %d query heads over %d KV heads, len(q)=%d len(out)=%d, head_dim %d", nHeads, nKV, len(q), len(out), D)
	}
	tailLen := 0
	if tail != nil {
		if tail.NKVHeads != nKV || tail.HeadDim != D || len(tail.V) != len(tail.K) || tail.Len < 0 || tail.Len > tail.Cap() {
			return fmt.Errorf("press: attend: tail is %d KV heads × head_dim %d with %d/%d tokens, layer %d × %d", tail.NKVHeads, tail.HeadDim, tail.Len, tail.Cap(), nKV, D)
		}
		tailLen = tail.Len
	}
	if c.NTokens+tailLen == 0 {
		return fmt.Errorf("press: attend: no tokens to attend to")
	}
	if s == nil {
		s = new(Scratch)
	}
	G := nHeads / nKV
	s.reset(G, D)
	scale := float32(1 / math.Sqrt(float64(D)))
	for i := range nKV {
		qg := q[i*G*D : (i+1)*G*D]
		for g := range G {
			s.m[g], s.l[g] = float32(math.Inf(-1)), 0
		}
		clear(s.acc)
		cur := c.beginHead(i, qg, s, G)
		for t0 := 0; t0 < c.NTokens; t0 += block {
			n := min(block, c.NTokens-t0)
			c.blockLogits(i, t0, n, &cur, qg, s, G)
			s.accumulate(n, G, D, scale, c.V[(i*c.NTokens+t0)*D:])
		}
		if tail != nil {
			base := i * tail.Cap() * D
			for t0 := 0; t0 < tailLen; t0 += block {
				n := min(block, tailLen-t0)
				denseLogits(s.logits, qg, tail.K[base+t0*D:], n, D, G)
				s.accumulate(n, G, D, scale, tail.V[base+t0*D:])
			}
		}
		for g := range G {
			inv := 1 / s.l[g]
			o := out[(i*G+g)*D : (i*G+g+1)*D]
			for j, a := range s.acc[g*D : (g+1)*D] {
				o[j] = a * inv
			}
		}
	}
	return nil
}

// keyCursor is the read position in a KV head's SparK streams (kept values, sign bytes).
type keyCursor struct{ kp, sp int }

// beginHead prepares the per-query work of KV head i for the G queries qg ([G][head_dim]):
// u = q·ρ for SparK (once per query, spec 3.7) stored channel-major next to q, the kept-channel
// queries for ThinK.
func (c *CompressedLayer) beginHead(i int, qg []float32, s *Scratch, G int) keyCursor {
	D := c.HeadDim
	switch k := c.Keys.(type) {
	case *SparKKeys:
		rho := k.Rho[i*D : (i+1)*D]
		Gp := (G + 3) &^ 3
		clear(s.qT)
		clear(s.uT)
		for g := range G {
			for j := range D {
				s.qT[j*Gp+g] = qg[g*D+j]
				s.uT[j*Gp+g] = qg[g*D+j] * rho[j]
			}
		}
		return keyCursor{k.KeptStart[i], k.SignStart[i]}
	case *ChannelKeys:
		for g := range G {
			for n, j := range k.Channels[i*k.NKept : (i+1)*k.NKept] {
				s.qsel[g*k.NKept+n] = qg[g*D+int(j)]
			}
		}
	}
	return keyCursor{}
}

// blockLogits writes the unscaled logits q·k̂ of tokens t0..t0+n-1 of KV head i for the G queries
// qg into s.logits ([G][block]); SparK records are read in order from cur, which advances.
func (c *CompressedLayer) blockLogits(i, t0, n int, cur *keyCursor, qg []float32, s *Scratch, G int) {
	D := c.HeadDim
	switch k := c.Keys.(type) {
	case *SparKKeys:
		cur.kp, cur.sp = k.logits(c, i, t0, n, cur.kp, cur.sp, s, G)
	case *ChannelKeys:
		denseLogits(s.logits, s.qsel[:G*k.NKept], k.K[(i*c.NTokens+t0)*k.NKept:], n, k.NKept, G)
	case *DenseKeys:
		denseLogits(s.logits, qg, k.K[(i*c.NTokens+t0)*D:], n, D, G)
	}
}

// accumulate folds n tokens with unscaled logits s.logits[g][r] and values v[r] into the running
// softmax state (max m, denominator l, numerator acc) of every query head of the group.
func (s *Scratch) accumulate(n, G, D int, scale float32, v []float32) {
	for g := range G {
		lg := s.logits[g*block : g*block+n]
		bm := float32(math.Inf(-1))
		for r := range lg {
			lg[r] *= scale
			bm = max(bm, lg[r])
		}
		acc := s.acc[g*D : (g+1)*D]
		if bm > s.m[g] {
			f := expNonPos(s.m[g] - bm)
			for j := range acc {
				acc[j] *= f
			}
			s.l[g] *= f
			s.m[g] = bm
		}
		for r, x := range lg {
			p := expNonPos(x - s.m[g])
			s.l[g] += p
			cpu.Axpy(acc, p, v[r*D:(r+1)*D])
		}
	}
}

// expNonPos returns e^x for x ≤ 0 (softmax arguments after max subtraction) to float32
// accuracy: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial (truncation
// error < 6e-9 relative), scaled by 2^n through the exponent bits. Below -87.3 (e^x under the
// smallest normal float32) it returns 0. It is several times cheaper than math.Exp, which was the
// largest cost of the dense decode step.
func expNonPos(x float32) float32 {
	if !(x > -87.3) { // also maps -Inf (empty running max) and NaN to 0
		return 0
	}
	const ln2 = 0.6931471805599453
	n := math.Floor(float64(x)*(1/ln2) + 0.5)
	r := float64(x) - n*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(n)+1023)<<52))
}

// denseLogits writes out[g][r] = q[g]·k[r] for n rows k of width d.
func denseLogits(out, q, k []float32, n, d, G int) {
	for r := range n {
		kr := k[r*d : (r+1)*d]
		for g := range G {
			out[g*block+r] = cpu.Dot(q[g*d:(g+1)*d], kr)
		}
	}
}

// logits writes the unscaled logits of tokens t0..t0+n-1 of KV head i for the G queries (s.qT,
// with s.uT = q·ρ, channel-major with G padded to a multiple of 4) into s.logits, walking the
// record streams from cursors kp (kept values) and sp (sign bytes); it returns the advanced
// cursors. Per token (spec 3.7): Σ_kept q_j·k_j + α·Σ_pruned σ_j·u_j. Query heads are taken four
// at a time so that the partial sums live in registers (a record is walked once per four heads:
// once for the usual G = 4). Signs enter as ±1 factors, not branches: they are random, and a
// mispredicted branch per pruned channel costs more than the arithmetic.
func (k *SparKKeys) logits(c *CompressedLayer, i, t0, n, kp, sp int, s *Scratch, G int) (int, int) {
	D, mb := c.HeadDim, k.MaskBytes
	Gp := (G + 3) &^ 3
	var buf [8]byte
	for r := range n {
		t := t0 + r
		mask := k.Mask[(i*c.NTokens+t)*mb:][:mb]
		var alpha float32
		if k.Signs != nil {
			alpha = k.Alpha[i*c.NTokens+t]
		}
		kpEnd, p := kp, 0
		for g4 := 0; g4 < Gp; g4 += 4 {
			var d0, d1, d2, d3, p0, p1, p2, p3 float32
			kpEnd, p = kp, 0 // p: pruned ordinal, the index of the next sign bit
			for w := 0; w < mb; w += 8 {
				var word uint64
				if mb-w >= 8 {
					word = binary.LittleEndian.Uint64(mask[w:])
				} else {
					buf = [8]byte{}
					copy(buf[:], mask[w:])
					word = binary.LittleEndian.Uint64(buf[:])
				}
				j0 := w * 8
				for kb := word; kb != 0; kb &= kb - 1 {
					j := j0 + bits.TrailingZeros64(kb)
					v := k.Kept[kpEnd]
					kpEnd++
					q4 := (*[4]float32)(s.qT[j*Gp+g4:])
					d0 += q4[0] * v
					d1 += q4[1] * v
					d2 += q4[2] * v
					d3 += q4[3] * v
				}
				if k.Signs == nil {
					continue
				}
				valid := uint64(math.MaxUint64)
				if rem := D - j0; rem < 64 {
					valid = 1<<rem - 1
				}
				for pb := ^word & valid; pb != 0; pb &= pb - 1 {
					j := j0 + bits.TrailingZeros64(pb)
					sign := float32(k.Signs[sp+p>>3]>>(p&7)&1)*2 - 1
					p++
					u4 := (*[4]float32)(s.uT[j*Gp+g4:])
					p0 += sign * u4[0]
					p1 += sign * u4[1]
					p2 += sign * u4[2]
					p3 += sign * u4[3]
				}
			}
			for g, v := range [4]float32{d0 + alpha*p0, d1 + alpha*p1, d2 + alpha*p2, d3 + alpha*p3} {
				if g4+g < G {
					s.logits[(g4+g)*block+r] = v
				}
			}
		}
		kp = kpEnd
		if k.Signs != nil {
			sp += (p + 7) / 8
		}
	}
	return kp, sp
}

// Validate checks that the layer's arrays are consistent (shapes, SparK stream lengths and
// offsets, channel indices), as Attend requires.
func (c *CompressedLayer) Validate() error {
	err := c.validate()
	c.checked = err == nil
	return err
}

// AttendDense is the reference attention: plain two-pass softmax in float64 over a dense cache
// (for a compressed layer, its Decompress output, with the tail's tokens appended). q and out are
// [n_heads][head_dim].
func AttendDense(kv LayerKV, out, q []float32, nHeads int) error {
	if err := kv.validate("dense attention cache"); err != nil {
		return err
	}
	D, T, nKV := kv.HeadDim, kv.T, kv.NKVHeads
	if nHeads <= 0 || nHeads%nKV != 0 || len(q) != nHeads*D || len(out) != nHeads*D || T == 0 {
		return fmt.Errorf("press: dense attention: %d query heads over %d KV heads, T=%d, len(q)=%d len(out)=%d", nHeads, nKV, T, len(q), len(out))
	}
	G := nHeads / nKV
	scale := 1 / math.Sqrt(float64(D))
	p := make([]float64, T)
	acc := make([]float64, D)
	for h := range nHeads {
		kh, vh := kv.head(h / G)
		qh := q[h*D : (h+1)*D]
		for t := range T {
			p[t] = dot64(qh, kh[t*D:(t+1)*D]) * scale
		}
		softmaxInPlace(p)
		clear(acc)
		for t, pt := range p {
			for j, x := range vh[t*D : (t+1)*D] {
				acc[j] += pt * float64(x)
			}
		}
		for j, a := range acc {
			out[h*D+j] = float32(a)
		}
	}
	return nil
}
