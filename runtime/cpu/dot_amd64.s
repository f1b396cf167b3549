#include "textflag.h"
#include "dot_amd64.h"

// AVX2/FMA kernels for the K-quants (Q2_K to Q6_K, Q8_K activations) and for F32 weights.
// Each returns the float32 dot product of one weight row with one activation row (the x4
// variants: with four). The K-quant quants are kept unsigned, so VPMADDUBSW takes them as its
// unsigned operand directly (products of at most 63*127 pair up within int16); their signed
// offsets and the minimums are applied once per block through the Q8_K block sums, and the
// sub-block scales through VPMADDWD. The integer sums are exactly those of ggml's generic code.

DATA lowNibbles<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lowNibbles<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL lowNibbles<>(SB), RODATA|NOPTR, $16

// Q4KSCALES unpacks the 6-bit scales and mins of the Q4_K block at SI with ggml's kmask
// arithmetic into the frame: scales as int16 at 16(SP), mins as int16 at 32(SP) (Y5 holds
// both). The bytes are gathered in a register, not through the stack: four narrow stores
// read back by one wide load would stall store forwarding. Clobbers AX, BX, CX, DX, R10, R11.
#define Q4KSCALES \
	MOVL 4(SI), AX \
	MOVL 8(SI), BX \
	MOVL 12(SI), CX \
	MOVL CX, DX \
	SHRL $4, DX \
	ANDL $0x0f0f0f0f, DX \
	MOVL BX, R10 \
	SHRL $6, R10 \
	ANDL $0x03030303, R10 \
	SHLL $4, R10 \
	ORL  R10, DX \
	MOVL BX, R11 \
	ANDL $0x3f3f3f3f, R11 \
	ANDL $0x0f0f0f0f, CX \
	MOVL AX, R10 \
	SHRL $6, R10 \
	ANDL $0x03030303, R10 \
	SHLL $4, R10 \
	ORL  R10, CX \
	ANDL $0x3f3f3f3f, AX \
	VMOVD     AX, X5 \
	VPINSRD   $1, CX, X5, X5 \
	VPINSRD   $2, R11, X5, X5 \
	VPINSRD   $3, DX, X5, X5 \
	VPMOVZXBW X5, Y5 \
	VMOVDQU   Y5, 16(SP)

#define Q4KCHUNK(j) \
	KNIBBLES(j, Y11) \
	VPMADDUBSW   (64*j)(DI), Y0, Y0 \
	VPMADDUBSW   (64*j+32)(DI), Y1, Y1 \
	VPBROADCASTW (16+4*j)(SP), Y2 \
	VPBROADCASTW (18+4*j)(SP), Y3 \
	VPMADDWD     Y2, Y0, Y0 \
	VPMADDWD     Y3, Y1, Y1 \
	VPADDD       Y0, Y9, Y9 \
	VPADDD       Y1, Y9, Y9

// Q6KGROUP adds group g (32 quants in Y4, built by the caller) times its two scales.
#define Q6KGROUP(m, q8off) \
	VPMADDUBSW   (q8off)(DI), Y4, Y4 \
	VPBROADCASTW (4*(m))(SP), X6 \
	VPBROADCASTW (4*(m)+2)(SP), X7 \
	VINSERTI128  $1, X7, Y6, Y6 \
	VPMADDWD     Y6, Y4, Y4 \
	VPADDD       Y4, Y9, Y9

#define Q6KCHUNK(j) \
	VMOVDQU (64*j)(SI), Y0 \
	VMOVDQU (64*j+32)(SI), Y1 \
	VMOVDQU (128+32*j)(SI), Y2 \
	VPAND   Y14, Y0, Y4 \
	VPAND   Y13, Y2, Y5 \
	VPSLLW  $4, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(4*j+0, 128*j) \
	VPAND   Y14, Y1, Y4 \
	VPSRLW  $2, Y2, Y5 \
	VPAND   Y13, Y5, Y5 \
	VPSLLW  $4, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(4*j+1, 128*j+32) \
	VPSRLW  $4, Y0, Y4 \
	VPAND   Y14, Y4, Y4 \
	VPSRLW  $4, Y2, Y5 \
	VPAND   Y13, Y5, Y5 \
	VPSLLW  $4, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(4*j+2, 128*j+64) \
	VPSRLW  $4, Y1, Y4 \
	VPAND   Y14, Y4, Y4 \
	VPSRLW  $6, Y2, Y5 \
	VPAND   Y13, Y5, Y5 \
	VPSLLW  $4, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(4*j+3, 128*j+96)

// Q4KX4TOK accumulates chunk j of one token (quants at xq) into sumi: Y0/Y1 hold the chunk's
// low/high nibbles, Y2/Y3 their sub-block scales.
#define Q4KX4TOK(xq, j, sumi) \
	VPMADDUBSW (64*j)xq, Y0, Y12 \
	VPMADDWD   Y2, Y12, Y12 \
	VPADDD     Y12, sumi, sumi \
	VPMADDUBSW (64*j+32)xq, Y1, Y13 \
	VPMADDWD   Y3, Y13, Y13 \
	VPADDD     Y13, sumi, sumi

#define Q4KX4CHUNK(j) \
	KNIBBLES(j, Y15) \
	VPBROADCASTW (16+4*j)(SP), Y2 \
	VPBROADCASTW (18+4*j)(SP), Y3 \
	Q4KX4TOK((DI), j, Y4) \
	Q4KX4TOK((DI)(R13*1), j, Y5) \
	Q4KX4TOK((DI)(R13*2), j, Y6) \
	Q4KX4TOK((AX), j, Y7)

// Q4KX4FINISH adds one token's block to acc: d*dx*sumi - dmin*dx*sum_j min_j*bsum_j, with Y0
// = d and Y1 = dmin of the weight block and X15 its mins.
#define Q4KX4FINISH(dx, bs, sumi, acc) \
	VBROADCASTSS dx, Y2 \
	VMULPS       Y2, Y0, Y3 \
	VCVTDQ2PS    sumi, sumi \
	VFMADD231PS  Y3, sumi, acc \
	VMOVDQU      bs, Y12 \
	VEXTRACTI128 $1, Y12, X13 \
	VPHADDW      X13, X12, X12 \
	VPMADDWD     X15, X12, X12 \
	VCVTDQ2PS    Y12, Y12 \
	VMULPS       Y2, Y1, Y3 \
	VFNMADD231PS Y3, Y12, acc

// Q6KX4TOK adds one token's products with group quants Y4 and scales Y6 into sumi.
#define Q6KX4TOK(xq, q8off, sumi) \
	VPMADDUBSW (q8off)xq, Y4, Y3 \
	VPMADDWD   Y6, Y3, Y3 \
	VPADDD     Y3, sumi, sumi

// Q6KX4GROUP builds the 32 unsigned 6-bit quants of one group in Y4 (low bits from the ql
// bytes at qloff shifted by qlshift, high bits from the qh bytes at qhoff shifted by qhshift),
// its two sub-block scales in Y6 (sub-blocks 2m and 2m+1), and adds it for the four tokens.
#define Q6KX4GROUP(qloff, qlshift, qhoff, qhshift, m, q8off) \
	VMOVDQU      qloff(SI), Y4 \
	VPSRLW       qlshift, Y4, Y4 \
	VPAND        Y14, Y4, Y4 \
	VMOVDQU      qhoff(SI), Y5 \
	VPSRLW       qhshift, Y5, Y5 \
	VPAND        Y13, Y5, Y5 \
	VPSLLW       $4, Y5, Y5 \
	VPOR         Y5, Y4, Y4 \
	VPBROADCASTW (4*(m))(SP), X6 \
	VPBROADCASTW (4*(m)+2)(SP), X7 \
	VINSERTI128  $1, X7, Y6, Y6 \
	Q6KX4TOK((DI), q8off, Y8) \
	Q6KX4TOK((DI)(R13*1), q8off, Y9) \
	Q6KX4TOK((DI)(R13*2), q8off, Y10) \
	Q6KX4TOK((AX), q8off, Y11)

#define Q6KX4CHUNK(j) \
	Q6KX4GROUP((64*j), $0, (128+32*j), $0, 4*j+0, 128*j) \
	Q6KX4GROUP((64*j+32), $0, (128+32*j), $2, 4*j+1, 128*j+32) \
	Q6KX4GROUP((64*j), $4, (128+32*j), $4, 4*j+2, 128*j+64) \
	Q6KX4GROUP((64*j+32), $4, (128+32*j), $6, 4*j+3, 128*j+96)

// Q6KX4INIT starts one token's block sum at -32 * sum_sub scale_sub * bsum_sub (Y5: scales).
#define Q6KX4INIT(bs, sumi) \
	VPMADDWD bs, Y5, sumi \
	VPSLLD   $5, sumi, sumi \
	VPXOR    Y3, Y3, Y3 \
	VPSUBD   sumi, Y3, sumi

// Q6KX4FIN adds one token's block, d(weights, Y4) * dx * sumi, to acc.
#define Q6KX4FIN(dx, sumi, acc) \
	VBROADCASTSS dx, Y5 \
	VMULPS       Y5, Y4, Y5 \
	VCVTDQ2PS    sumi, sumi \
	VFMADD231PS  Y5, sumi, acc

// KBODY1 is the one-token kernel for Q4_K and Q5_K (blocks of size bytes): func(w *byte,
// qs *int8, d *float32, bsums *int16, nb int) float32. Per 256-element block the 6-bit scales
// and mins are unpacked into the frame (Q4KSCALES); the minimums are applied through the Q8_K
// block sums, so the quants are used unsigned. KPRE and KNIBBLES are defined per type.
#define KBODY1(size) \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ d+16(FP), R8 \
	MOVQ bsums+24(FP), R9 \
	MOVQ nb+32(FP), R12 \
	VBROADCASTI128 lowNibbles<>(SB), Y14 \
	VXORPS Y8, Y8, Y8 \
	VXORPS X10, X10, X10 \
	TESTQ R12, R12 \
	JZ    done \
loop: \
	KPRE \
	Q4KSCALES \
	VMOVDQU      (R9), Y6 \
	VEXTRACTI128 $1, Y6, X7 \
	VPHADDW      X7, X6, X6 \
	VEXTRACTI128 $1, Y5, X7 \
	VPMADDWD     X7, X6, X6 \
	VCVTDQ2PS    X6, X6 \
	VPBROADCASTW 2(SI), X3 \
	VCVTPH2PS    X3, X3 \
	VBROADCASTSS (R8), X4 \
	VMULPS       X4, X3, X3 \
	VFMADD231PS  X3, X6, X10 \
	VPXOR Y9, Y9, Y9 \
	Q4KCHUNK(0) \
	Q4KCHUNK(1) \
	Q4KCHUNK(2) \
	Q4KCHUNK(3) \
	VCVTDQ2PS Y9, Y9 \
	BLOCKSCALE((SI), (R8)) \
	VFMADD231PS Y3, Y9, Y8 \
	ADDQ $size, SI \
	ADDQ $256, DI \
	ADDQ $4, R8 \
	ADDQ $32, R9 \
	DECQ R12 \
	JNZ  loop \
done: \
	VHADDPS X10, X10, X10 \
	VHADDPS X10, X10, X10 \
	VMOVAPS Y8, Y0 \
	HSUM8 \
	VSUBSS X10, X0, X0 \
	VMOVSS X0, ret+40(FP) \
	VZEROUPPER \
	RET

// KBODY4 is the four-token kernel for Q4_K and Q5_K: func(w *byte, qs *int8, xstride int,
// d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32). The scales are
// unpacked and the quants expanded once per block for the four tokens.
#define KBODY4(size) \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ xstride+16(FP), R13 \
	MOVQ d+24(FP), R8 \
	MOVQ bsums+40(FP), R9 \
	MOVQ nb+56(FP), R12 \
	VBROADCASTI128 lowNibbles<>(SB), Y14 \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	TESTQ R12, R12 \
	JZ    done \
loop: \
	Q4KSCALES \
	KPRE4 \
	VPXOR Y4, Y4, Y4 \
	VPXOR Y5, Y5, Y5 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y7, Y7, Y7 \
	LEAQ  (R13)(R13*2), AX \
	ADDQ  DI, AX \
	Q4KX4CHUNK(0) \
	Q4KX4CHUNK(1) \
	Q4KX4CHUNK(2) \
	Q4KX4CHUNK(3) \
	VPBROADCASTW 0(SI), X0 \
	VCVTPH2PS    X0, Y0 \
	VPBROADCASTW 2(SI), X1 \
	VCVTPH2PS    X1, Y1 \
	VMOVDQU      32(SP), X15 \
	MOVQ dstride+32(FP), R10 \
	MOVQ bstride+48(FP), CX \
	LEAQ (R10)(R10*2), R11 \
	ADDQ R8, R11 \
	LEAQ (CX)(CX*2), DX \
	ADDQ R9, DX \
	Q4KX4FINISH((R8), (R9), Y4, Y8) \
	Q4KX4FINISH((R8)(R10*1), (R9)(CX*1), Y5, Y9) \
	Q4KX4FINISH((R8)(R10*2), (R9)(CX*2), Y6, Y10) \
	Q4KX4FINISH((R11), (DX), Y7, Y11) \
	ADDQ $size, SI \
	ADDQ $256, DI \
	ADDQ $4, R8 \
	ADDQ $32, R9 \
	DECQ R12 \
	JNZ  loop \
done: \
	X4FINISHAT(out+64(FP)) \
	RET

// K16BODY is the one-token kernel for Q2_K and Q3_K (blocks of size bytes, sixteen
// 16-element sub-blocks of 2- or 3-bit quants): func(w *byte, qs *int8, d *float32,
// bsums *int16, nb int) float32. The quants are used unsigned; Q3_K's -4 offset and Q2_K's
// minimums go through the Q8_K block sums. Per type: K16SCALES puts the 16 sub-block scales as
// int16 at 0(SP) and starts the block sum Y9, K16HIGH(m) adds the third bit of group m,
// K16END adds the block to Y8, QS0 is the offset of the 2-bit quants.
#define K16BODY(size) \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ d+16(FP), R8 \
	MOVQ bsums+24(FP), R9 \
	MOVQ nb+32(FP), R12 \
	VBROADCASTI128 lowNibbles<>(SB), Y14 \
	VBROADCASTI128 threes<>(SB), Y13 \
	VXORPS Y8, Y8, Y8 \
	TESTQ R12, R12 \
	JZ    done \
loop: \
	K16SCALES \
	K16CHUNK(0) \
	K16CHUNK(1) \
	K16END \
	ADDQ $size, SI \
	ADDQ $256, DI \
	ADDQ $4, R8 \
	ADDQ $32, R9 \
	DECQ R12 \
	JNZ  loop \
done: \
	VMOVAPS Y8, Y0 \
	HSUM8 \
	VMOVSS X0, ret+40(FP) \
	VZEROUPPER \
	RET

// K16GROUP adds group m (32 quants: bits shift..shift+1 of the 32 bytes at qsoff) times its
// two sub-block scales into Y9.
#define K16GROUP(qsoff, shift, m, q8off) \
	VMOVDQU      qsoff(SI), Y4 \
	VPSRLW       shift, Y4, Y4 \
	VPAND        Y13, Y4, Y4 \
	K16HIGH(m) \
	VPMADDUBSW   (q8off)(DI), Y4, Y4 \
	VPBROADCASTW (4*(m))(SP), X6 \
	VPBROADCASTW (4*(m)+2)(SP), X7 \
	VINSERTI128  $1, X7, Y6, Y6 \
	VPMADDWD     Y6, Y4, Y4 \
	VPADDD       Y4, Y9, Y9

#define K16CHUNK(c) \
	K16GROUP((QS0+32*c), $0, 4*c+0, 128*c) \
	K16GROUP((QS0+32*c), $2, 4*c+1, 128*c+32) \
	K16GROUP((QS0+32*c), $4, 4*c+2, 128*c+64) \
	K16GROUP((QS0+32*c), $6, 4*c+3, 128*c+96)

// func dotF32AVX2(w *byte, x *float32, n int) float32
// n is a multiple of 8.
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
f32loop32:
	CMPQ CX, $32
	JLT  f32loop8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS 32(DI), Y1, Y9
	VFMADD231PS 64(DI), Y2, Y10
	VFMADD231PS 96(DI), Y3, Y11
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  f32loop32
f32loop8:
	CMPQ CX, $8
	JLT  f32done
	VMOVUPS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  f32loop8
f32done:
	VADDPS Y9, Y8, Y8
	VADDPS Y11, Y10, Y10
	VADDPS Y10, Y8, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

DATA threes<>+0(SB)/8, $0x0303030303030303
DATA threes<>+8(SB)/8, $0x0303030303030303
GLOBL threes<>(SB), RODATA|NOPTR, $16

DATA ones<>+0(SB)/8, $0x0101010101010101
DATA ones<>+8(SB)/8, $0x0101010101010101
DATA ones<>+16(SB)/8, $0x0101010101010101
DATA ones<>+24(SB)/8, $0x0101010101010101
GLOBL ones<>(SB), RODATA|NOPTR, $32

DATA thirtytwos<>+0(SB)/8, $0x0020002000200020
DATA thirtytwos<>+8(SB)/8, $0x0020002000200020
DATA thirtytwos<>+16(SB)/8, $0x0020002000200020
DATA thirtytwos<>+24(SB)/8, $0x0020002000200020
GLOBL thirtytwos<>(SB), RODATA|NOPTR, $32

// Q4_K: d, dmin, 12 bytes of scales, 128 bytes of nibbles. KNIBBLES(j, hb) sets Y0/Y1 to
// the low/high nibbles of 64-element chunk j.
#define KPRE
#define KPRE4
#define KNIBBLES(j, hb) \
	VMOVDQU (16+32*j)(SI), Y0 \
	VPSRLW  $4, Y0, Y1 \
	VPAND   Y14, Y0, Y0 \
	VPAND   Y14, Y1, Y1

// func dotQ4_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $48-44
	KBODY1(144)

// func dotQ4_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)
TEXT ·dotQ4_Kx4AVX2(SB), NOSPLIT, $48-72
	KBODY4(144)

// Q5_K: as Q4_K with 32 bytes of fifth bits before the nibbles; bits 2j and 2j+1 of byte l
// belong to elements l of the two halves of chunk j. KPRE/KPRE4 load them into hb.
#undef KPRE
#undef KPRE4
#undef KNIBBLES
#define KPRE VMOVDQU 16(SI), Y11
#define KPRE4 VMOVDQU 16(SI), Y15
#define KNIBBLES(j, hb) \
	VMOVDQU (48+32*j)(SI), Y0 \
	VPSRLW  $4, Y0, Y1 \
	VPAND   Y14, Y0, Y0 \
	VPAND   Y14, Y1, Y1 \
	VPSRLW  $(2*j), hb, Y12 \
	VPAND   ones<>(SB), Y12, Y12 \
	VPSLLW  $4, Y12, Y12 \
	VPOR    Y12, Y0, Y0 \
	VPSRLW  $(2*j+1), hb, Y12 \
	VPAND   ones<>(SB), Y12, Y12 \
	VPSLLW  $4, Y12, Y12 \
	VPOR    Y12, Y1, Y1

// func dotQ5_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $48-44
	KBODY1(176)

// func dotQ5_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)
TEXT ·dotQ5_Kx4AVX2(SB), NOSPLIT, $48-72
	KBODY4(176)

// func dotQ6_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32
// The 6-bit quants are used unsigned (0..63) and their -32 offset is applied once per block
// through the Q8_K block sums: sum_sub scale_sub * 32 * bsum_sub.
TEXT ·dotQ6_KAVX2(SB), NOSPLIT, $32-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ bsums+24(FP), R9
	MOVQ nb+32(FP), R12
	VBROADCASTI128 lowNibbles<>(SB), Y14
	VBROADCASTI128 threes<>(SB), Y13
	VXORPS Y8, Y8, Y8
	TESTQ R12, R12
	JZ    q6kdone
q6kloop:
	VPMOVSXBW 192(SI), Y5
	VMOVDQU   Y5, 0(SP)
	// offset term: 32 * sum_sub scale_sub * bsum_sub, subtracted from the block's sum
	VPMADDWD  (R9), Y5, Y9
	VPSLLD    $5, Y9, Y9
	VPXOR     Y10, Y10, Y10
	VPSUBD    Y9, Y10, Y9

	Q6KCHUNK(0)
	Q6KCHUNK(1)
	VCVTDQ2PS Y9, Y9
	BLOCKSCALE(208(SI), (R8))
	VFMADD231PS Y3, Y9, Y8

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, R8
	ADDQ $32, R9
	DECQ R12
	JNZ  q6kloop
q6kdone:
	VMOVAPS Y8, Y0
	HSUM8
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// Four-token kernels for prefill: one weight row against four activation rows whose quants
// lie xstride bytes apart and whose scales dstride bytes apart. The weight block is loaded,
// expanded and its sign taken once for the four tokens.

// func dotQ6_Kx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, bsums *int16, bstride int, nb int, out *[4]float32)
// Four tokens per weight row: each group of 32 quants is unpacked once. The float
// accumulators are Y0, Y1, Y2, Y12 (the block sums need Y8..Y11) until the end.
TEXT ·dotQ6_Kx4AVX2(SB), NOSPLIT, $32-72
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ xstride+16(FP), R13
	MOVQ d+24(FP), R8
	MOVQ bsums+40(FP), R9
	MOVQ nb+56(FP), R12
	VBROADCASTI128 lowNibbles<>(SB), Y14
	VBROADCASTI128 threes<>(SB), Y13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y12, Y12, Y12
	TESTQ R12, R12
	JZ    q6kx4done
q6kx4loop:
	VPMOVSXBW 192(SI), Y5
	VMOVDQU   Y5, 0(SP)
	MOVQ bstride+48(FP), CX
	LEAQ (CX)(CX*2), DX
	ADDQ R9, DX
	Q6KX4INIT((R9), Y8)
	Q6KX4INIT((R9)(CX*1), Y9)
	Q6KX4INIT((R9)(CX*2), Y10)
	Q6KX4INIT((DX), Y11)
	LEAQ (R13)(R13*2), AX
	ADDQ DI, AX
	Q6KX4CHUNK(0)
	Q6KX4CHUNK(1)
	VPBROADCASTW 208(SI), X4
	VCVTPH2PS    X4, Y4
	MOVQ dstride+32(FP), R10
	LEAQ (R10)(R10*2), R11
	ADDQ R8, R11
	Q6KX4FIN((R8), Y8, Y0)
	Q6KX4FIN((R8)(R10*1), Y9, Y1)
	Q6KX4FIN((R8)(R10*2), Y10, Y2)
	Q6KX4FIN((R11), Y11, Y12)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, R8
	ADDQ $32, R9
	DECQ R12
	JNZ  q6kx4loop
q6kx4done:
	VMOVAPS Y0, Y8
	VMOVAPS Y1, Y9
	VMOVAPS Y2, Y10
	VMOVAPS Y12, Y11
	X4FINISHAT(out+64(FP))
	RET

// Q2_K: 16 scale bytes (low nibble scale, high nibble minimum), 64 bytes of 2-bit quants, d,
// dmin. Y10 keeps sum_j min_j * bsum_j for K16END.
#define QS0 16
#define K16SCALES \
	VMOVDQU   (SI), X5 \
	VPSRLW    $4, X5, X6 \
	VPAND     X14, X6, X6 \
	VPMOVZXBW X6, Y6 \
	VPAND     X14, X5, X5 \
	VPMOVZXBW X5, Y5 \
	VMOVDQU   Y5, 0(SP) \
	VPMADDWD  (R9), Y6, Y10 \
	VPXOR     Y9, Y9, Y9
#define K16HIGH(m)
#define K16END \
	VCVTDQ2PS    Y9, Y9 \
	BLOCKSCALE(80(SI), (R8)) \
	VFMADD231PS  Y3, Y9, Y8 \
	VCVTDQ2PS    Y10, Y10 \
	BLOCKSCALE(82(SI), (R8)) \
	VFNMADD231PS Y3, Y10, Y8

// func dotQ2_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32
TEXT ·dotQ2_KAVX2(SB), NOSPLIT, $32-44
	K16BODY(84)

// Q3_K: 32 bytes of third bits (bit m of byte l: element l of group m), 64 bytes of 2-bit
// quants, 12 bytes of 6-bit scales (biased by 32; unpacked with ggml's kmask arithmetic), d.
// The quant is low2 + 4*bit, and the block sum starts at -4 * sum_j scale_j * bsum_j.
#undef QS0
#undef K16SCALES
#undef K16HIGH
#undef K16END
#define QS0 32
#define K16SCALES \
	MOVL      96(SI), AX \
	MOVL      100(SI), BX \
	MOVL      104(SI), CX \
	MOVL      AX, DX \
	ANDL      $0x0f0f0f0f, DX \
	MOVL      CX, R10 \
	ANDL      $0x03030303, R10 \
	SHLL      $4, R10 \
	ORL       R10, DX \
	VMOVD     DX, X5 \
	MOVL      BX, DX \
	ANDL      $0x0f0f0f0f, DX \
	MOVL      CX, R10 \
	SHRL      $2, R10 \
	ANDL      $0x03030303, R10 \
	SHLL      $4, R10 \
	ORL       R10, DX \
	VPINSRD   $1, DX, X5, X5 \
	MOVL      AX, DX \
	SHRL      $4, DX \
	ANDL      $0x0f0f0f0f, DX \
	MOVL      CX, R10 \
	SHRL      $4, R10 \
	ANDL      $0x03030303, R10 \
	SHLL      $4, R10 \
	ORL       R10, DX \
	VPINSRD   $2, DX, X5, X5 \
	MOVL      BX, DX \
	SHRL      $4, DX \
	ANDL      $0x0f0f0f0f, DX \
	MOVL      CX, R10 \
	SHRL      $6, R10 \
	ANDL      $0x03030303, R10 \
	SHLL      $4, R10 \
	ORL       R10, DX \
	VPINSRD   $3, DX, X5, X5 \
	VPMOVZXBW X5, Y5 \
	VPSUBW    thirtytwos<>(SB), Y5, Y5 \
	VMOVDQU   Y5, 0(SP) \
	VPMADDWD  (R9), Y5, Y9 \
	VPSLLD    $2, Y9, Y9 \
	VPXOR     Y4, Y4, Y4 \
	VPSUBD    Y9, Y4, Y9 \
	VMOVDQU   (SI), Y11
#define K16HIGH(m) \
	VPSRLW $(m), Y11, Y5 \
	VPAND  ones<>(SB), Y5, Y5 \
	VPSLLW $2, Y5, Y5 \
	VPOR   Y5, Y4, Y4
#define K16END \
	VCVTDQ2PS   Y9, Y9 \
	BLOCKSCALE(108(SI), (R8)) \
	VFMADD231PS Y3, Y9, Y8

// func dotQ3_KAVX2(w *byte, qs *int8, d *float32, bsums *int16, nb int) float32
TEXT ·dotQ3_KAVX2(SB), NOSPLIT, $32-44
	K16BODY(110)
