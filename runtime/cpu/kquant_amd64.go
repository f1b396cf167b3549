package cpu

import "github.com/sparkrun/sparkrun/ggml"

// K-quant kernels that loop over weight rows in assembly (kquant_amd64.s), for one token and
// for eight.

//go:noescape
func dotQ4_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)

//go:noescape
func dotQ4_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)

//go:noescape
func dotQ5_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)

//go:noescape
func dotQ5_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)

//go:noescape
func dotQ6_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)

//go:noescape
func dotQ6_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)

// kRows1Asm and kRows8Asm are the signatures of the assembly kernels above.
type (
	kRows1Asm func(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)
	kRows8Asm func(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)
)

// kquantRowsVariants lists the K-quant kernels for many weight rows by eight activation rows
// and by one (tested by TestKQuantRowsMatchGeneric: their blocks are 256 elements long).
var kquantRowsVariants = []rows8Variant{
	{"avx512", features.avx512, ggml.TypeQ4_K, kRows8(144, dotQ4_Kx8RowsAVX512), kRows1(144, dotQ4_Kx1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeQ5_K, kRows8(176, dotQ5_Kx8RowsAVX512), kRows1(176, dotQ5_Kx1RowsAVX512)},
	{"avx512", features.avx512, ggml.TypeQ6_K, kRows8(210, dotQ6_Kx8RowsAVX512), kRows1(210, dotQ6_Kx1RowsAVX512)},
}

// kRows1 adapts a one-token, many-row kernel for 256-element blocks of size bytes (see
// rows1Kernel).
func kRows1(size int, kernel kRows1Asm) rows1Kernel {
	return func(w []byte, rowBytes, nrows int, x *actRow, y []float32) {
		nb := kRowsArgs(w, rowBytes, nrows, size, x, y)
		kernel(&w[0], rowBytes, nrows, &x.qs[0], &x.d[0], &x.bsums[0], nb, &y[0])
	}
}

// kRows8 adapts an eight-token, many-row kernel for 256-element blocks of size bytes (see
// rows8Kernel).
func kRows8(size int, kernel kRows8Asm) rows8Kernel {
	return func(w []byte, rowBytes, nrows int, xs []actRow, y []float32, ystride int, add bool) {
		stride := xs[0].stride
		consecutive(xs[0].qs, xs[7].qs, 7, stride)
		consecutive(xs[0].d, xs[7].d, 7, stride/256)
		consecutive(xs[0].bsums, xs[7].bsums, 7, stride/16)
		nb := kRowsArgs(w, rowBytes, nrows, size, &xs[7], y[7*ystride:])
		a := 0
		if add {
			a = 1
		}
		kernel(&w[0], rowBytes, nrows, &xs[0].qs[0], &xs[0].d[0], &xs[0].bsums[0], stride, nb, &y[0], 4*ystride, a)
	}
}

// kOneRowAVX512 is the one-row kernel for K-quant type t: the many-row kernel on one row, so
// that both give the same sums bit for bit. It calls the assembly directly (not through a
// func value) so that y stays on the stack.
func kOneRowAVX512(t ggml.Type, w []byte, x *actRow) float32 {
	var y [1]float32
	switch t {
	case ggml.TypeQ4_K:
		nb := kRowsArgs(w, len(w), 1, 144, x, y[:])
		dotQ4_Kx1RowsAVX512(&w[0], len(w), 1, &x.qs[0], &x.d[0], &x.bsums[0], nb, &y[0])
	case ggml.TypeQ5_K:
		nb := kRowsArgs(w, len(w), 1, 176, x, y[:])
		dotQ5_Kx1RowsAVX512(&w[0], len(w), 1, &x.qs[0], &x.d[0], &x.bsums[0], nb, &y[0])
	case ggml.TypeQ6_K:
		nb := kRowsArgs(w, len(w), 1, 210, x, y[:])
		dotQ6_Kx1RowsAVX512(&w[0], len(w), 1, &x.qs[0], &x.d[0], &x.bsums[0], nb, &y[0])
	default:
		panic("cpu: no AVX-512 row kernel for " + t.String())
	}
	return y[0]
}

// kFastAVX512 returns the one-row kernel of type t (see kOneRowAVX512).
func kFastAVX512(t ggml.Type) func([]byte, *actRow) float32 {
	return func(w []byte, x *actRow) float32 { return kOneRowAVX512(t, w, x) }
}

// kRowsArgs checks what a many-row K-quant kernel reads (nrows rows of nb blocks of size
// bytes, rowBytes apart; nb blocks of Q8_K activations of x; nrows results) and returns nb.
func kRowsArgs(w []byte, rowBytes, nrows, size int, x *actRow, y []float32) int {
	nb := len(x.qs) / 256
	_, _ = w[(nrows-1)*rowBytes+nb*size-1], y[nrows-1]
	_, _ = x.d[nb-1], x.bsums[16*nb-1]
	return nb
}
