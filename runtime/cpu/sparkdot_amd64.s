#include "textflag.h"

// Masked-record score kernels (see sparkdot_amd64.go). Registers, all kernels:
//   DI  s, 16 bytes (four scores) per row      SI  qr: per chunk 4 query rows then ρ, 320 bytes
//   DX  chunks×320, the end of a row's chunks  R15 offset of the current chunk in qr
//   BX  the row's mask                         R14 the chunk's (word's) mask bits
//   R10 scratch (wide kernel)                  R11 kept stream
//   R12 the row's sign bytes (0: no recovery)  R13 alpha stream
//   R8  pruned ordinal within the row          AX, CX, R9 scratch
//   Z0-Z3 the four heads' partial dot products Z4 the expanded row chunk
//   Z8  α broadcast                            Z9  the float sign bit in every lane
// The row count lives in the argument slot n and counts down, the value prefetch cursor in
// the slot pf.
//
// Decode attention over a long cache streams every record from DRAM once, and a record is five
// streams (masks, kept values, signs, α, and the values the accumulation reads next), more than
// the hardware prefetchers keep ahead of. So the kernels prefetch each stream a few hundred
// bytes (tens of rows) ahead of its cursor, and the value rows of the rows they score (the pf
// argument), which the accumulation of the same block reads a few microseconds later: the
// memory traffic then overlaps the arithmetic, and a compressed head runs at nearly the speed
// of its arithmetic. On Zen 5 (BenchmarkMaskedAttentionDRAM: one thread, 16 heads × 16384
// rows, d 64) an attention took 12.4 ns a row with these prefetches and 20 without (λ 0.5:
// 14.0 and 26.5). Prefetches never fault, so reaching past a stream's end is harmless.
#define PFMASK 256
#define PFKEPT 512
#define PFSIGNS 256
#define PFALPHA 64

// RECOVER merges ±α·ρ into the pruned lanes of Z4 (AX: the chunk's keep bits; R8 advances past
// its pruned channels). The chunk's sign bits are the next popcount(pruned) bits of the row's
// sign stream from bit R8: one unaligned 8-byte load covers them (at most 16 bits from a bit
// offset below 8) and PDEP scatters them to the pruned lanes (K3: positive entries).
#define RECOVER(skip) \
	TESTQ   R12, R12; \
	JZ      skip; \
	NOTL    AX; \
	ANDL    $0xffff, AX; \
	JZ      skip; \
	KMOVW   AX, K2; \
	MOVQ    R8, R9; \
	SHRQ    $3, R9; \
	MOVQ    (R12)(R9*1), R9; \
	MOVQ    R8, CX; \
	ANDQ    $7, CX; \
	SHRQ    CX, R9; \
	PDEPQ   AX, R9, R9; \
	KMOVW   R9, K3; \
	POPCNTL AX, AX; \
	ADDQ    AX, R8; \
	VMULPS  256(SI)(R15*1), Z8, Z5; \
	VXORPS  Z9, Z5, Z6; \
	VMOVAPS Z5, K3, Z6; \
	VMOVAPS Z6, K2, Z4

// FMA4 adds the chunk Z4 times each head's query chunk to Z0-Z3 and steps to the next chunk.
#define FMA4 \
	VFMADD231PS (SI)(R15*1), Z4, Z0; \
	VFMADD231PS 64(SI)(R15*1), Z4, Z1; \
	VFMADD231PS 128(SI)(R15*1), Z4, Z2; \
	VFMADD231PS 192(SI)(R15*1), Z4, Z3; \
	ADDQ        $2, R14; \
	ADDQ        $320, R15

// ROWSTART clears the sums, points R14/R15/R8 at the row's first chunk and prefetches ahead in
// the mask, sign and α streams (R12 and R13 may be 0: a prefetch of a bad address is a no-op).
#define ROWSTART \
	PREFETCHT0 PFMASK(BX); \
	PREFETCHT0 PFSIGNS(R12); \
	PREFETCHT0 PFALPHA(R13); \
	VXORPS Z0, Z0, Z0; \
	VXORPS Z1, Z1, Z1; \
	VXORPS Z2, Z2, Z2; \
	VXORPS Z3, Z3, Z3; \
	XORQ   R8, R8; \
	MOVQ   BX, R14; \
	XORQ   R15, R15

// REDUCE4 reduces a0-a3 (the four heads' sums) to the four scores at (DI) and advances s
// (clobbers Z4-Z7).
#define REDUCE4(a0, a1, a2, a3) \
	VUNPCKLPS     a1, a0, Z4; \
	VUNPCKHPS     a1, a0, Z5; \
	VADDPS        Z5, Z4, Z4; \
	VUNPCKLPS     a3, a2, Z5; \
	VUNPCKHPS     a3, a2, Z6; \
	VADDPS        Z6, Z5, Z5; \
	VUNPCKLPD     Z5, Z4, Z6; \
	VUNPCKHPD     Z5, Z4, Z7; \
	VADDPS        Z7, Z6, Z6; \
	VEXTRACTF64X4 $1, Z6, Y7; \
	VADDPS        Y7, Y6, Y6; \
	VEXTRACTF128  $1, Y6, X7; \
	VADDPS        X7, X6, X6; \
	VMOVUPS       X6, (DI); \
	ADDQ          $16, DI

// ROWEND is REDUCE4, then advances the mask and the sign stream (by the row's ceil(pruned/8)
// bytes).
#define ROWEND(nosigns) \
	REDUCE4(Z0, Z1, Z2, Z3); \
	ADDQ          maskStride+40(FP), BX; \
	TESTQ         R12, R12; \
	JZ            nosigns; \
	ADDQ          $7, R8; \
	SHRQ          $3, R8; \
	ADDQ          R8, R12

// RETUSED stores the kept entries (elements of 1<<shift bytes) and sign bytes the rows took,
// from how far R11 and R12 advanced (R12 stays 0 without recovery, as the signs argument is).
#define RETUSED(shift) \
	SUBQ kept+48(FP), R11; \
	SHRQ $shift, R11; \
	MOVQ R11, keptUsed+80(FP); \
	SUBQ signs+56(FP), R12; \
	MOVQ R12, signsUsed+88(FP)

// PFV prefetches the value bytes at pf, of the row being scored, and advances pf by step.
#define PFV(step) \
	MOVQ       pf+72(FP), AX; \
	PREFETCHT0 (AX); \
	ADDQ       $step, AX; \
	MOVQ       AX, pf+72(FP)

// LOADARGS loads the arguments and the constants.
#define LOADARGS \
	MOVQ         s+0(FP), DI; \
	MOVQ         qr+8(FP), SI; \
	MOVQ         chunks+16(FP), DX; \
	IMULQ        $320, DX; \
	MOVQ         mask+32(FP), BX; \
	MOVQ         kept+48(FP), R11; \
	MOVQ         signs+56(FP), R12; \
	MOVQ         alpha+64(FP), R13; \
	MOVL         $0x80000000, AX; \
	VPBROADCASTD AX, Z9; \
	VXORPS       Z8, Z8, Z8

// func maskedScoresF16AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)
TEXT ·maskedScoresF16AVX512(SB), NOSPLIT, $0-96
	LOADARGS

f16row:
	ROWSTART
	TESTQ R12, R12
	JZ    f16chunk
	MOVWLZX      (R13), AX
	VMOVD        AX, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Z8
	ADDQ         $2, R13

f16chunk:
	PREFETCHT0  PFKEPT(R11)
	MOVWLZX     (R14), AX
	KMOVW       AX, K1
	VPEXPANDW.Z (R11), K1, Y4
	POPCNTL     AX, R9
	LEAQ        (R11)(R9*2), R11
	VCVTPH2PS   Y4, Z4
	RECOVER(f16fma)

f16fma:
	PFV(32)
	FMA4
	CMPQ R15, DX
	JLT  f16chunk
	ROWEND(f16next)

f16next:
	DECQ n+24(FP)
	JNZ  f16row
	RETUSED(1)
	VZEROUPPER
	RET

// func maskedScoresF32AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32, pf *byte) (keptUsed, signsUsed int)
TEXT ·maskedScoresF32AVX512(SB), NOSPLIT, $0-96
	LOADARGS

f32row:
	ROWSTART
	TESTQ R12, R12
	JZ    f32chunk
	VBROADCASTSS (R13), Z8
	ADDQ         $4, R13

f32chunk:
	PREFETCHT0  PFKEPT(R11)
	MOVWLZX     (R14), AX
	KMOVW       AX, K1
	VEXPANDPS.Z (R11), K1, Z4
	POPCNTL     AX, R9
	LEAQ        (R11)(R9*4), R11
	RECOVER(f32fma)

f32fma:
	PFV(64)
	FMA4
	CMPQ R15, DX
	JLT  f32chunk
	ROWEND(f32next)

f32next:
	DECQ n+24(FP)
	JNZ  f32row
	RETUSED(2)
	VZEROUPPER
	RET

// The f16 kernels for head dims that are a multiple of 64 work a 64-channel word of the mask at
// a time, so that the sign bits are extracted and scattered once per word (PDEP), and do the
// recovery mostly in f16, before the expansion: each 32-channel half starts as +α or −α per
// lane (VPBLENDMW of the stored f16 α and its negation under the positive-pruned bits),
// VPEXPANDW merges the kept values into their lanes, and after the conversion one masked VMULPS
// per 16 channels turns the pruned lanes' ±α into ±α·ρ (the same product, rounded once, as the
// Go kernel's tables hold). Without recovery the halves start as zeros. Besides the common
// registers: Z8 +α and Z7 −α in every f16 lane, Z9 the f16 sign bit in every lane, K1 the
// word's keep bits, K2 its pruned bits, K3 its positive pruned bits, Z4/Z5 the word's halves in
// f16. The pieces, as macros whose c0-c3 are the four float32 chunks of the word:
//
// WALPHA broadcasts the row's α (f16) as Z8 and −α as Z7 and steps the α stream.
#define WALPHA \
	VPBROADCASTW (R13), Z8; \
	VPXORD       Z9, Z8, Z7; \
	ADDQ         $2, R13

// WLOAD prefetches ahead in the kept stream and loads the word's keep bits (at R14) into AX, K1.
#define WLOAD \
	PREFETCHT0 PFKEPT(R11); \
	MOVQ       (R14), AX; \
	KMOVQ      AX, K1

// WSIGNBITS loads into R9 the 64 sign bits from bit R8 of the row's sign bytes: two loads and
// SHRD (up to 16 bytes past the row's last sign byte, the stream's slack).
#define WSIGNBITS \
	MOVQ R8, R9; \
	SHRQ $3, R9; \
	MOVQ 8(R12)(R9*1), R10; \
	MOVQ (R12)(R9*1), R9; \
	MOVQ R8, CX; \
	ANDQ $7, CX; \
	SHRQ CX, R10, R9

// WSIGNS scatters the word's sign bits (R9, from bit 0) to its pruned lanes (K3), sets K2 to
// them, advances R8 past them, and starts the halves Z4/Z5 as +α where positive, else −α.
#define WSIGNS \
	ANDNQ     ones<>(SB), AX, CX; \
	KMOVQ     CX, K2; \
	PDEPQ     CX, R9, R9; \
	KMOVQ     R9, K3; \
	POPCNTQ   CX, CX; \
	ADDQ      CX, R8; \
	VPBLENDMW Z8, Z7, K3, Z4; \
	KSHIFTRQ  $32, K3, K3; \
	VPBLENDMW Z8, Z7, K3, Z5

// WEXPAND puts the kept values of each 32-channel half into Z4/Z5 with expand (VPEXPANDW merges
// them over the ±α lanes, VPEXPANDW.Z over zeros): a masked load of exactly the half's count (no
// read past the stream), then a register VPEXPANDW (the memory form is microcoded on some CPUs).
// The chunks go to c0-c3 as float32s.
#define WEXPAND(expand, c0, c1, c2, c3) \
	POPCNTL       AX, CX; \
	BZHIQ         CX, ones<>(SB), R10; \
	KMOVD         R10, K5; \
	VMOVDQU16.Z   (R11), K5, Z6; \
	expand        Z6, K1, Z4; \
	LEAQ          (R11)(CX*2), R9; \
	POPCNTQ       AX, R10; \
	SUBQ          CX, R10; \
	BZHIQ         R10, ones<>(SB), CX; \
	KMOVD         CX, K5; \
	VMOVDQU16.Z   (R9), K5, Z6; \
	KSHIFTRQ      $32, K1, K4; \
	expand        Z6, K4, Z5; \
	LEAQ          (R9)(R10*2), R11; \
	VCVTPH2PS     Y4, c0; \
	VEXTRACTI64X4 $1, Z4, Y4; \
	VCVTPH2PS     Y4, c1; \
	VCVTPH2PS     Y5, c2; \
	VEXTRACTI64X4 $1, Z5, Y5; \
	VCVTPH2PS     Y5, c3

// WRECOVER multiplies the pruned lanes' ±α by ρ.
#define WRECOVER(c0, c1, c2, c3) \
	VMULPS   256(SI)(R15*1), c0, K2, c0; \
	KSHIFTRQ $16, K2, K2; \
	VMULPS   576(SI)(R15*1), c1, K2, c1; \
	KSHIFTRQ $16, K2, K2; \
	VMULPS   896(SI)(R15*1), c2, K2, c2; \
	KSHIFTRQ $16, K2, K2; \
	VMULPS   1216(SI)(R15*1), c3, K2, c3

// WPFV prefetches the word's 128 value bytes (two lines).
#define WPFV \
	PFV(128); \
	PREFETCHT0 -64(AX)

// WFMA adds the chunks times the heads' query chunks to the sums a0-a3 (op VFMADD231PS), or
// starts a0-a3 with the first chunk's products (op VMULPS).
#define WFMA(op, c0, c1, c2, c3, a0, a1, a2, a3) \
	op          (SI)(R15*1), c0, a0; \
	op          64(SI)(R15*1), c0, a1; \
	op          128(SI)(R15*1), c0, a2; \
	op          192(SI)(R15*1), c0, a3; \
	VFMADD231PS 320(SI)(R15*1), c1, a0; \
	VFMADD231PS 384(SI)(R15*1), c1, a1; \
	VFMADD231PS 448(SI)(R15*1), c1, a2; \
	VFMADD231PS 512(SI)(R15*1), c1, a3; \
	VFMADD231PS 640(SI)(R15*1), c2, a0; \
	VFMADD231PS 704(SI)(R15*1), c2, a1; \
	VFMADD231PS 768(SI)(R15*1), c2, a2; \
	VFMADD231PS 832(SI)(R15*1), c2, a3; \
	VFMADD231PS 960(SI)(R15*1), c3, a0; \
	VFMADD231PS 1024(SI)(R15*1), c3, a1; \
	VFMADD231PS 1088(SI)(R15*1), c3, a2; \
	VFMADD231PS 1152(SI)(R15*1), c3, a3

// ones is 64 set bits, the source of BZHI's low-bit masks and ANDN's complement.
DATA ones<>+0(SB)/8, $-1
GLOBL ones<>(SB), RODATA|NOPTR, $8

// func maskedScoresF16x64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)
// Any multiple of 64 channels, with or without recovery: a row's words in a loop.
TEXT ·maskedScoresF16x64AVX512(SB), NOSPLIT, $0-96
	LOADARGS
	MOVL         $0x8000, AX
	VPBROADCASTW AX, Z9

wrow:
	ROWSTART
	TESTQ R12, R12
	JZ    wword
	WALPHA

wword:
	WLOAD
	TESTQ R12, R12
	JNZ   wsigns
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	JMP    wexpand

wsigns:
	WSIGNBITS
	WSIGNS

wexpand:
	WEXPAND(VPEXPANDW, Z10, Z11, Z12, Z13)
	TESTQ R12, R12
	JZ    wfma
	WRECOVER(Z10, Z11, Z12, Z13)

wfma:
	WPFV
	WFMA(VFMADD231PS, Z10, Z11, Z12, Z13, Z0, Z1, Z2, Z3)
	ADDQ $8, R14
	ADDQ $1280, R15
	CMPQ R15, DX
	JLT  wword
	ROWEND(wnext)

wnext:
	DECQ n+24(FP)
	JNZ  wrow
	RETUSED(1)
	VZEROUPPER
	RET

// The pipelined kernels' pieces. ROWBEGIN starts a row with recovery: prefetches, α, the
// pruned ordinal, the first word.
#define ROWBEGIN \
	MOVQ       BX, R14; \
	PREFETCHT0 PFMASK(BX); \
	PREFETCHT0 PFSIGNS(R12); \
	PREFETCHT0 PFALPHA(R13); \
	WALPHA; \
	XORQ       R8, R8; \
	XORQ       R15, R15

// WORD0 readies a row's first word in c0-c3: its sign bits start at the row's first sign byte
// (one load).
#define WORD0(c0, c1, c2, c3) \
	WLOAD; \
	MOVQ (R12), R9; \
	WSIGNS; \
	WEXPAND(VPEXPANDW, c0, c1, c2, c3); \
	WRECOVER(c0, c1, c2, c3); \
	WPFV

// WORD1 readies a row's second word in c0-c3: its sign bits start at bit R8 of the row's sign
// bytes.
#define WORD1(c0, c1, c2, c3) \
	ADDQ  $8, R14; \
	MOVQ  $1280, R15; \
	WLOAD; \
	WSIGNBITS; \
	WSIGNS; \
	WEXPAND(VPEXPANDW, c0, c1, c2, c3); \
	WRECOVER(c0, c1, c2, c3); \
	WPFV

// ROWNEXT steps the mask and sign streams to the next row.
#define ROWNEXT \
	ADDQ maskStride+40(FP), BX; \
	ADDQ $7, R8; \
	SHRQ $3, R8; \
	ADDQ R8, R12

// PIPELINE is the software-pipelined row loop over readied rows in two register sets, A and B:
// the next row is readied (rowA/rowB: loaded, expanded, recovered) before the current one is
// dotted and reduced (scoreA/scoreB). Each row is a long dependency chain (mask, loads,
// expansion, conversion, recovery, products, reduction), and the CPU overlaps rows only if
// their chains start early: in a plain row loop (maskedScoresF16x64AVX512) the next row's loads
// queue behind the current row's reduction. On Zen 5 this order took 7.2 ns a row in cache
// against 7.8 (d 64), and 13.5 against 15.2 for a whole attention from DRAM
// (BenchmarkMaskedAttentionDRAM); a third stage (the reduction a row later still) gained
// nothing measurable.
#define PIPELINE(rowA, rowB, scoreA, scoreB) \
	LOADARGS; \
	MOVL         $0x8000, AX; \
	VPBROADCASTW AX, Z9; \
	rowA; \
pair: \
	DECQ n+24(FP); \
	JZ   lastA; \
	rowB; \
	scoreA; \
	DECQ n+24(FP); \
	JZ   lastB; \
	rowA; \
	scoreB; \
	JMP  pair; \
lastA: \
	scoreA; \
	JMP done; \
lastB: \
	scoreB; \
done: \
	RETUSED(1); \
	VZEROUPPER; \
	RET

#define D64ROWA ROWBEGIN; WORD0(Z10, Z11, Z12, Z13); ROWNEXT
#define D64ROWB ROWBEGIN; WORD0(Z14, Z15, Z16, Z17); ROWNEXT
#define D64SCOREA WFMA(VMULPS, Z10, Z11, Z12, Z13, Z0, Z1, Z2, Z3); REDUCE4(Z0, Z1, Z2, Z3)
#define D64SCOREB WFMA(VMULPS, Z14, Z15, Z16, Z17, Z0, Z1, Z2, Z3); REDUCE4(Z0, Z1, Z2, Z3)

// func maskedScoresF16d64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)
// Exactly 64 channels (chunks 4) with recovery (signs not nil), pipelined; R15 stays 0.
TEXT ·maskedScoresF16d64AVX512(SB), NOSPLIT, $0-96
	PIPELINE(D64ROWA, D64ROWB, D64SCOREA, D64SCOREB)

#define D128ROWA ROWBEGIN; WORD0(Z10, Z11, Z12, Z13); WORD1(Z14, Z15, Z16, Z17); ROWNEXT
#define D128ROWB ROWBEGIN; WORD0(Z18, Z19, Z20, Z21); WORD1(Z22, Z23, Z24, Z25); ROWNEXT
#define D128SCOREA \
	XORQ R15, R15; \
	WFMA(VMULPS, Z10, Z11, Z12, Z13, Z0, Z1, Z2, Z3); \
	MOVQ $1280, R15; \
	WFMA(VFMADD231PS, Z14, Z15, Z16, Z17, Z0, Z1, Z2, Z3); \
	REDUCE4(Z0, Z1, Z2, Z3)
#define D128SCOREB \
	XORQ R15, R15; \
	WFMA(VMULPS, Z18, Z19, Z20, Z21, Z0, Z1, Z2, Z3); \
	MOVQ $1280, R15; \
	WFMA(VFMADD231PS, Z22, Z23, Z24, Z25, Z0, Z1, Z2, Z3); \
	REDUCE4(Z0, Z1, Z2, Z3)

// func maskedScoresF16d128AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, pf *byte) (keptUsed, signsUsed int)
// Exactly 128 channels (chunks 8) with recovery (signs not nil), pipelined.
TEXT ·maskedScoresF16d128AVX512(SB), NOSPLIT, $0-96
	PIPELINE(D128ROWA, D128ROWB, D128SCOREA, D128SCOREB)
