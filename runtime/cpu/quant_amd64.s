#include "textflag.h"

// Activation quantization with AVX2 + F16C: the same arithmetic as quantQ8Blocks and
// quantizeAct's half rounding (quant.go), eight lanes at a time, so the results are identical
// bit for bit.

// q8perm restores element order after the two in-lane packs of QUANTQ8.
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// ROUNDQ replaces the float32s of reg (already multiplied by 1/d) by their int32s rounded half
// away from zero, like math.Round: trunc(v), plus sign(v) where |v - trunc(v)| >= 0.5 (the
// difference is exact). Uses Y14 = 0x7fffffff, Y13 = sign bits, Y12 = 0.5, Y11 = 1.0 and
// clobbers Y7, Y8.
#define ROUNDQ(reg) \
	VROUNDPS   $3, reg, Y7 \
	VSUBPS     Y7, reg, Y8 \
	VANDPS     Y14, Y8, Y8 \
	VCMPPS     $13, Y12, Y8, Y8 \
	VANDPS     Y13, reg, reg \
	VORPS      Y11, reg, reg \
	VANDPS     Y8, reg, reg \
	VADDPS     reg, Y7, reg \
	VCVTTPS2DQ reg, reg

// func quantQ8AVX2(x *float32, nb int, qs *int8, d, d8, s *float32, ns4 *int32)
// Quantizes nb >= 1 blocks of 32 floats at x: quants to qs, the half-rounded scale to d[b]
// and 8 times to d8, minus each 4 quants' sum to ns4, and, when s is not nil, the
// half-rounded d·sum(quants) to s[b].
TEXT ·quantQ8AVX2(SB), NOSPLIT, $0-56
	MOVQ     x+0(FP), SI
	MOVQ     nb+8(FP), CX
	MOVQ     qs+16(FP), DI
	MOVQ     d+24(FP), R8
	MOVQ     d8+32(FP), R9
	MOVQ     s+40(FP), R10
	MOVQ     ns4+48(FP), R11
	VPCMPEQD Y15, Y15, Y15
	VPSRLD   $1, Y15, Y14
	VPSLLD   $31, Y15, Y13
	MOVL     $0x3f000000, AX
	MOVL     AX, X12
	VPBROADCASTD X12, Y12
	MOVL     $0x3f800000, AX
	MOVL     AX, X11
	VPBROADCASTD X11, Y11
	MOVL     $0x42fe0000, AX // 127
	MOVL     AX, X10
	VMOVDQU  q8perm<>(SB), Y9

qloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	// amax, then d = amax/127 and id = 1/d (0 when d is 0).
	VANDPS       Y14, Y0, Y4
	VANDPS       Y14, Y1, Y5
	VMAXPS       Y5, Y4, Y4
	VANDPS       Y14, Y2, Y5
	VMAXPS       Y5, Y4, Y4
	VANDPS       Y14, Y3, Y5
	VMAXPS       Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0x4e, X4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0xb1, X4, X5
	VMAXPS       X5, X4, X4
	VDIVSS       X10, X4, X4 // d
	VDIVSS       X4, X11, X6
	VXORPS       X5, X5, X5
	VCMPSS       $4, X5, X4, X5 // d != 0
	VANDPS       X5, X6, X6
	VBROADCASTSS X6, Y6

	VMULPS Y6, Y0, Y0
	ROUNDQ(Y0)
	VMULPS Y6, Y1, Y1
	ROUNDQ(Y1)
	VMULPS Y6, Y2, Y2
	ROUNDQ(Y2)
	VMULPS Y6, Y3, Y3
	ROUNDQ(Y3)

	TESTQ R10, R10
	JZ    nosum
	VPADDD       Y1, Y0, Y5
	VPADDD       Y2, Y5, Y5
	VPADDD       Y3, Y5, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDD       X6, X5, X5
	VPHADDD      X5, X5, X5
	VPHADDD      X5, X5, X5
	VCVTDQ2PS    X5, X5
	VMULSS       X4, X5, X5
	VCVTPS2PH    $0, X5, X5
	VCVTPH2PS    X5, X5
	VMOVSS       X5, (R10)
	ADDQ         $4, R10

nosum:
	// ns4: two rounds of pairwise adds leave the 4-sums in the dword order of q8perm.
	VPHADDD Y1, Y0, Y5
	VPHADDD Y3, Y2, Y6
	VPHADDD Y6, Y5, Y5
	VPERMD  Y5, Y9, Y5
	VPXOR   Y6, Y6, Y6
	VPSUBD  Y5, Y6, Y5
	VMOVDQU Y5, (R11)
	ADDQ    $32, R11

	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y9, Y0
	VMOVDQU   Y0, (DI)

	VCVTPS2PH    $0, X4, X4
	VCVTPH2PS    X4, X4
	VMOVSS       X4, (R8)
	VBROADCASTSS X4, Y4
	VMOVUPS      Y4, (R9)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  qloop
	VZEROUPPER
	RET

// func roundF16AVX2(dst, src *float32, n int)
// dst[i] = src[i] rounded to half precision (nearest even) and back, for i < n, n a positive
// multiple of 8.
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

rloop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       rloop
	VZEROUPPER
	RET
