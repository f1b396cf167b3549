#include "textflag.h"

// AVX2 masked-record score kernels (see maskedScoresAVX2 in sparkdot_amd64.go). AVX2 has no
// VPEXPAND, so each mask byte m (8 channels) selects a 32-byte entry of the lane table: lane i
// holds the rank of channel i among m's kept channels (bit 31 set) or among its pruned ones.
// VPERMPS by that entry spreads 8 loaded kept values to their lanes; VPSRLVD by it brings each
// pruned lane's sign bit down from the broadcast sign bits (a kept lane's count, ≥ 2^31,
// shifts everything out); VBLENDVPS on its bit 31 merges the two.
//
// Registers:
//   DI  s, 16 bytes (four scores) per row      SI  qr: per 16 channels 4 query rows then ρ
//   DX  chunks×320, the end of a row's chunks  R15 offset of the current chunk in qr
//   R14 mask cursor                            R10 lane table
//   R11 kept stream                            R12 the row's sign bytes (0: no recovery)
//   R13 alpha stream                           R8  pruned ordinal within the row
//   AX  the chunk's 16 mask bits               R9  scratch for the chunk's sign bits
//   BX, CX scratch
//   Y0-Y3  the four heads' sums over low bytes Y10-Y13 the same over high bytes
//   Y4  the spread row chunk    Y5 lane entry  Y6 ±α·ρ  Y7 sign bits  Y8 −α
//   Y9  zero (no recovery), scratch (recovery)  Y14 the high byte's sign-bit counts
//   Y15 the float sign bit in every lane
// The argument slot maskStride is rewritten to the step from a row's mask end to the next row's
// mask; the slot n counts the rows down.

// LANES loads the lane entry of mask byte BX into Y5 and leaves its kept count in BX and its
// offset in the table in CX.
#define LANES \
	MOVQ    BX, CX; \
	SHLQ    $5, CX; \
	VMOVDQU (R10)(CX*1), Y5; \
	POPCNTL BX, BX

// KEPT16 and KEPT32 spread the next 8 entries of the kept stream to their lanes of Y4 and step
// past the BX that are the byte's (the 8-entry load may read past the stream's end: the Go side
// guarantees the room).
#define KEPT16 \
	VCVTPH2PS (R11), Y4; \
	VPERMPS   Y4, Y5, Y4; \
	LEAQ      (R11)(BX*2), R11

#define KEPT32 \
	VPERMPS (R11), Y5, Y4; \
	LEAQ    (R11)(BX*4), R11

// RECOVER puts ±α·ρ (ρ at roff in the chunk) in the pruned lanes of Y4: −α·ρ with the float sign
// bit flipped where the lane's sign bit (bit cnt of Y7) is set, a positive entry.
#define RECOVER(roff, cnt) \
	VMULPS    roff(SI)(R15*1), Y8, Y6; \
	VPSRLVD   cnt, Y7, Y9; \
	VPSLLD    $31, Y9, Y9; \
	VXORPS    Y9, Y6, Y6; \
	VBLENDVPS Y5, Y4, Y6, Y4

// FMA4 adds Y4 times the four heads' query chunks (at qoff in the chunk) to a0-a3.
#define FMA4(qoff, a0, a1, a2, a3) \
	VFMADD231PS qoff(SI)(R15*1), Y4, a0; \
	VFMADD231PS qoff+64(SI)(R15*1), Y4, a1; \
	VFMADD231PS qoff+128(SI)(R15*1), Y4, a2; \
	VFMADD231PS qoff+192(SI)(R15*1), Y4, a3

// PAIRREC is one 16-channel chunk (two mask bytes) with recovery. The chunk's sign bits are the
// next 16 − popcount(mask) bits of the row's sign stream from bit R8: one unaligned 8-byte load
// covers them (the Go side guarantees 8 readable bytes past the stream's end), broadcast to Y7.
// The high byte's pruned lanes count from the low byte's pruned count, which the second half of
// the lane table holds in every lane (Y14).
#define PAIRREC(KEPT) \
	MOVWLZX      (R14), AX; \
	MOVQ         R8, R9; \
	SHRQ         $3, R9; \
	MOVQ         (R12)(R9*1), R9; \
	MOVQ         R8, CX; \
	ANDQ         $7, CX; \
	SHRQ         CX, R9; \
	VMOVQ        R9, X7; \
	VPBROADCASTD X7, Y7; \
	MOVBLZX      AX, BX; \
	LANES; \
	VMOVDQU      8192(R10)(CX*1), Y14; \
	KEPT; \
	RECOVER(256, Y5); \
	FMA4(0, Y0, Y1, Y2, Y3); \
	MOVL         AX, BX; \
	SHRL         $8, BX; \
	LANES; \
	VPADDD       Y5, Y14, Y14; \
	KEPT; \
	RECOVER(288, Y14); \
	FMA4(32, Y10, Y11, Y12, Y13); \
	POPCNTL      AX, CX; \
	SUBQ         CX, R8; \
	ADDQ         $16, R8; \
	ADDQ         $2, R14; \
	ADDQ         $320, R15

// PAIR is one 16-channel chunk without recovery: pruned lanes are zero.
#define PAIR(KEPT) \
	MOVWLZX   (R14), AX; \
	MOVBLZX   AX, BX; \
	LANES; \
	KEPT; \
	VBLENDVPS Y5, Y4, Y9, Y4; \
	FMA4(0, Y0, Y1, Y2, Y3); \
	MOVL      AX, BX; \
	SHRL      $8, BX; \
	LANES; \
	KEPT; \
	VBLENDVPS Y5, Y4, Y9, Y4; \
	FMA4(32, Y10, Y11, Y12, Y13); \
	ADDQ      $2, R14; \
	ADDQ      $320, R15

// ROWSTART clears the sums and points R15/R8 at the row's first chunk.
#define ROWSTART \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	XORQ   R8, R8; \
	XORQ   R15, R15

// ROWEND reduces the sums to the four scores at (DI) and advances s and the mask cursor.
#define ROWEND \
	VADDPS       Y10, Y0, Y0; \
	VADDPS       Y11, Y1, Y1; \
	VADDPS       Y12, Y2, Y2; \
	VADDPS       Y13, Y3, Y3; \
	VUNPCKLPS    Y1, Y0, Y4; \
	VUNPCKHPS    Y1, Y0, Y5; \
	VADDPS       Y5, Y4, Y4; \
	VUNPCKLPS    Y3, Y2, Y5; \
	VUNPCKHPS    Y3, Y2, Y6; \
	VADDPS       Y6, Y5, Y5; \
	VUNPCKLPD    Y5, Y4, Y6; \
	VUNPCKHPD    Y5, Y4, Y7; \
	VADDPS       Y7, Y6, Y6; \
	VEXTRACTF128 $1, Y6, X7; \
	VADDPS       X7, X6, X6; \
	VMOVUPS      X6, (DI); \
	ADDQ         $16, DI; \
	ADDQ         maskStride+40(FP), R14

// SIGNSTEP advances the sign stream past the row's ceil(pruned/8) bytes.
#define SIGNSTEP \
	ADDQ $7, R8; \
	SHRQ $3, R8; \
	ADDQ R8, R12

// DONE(shift) returns the kept entries (of 1<<shift bytes) and sign bytes the rows took.
#define DONE(shift) \
	SUBQ       kept+48(FP), R11; \
	SHRQ       $shift, R11; \
	MOVQ       R11, keptUsed+80(FP); \
	SUBQ       signs+56(FP), R12; \
	MOVQ       R12, signsUsed+88(FP); \
	VZEROUPPER; \
	RET

// LOADARGS loads the arguments and the constants.
#define LOADARGS \
	MOVQ   s+0(FP), DI; \
	MOVQ   qr+8(FP), SI; \
	MOVQ   chunks+16(FP), DX; \
	MOVQ   maskStride+40(FP), CX; \
	SUBQ   DX, CX; \
	SUBQ   DX, CX; \
	MOVQ   CX, maskStride+40(FP); \
	IMULQ  $320, DX; \
	MOVQ   mask+32(FP), R14; \
	MOVQ   kept+48(FP), R11; \
	MOVQ   signs+56(FP), R12; \
	MOVQ   alpha+64(FP), R13; \
	MOVQ   lanes+72(FP), R10; \
	VXORPS Y9, Y9, Y9; \
	MOVL   $0x80000000, CX; \
	VMOVD  CX, X15; \
	VPBROADCASTD X15, Y15

// func maskedScoresF16AVX2(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16, lanes *uint32) (keptUsed, signsUsed int)
TEXT ·maskedScoresF16AVX2(SB), NOSPLIT, $0-96
	LOADARGS
	TESTQ R12, R12
	JZ    h0row

hrow:
	ROWSTART
	MOVWLZX      (R13), CX
	VMOVD        CX, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VXORPS       Y15, Y8, Y8
	ADDQ         $2, R13

hpair:
	PAIRREC(KEPT16)
	CMPQ R15, DX
	JLT  hpair
	ROWEND
	SIGNSTEP
	DECQ n+24(FP)
	JNZ  hrow
	DONE(1)

h0row:
	ROWSTART

h0pair:
	PAIR(KEPT16)
	CMPQ R15, DX
	JLT  h0pair
	ROWEND
	DECQ n+24(FP)
	JNZ  h0row
	DONE(1)

// func maskedScoresF32AVX2(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32, lanes *uint32) (keptUsed, signsUsed int)
TEXT ·maskedScoresF32AVX2(SB), NOSPLIT, $0-96
	LOADARGS
	TESTQ R12, R12
	JZ    f0row

frow:
	ROWSTART
	VBROADCASTSS (R13), Y8
	VXORPS       Y15, Y8, Y8
	ADDQ         $4, R13

fpair:
	PAIRREC(KEPT32)
	CMPQ R15, DX
	JLT  fpair
	ROWEND
	SIGNSTEP
	DECQ n+24(FP)
	JNZ  frow
	DONE(2)

f0row:
	ROWSTART

f0pair:
	PAIR(KEPT32)
	CMPQ R15, DX
	JLT  f0pair
	ROWEND
	DECQ n+24(FP)
	JNZ  f0row
	DONE(2)
