#include "textflag.h"

// AVX-512 versions of the 16-bit-float weight kernels (see half_amd64.s): 16 weights per
// conversion, so each converted vector feeds twice as many multiply-adds. n is a multiple of 16.
// WCVTZ, defined before each function, widens 16 weights at src to the float32s of zmm dst.

// ZHSUMTO stores the sum of the 16 floats of zacc (clobbering it and Z1) at dst.
#define ZHSUMTO(zacc, yacc, xacc, dst) \
	VEXTRACTF64X4 $1, zacc, Y1 \
	VADDPS        Y1, yacc, yacc \
	VEXTRACTF128  $1, yacc, X1 \
	VADDPS        X1, xacc, xacc \
	VHADDPS       xacc, xacc, xacc \
	VHADDPS       xacc, xacc, xacc \
	VMOVSS        xacc, dst

// DOTHALF1Z: func(w *byte, x *float32, n int) float32.
#define DOTHALF1Z \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ n+16(FP), CX \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
loop32: \
	CMPQ CX, $32 \
	JLT  loop16 \
	WCVTZ((SI), Z0) \
	WCVTZ(32(SI), Z2) \
	VFMADD231PS (DI), Z0, Z8 \
	VFMADD231PS 64(DI), Z2, Z9 \
	ADDQ $64, SI \
	ADDQ $128, DI \
	SUBQ $32, CX \
	JMP  loop32 \
loop16: \
	CMPQ CX, $16 \
	JLT  done \
	WCVTZ((SI), Z0) \
	VFMADD231PS (DI), Z0, Z8 \
done: \
	VADDPS Z9, Z8, Z8 \
	ZHSUMTO(Z8, Y8, X8, ret+24(FP)) \
	VZEROUPPER \
	RET

// DOTHALF4Z: func(w *byte, x *float32, xstride int, n int, out *[4]float32); four activation
// rows xstride bytes apart, two accumulators each.
#define DOTHALF4Z \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ xstride+16(FP), R10 \
	MOVQ n+24(FP), CX \
	LEAQ (R10)(R10*2), R13 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
loop32: \
	CMPQ CX, $32 \
	JLT  loop16 \
	WCVTZ((SI), Z0) \
	WCVTZ(32(SI), Z2) \
	VFMADD231PS (DI), Z0, Z8 \
	VFMADD231PS 64(DI), Z2, Z12 \
	VFMADD231PS (DI)(R10*1), Z0, Z9 \
	VFMADD231PS 64(DI)(R10*1), Z2, Z13 \
	VFMADD231PS (DI)(R10*2), Z0, Z10 \
	VFMADD231PS 64(DI)(R10*2), Z2, Z14 \
	VFMADD231PS (DI)(R13*1), Z0, Z11 \
	VFMADD231PS 64(DI)(R13*1), Z2, Z15 \
	ADDQ $64, SI \
	ADDQ $128, DI \
	SUBQ $32, CX \
	JMP  loop32 \
loop16: \
	CMPQ CX, $16 \
	JLT  done \
	WCVTZ((SI), Z0) \
	VFMADD231PS (DI), Z0, Z8 \
	VFMADD231PS (DI)(R10*1), Z0, Z9 \
	VFMADD231PS (DI)(R10*2), Z0, Z10 \
	VFMADD231PS (DI)(R13*1), Z0, Z11 \
done: \
	VADDPS Z12, Z8, Z8 \
	VADDPS Z13, Z9, Z9 \
	VADDPS Z14, Z10, Z10 \
	VADDPS Z15, Z11, Z11 \
	MOVQ out+32(FP), DX \
	ZHSUMTO(Z8, Y8, X8, (DX)) \
	ZHSUMTO(Z9, Y9, X9, 4(DX)) \
	ZHSUMTO(Z10, Y10, X10, 8(DX)) \
	ZHSUMTO(Z11, Y11, X11, 12(DX)) \
	VZEROUPPER \
	RET

// DOTHALF42Z: func(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32); two weight
// rows times four activation rows: each activation vector is loaded once for both rows,
// halving the loads per multiply-add. out holds row 0's four sums, then row 1's.
#define DOTHALF42Z \
	MOVQ w0+0(FP), SI \
	MOVQ w1+8(FP), R9 \
	MOVQ x+16(FP), DI \
	MOVQ xstride+24(FP), R10 \
	MOVQ n+32(FP), CX \
	LEAQ (R10)(R10*2), R13 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
loop: \
	CMPQ CX, $16 \
	JLT  done \
	WCVTZ((SI), Z0) \
	WCVTZ((R9), Z1) \
	VMOVUPS     (DI), Z2 \
	VFMADD231PS Z2, Z0, Z8 \
	VFMADD231PS Z2, Z1, Z12 \
	VMOVUPS     (DI)(R10*1), Z3 \
	VFMADD231PS Z3, Z0, Z9 \
	VFMADD231PS Z3, Z1, Z13 \
	VMOVUPS     (DI)(R10*2), Z4 \
	VFMADD231PS Z4, Z0, Z10 \
	VFMADD231PS Z4, Z1, Z14 \
	VMOVUPS     (DI)(R13*1), Z5 \
	VFMADD231PS Z5, Z0, Z11 \
	VFMADD231PS Z5, Z1, Z15 \
	ADDQ $32, SI \
	ADDQ $32, R9 \
	ADDQ $64, DI \
	SUBQ $16, CX \
	JMP  loop \
done: \
	MOVQ out+40(FP), DX \
	ZHSUMTO(Z8, Y8, X8, (DX)) \
	ZHSUMTO(Z9, Y9, X9, 4(DX)) \
	ZHSUMTO(Z10, Y10, X10, 8(DX)) \
	ZHSUMTO(Z11, Y11, X11, 12(DX)) \
	ZHSUMTO(Z12, Y12, X12, 16(DX)) \
	ZHSUMTO(Z13, Y13, X13, 20(DX)) \
	ZHSUMTO(Z14, Y14, X14, 24(DX)) \
	ZHSUMTO(Z15, Y15, X15, 28(DX)) \
	VZEROUPPER \
	RET

#define WCVTZ(src, dst) VCVTPH2PS src, dst

// func dotF16AVX512(w *byte, x *float32, n int) float32
TEXT ·dotF16AVX512(SB), NOSPLIT, $0-28
	DOTHALF1Z

// func dotF16x4AVX512(w *byte, x *float32, xstride int, n int, out *[4]float32)
TEXT ·dotF16x4AVX512(SB), NOSPLIT, $0-40
	DOTHALF4Z

// func dotF16x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)
TEXT ·dotF16x4x2AVX512(SB), NOSPLIT, $0-48
	DOTHALF42Z

#undef WCVTZ
#define WCVTZ(src, dst) VPMOVZXWD src, dst; VPSLLD $16, dst, dst

// func dotBF16AVX512(w *byte, x *float32, n int) float32
TEXT ·dotBF16AVX512(SB), NOSPLIT, $0-28
	DOTHALF1Z

// func dotBF16x4AVX512(w *byte, x *float32, xstride int, n int, out *[4]float32)
TEXT ·dotBF16x4AVX512(SB), NOSPLIT, $0-40
	DOTHALF4Z

// func dotBF16x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)
TEXT ·dotBF16x4x2AVX512(SB), NOSPLIT, $0-48
	DOTHALF42Z
