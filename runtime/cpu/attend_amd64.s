#include "textflag.h"

// Kernels for the inner loops of decode attention (the block loop in ops.go, attendQuad): four
// query heads against a block of n key rows (scores), the block's softmax weights, then the four
// heads' weighted sums of the n value rows (accumulation); plus Axpy. Scores and accumulation
// come in AVX2 and AVX-512 versions for f16 and f32 rows. Rows are d elements long; these
// kernels cover the first m columns (m a positive multiple of 8) and the Go adapters
// (attend_amd64.go) finish the rest. The loops are written once as macros; before each function
// LD8 (LD16) is defined to load 8 (16) elements at src as float32s into dst, ESHIFT is log2 of
// the element size and ECHUNK (ECHUNK16) the byte size of 8 (16) elements.

// KVARGS loads the arguments shared by all the kernels, func(kv *E, x *float32, d, m, n int,
// y *float32): SI = kv, DI = x, R9 = m, CX = n, DX = y, R10 = the byte stride of the four
// float32 rows (4d), R11 = 3·R10, R12 = the byte stride of the kv rows.
#define KVARGS(kv, x, y) \
	MOVQ kv+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ d+16(FP), R8 \
	MOVQ m+24(FP), R9 \
	MOVQ n+32(FP), CX \
	MOVQ y+40(FP), DX \
	MOVQ R8, R10 \
	SHLQ $2, R10 \
	LEAQ (R10)(R10*2), R11 \
	MOVQ R8, R12 \
	SHLQ $ESHIFT, R12

// SCORES4: func(k *E, q *float32, d, m, n int, s *float32); s[r][h] = q[h]·k[r] over the first
// m columns, for n >= 1 rows. Each 8-element piece of a key row is loaded once and multiplied
// into four accumulators, one per head, which are then reduced together into one 4-float store.
#define SCORES4 \
	KVARGS(k, q, s) \
srow: \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	MOVQ   SI, BX \
	MOVQ   DI, R13 \
	MOVQ   R9, AX \
scol: \
	LD8((BX), Y0) \
	VFMADD231PS (R13), Y0, Y8 \
	VFMADD231PS (R13)(R10*1), Y0, Y9 \
	VFMADD231PS (R13)(R10*2), Y0, Y10 \
	VFMADD231PS (R13)(R11*1), Y0, Y11 \
	ADDQ $ECHUNK, BX \
	ADDQ $32, R13 \
	SUBQ $8, AX \
	JNZ  scol \
	VHADDPS      Y9, Y8, Y8 \
	VHADDPS      Y11, Y10, Y10 \
	VHADDPS      Y10, Y8, Y8 \
	VEXTRACTF128 $1, Y8, X1 \
	VADDPS       X1, X8, X8 \
	VMOVUPS      X8, (DX) \
	ADDQ $16, DX \
	ADDQ R12, SI \
	DECQ CX \
	JNZ  srow \
	VZEROUPPER \
	RET

// ACCLOAD and ACCSTORE move a piece of 8 columns at byte offset off from R13 of the four heads'
// output rows (R10 bytes apart, R11 = 3·R10) into and out of four accumulators. The outputs
// stay in registers over all n rows, and each value piece is loaded once for the four heads'
// broadcast weights.
#define ACCLOAD(off, a0, a1, a2, a3) \
	VMOVUPS off(R13), a0 \
	VMOVUPS off(R13)(R10*1), a1 \
	VMOVUPS off(R13)(R10*2), a2 \
	VMOVUPS off(R13)(R11*1), a3

#define ACCSTORE(off, a0, a1, a2, a3) \
	VMOVUPS a0, off(R13) \
	VMOVUPS a1, off(R13)(R10*1) \
	VMOVUPS a2, off(R13)(R10*2) \
	VMOVUPS a3, off(R13)(R11*1)

// ACCTAIL8 does a last piece of 8 columns, if the m columns leave one (AX < R9), with four
// accumulators, and returns.
#define ACCTAIL8 \
acol8: \
	CMPQ AX, R9 \
	JGE  adone \
	LEAQ (DX)(AX*4), R13 \
	ACCLOAD(0, Y8, Y9, Y10, Y11) \
	MOVQ AX, BX \
	SHLQ $ESHIFT, BX \
	ADDQ SI, BX \
	MOVQ DI, R14 \
	MOVQ CX, R8 \
arow8: \
	LD8((BX), Y0) \
	VBROADCASTSS (R14), Y2 \
	VBROADCASTSS 4(R14), Y3 \
	VBROADCASTSS 8(R14), Y4 \
	VBROADCASTSS 12(R14), Y5 \
	VFMADD231PS  Y2, Y0, Y8 \
	VFMADD231PS  Y3, Y0, Y9 \
	VFMADD231PS  Y4, Y0, Y10 \
	VFMADD231PS  Y5, Y0, Y11 \
	ADDQ R12, BX \
	ADDQ $16, R14 \
	DECQ R8 \
	JNZ  arow8 \
	ACCSTORE(0, Y8, Y9, Y10, Y11) \
adone: \
	VZEROUPPER \
	RET

// ACCUM4: func(v *E, p *float32, d, m, n int, o *float32); o[h] += Σ_r p[r][h]·v[r] over the
// first m columns, for n >= 1 rows. Columns go 16 at a time (eight accumulators), then a last
// 8 if m is not a multiple of 16.
#define ACCUM4 \
	KVARGS(v, p, o) \
	XORQ AX, AX \
acol16: \
	LEAQ 16(AX), BX \
	CMPQ BX, R9 \
	JGT  acol8 \
	LEAQ (DX)(AX*4), R13 \
	ACCLOAD(0, Y8, Y9, Y10, Y11) \
	ACCLOAD(32, Y12, Y13, Y14, Y15) \
	MOVQ AX, BX \
	SHLQ $ESHIFT, BX \
	ADDQ SI, BX \
	MOVQ DI, R14 \
	MOVQ CX, R8 \
arow16: \
	LD8((BX), Y0) \
	LD8(ECHUNK(BX), Y1) \
	VBROADCASTSS (R14), Y2 \
	VBROADCASTSS 4(R14), Y3 \
	VFMADD231PS  Y2, Y0, Y8 \
	VFMADD231PS  Y2, Y1, Y12 \
	VFMADD231PS  Y3, Y0, Y9 \
	VFMADD231PS  Y3, Y1, Y13 \
	VBROADCASTSS 8(R14), Y2 \
	VBROADCASTSS 12(R14), Y3 \
	VFMADD231PS  Y2, Y0, Y10 \
	VFMADD231PS  Y2, Y1, Y14 \
	VFMADD231PS  Y3, Y0, Y11 \
	VFMADD231PS  Y3, Y1, Y15 \
	ADDQ R12, BX \
	ADDQ $16, R14 \
	DECQ R8 \
	JNZ  arow16 \
	ACCSTORE(0, Y8, Y9, Y10, Y11) \
	ACCSTORE(32, Y12, Y13, Y14, Y15) \
	ADDQ $16, AX \
	JMP  acol16 \
	ACCTAIL8

// zsperm picks, from the per-lane sums of SCORES4Z's pair reduction (lane h holds head h's sum
// for the first row in element 0 and for the second in element 1), the order
// [row r heads 0..3, row r+1 heads 0..3].
DATA zsperm<>+0(SB)/8, $0x0000000400000000
DATA zsperm<>+8(SB)/8, $0x0000000c00000008
DATA zsperm<>+16(SB)/8, $0x0000000500000001
DATA zsperm<>+24(SB)/8, $0x0000000d00000009
DATA zsperm<>+32(SB)/8, $0
DATA zsperm<>+40(SB)/8, $0
DATA zsperm<>+48(SB)/8, $0
DATA zsperm<>+56(SB)/8, $0
GLOBL zsperm<>(SB), RODATA|NOPTR, $64

// ZPAIR adds the 128-bit lanes 0+2 and 1+3 of za (into the low half) and of zb (into the high
// half) of zd, using zt.
#define ZPAIR(za, zb, zd, zt) \
	VSHUFF64X2 $0x44, zb, za, zd \
	VSHUFF64X2 $0xEE, zb, za, zt \
	VADDPS     zt, zd, zd

// ZQUAD adds, from two ZPAIR results ta and tb (heads a, b and c, d), the lanes of each head
// into one 128-bit lane per head: lane k of zd holds four partial sums of head k.
#define ZQUAD(ta, tb, zd, zt) \
	VSHUFF32X4 $0x88, tb, ta, zd \
	VSHUFF32X4 $0xDD, tb, ta, zt \
	VADDPS     zt, zd, zd

// SCORES4Z is SCORES4 with AVX-512: 16 columns per step (a last 8 through zero-extended
// 256-bit loads) and two key rows per iteration, whose eight dot products are reduced together
// by lane shuffles into one 8-float store (two rows of s) instead of horizontal adds per row. An
// odd last row goes alone. LD16 loads 16 elements as float32s, ECHUNK16 is their byte size.
#define SCORES4Z \
	KVARGS(k, q, s) \
	VMOVDQU32 zsperm<>(SB), Z31 \
zspair: \
	CMPQ CX, $2 \
	JLT  zsrow \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
	MOVQ   SI, BX \
	LEAQ   (SI)(R12*1), R14 \
	MOVQ   DI, R13 \
	MOVQ   R9, AX \
zpcol16: \
	CMPQ AX, $16 \
	JLT  zpcol8 \
	LD16((BX), Z0) \
	LD16((R14), Z1) \
	VMOVUPS     (R13), Z2 \
	VMOVUPS     (R13)(R10*1), Z3 \
	VFMADD231PS Z2, Z0, Z8 \
	VFMADD231PS Z2, Z1, Z12 \
	VFMADD231PS Z3, Z0, Z9 \
	VFMADD231PS Z3, Z1, Z13 \
	VMOVUPS     (R13)(R10*2), Z2 \
	VMOVUPS     (R13)(R11*1), Z3 \
	VFMADD231PS Z2, Z0, Z10 \
	VFMADD231PS Z2, Z1, Z14 \
	VFMADD231PS Z3, Z0, Z11 \
	VFMADD231PS Z3, Z1, Z15 \
	ADDQ $ECHUNK16, BX \
	ADDQ $ECHUNK16, R14 \
	ADDQ $64, R13 \
	SUBQ $16, AX \
	JMP  zpcol16 \
zpcol8: \
	TESTQ AX, AX \
	JZ    zpred \
	LD8((BX), Y0) \
	LD8((R14), Y1) \
	VMOVUPS     (R13), Y2 \
	VMOVUPS     (R13)(R10*1), Y3 \
	VFMADD231PS Z2, Z0, Z8 \
	VFMADD231PS Z2, Z1, Z12 \
	VFMADD231PS Z3, Z0, Z9 \
	VFMADD231PS Z3, Z1, Z13 \
	VMOVUPS     (R13)(R10*2), Y2 \
	VMOVUPS     (R13)(R11*1), Y3 \
	VFMADD231PS Z2, Z0, Z10 \
	VFMADD231PS Z2, Z1, Z14 \
	VFMADD231PS Z3, Z0, Z11 \
	VFMADD231PS Z3, Z1, Z15 \
zpred: \
	ZPAIR(Z8, Z9, Z16, Z24) \
	ZPAIR(Z10, Z11, Z17, Z25) \
	ZPAIR(Z12, Z13, Z18, Z26) \
	ZPAIR(Z14, Z15, Z19, Z27) \
	ZQUAD(Z16, Z17, Z20, Z24) \
	ZQUAD(Z18, Z19, Z21, Z25) \
	VSHUFPS $0x88, Z21, Z20, Z22 \
	VSHUFPS $0xDD, Z21, Z20, Z23 \
	VADDPS  Z23, Z22, Z22 \
	VSHUFPS $0x88, Z22, Z22, Z23 \
	VSHUFPS $0xDD, Z22, Z22, Z22 \
	VADDPS  Z23, Z22, Z22 \
	VPERMPS Z22, Z31, Z22 \
	VMOVUPS Y22, (DX) \
	ADDQ $32, DX \
	LEAQ (SI)(R12*2), SI \
	SUBQ $2, CX \
	JMP  zspair \
zsrow: \
	TESTQ CX, CX \
	JZ    zsdone \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VXORPS Y12, Y12, Y12 \
	VXORPS Y13, Y13, Y13 \
	VXORPS Y14, Y14, Y14 \
	VXORPS Y15, Y15, Y15 \
	MOVQ   SI, BX \
	MOVQ   DI, R13 \
	MOVQ   R9, AX \
zscol16: \
	CMPQ AX, $16 \
	JLT  zscol8 \
	LD16((BX), Z0) \
	VFMADD231PS (R13), Z0, Z8 \
	VFMADD231PS (R13)(R10*1), Z0, Z9 \
	VFMADD231PS (R13)(R10*2), Z0, Z10 \
	VFMADD231PS (R13)(R11*1), Z0, Z11 \
	ADDQ $ECHUNK16, BX \
	ADDQ $64, R13 \
	SUBQ $16, AX \
	JMP  zscol16 \
zscol8: \
	TESTQ AX, AX \
	JZ    zsred \
	LD8((BX), Y0) \
	VFMADD231PS (R13), Y0, Y12 \
	VFMADD231PS (R13)(R10*1), Y0, Y13 \
	VFMADD231PS (R13)(R10*2), Y0, Y14 \
	VFMADD231PS (R13)(R11*1), Y0, Y15 \
zsred: \
	VEXTRACTF64X4 $1, Z8, Y0 \
	VADDPS        Y0, Y8, Y8 \
	VADDPS        Y12, Y8, Y8 \
	VEXTRACTF64X4 $1, Z9, Y0 \
	VADDPS        Y0, Y9, Y9 \
	VADDPS        Y13, Y9, Y9 \
	VEXTRACTF64X4 $1, Z10, Y0 \
	VADDPS        Y0, Y10, Y10 \
	VADDPS        Y14, Y10, Y10 \
	VEXTRACTF64X4 $1, Z11, Y0 \
	VADDPS        Y0, Y11, Y11 \
	VADDPS        Y15, Y11, Y11 \
	VHADDPS       Y9, Y8, Y8 \
	VHADDPS       Y11, Y10, Y10 \
	VHADDPS       Y10, Y8, Y8 \
	VEXTRACTF128  $1, Y8, X1 \
	VADDPS        X1, X8, X8 \
	VMOVUPS       X8, (DX) \
	ADDQ $16, DX \
	ADDQ R12, SI \
	DECQ CX \
zsdone: \
	VZEROUPPER \
	RET


// ACCUM4Z is ACCUM4 with AVX-512: 64 columns at a time (sixteen 512-bit accumulators), then 32,
// then 16, then a last 8 with 256-bit registers. The 64-column pass reads a head of 64 channels
// in one sweep over the rows, where two 32-column sweeps each took a half of every row: from
// DRAM (one thread, d 64, f16, a 64 MiB cache) a whole attention took 10 ns a row against 15.5
// to 17, and each row's four weights are broadcast once instead of twice.
#define ACCUM4Z \
	KVARGS(v, p, o) \
	XORQ AX, AX \
zacol64: \
	LEAQ 64(AX), BX \
	CMPQ BX, R9 \
	JGT  zacol32 \
	LEAQ (DX)(AX*4), R13 \
	ACCLOAD(0, Z8, Z9, Z10, Z11) \
	ACCLOAD(64, Z12, Z13, Z14, Z15) \
	ACCLOAD(128, Z16, Z17, Z18, Z19) \
	ACCLOAD(192, Z20, Z21, Z22, Z23) \
	MOVQ AX, BX \
	SHLQ $ESHIFT, BX \
	ADDQ SI, BX \
	MOVQ DI, R14 \
	MOVQ CX, R8 \
zarow64: \
	LD16((BX), Z0) \
	LD16(ECHUNK16(BX), Z1) \
	LD16(ECHUNK16*2(BX), Z24) \
	LD16(ECHUNK16*3(BX), Z25) \
	VBROADCASTSS (R14), Z2 \
	VBROADCASTSS 4(R14), Z3 \
	VBROADCASTSS 8(R14), Z26 \
	VBROADCASTSS 12(R14), Z27 \
	VFMADD231PS  Z2, Z0, Z8 \
	VFMADD231PS  Z2, Z1, Z12 \
	VFMADD231PS  Z2, Z24, Z16 \
	VFMADD231PS  Z2, Z25, Z20 \
	VFMADD231PS  Z3, Z0, Z9 \
	VFMADD231PS  Z3, Z1, Z13 \
	VFMADD231PS  Z3, Z24, Z17 \
	VFMADD231PS  Z3, Z25, Z21 \
	VFMADD231PS  Z26, Z0, Z10 \
	VFMADD231PS  Z26, Z1, Z14 \
	VFMADD231PS  Z26, Z24, Z18 \
	VFMADD231PS  Z26, Z25, Z22 \
	VFMADD231PS  Z27, Z0, Z11 \
	VFMADD231PS  Z27, Z1, Z15 \
	VFMADD231PS  Z27, Z24, Z19 \
	VFMADD231PS  Z27, Z25, Z23 \
	ADDQ R12, BX \
	ADDQ $16, R14 \
	DECQ R8 \
	JNZ  zarow64 \
	ACCSTORE(0, Z8, Z9, Z10, Z11) \
	ACCSTORE(64, Z12, Z13, Z14, Z15) \
	ACCSTORE(128, Z16, Z17, Z18, Z19) \
	ACCSTORE(192, Z20, Z21, Z22, Z23) \
	ADDQ $64, AX \
	JMP  zacol64 \
zacol32: \
	LEAQ 32(AX), BX \
	CMPQ BX, R9 \
	JGT  zacol16 \
	LEAQ (DX)(AX*4), R13 \
	ACCLOAD(0, Z8, Z9, Z10, Z11) \
	ACCLOAD(64, Z12, Z13, Z14, Z15) \
	MOVQ AX, BX \
	SHLQ $ESHIFT, BX \
	ADDQ SI, BX \
	MOVQ DI, R14 \
	MOVQ CX, R8 \
zarow32: \
	LD16((BX), Z0) \
	LD16(ECHUNK16(BX), Z1) \
	VBROADCASTSS (R14), Z2 \
	VBROADCASTSS 4(R14), Z3 \
	VFMADD231PS  Z2, Z0, Z8 \
	VFMADD231PS  Z2, Z1, Z12 \
	VFMADD231PS  Z3, Z0, Z9 \
	VFMADD231PS  Z3, Z1, Z13 \
	VBROADCASTSS 8(R14), Z2 \
	VBROADCASTSS 12(R14), Z3 \
	VFMADD231PS  Z2, Z0, Z10 \
	VFMADD231PS  Z2, Z1, Z14 \
	VFMADD231PS  Z3, Z0, Z11 \
	VFMADD231PS  Z3, Z1, Z15 \
	ADDQ R12, BX \
	ADDQ $16, R14 \
	DECQ R8 \
	JNZ  zarow32 \
	ACCSTORE(0, Z8, Z9, Z10, Z11) \
	ACCSTORE(64, Z12, Z13, Z14, Z15) \
	ADDQ $32, AX \
	JMP  zacol32 \
zacol16: \
	LEAQ 16(AX), BX \
	CMPQ BX, R9 \
	JGT  acol8 \
	LEAQ (DX)(AX*4), R13 \
	ACCLOAD(0, Z8, Z9, Z10, Z11) \
	MOVQ AX, BX \
	SHLQ $ESHIFT, BX \
	ADDQ SI, BX \
	MOVQ DI, R14 \
	MOVQ CX, R8 \
zarow16: \
	LD16((BX), Z0) \
	VBROADCASTSS (R14), Z2 \
	VBROADCASTSS 4(R14), Z3 \
	VBROADCASTSS 8(R14), Z4 \
	VBROADCASTSS 12(R14), Z5 \
	VFMADD231PS  Z2, Z0, Z8 \
	VFMADD231PS  Z3, Z0, Z9 \
	VFMADD231PS  Z4, Z0, Z10 \
	VFMADD231PS  Z5, Z0, Z11 \
	ADDQ R12, BX \
	ADDQ $16, R14 \
	DECQ R8 \
	JNZ  zarow16 \
	ACCSTORE(0, Z8, Z9, Z10, Z11) \
	ADDQ $16, AX \
	ACCTAIL8

#define LD8(src, dst) VCVTPH2PS src, dst
#define LD16(src, dst) VCVTPH2PS src, dst
#define ESHIFT 1
#define ECHUNK 16
#define ECHUNK16 32

// func attnScoresF16AVX2(k *uint16, q *float32, d, m, n int, s *float32)
TEXT ·attnScoresF16AVX2(SB), NOSPLIT, $0-48
	SCORES4

// func attnAccumF16AVX2(v *uint16, p *float32, d, m, n int, o *float32)
TEXT ·attnAccumF16AVX2(SB), NOSPLIT, $0-48
	ACCUM4

// func attnScoresF16AVX512(k *uint16, q *float32, d, m, n int, s *float32)
TEXT ·attnScoresF16AVX512(SB), NOSPLIT, $0-48
	SCORES4Z

// func attnAccumF16AVX512(v *uint16, p *float32, d, m, n int, o *float32)
TEXT ·attnAccumF16AVX512(SB), NOSPLIT, $0-48
	ACCUM4Z

#undef LD8
#undef LD16
#undef ESHIFT
#undef ECHUNK
#undef ECHUNK16
#define LD8(src, dst) VMOVUPS src, dst
#define LD16(src, dst) VMOVUPS src, dst
#define ESHIFT 2
#define ECHUNK 32
#define ECHUNK16 64

// func attnScoresF32AVX2(k *float32, q *float32, d, m, n int, s *float32)
TEXT ·attnScoresF32AVX2(SB), NOSPLIT, $0-48
	SCORES4

// func attnAccumF32AVX2(v *float32, p *float32, d, m, n int, o *float32)
TEXT ·attnAccumF32AVX2(SB), NOSPLIT, $0-48
	ACCUM4

// func attnScoresF32AVX512(k *float32, q *float32, d, m, n int, s *float32)
TEXT ·attnScoresF32AVX512(SB), NOSPLIT, $0-48
	SCORES4Z

// func attnAccumF32AVX512(v *float32, p *float32, d, m, n int, o *float32)
TEXT ·attnAccumF32AVX512(SB), NOSPLIT, $0-48
	ACCUM4Z

// Softmax of one block of scores (see kvSoftmax in attend_amd64.go): expk holds the constants
// of EXP8, each repeated over 8 lanes so that it can be a 256-bit memory operand: the cutoff
// -87.33654 below which e^x is not a normal float32, log2(e), ln2 split in a high part exact
// for |k| < 2^9 and a low part, the Taylor coefficients 1/7!..1/2!, 1, 1, the exponent bias
// 127 (int32) and -Inf.
DATA expk<>+0(SB)/8, $0xc2aeac4fc2aeac4f
DATA expk<>+8(SB)/8, $0xc2aeac4fc2aeac4f
DATA expk<>+16(SB)/8, $0xc2aeac4fc2aeac4f
DATA expk<>+24(SB)/8, $0xc2aeac4fc2aeac4f
DATA expk<>+32(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+40(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+48(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+56(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expk<>+64(SB)/8, $0x3f3180003f318000
DATA expk<>+72(SB)/8, $0x3f3180003f318000
DATA expk<>+80(SB)/8, $0x3f3180003f318000
DATA expk<>+88(SB)/8, $0x3f3180003f318000
DATA expk<>+96(SB)/8, $0xb95e8083b95e8083
DATA expk<>+104(SB)/8, $0xb95e8083b95e8083
DATA expk<>+112(SB)/8, $0xb95e8083b95e8083
DATA expk<>+120(SB)/8, $0xb95e8083b95e8083
DATA expk<>+128(SB)/8, $0x39500d0139500d01
DATA expk<>+136(SB)/8, $0x39500d0139500d01
DATA expk<>+144(SB)/8, $0x39500d0139500d01
DATA expk<>+152(SB)/8, $0x39500d0139500d01
DATA expk<>+160(SB)/8, $0x3ab60b613ab60b61
DATA expk<>+168(SB)/8, $0x3ab60b613ab60b61
DATA expk<>+176(SB)/8, $0x3ab60b613ab60b61
DATA expk<>+184(SB)/8, $0x3ab60b613ab60b61
DATA expk<>+192(SB)/8, $0x3c0888893c088889
DATA expk<>+200(SB)/8, $0x3c0888893c088889
DATA expk<>+208(SB)/8, $0x3c0888893c088889
DATA expk<>+216(SB)/8, $0x3c0888893c088889
DATA expk<>+224(SB)/8, $0x3d2aaaab3d2aaaab
DATA expk<>+232(SB)/8, $0x3d2aaaab3d2aaaab
DATA expk<>+240(SB)/8, $0x3d2aaaab3d2aaaab
DATA expk<>+248(SB)/8, $0x3d2aaaab3d2aaaab
DATA expk<>+256(SB)/8, $0x3e2aaaab3e2aaaab
DATA expk<>+264(SB)/8, $0x3e2aaaab3e2aaaab
DATA expk<>+272(SB)/8, $0x3e2aaaab3e2aaaab
DATA expk<>+280(SB)/8, $0x3e2aaaab3e2aaaab
DATA expk<>+288(SB)/8, $0x3f0000003f000000
DATA expk<>+296(SB)/8, $0x3f0000003f000000
DATA expk<>+304(SB)/8, $0x3f0000003f000000
DATA expk<>+312(SB)/8, $0x3f0000003f000000
DATA expk<>+320(SB)/8, $0x3f8000003f800000
DATA expk<>+328(SB)/8, $0x3f8000003f800000
DATA expk<>+336(SB)/8, $0x3f8000003f800000
DATA expk<>+344(SB)/8, $0x3f8000003f800000
DATA expk<>+352(SB)/8, $0x0000007f0000007f
DATA expk<>+360(SB)/8, $0x0000007f0000007f
DATA expk<>+368(SB)/8, $0x0000007f0000007f
DATA expk<>+376(SB)/8, $0x0000007f0000007f
DATA expk<>+384(SB)/8, $0xff800000ff800000
DATA expk<>+392(SB)/8, $0xff800000ff800000
DATA expk<>+400(SB)/8, $0xff800000ff800000
DATA expk<>+408(SB)/8, $0xff800000ff800000
GLOBL expk<>(SB), RODATA|NOPTR, $416

// EXP8 replaces the 8 floats of Y0 (each <= 0, or -Inf) by e^x, the algorithm of Exp32:
// x = k·ln2 + r with |r| <= ln2/2, e^r by the degree-7 Taylor polynomial, 2^k put into the
// exponent bits. Inputs below the cutoff give 0. Clobbers Y1..Y3.
#define EXP8 \
	VCMPPS       $1, expk<>+0(SB), Y0, Y3 \
	VMAXPS       expk<>+0(SB), Y0, Y0 \
	VMULPS       expk<>+32(SB), Y0, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VFNMADD231PS expk<>+64(SB), Y1, Y0 \
	VFNMADD231PS expk<>+96(SB), Y1, Y0 \
	VMOVUPS      expk<>+128(SB), Y2 \
	VFMADD213PS  expk<>+160(SB), Y0, Y2 \
	VFMADD213PS  expk<>+192(SB), Y0, Y2 \
	VFMADD213PS  expk<>+224(SB), Y0, Y2 \
	VFMADD213PS  expk<>+256(SB), Y0, Y2 \
	VFMADD213PS  expk<>+288(SB), Y0, Y2 \
	VFMADD213PS  expk<>+320(SB), Y0, Y2 \
	VFMADD213PS  expk<>+320(SB), Y0, Y2 \
	VCVTPS2DQ    Y1, Y1 \
	VPADDD       expk<>+352(SB), Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y2, Y0 \
	VANDNPS      Y0, Y3, Y0

// func attnSoftmaxAVX2(s *float32, n int, scale float32, m, sum, f *[4]float32)
// s is [n][4], n >= 1. Two rows fill a 256-bit register (m is repeated in both halves); an odd
// last row goes through the low half alone.
TEXT ·attnSoftmaxAVX2(SB), NOSPLIT, $0-48
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y7
	VMOVUPS      expk<>+384(SB), Y6
	MOVQ         SI, BX
	MOVQ         CX, DX

smax2:
	CMPQ    DX, $2
	JLT     smax1
	VMULPS  (BX), Y7, Y0
	VMOVUPS Y0, (BX)
	VMAXPS  Y0, Y6, Y6
	ADDQ    $32, BX
	SUBQ    $2, DX
	JMP     smax2

smax1:
	VEXTRACTF128 $1, Y6, X1
	VMAXPS       X1, X6, X6
	TESTQ        DX, DX
	JZ           snewmax
	VMULPS       (BX), X7, X0
	VMOVUPS      X0, (BX)
	VMAXPS       X0, X6, X6

snewmax:
	// X6 = max(m, block max), the new running maximum; f = e^(m - new m).
	MOVQ    m+24(FP), DI
	VMOVUPS (DI), X1
	VMAXPS  X1, X6, X6
	VMOVUPS X6, (DI)
	VSUBPS  X6, X1, X0
	EXP8
	MOVQ    f+40(FP), R8
	VMOVUPS X0, (R8)
	MOVQ    sum+32(FP), R9
	VMULPS  (R9), X0, X5
	VINSERTF128 $1, X6, Y6, Y6
	VXORPS  Y4, Y4, Y4

sexp2:
	CMPQ    CX, $2
	JLT     sexp1
	VMOVUPS (SI), Y0
	VSUBPS  Y6, Y0, Y0
	EXP8
	VMOVUPS Y0, (SI)
	VADDPS  Y0, Y4, Y4
	ADDQ    $32, SI
	SUBQ    $2, CX
	JMP     sexp2

sexp1:
	TESTQ   CX, CX
	JZ      sdone
	VMOVUPS (SI), X0
	VSUBPS  X6, X0, X0
	EXP8
	VMOVUPS X0, (SI)
	VADDPS  X0, X5, X5

sdone:
	VEXTRACTF128 $1, Y4, X1
	VADDPS       X1, X4, X4
	VADDPS       X4, X5, X5
	VMOVUPS      X5, (R9)
	VZEROUPPER
	RET

// func axpyAVX2(y *float32, x *float32, a float32, n int)
// y[i] += a·x[i] for i < n, n a multiple of 8.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSS a+16(FP), Y7
	MOVQ         n+24(FP), CX

axloop32:
	CMPQ        CX, $32
	JLT         axloop8
	VMOVUPS     (DI), Y0
	VMOVUPS     32(DI), Y1
	VMOVUPS     64(DI), Y2
	VMOVUPS     96(DI), Y3
	VFMADD231PS (SI), Y7, Y0
	VFMADD231PS 32(SI), Y7, Y1
	VFMADD231PS 64(SI), Y7, Y2
	VFMADD231PS 96(SI), Y7, Y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	VMOVUPS     Y2, 64(DI)
	VMOVUPS     Y3, 96(DI)
	ADDQ        $128, DI
	ADDQ        $128, SI
	SUBQ        $32, CX
	JMP         axloop32

axloop8:
	CMPQ        CX, $8
	JLT         axdone
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y7, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX
	JMP         axloop8

axdone:
	VZEROUPPER
	RET

// func expSubSumAVX2(x *float32, n int, m float32) float32
// x[i] = e^(x[i] - m) for i < n (n a positive multiple of 8, every x[i] <= m or -Inf), and
// returns the sum of the new values: the exponential pass of Softmax.
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y6
	VXORPS       Y4, Y4, Y4

esloop:
	VMOVUPS (SI), Y0
	VSUBPS  Y6, Y0, Y0
	EXP8
	VMOVUPS Y0, (SI)
	VADDPS  Y0, Y4, Y4
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     esloop

	VEXTRACTF128 $1, Y4, X1
	VADDPS       X1, X4, X4
	VHADDPS      X4, X4, X4
	VHADDPS      X4, X4, X4
	VMOVSS       X4, ret+24(FP)
	VZEROUPPER
	RET

// func swigluAVX2(y, gate, u *float32, n int)
// y[i] = silu(g[i])·u[i] for i < n, n a positive multiple of 8. EXP8 only takes arguments
// <= 0, so with e = e^-|g|: sigmoid(g) = 1/(1+e) for g >= 0 and e/(1+e) for g < 0 (the same
// function, without overflow for large negative g).
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ    y+0(FP), DI
	MOVQ    gate+8(FP), SI
	MOVQ    u+16(FP), DX
	MOVQ    n+24(FP), CX
	VMOVUPS expk<>+320(SB), Y7 // 1.0
	VPCMPEQD Y5, Y5, Y5
	VPSLLD  $31, Y5, Y5         // sign bits

swloop:
	VMOVUPS   (SI), Y8
	VORPS     Y5, Y8, Y0        // -|g|
	EXP8
	VADDPS    Y7, Y0, Y9        // 1 + e
	VBLENDVPS Y8, Y0, Y7, Y10   // e where g is negative, else 1
	VDIVPS    Y9, Y10, Y10
	VMULPS    Y8, Y10, Y10
	VMULPS    (DX), Y10, Y10
	VMOVUPS   Y10, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       swloop
	VZEROUPPER
	RET

// func scaleMaxAVX2(x *float32, n int, scale float32) float32
// x[i] *= scale for i < n (n a positive multiple of 8); returns the largest new value.
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y6
	VMOVUPS      expk<>+384(SB), Y4 // -Inf

smloop:
	VMULPS  (SI), Y6, Y0
	VMOVUPS Y0, (SI)
	VMAXPS  Y0, Y4, Y4
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     smloop

	VEXTRACTF128 $1, Y4, X1
	VMAXPS       X1, X4, X4
	VPERMILPS    $0x4e, X4, X1
	VMAXPS       X1, X4, X4
	VPERMILPS    $0xb1, X4, X1
	VMAXPS       X1, X4, X4
	VMOVSS       X4, ret+24(FP)
	VZEROUPPER
	RET
