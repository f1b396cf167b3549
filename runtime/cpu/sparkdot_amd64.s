#include "textflag.h"

// Masked-record score kernels (see sparkdot_amd64.go). Registers, both kernels:
//   DI  s, 16 bytes (four scores) per row      SI  qr: per chunk 4 query rows then ρ, 320 bytes
//   DX  chunks×320, the end of a row's chunks  R15 offset of the current chunk in qr
//   BX  the row's mask                         R14 the chunk's 16 mask bits
//   R10 scratch (wide kernel)                  R11 kept stream
//   R12 the row's sign bytes (0: no recovery)  R13 alpha stream
//   R8  pruned ordinal within the row          AX, CX, R9 scratch
//   Z0-Z3 the four heads' partial dot products Z4 the expanded row chunk
//   Z8  α broadcast                            Z9  the float sign bit in every lane
// The row count lives in the argument slot n and counts down.

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

// ROWSTART clears the sums and points R14/R15/R8 at the row's first chunk.
#define ROWSTART \
	VXORPS Z0, Z0, Z0; \
	VXORPS Z1, Z1, Z1; \
	VXORPS Z2, Z2, Z2; \
	VXORPS Z3, Z3, Z3; \
	XORQ   R8, R8; \
	MOVQ   BX, R14; \
	XORQ   R15, R15

// ROWEND reduces Z0-Z3 to the four scores at (DI) and advances s, the mask and the sign stream
// (by the row's ceil(pruned/8) bytes).
#define ROWEND(nosigns) \
	VUNPCKLPS     Z1, Z0, Z4; \
	VUNPCKHPS     Z1, Z0, Z5; \
	VADDPS        Z5, Z4, Z4; \
	VUNPCKLPS     Z3, Z2, Z5; \
	VUNPCKHPS     Z3, Z2, Z6; \
	VADDPS        Z6, Z5, Z5; \
	VUNPCKLPD     Z5, Z4, Z6; \
	VUNPCKHPD     Z5, Z4, Z7; \
	VADDPS        Z7, Z6, Z6; \
	VEXTRACTF64X4 $1, Z6, Y7; \
	VADDPS        Y7, Y6, Y6; \
	VEXTRACTF128  $1, Y6, X7; \
	VADDPS        X7, X6, X6; \
	VMOVUPS       X6, (DI); \
	ADDQ          $16, DI; \
	ADDQ          maskStride+40(FP), BX; \
	TESTQ         R12, R12; \
	JZ            nosigns; \
	ADDQ          $7, R8; \
	SHRQ          $3, R8; \
	ADDQ          R8, R12

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

// func maskedScoresF16AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16)
TEXT ·maskedScoresF16AVX512(SB), NOSPLIT, $0-72
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
	MOVWLZX     (R14), AX
	KMOVW       AX, K1
	VPEXPANDW.Z (R11), K1, Y4
	POPCNTL     AX, R9
	LEAQ        (R11)(R9*2), R11
	VCVTPH2PS   Y4, Z4
	RECOVER(f16fma)

f16fma:
	FMA4
	CMPQ R15, DX
	JLT  f16chunk
	ROWEND(f16next)

f16next:
	DECQ n+24(FP)
	JNZ  f16row
	VZEROUPPER
	RET

// func maskedScoresF32AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *float32, signs *byte, alpha *float32)
TEXT ·maskedScoresF32AVX512(SB), NOSPLIT, $0-72
	LOADARGS

f32row:
	ROWSTART
	TESTQ R12, R12
	JZ    f32chunk
	VBROADCASTSS (R13), Z8
	ADDQ         $4, R13

f32chunk:
	MOVWLZX     (R14), AX
	KMOVW       AX, K1
	VEXPANDPS.Z (R11), K1, Z4
	POPCNTL     AX, R9
	LEAQ        (R11)(R9*4), R11
	RECOVER(f32fma)

f32fma:
	FMA4
	CMPQ R15, DX
	JLT  f32chunk
	ROWEND(f32next)

f32next:
	DECQ n+24(FP)
	JNZ  f32row
	VZEROUPPER
	RET

// func maskedScoresF16x64AVX512(s, qr *float32, chunks, n int, mask *byte, maskStride int, kept *uint16, signs *byte, alpha *uint16)
// The f16 kernel for head dims that are a multiple of 64: a 64-channel word of the mask at a
// time, so that the sign bits are extracted and scattered once per word (64 bits from bit R8 of
// the row's sign stream, two loads and SHRD: up to 16 bytes past the row's last sign byte), the
// kept values are expanded 32 at a time, and K2/K3 hold the word's negative/positive pruned
// lanes, shifted 16 bits per chunk.
TEXT ·maskedScoresF16x64AVX512(SB), NOSPLIT, $0-72
	LOADARGS

wrow:
	ROWSTART
	TESTQ R12, R12
	JZ    wword
	MOVWLZX      (R13), AX
	VMOVD        AX, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Z8
	ADDQ         $2, R13

wword:
	MOVQ  (R14), AX
	KMOVQ AX, K1
	TESTQ R12, R12
	JZ    wexpand
	MOVQ  R8, R9
	SHRQ  $3, R9
	MOVQ  8(R12)(R9*1), R10
	MOVQ  (R12)(R9*1), R9
	MOVQ  R8, CX
	ANDQ  $7, CX
	SHRQ  CX, R10, R9
	MOVQ  AX, CX
	NOTQ  CX
	PDEPQ CX, R9, R9
	KMOVQ R9, K3
	ORQ   AX, R9
	NOTQ  R9
	KMOVQ R9, K2
	POPCNTQ CX, CX
	ADDQ  CX, R8

wexpand:
	// The kept values of each 32-channel half: a masked load of exactly its count (no read
	// past the stream), then a register VPEXPANDW (the memory form is microcoded on some CPUs).
	POPCNTL       AX, CX
	MOVQ          $-1, R10
	BZHIQ         CX, R10, R10
	KMOVD         R10, K5
	VMOVDQU16.Z   (R11), K5, Z4
	VPEXPANDW.Z   Z4, K1, Z4
	LEAQ          (R11)(CX*2), R9
	POPCNTQ       AX, R10
	SUBQ          CX, R10
	MOVQ          $-1, CX
	BZHIQ         R10, CX, CX
	KMOVD         CX, K5
	VMOVDQU16.Z   (R9), K5, Z5
	KSHIFTRQ      $32, K1, K4
	VPEXPANDW.Z   Z5, K4, Z5
	LEAQ          (R9)(R10*2), R11
	VCVTPH2PS     Y4, Z10
	VEXTRACTI64X4 $1, Z4, Y4
	VCVTPH2PS     Y4, Z11
	VCVTPH2PS     Y5, Z12
	VEXTRACTI64X4 $1, Z5, Y5
	VCVTPH2PS     Y5, Z13
	TESTQ         R12, R12
	JZ            wfma
	VMULPS        256(SI)(R15*1), Z8, Z6
	VXORPS        Z9, Z6, K2, Z10
	VMOVAPS       Z6, K3, Z10
	KSHIFTRQ      $16, K2, K2
	KSHIFTRQ      $16, K3, K3
	VMULPS        576(SI)(R15*1), Z8, Z6
	VXORPS        Z9, Z6, K2, Z11
	VMOVAPS       Z6, K3, Z11
	KSHIFTRQ      $16, K2, K2
	KSHIFTRQ      $16, K3, K3
	VMULPS        896(SI)(R15*1), Z8, Z6
	VXORPS        Z9, Z6, K2, Z12
	VMOVAPS       Z6, K3, Z12
	KSHIFTRQ      $16, K2, K2
	KSHIFTRQ      $16, K3, K3
	VMULPS        1216(SI)(R15*1), Z8, Z6
	VXORPS        Z9, Z6, K2, Z13
	VMOVAPS       Z6, K3, Z13

wfma:
	VFMADD231PS (SI)(R15*1), Z10, Z0
	VFMADD231PS 64(SI)(R15*1), Z10, Z1
	VFMADD231PS 128(SI)(R15*1), Z10, Z2
	VFMADD231PS 192(SI)(R15*1), Z10, Z3
	VFMADD231PS 320(SI)(R15*1), Z11, Z0
	VFMADD231PS 384(SI)(R15*1), Z11, Z1
	VFMADD231PS 448(SI)(R15*1), Z11, Z2
	VFMADD231PS 512(SI)(R15*1), Z11, Z3
	VFMADD231PS 640(SI)(R15*1), Z12, Z0
	VFMADD231PS 704(SI)(R15*1), Z12, Z1
	VFMADD231PS 768(SI)(R15*1), Z12, Z2
	VFMADD231PS 832(SI)(R15*1), Z12, Z3
	VFMADD231PS 960(SI)(R15*1), Z13, Z0
	VFMADD231PS 1024(SI)(R15*1), Z13, Z1
	VFMADD231PS 1088(SI)(R15*1), Z13, Z2
	VFMADD231PS 1152(SI)(R15*1), Z13, Z3
	ADDQ        $8, R14
	ADDQ        $1280, R15
	CMPQ        R15, DX
	JLT         wword
	ROWEND(wnext)

wnext:
	DECQ n+24(FP)
	JNZ  wrow
	VZEROUPPER
	RET
