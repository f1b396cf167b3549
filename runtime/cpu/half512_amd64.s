#include "textflag.h"

// AVX-512 versions of the 16-bit-float weight kernels (see half_amd64.s): 16 weights per
// conversion, so each converted vector feeds twice as many multiply-adds. n is a multiple of 16.
// WCVTZ, defined before each function, widens 16 weights at src to the float32s of zmm dst, and
// WB is the byte size of 16 weights. The same loops serve F32 weights (WCVTZ a plain load).
#define WB 32

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
	WCVTZ(WB(SI), Z2) \
	VFMADD231PS (DI), Z0, Z8 \
	VFMADD231PS 64(DI), Z2, Z9 \
	ADDQ $(2*WB), SI \
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

// DOTHALF1ZS is DOTHALF1Z with one accumulator: the same additions, in the same order, as
// each (row, token) accumulator of DOTHALF42Z and DOTHALF8ROWSZ, so that a token's result does
// not depend on which kernel its batch size picked (F32 weights use it for that).
#define DOTHALF1ZS \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ n+16(FP), CX \
	VPXORD Z8, Z8, Z8 \
loop1: \
	CMPQ CX, $16 \
	JLT  done \
	WCVTZ((SI), Z0) \
	VMOVUPS (DI), Z2 \
	VFMADD231PS Z2, Z0, Z8 \
	ADDQ $WB, SI \
	ADDQ $64, DI \
	SUBQ $16, CX \
	JMP  loop1 \
done: \
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
	WCVTZ(WB(SI), Z2) \
	VFMADD231PS (DI), Z0, Z8 \
	VFMADD231PS 64(DI), Z2, Z12 \
	VFMADD231PS (DI)(R10*1), Z0, Z9 \
	VFMADD231PS 64(DI)(R10*1), Z2, Z13 \
	VFMADD231PS (DI)(R10*2), Z0, Z10 \
	VFMADD231PS 64(DI)(R10*2), Z2, Z14 \
	VFMADD231PS (DI)(R13*1), Z0, Z11 \
	VFMADD231PS 64(DI)(R13*1), Z2, Z15 \
	ADDQ $(2*WB), SI \
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
	ADDQ $WB, SI \
	ADDQ $WB, R9 \
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

// The sixteen accumulators of DOTHALF8ROWSZ (row 0: Z8..Z15, row 1: Z16..Z23, tokens 0..7)
// are reduced together by a transposing tree instead of one horizontal sum each: every level
// adds pairs of values within registers that hold two, four, then all sixteen outputs. The
// additions are those of ZHSUMTO, in its order (a[i]+a[i+8], then +4, then adjacent pairs,
// then the two halves), so each output equals what the other kernels compute for it.

// RED256 replaces a by [a.lo256+a.hi256 | b.lo256+b.hi256] (outputs a, b). Clobbers Z24, Z25.
#define RED256(a, b, yb) \
	VINSERTF64X4 $1, yb, a, Z24 \
	VSHUFF64X2   $0xEE, b, a, Z25 \
	VADDPS       Z25, Z24, a

// RED128 replaces a = [A|B] and c = [C|D] (RED256 results) by the four outputs' sums of their
// 128-bit halves, one output per 128-bit lane: [A, B, C, D]. Clobbers Z24, Z25.
#define RED128(a, c) \
	VSHUFF32X4 $0x88, c, a, Z24 \
	VSHUFF32X4 $0xDD, c, a, Z25 \
	VADDPS     Z25, Z24, a

// REDPAIRS adds adjacent pairs within each 128-bit lane of a and b into a: lane k becomes
// [a0+a1, a2+a3, b0+b1, b2+b3]. Clobbers Z24, Z25.
#define REDPAIRS(a, b) \
	VSHUFPS $0x88, b, a, Z24 \
	VSHUFPS $0xDD, b, a, Z25 \
	VADDPS  Z25, Z24, a

// HSTORE16 reduces Z8..Z23 into Z8, whose 128-bit lane k ends as [row 0 token k, row 1 token
// k, row 0 token k+4, row 1 token k+4]: two adjacent pairs of y. It adds the old values of y
// masked by Z7 (all ones to add, zero to store; stale NaNs are masked away too) and stores.
// DX = y, R14 = the token stride, AX = DX + 4·R14, BX = 3·R14. Clobbers Z3, Z4, Z24, Z25.
#define HSTORE16 \
	RED256(Z8, Z9, Y9) \
	RED256(Z10, Z11, Y11) \
	RED256(Z12, Z13, Y13) \
	RED256(Z14, Z15, Y15) \
	RED256(Z16, Z17, Y17) \
	RED256(Z18, Z19, Y19) \
	RED256(Z20, Z21, Y21) \
	RED256(Z22, Z23, Y23) \
	RED128(Z8, Z10) \
	RED128(Z12, Z14) \
	RED128(Z16, Z18) \
	RED128(Z20, Z22) \
	REDPAIRS(Z8, Z16) \
	REDPAIRS(Z12, Z20) \
	REDPAIRS(Z8, Z12) \
	VMOVQ         (DX), X3 \
	VMOVHPS       (AX), X3, X3 \
	VMOVQ         (DX)(R14*1), X4 \
	VMOVHPS       (AX)(R14*1), X4, X4 \
	VINSERTF32X4  $1, X4, Z3, Z3 \
	VMOVQ         (DX)(R14*2), X4 \
	VMOVHPS       (AX)(R14*2), X4, X4 \
	VINSERTF32X4  $2, X4, Z3, Z3 \
	VMOVQ         (DX)(BX*1), X4 \
	VMOVHPS       (AX)(BX*1), X4, X4 \
	VINSERTF32X4  $3, X4, Z3, Z3 \
	VANDPS        Z7, Z3, Z3 \
	VADDPS        Z3, Z8, Z8 \
	VMOVQ         X8, (DX) \
	VMOVHPS       X8, (AX) \
	VEXTRACTF32X4 $1, Z8, X4 \
	VMOVQ         X4, (DX)(R14*1) \
	VMOVHPS       X4, (AX)(R14*1) \
	VEXTRACTF32X4 $2, Z8, X4 \
	VMOVQ         X4, (DX)(R14*2) \
	VMOVHPS       X4, (AX)(R14*2) \
	VEXTRACTF32X4 $3, Z8, X4 \
	VMOVQ         X4, (DX)(BX*1) \
	VMOVHPS       X4, (AX)(BX*1)

// HTOKEN multiplies activation row xrow's 16 floats by both rows' converted weights (Z0, Z1).
#define HTOKEN(xrow, acc0, acc1) \
	VMOVUPS     xrow, Z2 \
	VFMADD231PS Z2, Z0, acc0 \
	VFMADD231PS Z2, Z1, acc1

// DOTHALF8ROWSZ: func(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32,
// ystride, add int). For each of npairs >= 1 pairs of weight rows (rowBytes apart), the first n
// weights (n a positive multiple of 16) times eight activation rows (xstride bytes apart): 16
// accumulators, so each converted weight vector feeds eight multiply-adds and each activation
// vector two. The sums go to y as in the eight-token pair kernels (dot512_amd64.s): ystride
// bytes between tokens, 4 between rows; stored when add is 0, added when it is 1.
#define DOTHALF8ROWSZ \
	MOVQ    w+0(FP), R11 \
	MOVQ    xstride+32(FP), R10 \
	LEAQ    (R10)(R10*2), R13 \
	MOVQ    y+48(FP), DX \
	MOVQ    ystride+56(FP), R14 \
	LEAQ    (R14)(R14*2), BX \
	MOVQ    add+64(FP), AX \
	NEGQ    AX \
	MOVQ    AX, X7 \
	VPBROADCASTQ X7, Z7 \
hrowloop: \
	MOVQ    R11, SI \
	MOVQ    rowBytes+8(FP), R9 \
	ADDQ    R11, R9 \
	MOVQ    x+24(FP), DI \
	LEAQ    (DI)(R10*4), R12 \
	MOVQ    n+40(FP), CX \
	SHRQ    $4, CX \
	VPXORD  Z8, Z8, Z8 \
	VPXORD  Z9, Z9, Z9 \
	VPXORD  Z10, Z10, Z10 \
	VPXORD  Z11, Z11, Z11 \
	VPXORD  Z12, Z12, Z12 \
	VPXORD  Z13, Z13, Z13 \
	VPXORD  Z14, Z14, Z14 \
	VPXORD  Z15, Z15, Z15 \
	VPXORD  Z16, Z16, Z16 \
	VPXORD  Z17, Z17, Z17 \
	VPXORD  Z18, Z18, Z18 \
	VPXORD  Z19, Z19, Z19 \
	VPXORD  Z20, Z20, Z20 \
	VPXORD  Z21, Z21, Z21 \
	VPXORD  Z22, Z22, Z22 \
	VPXORD  Z23, Z23, Z23 \
hloop: \
	WCVTZ((SI), Z0) \
	WCVTZ((R9), Z1) \
	HTOKEN((DI), Z8, Z16) \
	HTOKEN((DI)(R10*1), Z9, Z17) \
	HTOKEN((DI)(R10*2), Z10, Z18) \
	HTOKEN((DI)(R13*1), Z11, Z19) \
	HTOKEN((R12), Z12, Z20) \
	HTOKEN((R12)(R10*1), Z13, Z21) \
	HTOKEN((R12)(R10*2), Z14, Z22) \
	HTOKEN((R12)(R13*1), Z15, Z23) \
	ADDQ    $WB, SI \
	ADDQ    $WB, R9 \
	ADDQ    $64, DI \
	ADDQ    $64, R12 \
	DECQ    CX \
	JNZ     hloop \
	LEAQ    (DX)(R14*4), AX \
	HSTORE16 \
	ADDQ    $8, DX \
	ADDQ    rowBytes+8(FP), R11 \
	ADDQ    rowBytes+8(FP), R11 \
	DECQ    npairs+16(FP) \
	JNZ     hrowloop \
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

// func dotF16x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)
TEXT ·dotF16x8RowsAVX512(SB), NOSPLIT, $0-72
	DOTHALF8ROWSZ

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

// func dotBF16x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)
TEXT ·dotBF16x8RowsAVX512(SB), NOSPLIT, $0-72
	DOTHALF8ROWSZ

#undef WCVTZ
#define WCVTZ(src, dst) VMOVUPS src, dst
#undef WB
#define WB 64

// func dotF32AVX512(w *byte, x *float32, n int) float32
TEXT ·dotF32AVX512(SB), NOSPLIT, $0-28
	DOTHALF1ZS

// func dotF32x4x2AVX512(w0, w1 *byte, x *float32, xstride int, n int, out *[8]float32)
TEXT ·dotF32x4x2AVX512(SB), NOSPLIT, $0-48
	DOTHALF42Z

// func dotF32x8RowsAVX512(w *byte, rowBytes, npairs int, x *float32, xstride, n int, y *float32, ystride, add int)
TEXT ·dotF32x8RowsAVX512(SB), NOSPLIT, $0-72
	DOTHALF8ROWSZ
