package press

import (
	"fmt"
	"math"

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

// Scratch holds the decode kernel's buffers so that Attend does not allocate per step. The zero
// value is ready to use; one Scratch must not be shared by concurrent calls.
type Scratch struct {
	qa     cpu.QuadAttention
	q4, o4 []float32 // [4][head_dim] a quad of query heads (zero-padded) and its output
	mask   []byte    // [ceil(head_dim/8)] a ThinK head's channel mask, or all ones
	// BF16 layers only: KV head's numbers widened to float32 (the kernels take f32 and f16).
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
				base := i * tail.Cap() * D
				cpu.AttendRows(&s.qa, tail.K[base:base+tailLen*D], tail.V[base:base+tailLen*D])
			}
			s.qa.Finish(s.o4)
			copy(out[(i*G+g0)*D:(i*G+g0+hs)*D], s.o4)
		}
	}
	return nil
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
		widen := func(dst []float32, src []uint16) []float32 {
			dst = grow(dst, len(src))
			for j, h := range src {
				dst[j] = c.DType.fromBits(h)
			}
			return dst
		}
		s.kw, s.aw, s.vw = widen(s.kw, kh[k0:k1]), widen(s.aw, ah[a0:a1]), widen(s.vw, c.V16[v0:v1])
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
