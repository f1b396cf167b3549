package press

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// DenseTail holds a layer's tokens added after prefill, stored dense in the cache's number type
// (F32 in K and V; F16 and BF16 as 16-bit patterns in K16 and V16, so an f16 tail takes what an
// f16 dense cache takes): decoding never compresses (spec 2.2, 3.8). Capacity grows by doubling;
// Truncate rolls back to an earlier length.
type DenseTail struct {
	NKVHeads, HeadDim int
	DType             DType
	// Len is the number of tokens stored.
	Len int
	// K and V (F32) or K16 and V16 (F16, BF16) hold the tokens with room for Cap() per KV head.
	K, V     []float32 // [n_kv_heads][cap][head_dim]
	K16, V16 []uint16  // [n_kv_heads][cap][head_dim]
}

// NewDenseTail returns an empty tail of number type dt with room for capacity tokens.
func NewDenseTail(dt DType, nKVHeads, headDim, capacity int) *DenseTail {
	d := &DenseTail{NKVHeads: nKVHeads, HeadDim: headDim, DType: dt}
	d.alloc(max(capacity, 1))
	return d
}

// alloc gives the tail fresh storage for capacity tokens per KV head.
func (d *DenseTail) alloc(capacity int) {
	n := d.NKVHeads * capacity * d.HeadDim
	if d.DType == F32 {
		d.K, d.V = make([]float32, n), make([]float32, n)
	} else {
		d.K16, d.V16 = make([]uint16, n), make([]uint16, n)
	}
}

// Cap returns the number of tokens per KV head the tail holds before it must grow.
func (d *DenseTail) Cap() int {
	n := d.NKVHeads * d.HeadDim
	if n == 0 {
		return 0
	}
	if d.DType == F32 {
		return len(d.K) / n
	}
	return len(d.K16) / n
}

// Bytes returns the memory the tail's storage holds, capacity included.
func (d *DenseTail) Bytes() int { return 4*(len(d.K)+len(d.V)) + 2*(len(d.K16)+len(d.V16)) }

// Append adds one token's key and value for every KV head, rounded to the tail's type.
func (d *DenseTail) Append(k, v []float32) error { // k, v: [n_kv_heads][head_dim]
	D := d.HeadDim
	if n := d.NKVHeads * D; len(k) != n || len(v) != n {
		return fmt.Errorf("press: dense tail append: len(k)=%d len(v)=%d, want n_kv_heads×head_dim = %d", len(k), len(v), n)
	}
	if d.Len == d.Cap() {
		old := *d
		d.alloc(max(2*old.Cap(), 1))
		for i := range d.NKVHeads {
			d.place(i, 0, &old, i, d.Len)
		}
	}
	c := d.Cap()
	for i := range d.NKVHeads {
		at := (i*c + d.Len) * D
		if d.DType == F32 {
			copy(d.K[at:at+D], k[i*D:(i+1)*D])
			copy(d.V[at:at+D], v[i*D:(i+1)*D])
			continue
		}
		for j := range D {
			d.K16[at+j], d.V16[at+j] = d.DType.toBits(k[i*D+j]), d.DType.toBits(v[i*D+j])
		}
	}
	d.Len++
	return nil
}

// place copies n tokens of src's KV head si to d's KV head i from token t0 (same type).
func (d *DenseTail) place(i, t0 int, src *DenseTail, si, n int) {
	D, c, sc := d.HeadDim, d.Cap(), src.Cap()
	if d.DType == F32 {
		copy(d.K[(i*c+t0)*D:], src.K[si*sc*D:(si*sc+n)*D])
		copy(d.V[(i*c+t0)*D:], src.V[si*sc*D:(si*sc+n)*D])
		return
	}
	copy(d.K16[(i*c+t0)*D:], src.K16[si*sc*D:(si*sc+n)*D])
	copy(d.V16[(i*c+t0)*D:], src.V16[si*sc*D:(si*sc+n)*D])
}

// Truncate drops the tokens after the first n (cache rollback to a mark, spec 2.9).
func (d *DenseTail) Truncate(n int) error {
	if n < 0 || n > d.Len {
		return fmt.Errorf("press: dense tail truncate to %d: have %d tokens", n, d.Len)
	}
	d.Len = n
	return nil
}

// Head returns a view of KV head i's first n tokens as a one-KV-head tail (sharing storage).
func (d *DenseTail) Head(i, n int) DenseTail {
	c, D := d.Cap(), d.HeadDim
	h := DenseTail{NKVHeads: 1, HeadDim: D, DType: d.DType, Len: n}
	if d.DType == F32 {
		h.K, h.V = d.K[i*c*D:(i+1)*c*D], d.V[i*c*D:(i+1)*c*D]
	} else {
		h.K16, h.V16 = d.K16[i*c*D:(i+1)*c*D], d.V16[i*c*D:(i+1)*c*D]
	}
	return h
}

// Floats returns KV head i's stored keys and values as float32s ([Len][head_dim] each, copies).
func (d *DenseTail) Floats(i int) (k, v []float32) {
	c, D, n := d.Cap(), d.HeadDim, d.Len*d.HeadDim
	if d.DType == F32 {
		return append([]float32(nil), d.K[i*c*D:][:n]...), append([]float32(nil), d.V[i*c*D:][:n]...)
	}
	return d.DType.widen(nil, d.K16[i*c*D:][:n]), d.DType.widen(nil, d.V16[i*c*D:][:n])
}

// valid reports whether the tail's fields agree: its type, storage of its type with K and V of
// one size, and Len within the capacity.
func (d *DenseTail) valid() bool {
	ok := d.DType.valid() && d.Len >= 0 && d.Len <= d.Cap()
	if d.DType == F32 {
		return ok && len(d.K) == len(d.V) && d.K16 == nil && d.V16 == nil
	}
	return ok && len(d.K16) == len(d.V16) && d.K == nil && d.V == nil
}

// Scratch holds the decode kernel's buffers so that Attend does not allocate per step. The zero
// value is ready to use; one Scratch must not be shared by concurrent calls.
type Scratch struct {
	qa     cpu.QuadAttention
	q4, o4 []float32 // [4][head_dim] a quad of query heads (zero-padded) and its output
	mask   []byte    // [ceil(head_dim/8)] a ThinK head's channel mask, or all ones
	// BF16 layers and tails only: a KV head's numbers widened to float32 (the kernels take f32
	// and f16).
	kw, aw, vw []float32
}

// Attend computes one decode step of attention for every query head directly on the compressed
// layer plus the dense tail (nil for none): out[h] = Σ_t softmax_t(q_h·k_t/sqrt(D)) v_t over the
// compressed tokens of KV head h/G followed by the tail tokens, in one online-softmax pass.
// SparK records are read as stored (spec 3.7): the kernel (cpu.AttendMasked) expands a row's
// kept values and its pruned entries' σ_j·α·ρ_j in registers and dots the result with four query
// heads at once, so no dense key is ever materialised in memory. q and out are
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
	if D > cpu.MaxHeadDim {
		return fmt.Errorf("press: attend: head_dim %d exceeds the kernels' %d", D, cpu.MaxHeadDim)
	}
	tailLen := 0
	if tail != nil {
		if tail.NKVHeads != nKV || tail.HeadDim != D || !tail.valid() {
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
	s.q4, s.o4 = grow(s.q4, 4*D), grow(s.o4, 4*D)
	scale := float32(1 / math.Sqrt(float64(D)))
	for i := range nKV {
		for g0 := 0; g0 < G; g0 += 4 {
			// Four query heads at a time share one pass over the head's records; a partial
			// quad is padded with zero queries, whose outputs are dropped.
			hs := min(4, G-g0)
			clear(s.q4[hs*D:])
			copy(s.q4, q[(i*G+g0)*D:(i*G+g0+hs)*D])
			s.qa.Start(s.q4, D, scale)
			c.headOp(i, s, nil)
			if tailLen > 0 {
				s.attendTail(tail, i)
			}
			s.qa.Finish(s.o4)
			copy(out[(i*G+g0)*D:(i*G+g0+hs)*D], s.o4)
		}
	}
	return nil
}

// attendTail adds KV head i's tail tokens to the attention s.qa: F32 and F16 numbers go to the
// kernel as stored, BF16 ones (no runtime KV type) widened to float32 first.
func (s *Scratch) attendTail(tail *DenseTail, i int) {
	c, D, n := tail.Cap(), tail.HeadDim, tail.Len*tail.HeadDim
	switch tail.DType {
	case F32:
		cpu.AttendRows(&s.qa, tail.K[i*c*D:][:n], tail.V[i*c*D:][:n])
	case F16:
		cpu.AttendRows(&s.qa, tail.K16[i*c*D:][:n], tail.V16[i*c*D:][:n])
	default:
		s.kw, s.vw = tail.DType.widen(s.kw, tail.K16[i*c*D:][:n]), tail.DType.widen(s.vw, tail.V16[i*c*D:][:n])
		cpu.AttendRows(&s.qa, s.kw, s.vw)
	}
}

// grow returns b resized to n elements, reallocated only when its capacity is short.
func grow[E any](b []E, n int) []E {
	if cap(b) < n {
		return make([]E, n)
	}
	return b[:n]
}

// keyRange returns where KV head i's key numbers lie in the layout's number stream.
func (c *CompressedLayer) keyRange(i int) (int, int) {
	T, D := c.NTokens, c.HeadDim
	switch k := c.Keys.(type) {
	case *ChannelKeys:
		return i * T * k.NKept, (i + 1) * T * k.NKept
	case *SparKKeys:
		return k.KeptStart[i], k.KeptStart[i+1]
	}
	return i * T * D, (i + 1) * T * D
}

// streams returns the layout's key-number and α streams (α nil without recovery) in both
// storage kinds; the DType says which is set.
func (c *CompressedLayer) streams() (kf []float32, kh []uint16, af []float32, ah []uint16) {
	switch k := c.Keys.(type) {
	case *DenseKeys:
		return k.K, k.K16, nil, nil
	case *ChannelKeys:
		return k.K, k.K16, nil, nil
	case *SparKKeys:
		return k.Kept, k.Kept16, k.Alpha, k.Alpha16
	}
	return nil, nil, nil, nil
}

// headOp runs KV head i's compressed tokens through the kernels: into the attention s.qa when
// scores is nil, else writing the raw scores q·k̂ of the quad s.q4 into scores ([n_tokens][4]).
// F32 and F16 numbers go to the kernels as stored; BF16 ones (no runtime KV type) are widened
// to float32 first.
func (c *CompressedLayer) headOp(i int, s *Scratch, scores []float32) {
	kf, kh, af, ah := c.streams()
	k0, k1 := c.keyRange(i)
	T, D := c.NTokens, c.HeadDim
	a0, a1 := i*T, (i+1)*T
	if af == nil && ah == nil {
		a0, a1 = 0, 0
	}
	v0, v1 := i*T*D, (i+1)*T*D
	switch c.DType {
	case F32:
		headNums(c, i, s, scores, kf[k0:k1], af[a0:a1], c.V[v0:v1])
	case F16:
		headNums(c, i, s, scores, kh[k0:k1], ah[a0:a1], c.V16[v0:v1])
	default:
		dt := c.DType
		s.kw, s.aw, s.vw = dt.widen(s.kw, kh[k0:k1]), dt.widen(s.aw, ah[a0:a1]), dt.widen(s.vw, c.V16[v0:v1])
		if ah == nil {
			s.aw = nil
		}
		headNums(c, i, s, scores, s.kw, s.aw, s.vw)
	}
}

// headNums is headOp on KV head i's key numbers, α values (nil without recovery) and values v
// ([n_tokens][head_dim]) in the kernels' element type E.
func headNums[E uint16 | float32](c *CompressedLayer, i int, s *Scratch, scores []float32, keys, alpha, v []E) {
	T, D := c.NTokens, c.HeadDim
	mk := cpu.MaskedKeys[E]{D: D, Kept: keys}
	switch k := c.Keys.(type) {
	case *DenseKeys:
		if scores == nil {
			cpu.AttendRows(&s.qa, keys, v)
			return
		}
		mk.Mask = s.channelMask(D, nil) // every channel kept
	case *ChannelKeys:
		mk.Mask = s.channelMask(D, k.Channels[i*k.NKept:(i+1)*k.NKept])
	case *SparKKeys:
		mb := k.MaskBytes
		mk.Mask, mk.MaskStride = k.Mask[i*T*mb:(i+1)*T*mb], mb
		if k.hasRecovery() {
			// The full capacity travels with the signs: the kernel may read a few bytes past
			// the last one (Compress leaves the slack).
			mk.Signs = k.Signs[k.SignStart[i]:k.SignStart[i+1]:cap(k.Signs)]
			mk.Alpha, mk.Rho = alpha, k.Rho[i*D:(i+1)*D]
		}
	}
	if scores != nil {
		cpu.MaskedScores(scores, s.q4, &mk)
		return
	}
	cpu.AttendMasked(&s.qa, &mk, v, T)
}

// channelMask returns a keep mask of head_dim d with the channels ch set (nil: all of them).
func (s *Scratch) channelMask(d int, ch []uint16) []byte {
	s.mask = grow(s.mask, (d+7)/8)
	clear(s.mask)
	for j := range d {
		if ch == nil {
			s.mask[j>>3] |= 1 << (j & 7)
		}
	}
	for _, j := range ch {
		s.mask[j>>3] |= 1 << (j & 7)
	}
	return s.mask
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
