#include "textflag.h"

// AVX-512 (F, BW, VL, VNNI) kernels for Q8_0 and Q4_0 weights. Two 32-element blocks fill one
// 512-bit register. VPDPBUSD multiplies unsigned by signed bytes, so the activations are made
// unsigned by flipping their top bit (x+128) and the excess 128*sum(w) of each block is put in
// the accumulator beforehand: the integer sums are exactly ggml's. Activation block scales come
// repeated 8 times per block (actRow.d8), so one multiply scales both blocks of a register.

DATA q4perm<>+0(SB)/8, $0
DATA q4perm<>+8(SB)/8, $1
DATA q4perm<>+16(SB)/8, $4
DATA q4perm<>+24(SB)/8, $5
DATA q4perm<>+32(SB)/8, $2
DATA q4perm<>+40(SB)/8, $3
DATA q4perm<>+48(SB)/8, $6
DATA q4perm<>+56(SB)/8, $7
GLOBL q4perm<>(SB), RODATA|NOPTR, $64

// iq4nl512 is ggml's kvalues_iq4nl codebook as signed bytes.
DATA iq4nl512<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nl512<>+8(SB)/8, $0x7159453526190d01
GLOBL iq4nl512<>(SB), RODATA|NOPTR, $16

// CONSTS512 sets Z31 = 0, Z30 = 0x01 bytes, Z29 = 0x80 bytes, Z28 = 0x0f bytes, Z27 = 0x08
// bytes, Z26 = the qword order [lo0 hi0 lo1 hi1] of expanded nibbles, Z25 = 0x10 bytes,
// Z24 = the IQ4_NL codebook in every 128-bit lane.
#define CONSTS512 \
	VPXORD        Z31, Z31, Z31 \
	MOVL          $0x01, AX \
	VPBROADCASTB  AX, Z30 \
	MOVL          $0x80, AX \
	VPBROADCASTB  AX, Z29 \
	MOVL          $0x0f, AX \
	VPBROADCASTB  AX, Z28 \
	MOVL          $0x08, AX \
	VPBROADCASTB  AX, Z27 \
	VMOVDQU64     q4perm<>(SB), Z26 \
	MOVL          $0x10, AX \
	VPBROADCASTB  AX, Z25 \
	VBROADCASTI32X4 iq4nl512<>(SB), Z24

// NIBBLEPAIR loads 16 bytes of nibbles at off0(SI) and 16 at off1(SI) into Z0 as 64 values
// 0..15 in element order: [low nibbles 0, high nibbles 0, low nibbles 1, high nibbles 1].
#define NIBBLEPAIR(off0, off1) \
	VMOVDQU      off0(SI), X0 \
	VINSERTI128  $1, off1(SI), Y0, Y0 \
	VPSRLW       $4, Y0, Y1 \
	VINSERTI64X4 $1, Y1, Z0, Z0 \
	VPANDD       Z28, Z0, Z0 \
	VPERMQ       Z0, Z26, Z0

// WSCALE sets Z6 = the two blocks' half scales at off0(SI) and off1(SI), each repeated over
// its block's 8 lanes.
#define WSCALE(off0, off1) \
	VPBROADCASTW off0(SI), X6 \
	VPBROADCASTW off1(SI), X7 \
	VINSERTI128  $1, X7, Y6, Y6 \
	VCVTPH2PS    Y6, Z6

// WPAIRSCALE sets Z5 = -128 * (sums of 4 weights of Z0) and Z6 as WSCALE.
#define WPAIRSCALE(off0, off1) \
	VPXORD       Z5, Z5, Z5 \
	VPDPBUSD     Z0, Z30, Z5 \
	VPSLLD       $7, Z5, Z5 \
	VPSUBD       Z5, Z31, Z5 \
	WSCALE(off0, off1)

// XPAIR accumulates one token's two blocks (quants at xq, repeated scales at xd) into acc.
#define XPAIR(xq, xd, acc) \
	VPXORD      xq, Z29, Z3 \
	VMOVDQA32   Z5, Z4 \
	VPDPBUSD    Z0, Z3, Z4 \
	VCVTDQ2PS   Z4, Z4 \
	VMULPS      xd, Z4, Z4 \
	VFMADD231PS Z6, Z4, acc

// XPAIRU is XPAIR with the weights in Z0 as VPDPBUSD's unsigned operand, biased by 2^shift
// (Q8_0: w+128, Q4_0: the raw nibbles, w+8), and the activation quants at xq taken as they
// are: each lane starts from minus the activations' 4-sums (xns, actRow.ns4) times 2^shift,
// so its integer sum equals XPAIR's exactly, and the float steps are XPAIR's. It saves the
// per-pair weight sums and the per-token sign flip of XPAIR.
#define XPAIRU(shift, xq, xns, xd, acc) \
	VPSLLD      $shift, xns, Z4 \
	VPDPBUSD    xq, Z0, Z4 \
	VCVTDQ2PS   Z4, Z4 \
	VMULPS      xd, Z4, Z4 \
	VFMADD231PS Z6, Z4, acc

// ZSUMTO stores the sum of the 16 floats of zacc (clobbering it and Z1) at dst.
#define ZSUMTO(zacc, yacc, xacc, dst) \
	VEXTRACTF64X4 $1, zacc, Y1 \
	VADDPS        Y1, yacc, yacc \
	VEXTRACTF128  $1, yacc, X1 \
	VADDPS        X1, xacc, xacc \
	VHADDPS       xacc, xacc, xacc \
	VHADDPS       xacc, xacc, xacc \
	VMOVSS        xacc, dst

#define X1SETUP \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ d8+16(FP), R8 \
	MOVQ npairs+24(FP), CX \
	CONSTS512 \
	VPXORD Z8, Z8, Z8

#define X4SETUP512 \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ xstride+16(FP), R10 \
	MOVQ d8+24(FP), R8 \
	MOVQ d8stride+32(FP), R11 \
	MOVQ npairs+40(FP), CX \
	LEAQ (R10)(R10*2), R13 \
	LEAQ (R11)(R11*2), R14 \
	CONSTS512 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11

#define X4TOKENS \
	XPAIR((DI), (R8), Z8) \
	XPAIR((DI)(R10*1), (R8)(R11*1), Z9) \
	XPAIR((DI)(R10*2), (R8)(R11*2), Z10) \
	XPAIR((DI)(R13*1), (R8)(R14*1), Z11)

#define X4STORE \
	MOVQ out+48(FP), DX \
	ZSUMTO(Z8, Y8, X8, (DX)) \
	ZSUMTO(Z9, Y9, X9, 4(DX)) \
	ZSUMTO(Z10, Y10, X10, 8(DX)) \
	ZSUMTO(Z11, Y11, X11, 12(DX)) \
	VZEROUPPER

// Z1BODY is the one-token kernel over npairs pairs of blocks of size bytes whose half scales
// are at offset 0: func(w *byte, qs *int8, d8 *float32, npairs int) float32. WPAIR, defined
// before each type's functions, loads a pair of weight blocks into Z0 as signed bytes.
#define Z1BODY(size) \
	X1SETUP \
	TESTQ CX, CX \
	JZ    done \
loop: \
	WPAIR \
	WPAIRSCALE(0, size) \
	XPAIR((DI), (R8), Z8) \
	ADDQ $(2*size), SI \
	ADDQ $64, DI \
	ADDQ $64, R8 \
	DECQ CX \
	JNZ  loop \
done: \
	ZSUMTO(Z8, Y8, X8, ret+32(FP)) \
	VZEROUPPER \
	RET

// Z4BODY is the four-token kernel: func(w *byte, qs *int8, xstride int, d8 *float32,
// d8stride int, npairs int, out *[4]float32).
#define Z4BODY(size) \
	X4SETUP512 \
	TESTQ CX, CX \
	JZ    done \
loop: \
	WPAIR \
	WPAIRSCALE(0, size) \
	X4TOKENS \
	ADDQ $(2*size), SI \
	ADDQ $64, DI \
	ADDQ $64, R8 \
	DECQ CX \
	JNZ  loop \
done: \
	X4STORE \
	RET

// Eight-token kernels over many weight rows: func(w *byte, rowBytes, nrows int, qs *int8,
// d8 *float32, stride, npairs int, y *float32, ystride, add int). For each of nrows >= 1 rows
// (rowBytes apart from w) the npairs >= 1 pairs of blocks are multiplied by eight activation
// rows (quants at qs, repeated scales at d8, both stride bytes apart: d8 holds 32 bytes per 32
// quants), and the eight sums go to y, ystride bytes between tokens and 4 between rows: stored
// when add is 0, added when it is 1. Each weight pair is unpacked once for eight tokens, and
// the row loop runs here rather than in Go.

// TSTORE8 reduces the eight tokens' accumulators Z8..Z15 of one row together, by a
// transposing tree (the additions of ZSUMTO, in its order: a[i]+a[i+8], then +4, then adjacent
// pairs, then the two halves) instead of one horizontal sum each, adds the old values of y
// masked by Z2 (all ones to add, zero to store; stale NaNs are masked away too) and stores
// token t's sum at (DX) + t·R14; AX = DX + 4·R14, BX = 3·R14. Clobbers Z3..Z7, Z16, Z17.
#define TRED256(a, b, yb) \
	VINSERTF64X4 $1, yb, a, Z16 \
	VSHUFF64X2   $0xEE, b, a, Z17 \
	VADDPS       Z17, Z16, a

#define TRED128(a, c) \
	VSHUFF32X4 $0x88, c, a, Z16 \
	VSHUFF32X4 $0xDD, c, a, Z17 \
	VADDPS     Z17, Z16, a

#define TREDPAIRS(a, b) \
	VSHUFPS $0x88, b, a, Z16 \
	VSHUFPS $0xDD, b, a, Z17 \
	VADDPS  Z17, Z16, a

#define TSTORE8 \
	TRED256(Z8, Z9, Y9) \
	TRED256(Z10, Z11, Y11) \
	TRED256(Z12, Z13, Y13) \
	TRED256(Z14, Z15, Y15) \
	TRED128(Z8, Z10) \
	TRED128(Z12, Z14) \
	TREDPAIRS(Z8, Z12) \
	TREDPAIRS(Z8, Z8) \
	VMOVSS        (DX), X3 \
	VINSERTPS     $0x10, (AX), X3, X3 \
	VMOVSS        (DX)(R14*1), X4 \
	VINSERTPS     $0x10, (AX)(R14*1), X4, X4 \
	VINSERTF32X4  $1, X4, Z3, Z3 \
	VMOVSS        (DX)(R14*2), X4 \
	VINSERTPS     $0x10, (AX)(R14*2), X4, X4 \
	VINSERTF32X4  $2, X4, Z3, Z3 \
	VMOVSS        (DX)(BX*1), X4 \
	VINSERTPS     $0x10, (AX)(BX*1), X4, X4 \
	VINSERTF32X4  $3, X4, Z3, Z3 \
	VANDPS        Z2, Z3, Z3 \
	VADDPS        Z3, Z8, Z8 \
	VMOVSS        X8, (DX) \
	VEXTRACTPS    $1, X8, (AX) \
	VEXTRACTF32X4 $1, Z8, X4 \
	VMOVSS        X4, (DX)(R14*1) \
	VEXTRACTPS    $1, X4, (AX)(R14*1) \
	VEXTRACTF32X4 $2, Z8, X4 \
	VMOVSS        X4, (DX)(R14*2) \
	VEXTRACTPS    $1, X4, (AX)(R14*2) \
	VEXTRACTF32X4 $3, Z8, X4 \
	VMOVSS        X4, (DX)(BX*1) \
	VEXTRACTPS    $1, X4, (AX)(BX*1)

#define Z8ROWS(size) \
	MOVQ   w+0(FP), R9 \
	MOVQ   stride+40(FP), R10 \
	LEAQ   (R10)(R10*2), R13 \
	MOVQ   y+56(FP), DX \
	MOVQ   ystride+64(FP), R14 \
	MOVQ   add+72(FP), AX \
	NEGQ   AX \
	MOVQ   AX, X2 \
	VPBROADCASTQ X2, Z2 \
	CONSTS512 \
rowloop: \
	MOVQ   R9, SI \
	MOVQ   qs+24(FP), DI \
	LEAQ   (DI)(R10*4), R12 \
	MOVQ   d8+32(FP), R8 \
	LEAQ   (R8)(R10*4), R11 \
	MOVQ   npairs+48(FP), CX \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
loop: \
	WPAIR \
	WPAIRSCALE(0, size) \
	XPAIR((DI), (R8), Z8) \
	XPAIR((DI)(R10*1), (R8)(R10*1), Z9) \
	XPAIR((DI)(R10*2), (R8)(R10*2), Z10) \
	XPAIR((DI)(R13*1), (R8)(R13*1), Z11) \
	XPAIR((R12), (R11), Z12) \
	XPAIR((R12)(R10*1), (R11)(R10*1), Z13) \
	XPAIR((R12)(R10*2), (R11)(R10*2), Z14) \
	XPAIR((R12)(R13*1), (R11)(R13*1), Z15) \
	ADDQ   $(2*size), SI \
	ADDQ   $64, DI \
	ADDQ   $64, R12 \
	ADDQ   $64, R8 \
	ADDQ   $64, R11 \
	DECQ   CX \
	JNZ    loop \
	LEAQ   (DX)(R14*4), AX \
	LEAQ   (R14)(R14*2), BX \
	TSTORE8 \
	ADDQ   $4, DX \
	ADDQ   rowBytes+8(FP), R9 \
	DECQ   nrows+16(FP) \
	JNZ    rowloop \
	VZEROUPPER \
	RET

// Z1ROWS is the one-token kernel over many rows: func(w *byte, rowBytes, nrows int, qs *int8,
// d8 *float32, ns4 *int32, npairs int, y *float32). Each of nrows >= 1 rows (rowBytes apart
// from w) is computed exactly as by Z1BODY (npairs >= 1) and its sum stored at y[r]; the row
// loop runs here rather than in Go, which matters for decoding's many short rows. ns4 is
// only read by Z1ROWSU.
#define Z1ROWS(size) \
	MOVQ   w+0(FP), R9 \
	MOVQ   y+56(FP), DX \
	CONSTS512 \
rowloop: \
	MOVQ   R9, SI \
	MOVQ   qs+24(FP), DI \
	MOVQ   d8+32(FP), R8 \
	MOVQ   npairs+48(FP), CX \
	VPXORD Z8, Z8, Z8 \
loop: \
	WPAIR \
	WPAIRSCALE(0, size) \
	XPAIR((DI), (R8), Z8) \
	ADDQ   $(2*size), SI \
	ADDQ   $64, DI \
	ADDQ   $64, R8 \
	DECQ   CX \
	JNZ    loop \
	ZSUMTO(Z8, Y8, X8, (DX)) \
	ADDQ   $4, DX \
	ADDQ   rowBytes+8(FP), R9 \
	DECQ   nrows+16(FP) \
	JNZ    rowloop \
	VZEROUPPER \
	RET

// Z1ROWSU is Z1ROWS with XPAIRU: WPAIRU, defined before each function, loads a pair of weight
// blocks into Z0 as unsigned bytes biased by 2^shift. The sums are bit for bit Z1ROWS's.
#define Z1ROWSU(size, shift) \
	MOVQ   w+0(FP), R9 \
	MOVQ   y+56(FP), DX \
	CONSTS512 \
rowloop: \
	MOVQ   R9, SI \
	MOVQ   qs+24(FP), DI \
	MOVQ   d8+32(FP), R8 \
	MOVQ   ns4+40(FP), R10 \
	MOVQ   npairs+48(FP), CX \
	VPXORD Z8, Z8, Z8 \
loop: \
	WPAIRU \
	WSCALE(0, size) \
	XPAIRU(shift, (DI), (R10), (R8), Z8) \
	ADDQ   $(2*size), SI \
	ADDQ   $64, DI \
	ADDQ   $64, R8 \
	ADDQ   $64, R10 \
	DECQ   CX \
	JNZ    loop \
	ZSUMTO(Z8, Y8, X8, (DX)) \
	ADDQ   $4, DX \
	ADDQ   rowBytes+8(FP), R9 \
	DECQ   nrows+16(FP) \
	JNZ    rowloop \
	VZEROUPPER \
	RET

// Q8_0 pairs.
#define WPAIR VMOVDQU 2(SI), Y0; VINSERTI64X4 $1, 36(SI), Z0, Z0

// func dotQ8_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32
TEXT ·dotQ8_0AVX512(SB), NOSPLIT, $0-36
	Z1BODY(34)

// func dotQ8_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)
TEXT ·dotQ8_0x4AVX512(SB), NOSPLIT, $0-56
	Z4BODY(34)

// Q4_0 pairs: nibbles minus 8.
#undef WPAIR
#define WPAIR NIBBLEPAIR(2, 20); VPSUBB Z27, Z0, Z0

// func dotQ4_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32
TEXT ·dotQ4_0AVX512(SB), NOSPLIT, $0-36
	Z1BODY(18)

// func dotQ4_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)
TEXT ·dotQ4_0x4AVX512(SB), NOSPLIT, $0-56
	Z4BODY(18)

// Q5_0 pairs: the two 32-bit high-bit words form a 64-bit byte mask; where a bit is clear the
// value is nibble - 16 (a byte-masked subtract: VPORD would mask whole dwords).
#undef WPAIR
#define WPAIR NIBBLEPAIR(6, 28); MOVL 2(SI), AX; MOVL 24(SI), BX; SHLQ $32, BX; ORQ BX, AX; NOTQ AX; KMOVQ AX, K1; VPSUBB Z25, Z0, K1, Z0

// func dotQ5_0AVX512(w *byte, qs *int8, d8 *float32, npairs int) float32
TEXT ·dotQ5_0AVX512(SB), NOSPLIT, $0-36
	Z1BODY(22)

// func dotQ5_0x4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)
TEXT ·dotQ5_0x4AVX512(SB), NOSPLIT, $0-56
	Z4BODY(22)

// IQ4_NL pairs: nibbles index the codebook.
#undef WPAIR
#define WPAIR NIBBLEPAIR(2, 20); VPSHUFB Z0, Z24, Z0

// func dotIQ4_NLAVX512(w *byte, qs *int8, d8 *float32, npairs int) float32
TEXT ·dotIQ4_NLAVX512(SB), NOSPLIT, $0-36
	Z1BODY(18)

// func dotIQ4_NLx4AVX512(w *byte, qs *int8, xstride int, d8 *float32, d8stride int, npairs int, out *[4]float32)
TEXT ·dotIQ4_NLx4AVX512(SB), NOSPLIT, $0-56
	Z4BODY(18)

#undef WPAIR
#define WPAIR VMOVDQU 2(SI), Y0; VINSERTI64X4 $1, 36(SI), Z0, Z0

// func dotQ8_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)
TEXT ·dotQ8_0x8RowsAVX512(SB), NOSPLIT, $0-80
	Z8ROWS(34)

#define WPAIRU VMOVDQU 2(SI), Y0; VINSERTI64X4 $1, 36(SI), Z0, Z0; VPXORD Z29, Z0, Z0

// func dotQ8_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)
TEXT ·dotQ8_0x1RowsAVX512(SB), NOSPLIT, $0-64
	Z1ROWSU(34, 7)

#undef WPAIRU

#undef WPAIR
#define WPAIR NIBBLEPAIR(2, 20); VPSUBB Z27, Z0, Z0

// func dotQ4_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)
TEXT ·dotQ4_0x8RowsAVX512(SB), NOSPLIT, $0-80
	Z8ROWS(18)

#define WPAIRU NIBBLEPAIR(2, 20)

// func dotQ4_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)
TEXT ·dotQ4_0x1RowsAVX512(SB), NOSPLIT, $0-64
	Z1ROWSU(18, 3)

#undef WPAIRU

#undef WPAIR
#define WPAIR NIBBLEPAIR(6, 28); MOVL 2(SI), AX; MOVL 24(SI), BX; SHLQ $32, BX; ORQ BX, AX; NOTQ AX; KMOVQ AX, K1; VPSUBB Z25, Z0, K1, Z0

// func dotQ5_0x8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)
TEXT ·dotQ5_0x8RowsAVX512(SB), NOSPLIT, $0-80
	Z8ROWS(22)

// func dotQ5_0x1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)
TEXT ·dotQ5_0x1RowsAVX512(SB), NOSPLIT, $0-64
	Z1ROWS(22)

#undef WPAIR
#define WPAIR NIBBLEPAIR(2, 20); VPSHUFB Z0, Z24, Z0

// func dotIQ4_NLx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, stride, npairs int, y *float32, ystride, add int)
TEXT ·dotIQ4_NLx8RowsAVX512(SB), NOSPLIT, $0-80
	Z8ROWS(18)

// func dotIQ4_NLx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d8 *float32, ns4 *int32, npairs int, y *float32)
TEXT ·dotIQ4_NLx1RowsAVX512(SB), NOSPLIT, $0-64
	Z1ROWS(18)
