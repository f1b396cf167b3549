package cpu

import (
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// actKind is the format activations are converted to before the dot products with one weight
// type: ggml's vec_dot_type of that type.
type actKind int

const (
	actF32  actKind = iota // F32 weights: activations used as they are
	actF16                 // F16 weights: activations rounded to half precision
	actBF16                // BF16 weights: activations rounded to bfloat16
	actQ8_0                // 32-element blocks, 8-bit quants, one half-precision scale
	actQ8_1                // as Q8_0 plus the half-precision d*sum(quants) per block
	actQ8K                 // 256-element blocks, float32 scale, sums of each 16 quants
)

// actRow is one activation vector in its quantized form. Only the fields of its kind are set.
// The layout is split (quants apart from scales) rather than ggml's interleaved blocks, so the
// assembly kernels read quants and scales with aligned, contiguous loads.
type actRow struct {
	f     []float32 // actF32: [cols] x itself; actF16, actBF16: [cols] x rounded to that type
	qs    []int8    // actQ8_*: [cols] quants
	d     []float32 // actQ8_0, actQ8_1: [cols/32]; actQ8K: [cols/256] block scales
	d8    []float32 // actQ8_0, actQ8_1: [cols/32][8] each block scale repeated 8 times, for AVX-512
	s     []float32 // actQ8_1: [cols/32] d*sum(qs) of each block, rounded through half precision
	bsums []int16   // actQ8K: [cols/16] sums of each 16 consecutive quants
	// ns4 holds, for actQ8_0 and actQ8_1, minus the sum of each 4 consecutive quants: the
	// correction that lets the AVX-512 one-token kernels take the weights as VPDPBUSD's
	// unsigned operand (biased by a power of two) and the activations as they are. [cols/4]
	ns4 []int32
	// stride is the distance in elements from this row's start to the next row's in the
	// scratch (or in x for actF32): the full row length, also in column-tile views.
	stride int
}

// view returns the part of r for columns [k0,k1), which must be block-aligned.
func (r *actRow) view(k0, k1 int) actRow {
	v := actRow{stride: r.stride}
	if r.f != nil {
		v.f = r.f[k0:k1]
	}
	if r.qs != nil {
		v.qs = r.qs[k0:k1]
	}
	switch {
	case r.bsums != nil: // Q8_K
		v.d, v.bsums = r.d[k0/256:k1/256], r.bsums[k0/16:k1/16]
	case r.d != nil: // Q8_0, Q8_1
		v.d, v.d8, v.s, v.ns4 = r.d[k0/32:k1/32], r.d8[k0/4:k1/4], r.s[k0/32:k1/32], r.ns4[k0/4:k1/4]
	}
	return v
}

// scratch is the pool-owned memory activations are quantized into; it only grows. The rows
// of one call are consecutive and equally spaced in each slice, which the four-token assembly
// kernels rely on (they take the first row and a stride).
type scratch struct {
	qs    []int8    // [n][cols]
	f     []float32 // [n][cols] activations rounded to half or bfloat16
	d     []float32 // [n][cols/32]
	d8    []float32 // [n][cols/32][8]
	s     []float32 // [n][cols/32]
	bsums []int16   // [n][cols/16]
	ns4   []int32   // [n][cols/4]
	rows  []actRow  // [n] views into the slices above
}

// grow returns buf resliced to n elements, reallocating only when its capacity is too small.
func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// prepare sizes the scratch for n activation vectors of cols elements of kind k and points
// rows[t] at the slots of vector t. x is used directly for actF32. The other kinds get rows
// rowStride(cols) elements apart rather than cols.
func (s *scratch) prepare(k actKind, x []float32, n, cols int) []actRow {
	s.rows = grow(s.rows, n)
	stride := cols
	if k != actF32 {
		stride = rowStride(cols)
	}
	switch k {
	case actF16, actBF16:
		s.f = grow(s.f, n*stride)
	case actQ8_0, actQ8_1, actQ8K:
		s.qs = grow(s.qs, n*stride)
		s.d = grow(s.d, n*stride/32)
		s.d8 = grow(s.d8, n*stride/4)
		s.s = grow(s.s, n*stride/32)
		s.bsums = grow(s.bsums, n*stride/16)
		s.ns4 = grow(s.ns4, n*stride/4)
	}
	for t := range s.rows {
		r := &s.rows[t]
		*r = actRow{stride: stride}
		o := t * stride // the row's first element
		switch k {
		case actF32:
			r.f = x[t*cols : (t+1)*cols]
		case actF16, actBF16:
			r.f = s.f[o : o+cols]
		case actQ8_0, actQ8_1:
			r.qs = s.qs[o : o+cols]
			r.d = s.d[o/32 : (o+cols)/32]
			r.d8 = s.d8[o/4 : (o+cols)/4]
			r.s = s.s[o/32 : (o+cols)/32]
			r.ns4 = s.ns4[o/4 : (o+cols)/4]
		case actQ8K:
			r.qs = s.qs[o : o+cols]
			r.d = s.d[o/256 : (o+cols)/256]
			r.bsums = s.bsums[o/16 : (o+cols)/16]
		}
	}
	return s.rows
}

// rowStride is the distance in elements between consecutive quantized activation rows of
// cols elements: cols plus a pad of 256 (which keeps every per-row array a whole number of
// blocks), plus 256 more where that would be a multiple of 2048. The multi-token kernels
// stream up to eight rows at once; rows a multiple of 4 KiB apart (cols = 2048, 8192) would
// all fall in the same L1 cache sets and evict each other.
func rowStride(cols int) int {
	stride := cols + 256
	if stride%2048 == 0 {
		stride += 256
	}
	return stride
}

// quantizeAct converts x into r according to k. It is the only place activations are rounded.
func quantizeAct(k actKind, x []float32, r *actRow) {
	switch k {
	case actF16:
		// Kept as float32 (exactly: every half is a float32) so that the kernels convert only
		// the weights; the products are the same as ggml's half-by-half ones.
		for i := roundF16Asm(r.f[:len(x)], x); i < len(x); i++ {
			r.f[i] = ggml.FP16ToFP32(ggml.FP32ToFP16(x[i]))
		}
	case actBF16:
		for i, v := range x {
			r.f[i] = ggml.BF16ToFP32(ggml.FP32ToBF16(v))
		}
	case actQ8_0, actQ8_1:
		if !quantQ8Asm(x, r, k == actQ8_1) {
			quantQ8Blocks(x, r, k == actQ8_1)
		}
	case actQ8K:
		quantQ8K(x, r)
	}
}

// quantQ8Blocks is ggml's quantize_row_q8_0_ref (and q8_1 when withSum): per 32 values,
// d = amax/127 is stored as a half, and the quants are x/d (using the unrounded d) rounded half
// away from zero (and their negated 4-sums kept in ns4). The scales are kept as the float32 value of the stored half, which is what
// ggml's dot products multiply by.
func quantQ8Blocks(x []float32, r *actRow, withSum bool) {
	for b := range len(x) / 32 {
		xb := x[b*32 : b*32+32]
		q := r.qs[b*32 : b*32+32]
		clear(r.ns4[b*8 : b*8+8])
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sum int32
		for j, v := range xb {
			qv := int8(math.Round(float64(v * id)))
			q[j] = qv
			sum += int32(qv)
			r.ns4[(b*32+j)/4] -= int32(qv)
		}
		r.d[b] = ggml.FP16ToFP32(ggml.FP32ToFP16(d))
		for i := range 8 {
			r.d8[8*b+i] = r.d[b]
		}
		if withSum {
			r.s[b] = ggml.FP16ToFP32(ggml.FP32ToFP16(float32(sum) * d))
		}
	}
}

// quantQ8K is ggml's quantize_row_q8_K_ref: per 256 values the signed value of largest
// magnitude maps to -127 (so the quants span -127..127 after clamping 128 to 127), rounding is
// half to even (ggml's nearest_int), and the sums of every 16 quants are kept for the K-quant
// minimums.
func quantQ8K(x []float32, r *actRow) {
	for b := range len(x) / 256 {
		xb := x[b*256 : b*256+256]
		q := r.qs[b*256 : b*256+256]
		var amax, mx float32
		for _, v := range xb {
			if a := abs32(v); a > amax {
				amax, mx = a, v
			}
		}
		if amax == 0 {
			r.d[b] = 0
			clear(q)
			clear(r.bsums[b*16 : b*16+16])
			continue
		}
		iscale := -127 / mx
		for j, v := range xb {
			q[j] = int8(min(127, int32(math.RoundToEven(float64(iscale*v)))))
		}
		for g := range 16 {
			var sum int16
			for _, v := range q[g*16 : g*16+16] {
				sum += int16(v)
			}
			r.bsums[b*16+g] = sum
		}
		r.d[b] = 1 / iscale
	}
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
