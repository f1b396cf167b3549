#include "textflag.h"
#include "dot_amd64.h"

// Dot products of 16-bit float weights (F16 or BF16) with float32 activations that were
// rounded to the weight type, so each product equals ggml's 16-bit by 16-bit one. The loops
// are written once; WCVT, defined before each function, widens 8 weights to float32.

#define DOTHALF1 \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ n+16(FP), CX \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
hloop32: \
	CMPQ CX, $32 \
	JLT  hloop8 \
	WCVT((SI),Y0) \
	WCVT(16(SI),Y1) \
	WCVT(32(SI),Y2) \
	WCVT(48(SI),Y3) \
	VFMADD231PS (DI), Y0, Y8 \
	VFMADD231PS 32(DI), Y1, Y9 \
	VFMADD231PS 64(DI), Y2, Y10 \
	VFMADD231PS 96(DI), Y3, Y11 \
	ADDQ $64, SI \
	ADDQ $128, DI \
	SUBQ $32, CX \
	JMP  hloop32 \
hloop8: \
	CMPQ CX, $8 \
	JLT  hdone \
	WCVT((SI),Y0) \
	VFMADD231PS (DI), Y0, Y8 \
	ADDQ $16, SI \
	ADDQ $32, DI \
	SUBQ $8, CX \
	JMP  hloop8 \
hdone: \
	VADDPS Y9, Y8, Y8 \
	VADDPS Y11, Y10, Y10 \
	VADDPS Y10, Y8, Y0 \
	HSUM8 \
	VMOVSS X0, ret+24(FP) \
	VZEROUPPER \
	RET

#define DOTHALF4 \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ xstride+16(FP), R10 \
	MOVQ n+24(FP), CX \
	LEAQ (R10)(R10*2), R13 \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	VXORPS Y12, Y12, Y12 \
	VXORPS Y13, Y13, Y13 \
	VXORPS Y14, Y14, Y14 \
	VXORPS Y15, Y15, Y15 \
hx4loop16: \
	CMPQ CX, $16 \
	JLT  hx4loop8 \
	WCVT((SI),Y0) \
	WCVT(16(SI),Y1) \
	VFMADD231PS (DI), Y0, Y8 \
	VFMADD231PS 32(DI), Y1, Y12 \
	VFMADD231PS (DI)(R10*1), Y0, Y9 \
	VFMADD231PS 32(DI)(R10*1), Y1, Y13 \
	VFMADD231PS (DI)(R10*2), Y0, Y10 \
	VFMADD231PS 32(DI)(R10*2), Y1, Y14 \
	VFMADD231PS (DI)(R13*1), Y0, Y11 \
	VFMADD231PS 32(DI)(R13*1), Y1, Y15 \
	ADDQ $32, SI \
	ADDQ $64, DI \
	SUBQ $16, CX \
	JMP  hx4loop16 \
hx4loop8: \
	CMPQ CX, $8 \
	JLT  hx4done \
	WCVT((SI),Y0) \
	VFMADD231PS (DI), Y0, Y8 \
	VFMADD231PS (DI)(R10*1), Y0, Y9 \
	VFMADD231PS (DI)(R10*2), Y0, Y10 \
	VFMADD231PS (DI)(R13*1), Y0, Y11 \
	ADDQ $16, SI \
	ADDQ $32, DI \
	SUBQ $8, CX \
	JMP  hx4loop8 \
hx4done: \
	VADDPS Y12, Y8, Y8 \
	VADDPS Y13, Y9, Y9 \
	VADDPS Y14, Y10, Y10 \
	VADDPS Y15, Y11, Y11 \
	X4FINISHAT(out+32(FP)) \
	RET

// func dotF16AVX2(w *byte, x *float32, n int) float32
// n is a multiple of 8.
#define WCVT(src, dst) VCVTPH2PS src, dst
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	DOTHALF1

// func dotF16x4AVX2(w *byte, x *float32, xstride int, n int, out *[4]float32)
// Four activation rows xstride bytes apart; each weight vector is converted once. n is a
// multiple of 8.
TEXT ·dotF16x4AVX2(SB), NOSPLIT, $0-40
	DOTHALF4

#undef WCVT
#define WCVT(src, dst) VPMOVZXWD src, dst; VPSLLD $16, dst, dst

// func dotBF16AVX2(w *byte, x *float32, n int) float32
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	DOTHALF1

// func dotBF16x4AVX2(w *byte, x *float32, xstride int, n int, out *[4]float32)
TEXT ·dotBF16x4AVX2(SB), NOSPLIT, $0-40
	DOTHALF4
