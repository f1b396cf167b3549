#include "textflag.h"

// AVX-512 (F/BW/VL + VNNI) kernels for Q4_K, Q5_K and Q6_K weights with Q8_K activations
// that loop over weight rows themselves, for one token or eight: a one-token product of a
// whole matrix costs one call, and eight tokens share each block's unpacking. The quants are
// used unsigned by VPMADDUBSW against the signed activations (pair sums of at most 2*63*128
// fit int16) and VPDPWSSD multiplies those by the sub-block scales into int32; the Q4_K and
// Q5_K minimums and Q6_K's offset of 32 are applied through the Q8_K sums of 16 quants. The
// integer sums of each block are exact, as in ggml's generic code; only the float additions
// of the per-block terms are in another order (16 lanes, summed at the end of a row).

// q4kPerm holds VPERMW indexes into the 16 words [scale 0..7, min 0..7] of a block: four that
// spread two sub-block scales over the two 256-bit halves of a vector (sub-blocks 0|2, 1|3,
// 4|6, 5|7, the halves the nibble vectors hold), then one that repeats each min twice, to
// pair with the two 16-quant sums of its sub-block.
DATA q4kPerm<>+0(SB)/8, $0x0000000000000000
DATA q4kPerm<>+8(SB)/8, $0x0000000000000000
DATA q4kPerm<>+16(SB)/8, $0x0000000000000000
DATA q4kPerm<>+24(SB)/8, $0x0000000000000000
DATA q4kPerm<>+32(SB)/8, $0x0002000200020002
DATA q4kPerm<>+40(SB)/8, $0x0002000200020002
DATA q4kPerm<>+48(SB)/8, $0x0002000200020002
DATA q4kPerm<>+56(SB)/8, $0x0002000200020002
DATA q4kPerm<>+64(SB)/8, $0x0001000100010001
DATA q4kPerm<>+72(SB)/8, $0x0001000100010001
DATA q4kPerm<>+80(SB)/8, $0x0001000100010001
DATA q4kPerm<>+88(SB)/8, $0x0001000100010001
DATA q4kPerm<>+96(SB)/8, $0x0003000300030003
DATA q4kPerm<>+104(SB)/8, $0x0003000300030003
DATA q4kPerm<>+112(SB)/8, $0x0003000300030003
DATA q4kPerm<>+120(SB)/8, $0x0003000300030003
DATA q4kPerm<>+128(SB)/8, $0x0004000400040004
DATA q4kPerm<>+136(SB)/8, $0x0004000400040004
DATA q4kPerm<>+144(SB)/8, $0x0004000400040004
DATA q4kPerm<>+152(SB)/8, $0x0004000400040004
DATA q4kPerm<>+160(SB)/8, $0x0006000600060006
DATA q4kPerm<>+168(SB)/8, $0x0006000600060006
DATA q4kPerm<>+176(SB)/8, $0x0006000600060006
DATA q4kPerm<>+184(SB)/8, $0x0006000600060006
DATA q4kPerm<>+192(SB)/8, $0x0005000500050005
DATA q4kPerm<>+200(SB)/8, $0x0005000500050005
DATA q4kPerm<>+208(SB)/8, $0x0005000500050005
DATA q4kPerm<>+216(SB)/8, $0x0005000500050005
DATA q4kPerm<>+224(SB)/8, $0x0007000700070007
DATA q4kPerm<>+232(SB)/8, $0x0007000700070007
DATA q4kPerm<>+240(SB)/8, $0x0007000700070007
DATA q4kPerm<>+248(SB)/8, $0x0007000700070007
DATA q4kPerm<>+256(SB)/8, $0x0009000900080008
DATA q4kPerm<>+264(SB)/8, $0x000b000b000a000a
DATA q4kPerm<>+272(SB)/8, $0x000d000d000c000c
DATA q4kPerm<>+280(SB)/8, $0x000f000f000e000e
GLOBL q4kPerm<>(SB), RODATA|NOPTR, $288

// Q4KSCALEMIN sets X5 to the bytes [scale 0..7, min 0..7] of the Q4_K block at SI (its 12
// packed scale bytes start at 4(SI)), with ggml's get_scale_min_k4 arithmetic. Clobbers AX,
// BX, CX, DX, R10, R11.
#define Q4KSCALEMIN \
	MOVL  4(SI), AX \
	MOVL  8(SI), BX \
	MOVL  12(SI), CX \
	MOVL  CX, DX \
	SHRL  $4, DX \
	ANDL  $0x0f0f0f0f, DX \
	MOVL  BX, R10 \
	SHRL  $6, R10 \
	ANDL  $0x03030303, R10 \
	SHLL  $4, R10 \
	ORL   R10, DX \
	MOVL  BX, R11 \
	ANDL  $0x3f3f3f3f, R11 \
	ANDL  $0x0f0f0f0f, CX \
	MOVL  AX, R10 \
	SHRL  $6, R10 \
	ANDL  $0x03030303, R10 \
	SHLL  $4, R10 \
	ORL   R10, CX \
	ANDL  $0x3f3f3f3f, AX \
	SHLQ  $32, CX \
	ORQ   CX, AX \
	SHLQ  $32, DX \
	ORQ   DX, R11 \
	VMOVQ AX, X5 \
	VPINSRQ $1, R11, X5, X5

// Q4KBLOCK(qoff) prepares the Q4_K block (or Q5_K's, quants at qoff) at SI for any number of
// tokens: Z16..Z19 the sub-block scales of the nibble vectors (as words, see q4kPerm, whose
// first four indexes are in Z20..Z23), Y6 each min twice (the upper half of Z6 zero), Z0..Z3 the quants: the low and
// high nibbles of 64 bytes hold sub-blocks 0|2 and 1|3 (then 4|6, 5|7). Z31 is the nibble
// mask. Clobbers AX, BX, CX, DX, R10, R11, Z5, Z7.
#define Q4KBLOCK(qoff) \
	Q4KSCALEMIN \
	VPMOVZXBW X5, Y5 \
	VPERMW    Z5, Z20, Z16 \
	VPERMW    Z5, Z21, Z17 \
	VPERMW    Z5, Z22, Z18 \
	VPERMW    Z5, Z23, Z19 \
	VMOVDQU64 q4kPerm<>+256(SB), Y7 \
	VPERMW    Y5, Y7, Y6 \
	VMOVDQU64 qoff(SI), Z0 \
	VPSRLW    $4, Z0, Z1 \
	VPANDD    Z31, Z0, Z0 \
	VPANDD    Z31, Z1, Z1 \
	VMOVDQU64 (qoff+64)(SI), Z2 \
	VPSRLW    $4, Z2, Z3 \
	VPANDD    Z31, Z2, Z2 \
	VPANDD    Z31, Z3, Z3

// Q4KSUBS sets Z4 to the 16 int32 partial sums of the block's scaled quant products with
// the 256 activation quants at register q: each quant vector against the activations of its
// two sub-blocks, through VPMADDUBSW (unsigned quants, signed activations) and VPDPWSSD by the
// scales. Clobbers Z10, Z11.
#define Q4KSUBS(q) \
	VPXORD       Z4, Z4, Z4 \
	VMOVDQU      0(q), Y10 \
	VINSERTI64X4 $1, 64(q), Z10, Z10 \
	VPMADDUBSW   Z10, Z0, Z10 \
	VPDPWSSD     Z16, Z10, Z4 \
	VMOVDQU      32(q), Y11 \
	VINSERTI64X4 $1, 96(q), Z11, Z11 \
	VPMADDUBSW   Z11, Z1, Z11 \
	VPDPWSSD     Z17, Z11, Z4 \
	VMOVDQU      128(q), Y10 \
	VINSERTI64X4 $1, 192(q), Z10, Z10 \
	VPMADDUBSW   Z10, Z2, Z10 \
	VPDPWSSD     Z18, Z10, Z4 \
	VMOVDQU      160(q), Y11 \
	VINSERTI64X4 $1, 224(q), Z11, Z11 \
	VPMADDUBSW   Z11, Z3, Z11 \
	VPDPWSSD     Z19, Z11, Z4

// Q4KCONSTS loads the nibble mask and the scale permutations.
#define Q4KCONSTS \
	MOVL $0x0f, AX \
	VPBROADCASTB AX, Z31 \
	VMOVDQU64 q4kPerm<>+0(SB), Z20 \
	VMOVDQU64 q4kPerm<>+64(SB), Z21 \
	VMOVDQU64 q4kPerm<>+128(SB), Z22 \
	VMOVDQU64 q4kPerm<>+192(SB), Z23

// KDMIN puts the block's d and dmin in every lane of Z28 and Z29.
#define KDMIN \
	VPBROADCASTW (SI), Y28 \
	VCVTPH2PS    Y28, Z28 \
	VPBROADCASTW 2(SI), Y29 \
	VCVTPH2PS    Y29, Z29

// Q4KPREP prepares a Q4_K block for Q4KTOK.
#define Q4KPREP \
	Q4KBLOCK(16) \
	KDMIN

// Q5_K: as Q4_K with 32 bytes of fifth bits qh at 16(SI) before the quants; bit j of qh[l] is
// element l of sub-block j. q5kShift holds the VPSLLVW/VPSRLVW counts that move bits 0|2,
// 1|3, 4|6 and 5|7 of qh (broadcast to both 256-bit halves) to bit 4 of the nibble vectors
// Z0..Z3, whose halves hold those sub-blocks.
DATA q5kShift<>+0(SB)/8, $0x0004000400040004
DATA q5kShift<>+8(SB)/8, $0x0004000400040004
DATA q5kShift<>+16(SB)/8, $0x0004000400040004
DATA q5kShift<>+24(SB)/8, $0x0004000400040004
DATA q5kShift<>+32(SB)/8, $0x0002000200020002
DATA q5kShift<>+40(SB)/8, $0x0002000200020002
DATA q5kShift<>+48(SB)/8, $0x0002000200020002
DATA q5kShift<>+56(SB)/8, $0x0002000200020002
DATA q5kShift<>+64(SB)/8, $0x0003000300030003
DATA q5kShift<>+72(SB)/8, $0x0003000300030003
DATA q5kShift<>+80(SB)/8, $0x0003000300030003
DATA q5kShift<>+88(SB)/8, $0x0003000300030003
DATA q5kShift<>+96(SB)/8, $0x0001000100010001
DATA q5kShift<>+104(SB)/8, $0x0001000100010001
DATA q5kShift<>+112(SB)/8, $0x0001000100010001
DATA q5kShift<>+120(SB)/8, $0x0001000100010001
DATA q5kShift<>+128(SB)/8, $0x0000000000000000
DATA q5kShift<>+136(SB)/8, $0x0000000000000000
DATA q5kShift<>+144(SB)/8, $0x0000000000000000
DATA q5kShift<>+152(SB)/8, $0x0000000000000000
DATA q5kShift<>+160(SB)/8, $0x0002000200020002
DATA q5kShift<>+168(SB)/8, $0x0002000200020002
DATA q5kShift<>+176(SB)/8, $0x0002000200020002
DATA q5kShift<>+184(SB)/8, $0x0002000200020002
DATA q5kShift<>+192(SB)/8, $0x0001000100010001
DATA q5kShift<>+200(SB)/8, $0x0001000100010001
DATA q5kShift<>+208(SB)/8, $0x0001000100010001
DATA q5kShift<>+216(SB)/8, $0x0001000100010001
DATA q5kShift<>+224(SB)/8, $0x0003000300030003
DATA q5kShift<>+232(SB)/8, $0x0003000300030003
DATA q5kShift<>+240(SB)/8, $0x0003000300030003
DATA q5kShift<>+248(SB)/8, $0x0003000300030003
GLOBL q5kShift<>(SB), RODATA|NOPTR, $256

// Q5KHIGH adds the fifth bits to the nibbles v: qh is in Z8, Z30 holds 0x10 in every byte.
#define Q5KHIGH(v, cnt, shift) \
	VMOVDQU64  q5kShift<>+cnt(SB), Z10 \
	shift      Z10, Z8, Z9 \
	VPTERNLOGD $0xf8, Z30, Z9, v

// Q5KPREP prepares a Q5_K block for Q4KTOK: Q4KBLOCK's unsigned quants plus the fifth bit.
#define Q5KPREP \
	Q4KBLOCK(48) \
	VBROADCASTI64X4 16(SI), Z8 \
	Q5KHIGH(Z0, 0, VPSLLVW) \
	Q5KHIGH(Z1, 64, VPSLLVW) \
	Q5KHIGH(Z2, 128, VPSRLVW) \
	Q5KHIGH(Z3, 192, VPSRLVW) \
	KDMIN

// Q5KCONSTS is Q4KCONSTS plus the fifth-bit mask.
#define Q5KCONSTS \
	Q4KCONSTS \
	MOVL $0x10, AX \
	VPBROADCASTB AX, Z30

// Q4KTOK adds one token's product with the prepared block to acc: the scaled quant sums
// times d*dx (Z28 holds d, (BX) is dx) less the min sums (bsums at CX) times dmin*dx (Z29
// holds dmin), then steps AX, BX, CX to the next token (by DX, R10, R11 bytes).
#define Q4KTOK(acc) \
	Q4KSUBS(AX) \
	VCVTDQ2PS    Z4, Z4 \
	VBROADCASTSS (BX), Z8 \
	VMULPS       Z8, Z28, Z7 \
	VFMADD231PS  Z7, Z4, acc \
	VPMADDWD     (CX), Y6, Y9 \
	VCVTDQ2PS    Y9, Y9 \
	VMULPS       Z8, Z29, Z7 \
	VFNMADD231PS Z7, Z9, acc \
	ADDQ         DX, AX \
	ADDQ         R10, BX \
	ADDQ         R11, CX

// Q6_K: 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 signed 8-bit scales, d.
// Low nibbles of ql[0:64] are elements 0..63, their high nibbles 64..127 (ql[64:128]: 128..255);
// the high pairs of elements 0..31, 32..63, 64..95, 96..127 are bits 0-1, 2-3, 4-5, 6-7 of
// qh[0:32] (qh[32:64] for the second half). q6kPerm holds four VPERMW indexes spreading the
// scales of the four sub-blocks of 16 elements of each 64-element vector over its words, then
// the VPSLLVW counts that move bits 0-1 | 2-3 of the broadcast qh half to bits 4-5 of the
// vector of low nibbles, and the VPSRLVW counts that move bits 4-5 | 6-7 there for the high.
DATA q6kPerm<>+0(SB)/8, $0x0000000000000000
DATA q6kPerm<>+8(SB)/8, $0x0000000000000000
DATA q6kPerm<>+16(SB)/8, $0x0001000100010001
DATA q6kPerm<>+24(SB)/8, $0x0001000100010001
DATA q6kPerm<>+32(SB)/8, $0x0002000200020002
DATA q6kPerm<>+40(SB)/8, $0x0002000200020002
DATA q6kPerm<>+48(SB)/8, $0x0003000300030003
DATA q6kPerm<>+56(SB)/8, $0x0003000300030003
DATA q6kPerm<>+64(SB)/8, $0x0004000400040004
DATA q6kPerm<>+72(SB)/8, $0x0004000400040004
DATA q6kPerm<>+80(SB)/8, $0x0005000500050005
DATA q6kPerm<>+88(SB)/8, $0x0005000500050005
DATA q6kPerm<>+96(SB)/8, $0x0006000600060006
DATA q6kPerm<>+104(SB)/8, $0x0006000600060006
DATA q6kPerm<>+112(SB)/8, $0x0007000700070007
DATA q6kPerm<>+120(SB)/8, $0x0007000700070007
DATA q6kPerm<>+128(SB)/8, $0x0008000800080008
DATA q6kPerm<>+136(SB)/8, $0x0008000800080008
DATA q6kPerm<>+144(SB)/8, $0x0009000900090009
DATA q6kPerm<>+152(SB)/8, $0x0009000900090009
DATA q6kPerm<>+160(SB)/8, $0x000a000a000a000a
DATA q6kPerm<>+168(SB)/8, $0x000a000a000a000a
DATA q6kPerm<>+176(SB)/8, $0x000b000b000b000b
DATA q6kPerm<>+184(SB)/8, $0x000b000b000b000b
DATA q6kPerm<>+192(SB)/8, $0x000c000c000c000c
DATA q6kPerm<>+200(SB)/8, $0x000c000c000c000c
DATA q6kPerm<>+208(SB)/8, $0x000d000d000d000d
DATA q6kPerm<>+216(SB)/8, $0x000d000d000d000d
DATA q6kPerm<>+224(SB)/8, $0x000e000e000e000e
DATA q6kPerm<>+232(SB)/8, $0x000e000e000e000e
DATA q6kPerm<>+240(SB)/8, $0x000f000f000f000f
DATA q6kPerm<>+248(SB)/8, $0x000f000f000f000f
DATA q6kPerm<>+256(SB)/8, $0x0004000400040004
DATA q6kPerm<>+264(SB)/8, $0x0004000400040004
DATA q6kPerm<>+272(SB)/8, $0x0004000400040004
DATA q6kPerm<>+280(SB)/8, $0x0004000400040004
DATA q6kPerm<>+288(SB)/8, $0x0002000200020002
DATA q6kPerm<>+296(SB)/8, $0x0002000200020002
DATA q6kPerm<>+304(SB)/8, $0x0002000200020002
DATA q6kPerm<>+312(SB)/8, $0x0002000200020002
DATA q6kPerm<>+320(SB)/8, $0x0000000000000000
DATA q6kPerm<>+328(SB)/8, $0x0000000000000000
DATA q6kPerm<>+336(SB)/8, $0x0000000000000000
DATA q6kPerm<>+344(SB)/8, $0x0000000000000000
DATA q6kPerm<>+352(SB)/8, $0x0002000200020002
DATA q6kPerm<>+360(SB)/8, $0x0002000200020002
DATA q6kPerm<>+368(SB)/8, $0x0002000200020002
DATA q6kPerm<>+376(SB)/8, $0x0002000200020002
GLOBL q6kPerm<>(SB), RODATA|NOPTR, $384

// Q6KHALF sets lo and hi to the 6-bit quants of one 128-element half: ql, the 64 low-nibble
// bytes, in lo; qh, 32 high-pair bytes, is broadcast to both 256-bit halves of tmp. Z10, Z11
// hold the shift counts, Z30 0x30 in every byte, Z31 0x0f.
#define Q6KHALF(ql, qh, lo, hi, tmp, tmp2) \
	VMOVDQU64       ql, lo \
	VPSRLW          $4, lo, hi \
	VPANDD          Z31, lo, lo \
	VPANDD          Z31, hi, hi \
	VBROADCASTI64X4 qh, tmp \
	VPSLLVW         Z10, tmp, tmp2 \
	VPTERNLOGD      $0xf8, Z30, tmp2, lo \
	VPSRLVW         Z11, tmp, tmp2 \
	VPTERNLOGD      $0xf8, Z30, tmp2, hi

// Q6KPREP prepares the Q6_K block at SI: Z0..Z3 the unsigned quants of elements 0..255 in
// order, Y5 the scales as words, Z16..Z19 the scales of Z0..Z3's words, Z28 d in every lane.
// Clobbers Z7..Z11.
#define Q6KPREP \
	VMOVDQU64 q6kPerm<>+256(SB), Z10 \
	VMOVDQU64 q6kPerm<>+320(SB), Z11 \
	Q6KHALF(0(SI), 128(SI), Z0, Z1, Z7, Z8) \
	Q6KHALF(64(SI), 160(SI), Z2, Z3, Z7, Z8) \
	VPMOVSXBW 192(SI), Y5 \
	VPERMW    Z5, Z20, Z16 \
	VPERMW    Z5, Z21, Z17 \
	VPERMW    Z5, Z22, Z18 \
	VPERMW    Z5, Z23, Z19 \
	VPBROADCASTW 208(SI), Y28 \
	VCVTPH2PS    Y28, Z28

// Q6KCONSTS loads the nibble and high-pair masks and the scale permutations.
#define Q6KCONSTS \
	MOVL $0x0f, AX \
	VPBROADCASTB AX, Z31 \
	MOVL $0x30, AX \
	VPBROADCASTB AX, Z30 \
	VMOVDQU64 q6kPerm<>+0(SB), Z20 \
	VMOVDQU64 q6kPerm<>+64(SB), Z21 \
	VMOVDQU64 q6kPerm<>+128(SB), Z22 \
	VMOVDQU64 q6kPerm<>+192(SB), Z23

// Q6KTOK adds one token's product with the prepared block to acc: the scaled quant sums,
// less 32 times the scaled 16-quant sums (bsums at CX), times d*dx ((BX) is dx), then steps
// AX, BX, CX to the next token (by DX, R10, R11 bytes).
#define Q6KTOK(acc) \
	VPMADDWD     (CX), Y5, Y9 \
	VPSLLD       $5, Y9, Y9 \
	VPXORD       Z4, Z4, Z4 \
	VPSUBD       Z9, Z4, Z4 \
	VPMADDUBSW   0(AX), Z0, Z10 \
	VPDPWSSD     Z16, Z10, Z4 \
	VPMADDUBSW   64(AX), Z1, Z11 \
	VPDPWSSD     Z17, Z11, Z4 \
	VPMADDUBSW   128(AX), Z2, Z10 \
	VPDPWSSD     Z18, Z10, Z4 \
	VPMADDUBSW   192(AX), Z3, Z11 \
	VPDPWSSD     Z19, Z11, Z4 \
	VCVTDQ2PS    Z4, Z4 \
	VBROADCASTSS (BX), Z8 \
	VMULPS       Z8, Z28, Z7 \
	VFMADD231PS  Z7, Z4, acc \
	ADDQ         DX, AX \
	ADDQ         R10, BX \
	ADDQ         R11, CX

// KSTORE sets (K1 clear) or adds to (K1 set) the float at AX the lane sum of acc (whose
// lower half is yacc), then steps AX by DX bytes.
#define KSTORE(acc, yacc) \
	VEXTRACTF64X4 $1, acc, Y7 \
	VADDPS        yacc, Y7, Y7 \
	VEXTRACTF128  $1, Y7, X9 \
	VADDPS        X9, X7, X7 \
	VHADDPS       X7, X7, X7 \
	VHADDPS       X7, X7, X7 \
	VMOVSS.Z      (AX), K1, X9 \
	VADDSS        X9, X7, X7 \
	VMOVSS        X7, (AX) \
	ADDQ          DX, AX

// KTOKPTRS points AX, BX, CX at token 0's quants, scale and 16-quant sums of the block and
// sets their steps DX, R10, R11 from the activation row stride at strideArg (elements).
#define KTOKPTRS(strideArg) \
	MOVQ DI, AX \
	MOVQ R8, BX \
	MOVQ R9, CX \
	MOVQ strideArg, DX \
	MOVQ DX, R10 \
	SHRQ $6, R10 \
	MOVQ DX, R11 \
	SHRQ $3, R11

// KNEXT steps to the next block of size bytes and loops to block while any is left.
#define KNEXT(size) \
	ADDQ $size, SI \
	ADDQ $256, DI \
	ADDQ $4, R8 \
	ADDQ $32, R9 \
	DECQ R14 \
	JNZ  block

// KROWS1 is the one-token, many-row kernel for blocks of size bytes: func(w *byte, rowBytes,
// nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32), y[r] = dot(row r of w,
// the activation row) for r in [0, nrows), nb >= 1 blocks per row; KCONSTS, KPREP and KTOK
// are the type's. Row r's sum is kept in the 16 lanes of Z15.
#define KROWS1(size) \
	MOVQ w+0(FP), R12 \
	MOVQ nrows+16(FP), R13 \
	KXORW K1, K1, K1 \
	KCONSTS \
row: \
	MOVQ   R12, SI \
	MOVQ   qs+24(FP), DI \
	MOVQ   d+32(FP), R8 \
	MOVQ   bsums+40(FP), R9 \
	MOVQ   nb+48(FP), R14 \
	VPXORD Z15, Z15, Z15 \
block: \
	KPREP \
	KTOKPTRS($0) \
	KTOK(Z15) \
	KNEXT(size) \
	MOVQ y+56(FP), AX \
	KSTORE(Z15, Y15) \
	ADDQ $4, y+56(FP) \
	ADDQ rowBytes+8(FP), R12 \
	DECQ R13 \
	JNZ  row \
	VZEROUPPER \
	RET

// KROWS8 is the eight-token, many-row kernel for blocks of size bytes: func(w *byte,
// rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32,
// ystride, add int). For weight rows r in [0, nrows) and the eight activation rows starting
// at (qs, d, bsums), stride elements apart, it sets (add = 0) or adds to (add = 1) the float
// ystride*i bytes after y + 4r the dot product of row r with activation row i. Each block is
// unpacked once for the eight tokens, whose sums are kept in Z12..Z15, Z24..Z27.
#define KROWS8(size) \
	MOVQ  w+0(FP), R12 \
	MOVQ  y+64(FP), R13 \
	MOVQ  add+80(FP), AX \
	KMOVQ AX, K1 \
	KCONSTS \
row: \
	MOVQ   R12, SI \
	MOVQ   qs+24(FP), DI \
	MOVQ   d+32(FP), R8 \
	MOVQ   bsums+40(FP), R9 \
	MOVQ   nb+56(FP), R14 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
	VPXORD Z24, Z24, Z24 \
	VPXORD Z25, Z25, Z25 \
	VPXORD Z26, Z26, Z26 \
	VPXORD Z27, Z27, Z27 \
block: \
	KPREP \
	KTOKPTRS(stride+48(FP)) \
	KTOK(Z12) \
	KTOK(Z13) \
	KTOK(Z14) \
	KTOK(Z15) \
	KTOK(Z24) \
	KTOK(Z25) \
	KTOK(Z26) \
	KTOK(Z27) \
	KNEXT(size) \
	MOVQ R13, AX \
	MOVQ ystride+72(FP), DX \
	KSTORE(Z12, Y12) \
	KSTORE(Z13, Y13) \
	KSTORE(Z14, Y14) \
	KSTORE(Z15, Y15) \
	KSTORE(Z24, Y24) \
	KSTORE(Z25, Y25) \
	KSTORE(Z26, Y26) \
	KSTORE(Z27, Y27) \
	ADDQ $4, R13 \
	ADDQ rowBytes+8(FP), R12 \
	DECQ nrows+16(FP) \
	JNZ  row \
	VZEROUPPER \
	RET

#define KCONSTS Q4KCONSTS
#define KPREP Q4KPREP
#define KTOK Q4KTOK

// func dotQ4_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)
TEXT ·dotQ4_Kx1RowsAVX512(SB), NOSPLIT, $0-64
	KROWS1(144)

// func dotQ4_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)
TEXT ·dotQ4_Kx8RowsAVX512(SB), NOSPLIT, $0-88
	KROWS8(144)

#undef KCONSTS
#undef KPREP
#define KCONSTS Q5KCONSTS
#define KPREP Q5KPREP

// func dotQ5_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)
TEXT ·dotQ5_Kx1RowsAVX512(SB), NOSPLIT, $0-64
	KROWS1(176)

// func dotQ5_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)
TEXT ·dotQ5_Kx8RowsAVX512(SB), NOSPLIT, $0-88
	KROWS8(176)

#undef KCONSTS
#undef KPREP
#undef KTOK
#define KCONSTS Q6KCONSTS
#define KPREP Q6KPREP
#define KTOK Q6KTOK

// func dotQ6_Kx1RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, nb int, y *float32)
TEXT ·dotQ6_Kx1RowsAVX512(SB), NOSPLIT, $0-64
	KROWS1(210)

// func dotQ6_Kx8RowsAVX512(w *byte, rowBytes, nrows int, qs *int8, d *float32, bsums *int16, stride, nb int, y *float32, ystride, add int)
TEXT ·dotQ6_Kx8RowsAVX512(SB), NOSPLIT, $0-88
	KROWS8(210)
