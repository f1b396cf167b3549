package cpu

// The assembly attention kernels (attend_amd64.s) and their adapters: the assembly covers the
// longest multiple of 8 columns of each row and scoreRows/accumRows (ops.go) the rest. The
// exponential passes of Softmax and SwiGLU share the file for its EXP8 macro.

import (
	"math"
	"unsafe"
)

//go:noescape
func attnScoresF16AVX2(k *uint16, q *float32, d, m, n int, s *float32)

//go:noescape
func attnAccumF16AVX2(v *uint16, p *float32, d, m, n int, o *float32)

//go:noescape
func attnScoresF32AVX2(k *float32, q *float32, d, m, n int, s *float32)

//go:noescape
func attnAccumF32AVX2(v *float32, p *float32, d, m, n int, o *float32)

//go:noescape
func attnSoftmaxAVX2(s *float32, n int, scale float32, m, sum, f *[4]float32)

//go:noescape
func axpyAVX2(y *float32, x *float32, a float32, n int)

//go:noescape
func attnScoresF16AVX512(k *uint16, q *float32, d, m, n int, s *float32)

//go:noescape
func attnAccumF16AVX512(v *uint16, p *float32, d, m, n int, o *float32)

//go:noescape
func attnScoresF32AVX512(k *float32, q *float32, d, m, n int, s *float32)

//go:noescape
func attnAccumF32AVX512(v *float32, p *float32, d, m, n int, o *float32)

// The assembly kernel sets. AVX-512 has its own score and accumulation kernels (16 columns per
// register) and shares the AVX2 softmax, Dot and Axpy, which work on 4- to 8-element rows.
const (
	kernelsAVX2   kernelSet = "avx2"
	kernelsAVX512 kernelSet = "avx512"
)

// attendKernels lists the kernel sets this CPU runs, slower first.
var attendKernels = supportedKernels()

func supportedKernels() []kernelSet {
	ks := []kernelSet{kernelsGo}
	if features.avx2FMA {
		ks = append(ks, kernelsAVX2)
	}
	if features.avx512 {
		ks = append(ks, kernelsAVX512)
	}
	return ks
}

// kvArgs returns n, the rows of a block, and m, the columns the assembly covers (0 when it is
// not used). It checks the slice lengths the assembly relies on: it reads n rows of d elements
// of kv, four rows of qo and n·4 elements of sp through raw pointers.
func kvArgs[E uint16 | float32](sp, qo []float32, kv []E, d int) (n, m int) {
	n = len(sp) / quad
	if attendUse == kernelsGo || n == 0 {
		return n, 0
	}
	_, _, _ = kv[n*d-1], qo[quad*d-1], sp[n*quad-1]
	return n, d &^ 7
}

func scoresF16(s, q []float32, k []uint16, d int) {
	n, m := kvArgs(s, q, k, d)
	switch {
	case m == 0:
		clear(s)
	case attendUse == kernelsAVX512:
		attnScoresF16AVX512(&k[0], &q[0], d, m, n, &s[0])
	default:
		attnScoresF16AVX2(&k[0], &q[0], d, m, n, &s[0])
	}
	if m < d {
		scoreRows(s, q, k, d, m)
	}
}

func accumF16(o, p []float32, v []uint16, d int) {
	n, m := kvArgs(p, o, v, d)
	switch {
	case m > 0 && attendUse == kernelsAVX512:
		attnAccumF16AVX512(&v[0], &p[0], d, m, n, &o[0])
	case m > 0:
		attnAccumF16AVX2(&v[0], &p[0], d, m, n, &o[0])
	}
	if m < d {
		accumRows(o, p, v, d, m)
	}
}

func scoresF32(s, q, k []float32, d int) {
	n, m := kvArgs(s, q, k, d)
	switch {
	case m == 0:
		clear(s)
	case attendUse == kernelsAVX512:
		attnScoresF32AVX512(&k[0], &q[0], d, m, n, &s[0])
	default:
		attnScoresF32AVX2(&k[0], &q[0], d, m, n, &s[0])
	}
	if m < d {
		scoreRows(s, q, k, d, m)
	}
}

func accumF32(o, p, v []float32, d int) {
	n, m := kvArgs(p, o, v, d)
	switch {
	case m > 0 && attendUse == kernelsAVX512:
		attnAccumF32AVX512(&v[0], &p[0], d, m, n, &o[0])
	case m > 0:
		attnAccumF32AVX2(&v[0], &p[0], d, m, n, &o[0])
	}
	if m < d {
		accumRows(o, p, v, d, m)
	}
}

func kvSoftmax(s []float32, scale float32, m, sum *[quad]float32) (f [quad]float32) {
	if attendUse == kernelsGo || len(s) < quad {
		return softmaxRows(s, scale, m, sum)
	}
	attnSoftmaxAVX2(&s[0], len(s)/quad, scale, m, sum, &f)
	return f
}

// Dot returns a·b over the len(a) elements of a (b must be at least as long).
func Dot(a, b []float32) float32 {
	m := 0
	if attendUse != kernelsGo {
		m = len(a) &^ 7
	}
	var s float32
	if m > 0 {
		_ = b[m-1]
		// dotF32AVX2 reads its first operand as raw little-endian float32 bytes (it serves F32
		// weight rows), which a []float32 is on amd64.
		s = dotF32AVX2((*byte)(unsafe.Pointer(&b[0])), &a[0], m)
	}
	return s + kvDot(a[m:], b[m:len(a)])
}

// Axpy adds a·x to y elementwise over the len(y) elements of y (x must be at least as long).
func Axpy(y []float32, a float32, x []float32) {
	m := 0
	if attendUse != kernelsGo {
		m = len(y) &^ 7
	}
	if m > 0 {
		_ = x[m-1]
		axpyAVX2(&y[0], &x[0], a, m)
	}
	kvAxpy(y[m:], a, x[m:len(y)])
}

//go:noescape
func expSubSumAVX2(x *float32, n int, m float32) float32

//go:noescape
func swigluAVX2(y, gate, u *float32, n int)

//go:noescape
func scaleMaxAVX2(x *float32, n int, scale float32) float32

// scaleMaxAsm multiplies the longest multiple of 8 elements of x by scale and returns how many
// it did and their largest value; 0 and -Inf on the pure-Go path.
func scaleMaxAsm(x []float32, scale float32) (int, float32) {
	n := len(x) &^ 7
	if attendUse == kernelsGo || n == 0 {
		return 0, float32(math.Inf(-1))
	}
	return n, scaleMaxAVX2(&x[0], n, scale)
}

// expSubSumAsm sets x[i] = e^(x[i]-m) over the longest multiple of 8 elements of x (every
// x[i] <= m) and returns how many it did and their new sum; 0, 0 on the pure-Go path.
func expSubSumAsm(x []float32, m float32) (int, float32) {
	n := len(x) &^ 7
	if attendUse == kernelsGo || n == 0 {
		return 0, 0
	}
	return n, expSubSumAVX2(&x[0], n, m)
}

// swigluAsm does SwiGLU over all of y (g and u at least as long) and returns how many
// elements it did: len(y), or 0 on the pure-Go path. A last part shorter than 8 goes through
// the assembly too, padded on the stack, so that every element gets the same arithmetic
// whatever the length (a token's result must not depend on its batch).
func swigluAsm(y, g, u []float32) int {
	if attendUse == kernelsGo || len(y) == 0 {
		return 0
	}
	n := len(y) &^ 7
	_, _ = g[len(y)-1], u[len(y)-1]
	if n > 0 {
		swigluAVX2(&y[0], &g[0], &u[0], n)
	}
	if n < len(y) {
		var yb, gb, ub [8]float32
		copy(gb[:], g[n:len(y)])
		copy(ub[:], u[n:len(y)])
		swigluAVX2(&yb[0], &gb[0], &ub[0], 8)
		copy(y[n:], yb[:])
	}
	return len(y)
}
