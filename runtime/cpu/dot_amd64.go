package cpu

import (
	"encoding/binary"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// 32-element blocks, AVX2 (q32_amd64.s).

//go:noescape
func dotQ8_0AVX2(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ8_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)

//go:noescape
func dotQ4_0AVX2(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ4_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)

//go:noescape
func dotQ5_0AVX2(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)

//go:noescape
func dotIQ4_NLAVX2(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotIQ4_NLx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)

//go:noescape
func dotQ4_1AVX2(w *byte, qs *int8, d *float32, s *float32, nb int) float32

//go:noescape
func dotQ5_1AVX2(w *byte, qs *int8, d *float32, s *float32, nb int) float32

//go:noescape
func dotIQ4_XSAVX2(w *byte, qs *int8, d *float32, nb int) float32

// K-quants, AVX2 (dot_amd64.s).

//go:noescape
func dotQ2_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32

//go:noescape
func dotQ3_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32

//go:noescape
func dotQ4_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32

//go:noescape
func dotQ4_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)

//go:noescape
func dotQ5_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32

//go:noescape
func dotQ5_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)

//go:noescape
func dotQ6_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32

//go:noescape
func dotQ6_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)

// Float weights, AVX2 (dot_amd64.s, half_amd64.s).

//go:noescape
func dotF32AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotF16AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotF16x4AVX2(w *byte, x *float32, xstride int, n int, out *[4]float32)

//go:noescape
func dotBF16AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotBF16x4AVX2(w *byte, x *float32, xstride int, n int, out *[4]float32)

// AVX-512 (dot512_amd64.s, half512_amd64.s).

//go:noescape
func dotQ8_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32

//go:noescape
func dotQ8_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)

//go:noescape
func dotQ4_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32

//go:noescape
func dotQ4_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)

//go:noescape
func dotQ5_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32

//go:noescape
func dotQ5_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)

//go:noescape
func dotIQ4_NLAVX512(w *byte, qs *int8, d8 *float32, npairs int) float32

//go:noescape
func dotIQ4_NLx4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)

//go:noescape
func dotF16AVX512(w *byte, x *float32, n int) float32

//go:noescape
func dotF16x4AVX512(w *byte, x *float32, xstride int, n int, out *[4]float32)

//go:noescape
func dotF16x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)

//go:noescape
func dotBF16x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)

//go:noescape
func dotBF16AVX512(w *byte, x *float32, n int) float32

//go:noescape
func dotF32AVX512(w *byte, x *float32, n int) float32

//go:noescape
func dotF32x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)

//go:noescape
func dotBF16x4AVX512(w *byte, x *float32, xstride int, n int, out *[4]float32)

//go:noescape
func dotQ8_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)

//go:noescape
func dotQ4_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)

//go:noescape
func dotQ5_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)

//go:noescape
func dotIQ4_NLx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)

//go:noescape
func dotF16x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)

//go:noescape
func dotBF16x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)

//go:noescape
func dotF32x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)

//go:noescape
func dotQ8_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)

//go:noescape
func dotQ4_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)

//go:noescape
func dotQ5_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)

//go:noescape
func dotIQ4_NLx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)

// asmVariants lists every assembly kernel set, slower instruction sets first; init installs
// the last one this CPU supports for each type, and tests check all supported ones.
var asmVariants = []asmVariant{
	{"avx2", features.avx2FMA, ggml.TypeQ8_0, q32Fast(34, dotQ8_0AVX2), q32Fast4(34, dotQ8_0x4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeQ4_0, q32Fast(18, dotQ4_0AVX2), q32Fast4(18, dotQ4_0x4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeQ5_0, q32Fast(22, dotQ5_0AVX2), q32Fast4(22, dotQ5_0x4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeQ4_1, q32MinFast(20, dotQ4_1AVX2), nil},
	{"avx2", features.avx2FMA, ggml.TypeQ5_1, q32MinFast(24, dotQ5_1AVX2), nil},
	{"avx2", features.avx2FMA, ggml.TypeIQ4_NL, q32Fast(18, dotIQ4_NLAVX2), q32Fast4(18, dotIQ4_NLx4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeIQ4_XS, iq4xsFast, nil},
	{"avx2", features.avx2FMA, ggml.TypeQ2_K, kFast(84, dotQ2_KAVX2), nil},
	{"avx2", features.avx2FMA, ggml.TypeQ3_K, kFast(110, dotQ3_KAVX2), nil},
	{"avx2", features.avx2FMA, ggml.TypeQ4_K, kFast(144, dotQ4_KAVX2), kx4Fast(144, dotQ4_Kx4AVX2)},
	{"avx512", features.avx512, ggml.TypeQ4_K, kFastAVX512(ggml.TypeQ4_K), kx4Fast(144, dotQ4_Kx4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeQ5_K, kFast(176, dotQ5_KAVX2), kx4Fast(176, dotQ5_Kx4AVX2)},
	{"avx512", features.avx512, ggml.TypeQ5_K, kFastAVX512(ggml.TypeQ5_K), kx4Fast(176, dotQ5_Kx4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeQ6_K, kFast(210, dotQ6_KAVX2), kx4Fast(210, dotQ6_Kx4AVX2)},
	{"avx512", features.avx512, ggml.TypeQ6_K, kFastAVX512(ggml.TypeQ6_K), kx4Fast(210, dotQ6_Kx4AVX2)},
	{"avx2", features.avx2FMA, ggml.TypeF32, fastF32, nil},
	{"avx2", features.avx2FMA, ggml.TypeF16, halfFast(8, dotF16AVX2, f16Elem), halfFast4(8, dotF16x4AVX2, f16Elem)},
	{"avx2", features.avx2FMA, ggml.TypeBF16, halfFast(8, dotBF16AVX2, bf16Elem), halfFast4(8, dotBF16x4AVX2, bf16Elem)},
	{"avx512", features.avx512, ggml.TypeF16, halfFast(16, dotF16AVX512, f16Elem), halfFast4(16, dotF16x4AVX512, f16Elem)},
	{"avx512", features.avx512, ggml.TypeBF16, halfFast(16, dotBF16AVX512, bf16Elem), halfFast4(16, dotBF16x4AVX512, bf16Elem)},
	// F32 kernels all add in the same order (see f32Fast4), so that a token's result does not
	// depend on its batch: F32 models and the f32 attention products are batch-invariant.
	{"avx512", features.avx512, ggml.TypeF32, halfFast(16, dotF32AVX512, f32Elem), f32Fast4},
	{"avx512", features.avx512, ggml.TypeQ8_0, pairFast(ggml.TypeQ8_0, 34, dotQ8_0AVX512), pairFast4(ggml.TypeQ8_0, 34, dotQ8_0x4AVX512)},
	{"avx512", features.avx512, ggml.TypeQ4_0, pairFast(ggml.TypeQ4_0, 18, dotQ4_0AVX512), pairFast4(ggml.TypeQ4_0, 18, dotQ4_0x4AVX512)},
	{"avx512", features.avx512, ggml.TypeQ5_0, pairFast(ggml.TypeQ5_0, 22, dotQ5_0AVX512), pairFast4(ggml.TypeQ5_0, 22, dotQ5_0x4AVX512)},
	{"avx512", features.avx512, ggml.TypeIQ4_NL, pairFast(ggml.TypeIQ4_NL, 18, dotIQ4_NLAVX512), pairFast4(ggml.TypeIQ4_NL, 18, dotIQ4_NLx4AVX512)},
}

// rowPairVariants lists the kernels that multiply two weight rows by four activation rows.
var rowPairVariants = []rowPairVariant{
	{"avx512", features.avx512, ggml.TypeF16, halfFast42(dotF16x4x2AVX512, f16Elem)},
	{"avx512", features.avx512, ggml.TypeBF16, halfFast42(dotBF16x4x2AVX512, bf16Elem)},
	{"avx512", features.avx512, ggml.TypeF32, f32Fast42},
}

// rows8Variants lists the kernels that multiply many weight rows by eight activation rows,
// and (rows1) by one.
var rows8Variants = []rows8Variant{
	{"avx512", features.avx512, ggml.TypeQ8_0, pairRows8(ggml.TypeQ8_0, 34, dotQ8_0x8RowsAVX512), pairRows1(ggml.TypeQ8_0, 34, dotQ8_0x1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeQ4_0, pairRows8(ggml.TypeQ4_0, 18, dotQ4_0x8RowsAVX512), pairRows1(ggml.TypeQ4_0, 18, dotQ4_0x1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeQ5_0, pairRows8(ggml.TypeQ5_0, 22, dotQ5_0x8RowsAVX512), pairRows1(ggml.TypeQ5_0, 22, dotQ5_0x1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeIQ4_NL, pairRows8(ggml.TypeIQ4_NL, 18, dotIQ4_NLx8RowsAVX512), pairRows1(ggml.TypeIQ4_NL, 18, dotIQ4_NLx1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeF16, halfRows8(dotF16x8RowsAVX512, halfFast4(16, dotF16x4AVX512, f16Elem), f16Elem), nil},
	{"avx512", features.avx512, ggml.TypeBF16, halfRows8(dotBF16x8RowsAVX512, halfFast4(16, dotBF16x4AVX512, bf16Elem), bf16Elem), nil},
	{"avx512", features.avx512, ggml.TypeF32, halfRows8(dotF32x8RowsAVX512, f32Fast4, f32Elem), nil},
}

func init() {
	for _, v := range append(rows8Variants, kquantRowsVariants...) {
		if v.supported {
			kernels[v.typ].rows8, kernels[v.typ].rows1 = v.rows8, v.rows1
		}
	}
	for _, v := range asmVariants {
		if v.supported {
			kernels[v.typ].fast, kernels[v.typ].fast4 = v.fast, v.fast4
		}
	}
	for _, v := range rowPairVariants {
		if v.supported {
			kernels[v.typ].fast42 = v.fast42
		}
	}
}

// q32Fast adapts a one-token kernel for 32-element blocks of size bytes with Q8_0
// activations.
func q32Fast(size int, kernel func(w *byte, qs *int8, d *float32, nb int) float32) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 {
		nb := len(x.qs) / 32
		_ = w[nb*size-1] // the assembly reads nb whole blocks
		return kernel(&w[0], &x.qs[0], &x.d[0], nb)
	}
}

// q32MinFast adapts a one-token kernel for 32-element blocks with a minimum (Q8_1
// activations).
func q32MinFast(size int, kernel func(w *byte, qs *int8, d *float32, s *float32, nb int) float32) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 {
		nb := len(x.qs) / 32
		_ = w[nb*size-1]
		return kernel(&w[0], &x.qs[0], &x.d[0], &x.s[0], nb)
	}
}

// q32Fast4 adapts the matching four-token kernel.
func q32Fast4(size int, kernel func(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)) func([]byte, []actRow, *[4]float32) {
	return func(w []byte, xs []actRow, out *[4]float32) {
		nb, stride := x4Args(xs)
		_ = w[nb*size-1]
		kernel(&w[0], &xs[0].qs[0], stride, &xs[0].d[0], 4*(stride/32), nb, out)
	}
}

// x4Args checks that four activation rows (or column-tile views of them) with 32-element
// blocks are equally spaced in the scratch and returns their block count and stride.
func x4Args(xs []actRow) (nb, stride int) {
	stride = xs[0].stride
	consecutive(xs[0].qs, xs[3].qs, 3, stride)
	return len(xs[0].qs) / 32, stride
}

// consecutive panics unless rowK starts k*stride elements after row0 in the same array: the
// multi-token kernels read rows 1..k through row 0's pointer and a stride, which
// scratch.prepare guarantees; this keeps a future caller from making them read elsewhere.
func consecutive[T any](row0, rowK []T, k, stride int) {
	if &row0[:k*stride+1][k*stride] != &rowK[0] {
		panic("cpu: multi-token kernel rows are not consecutive")
	}
}

// kFast adapts a one-token kernel for 256-element blocks of size bytes with Q8_K activations.
func kFast(size int, kernel func(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 {
		nb := len(x.qs) / 256
		_ = w[nb*size-1]
		return kernel(&w[0], &x.qs[0], &x.d[0], &x.bsums[0], nb)
	}
}

func iq4xsFast(w []byte, x *actRow) float32 {
	nb := len(x.qs) / 256
	_ = w[nb*136-1]
	return dotIQ4_XSAVX2(&w[0], &x.qs[0], &x.d[0], nb)
}

// kx4Fast adapts a four-token kernel for 256-element blocks of size bytes with Q8_K
// activations.
func kx4Fast(size int, kernel func(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)) func([]byte, []actRow, *[4]float32) {
	return func(w []byte, xs []actRow, out *[4]float32) {
		stride := xs[0].stride
		consecutive(xs[0].qs, xs[3].qs, 3, stride)
		nb := len(xs[0].qs) / 256
		_ = w[nb*size-1]
		kernel(&w[0], &xs[0].qs[0], stride, &xs[0].d[0], 4*(stride/256), &xs[0].bsums[0], 2*(stride/16), nb, out)
	}
}

// fastF32 runs the assembly over the longest multiple of 8 elements and finishes in Go.
func fastF32(w []byte, x *actRow) float32 {
	n := len(x.f)
	m := n &^ 7
	_ = w[4*n-1]
	var s float32
	if m > 0 {
		s = dotF32AVX2(&w[0], &x.f[0], m)
	}
	for i := m; i < n; i++ {
		s += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x.f[i]
	}
	return s
}

// elemFunc reads float weight i of a row; f16Elem, bf16Elem and f32Elem are the three float
// weight types.
type elemFunc func(w []byte, i int) float32

func f16Elem(w []byte, i int) float32  { return ggml.FP16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) }
func bf16Elem(w []byte, i int) float32 { return ggml.BF16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) }
func f32Elem(w []byte, i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
}

// halfDot runs a float-weight kernel over the longest multiple of step (a power of two)
// elements and finishes in Go with elem.
func halfDot(w []byte, x *actRow, step int, kernel func(w *byte, x *float32, n int) float32, elem elemFunc) float32 {
	n := len(x.f)
	m := n &^ (step - 1)
	_ = elem(w, n-1) // the assembly reads n weights
	var s float32
	if m > 0 {
		s = kernel(&w[0], &x.f[0], m)
	}
	for i := m; i < n; i++ {
		s += elem(w, i) * x.f[i]
	}
	return s
}

// halfDot4 is halfDot for four consecutive activation rows.
func halfDot4(w []byte, xs []actRow, out *[4]float32, step int, kernel func(w *byte, x *float32, xstride int, n int, out *[4]float32), elem elemFunc) {
	n, stride := len(xs[0].f), xs[0].stride
	consecutive(xs[0].f, xs[3].f, 3, stride)
	m := n &^ (step - 1)
	_ = elem(w, n-1)
	*out = [4]float32{}
	if m > 0 {
		kernel(&w[0], &xs[0].f[0], 4*stride, m, out)
	}
	for i := m; i < n; i++ {
		wv := elem(w, i)
		for t := range out {
			out[t] += wv * xs[t].f[i]
		}
	}
}

// halfFast and halfFast4 adapt the float-weight kernels whose length step is step.
func halfFast(step int, kernel func(w *byte, x *float32, n int) float32, elem elemFunc) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 { return halfDot(w, x, step, kernel, elem) }
}

func halfFast4(step int, kernel func(w *byte, x *float32, xstride int, n int, out *[4]float32), elem elemFunc) func([]byte, []actRow, *[4]float32) {
	return func(w []byte, xs []actRow, out *[4]float32) { halfDot4(w, xs, out, step, kernel, elem) }
}

// halfFast42 adapts a two-row, four-token float-weight kernel (16-element steps); the
// elements past the last multiple of 16 are finished in Go.
func halfFast42(kernel func(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32), elem elemFunc) func(w0, w1 []byte, xs []actRow, out *[8]float32) {
	return func(w0, w1 []byte, xs []actRow, out *[8]float32) {
		n, stride := len(xs[0].f), xs[0].stride
		consecutive(xs[0].f, xs[3].f, 3, stride)
		m := n &^ 15
		_, _ = elem(w0, n-1), elem(w1, n-1)
		*out = [8]float32{}
		if m > 0 {
			kernel(&w0[0], &w1[0], &xs[0].f[0], 4*stride, m, out)
		}
		for i := m; i < n; i++ {
			a, b := elem(w0, i), elem(w1, i)
			for t := range 4 {
				out[t] += a * xs[t].f[i]
				out[4+t] += b * xs[t].f[i]
			}
		}
	}
}

// The AVX-512 kernels take blocks in pairs; an odd last block goes through the pure-Go kernel.

// tailBlock is the pure-Go dot product of block b alone of a 32-element block type of size
// bytes. The generic kernels are called directly (not through a func value) so that r stays on
// the stack.
func tailBlock(t ggml.Type, size int, w []byte, x *actRow, b int) float32 {
	r := actRow{qs: x.qs[32*b : 32*b+32], d: x.d[b : b+1]}
	w = w[size*b:]
	switch t {
	case ggml.TypeQ8_0:
		return vecDotQ8_0(w, &r)
	case ggml.TypeQ4_0:
		return vecDotQ4_0(w, &r)
	case ggml.TypeQ5_0:
		return vecDotQ5_0(w, &r)
	case ggml.TypeIQ4_NL:
		return vecDotIQ4_NL(w, &r)
	}
	panic("cpu: no pair kernel for " + t.String())
}

// pairFast adapts a one-token AVX-512 pair kernel.
func pairFast(t ggml.Type, size int, kernel func(w *byte, qs *int8, d8 *float32, npairs int) float32) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 {
		nb := len(x.qs) / 32
		_ = w[nb*size-1]
		var s float32
		if nb >= 2 {
			s = kernel(&w[0], &x.qs[0], &x.d8[0], nb/2)
		}
		if nb%2 == 1 {
			s += tailBlock(t, size, w, x, nb-1)
		}
		return s
	}
}

// pairFast4 adapts a four-token AVX-512 pair kernel.
func pairFast4(t ggml.Type, size int, kernel func(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)) func([]byte, []actRow, *[4]float32) {
	return func(w []byte, xs []actRow, out *[4]float32) {
		nb, stride := x4Args(xs)
		_ = w[nb*size-1]
		*out = [4]float32{}
		if nb >= 2 {
			// d8 holds 8 float32s (32 bytes) per 32 elements: its stride in bytes is stride.
			kernel(&w[0], &xs[0].qs[0], stride, &xs[0].d8[0], stride, nb/2, out)
		}
		if nb%2 == 1 {
			for i := range out {
				out[i] += tailBlock(t, size, w, &xs[i], nb-1)
			}
		}
	}
}

// pairRows8 adapts an eight-token, many-row AVX-512 pair kernel (see rows8Kernel); an odd last
// block of each row goes through the pure-Go kernel.
func pairRows8(t ggml.Type, size int, kernel func(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)) rows8Kernel {
	return func(w []byte, rowBytes, nrows int, xs []actRow, y []float32, ystride int, add bool) {
		stride := xs[0].stride
		consecutive(xs[0].qs, xs[7].qs, 7, stride)
		consecutive(xs[0].d8, xs[7].d8, 7, stride/4)
		nb := len(xs[0].qs) / 32
		_, _ = w[(nrows-1)*rowBytes+nb*size-1], y[7*ystride+nrows-1]
		if nb >= 2 {
			a := 0
			if add {
				a = 1
			}
			kernel(&w[0], rowBytes, nrows, &xs[0].qs[0], &xs[0].d8[0], stride, nb/2, &y[0], 4*ystride, a)
		}
		if nb%2 == 1 {
			for r := range nrows {
				for i := range 8 {
					v := tailBlock(t, size, w[r*rowBytes:], &xs[i], nb-1)
					if nb == 1 && !add {
						y[i*ystride+r] = v
					} else {
						y[i*ystride+r] += v
					}
				}
			}
		}
	}
}

// f32Fast4 is the four-token F32 kernel: the row-pair kernel with the row given twice, whose
// per-token additions are those of the one-token and eight-token F32 kernels.
func f32Fast4(w []byte, xs []actRow, out *[4]float32) {
	var o [8]float32
	f32Fast42(w, w, xs, &o)
	copy(out[:], o[:4])
}

var f32Fast42 = halfFast42(dotF32x4x2AVX512, f32Elem)

// pairRows1 adapts a one-token, many-row AVX-512 pair kernel (see rows1Kernel); an odd last
// block of each row is added by the pure-Go kernel, as pairFast does.
func pairRows1(t ggml.Type, size int, kernel func(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)) rows1Kernel {
	return func(w []byte, rowBytes, nrows int, x *actRow, y []float32) {
		nb := len(x.qs) / 32
		_, _ = w[(nrows-1)*rowBytes+nb*size-1], y[nrows-1]
		if nb >= 2 {
			_ = x.ns4[8*nb-1]
			kernel(&w[0], rowBytes, nrows, &x.qs[0], &x.d8[0], &x.ns4[0], nb/2, &y[0])
		}
		if nb%2 == 1 {
			for r := range nrows {
				v := tailBlock(t, size, w[r*rowBytes:], x, nb-1)
				if nb == 1 {
					y[r] = v
				} else {
					y[r] += v
				}
			}
		}
	}
}

// halfRows8 adapts an eight-token float-weight kernel that takes weight rows in pairs
// (16-element steps). An odd last row goes through the four-token kernel fast4, and the
// columns past the last multiple of 16 of the other rows are done in Go.
func halfRows8(kernel func(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int), fast4 func([]byte, []actRow, *[4]float32), elem elemFunc) rows8Kernel {
	return func(w []byte, rowBytes, nrows int, xs []actRow, y []float32, ystride int, add bool) {
		n, stride := len(xs[0].f), xs[0].stride
		consecutive(xs[0].f, xs[7].f, 7, stride)
		_, _ = elem(w[(nrows-1)*rowBytes:], n-1), y[7*ystride+nrows-1]
		m, pairs := n&^15, nrows/2
		if m > 0 && pairs > 0 {
			a := 0
			if add {
				a = 1
			}
			kernel(&w[0], rowBytes, pairs, &xs[0].f[0], 4*stride, m, &y[0], 4*ystride, a)
		}
		// The tail products are added one by one to the assembly's sum, as halfDot and
		// halfFast42 do, so that every kernel adds in the same order.
		for r := 0; r < 2*pairs && m < n; r++ {
			wr := w[r*rowBytes:]
			for i := range 8 {
				var s float32
				if m > 0 || add {
					s = y[i*ystride+r]
				}
				for c := m; c < n; c++ {
					s += elem(wr, c) * xs[i].f[c]
				}
				y[i*ystride+r] = s
			}
		}
		if nrows%2 == 1 {
			r := nrows - 1
			var out [4]float32
			for h := 0; h < 8; h += 4 {
				fast4(w[r*rowBytes:], xs[h:h+4], &out)
				for i, v := range out {
					if add {
						y[(h+i)*ystride+r] += v
					} else {
						y[(h+i)*ystride+r] = v
					}
				}
			}
		}
	}
}
