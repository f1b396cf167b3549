// Macros shared by the amd64 assembly kernels.

// HSUM8 adds the 8 floats of Y0 into the low lane of X0.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

// HSUMTO stores the sum of the 8 floats of yreg (clobbering it and xtmp) at dst.
#define HSUMTO(yreg, xreg, xtmp, dst) \
	VEXTRACTF128 $1, yreg, xtmp \
	VADDPS       xtmp, xreg, xreg \
	VHADDPS      xreg, xreg, xreg \
	VHADDPS      xreg, xreg, xreg \
	VMOVSS       xreg, dst

// X4FINISHAT stores the sums of Y8..Y11 at the [4]float32 whose address is at outarg.
#define X4FINISHAT(outarg) \
	MOVQ outarg, DX \
	HSUMTO(Y8, X8, X0, (DX)) \
	HSUMTO(Y9, X9, X0, 4(DX)) \
	HSUMTO(Y10, X10, X0, 8(DX)) \
	HSUMTO(Y11, X11, X0, 12(DX)) \
	VZEROUPPER

// ONES16 sets every int16 of Y15 to 1 (for VPMADDWD pair sums).
#define ONES16 \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW   $15, Y15, Y15

// Q8DOT turns 32 weight bytes Y0 (signed) and 32 activation quants Y1 into 8 int32 partial
// sums in Y2, converted to float.
#define Q8DOT \
	VPSIGNB    Y0, Y0, Y2 \
	VPSIGNB    Y0, Y1, Y1 \
	VPMADDUBSW Y1, Y2, Y2 \
	VPMADDWD   Y15, Y2, Y2 \
	VCVTDQ2PS  Y2, Y2

// BLOCKSCALE sets Y3 to (half at wptr) * (float at dptr) in every lane.
#define BLOCKSCALE(wptr, dptr) \
	VPBROADCASTW wptr, X3 \
	VCVTPH2PS    X3, Y3 \
	VBROADCASTSS dptr, Y4 \
	VMULPS       Y4, Y3, Y3

// X4SETUP loads the arguments shared by the four-token kernels.
#define X4SETUP \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ xstride+16(FP), R10 \
	MOVQ d+24(FP), R8 \
	MOVQ dstride+32(FP), R11 \
	MOVQ nb+40(FP), CX \
	LEAQ (R10)(R10*2), R13 \
	LEAQ (R11)(R11*2), R14 \
	ONES16 \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11

// X4TOKEN accumulates one token: Y0 weights (signed), Y1 |weights|, Y2 the weight scale.
#define X4TOKEN(xq, xd, acc) \
	VMOVDQU      xq, Y3 \
	VPSIGNB      Y0, Y3, Y3 \
	VPMADDUBSW   Y3, Y1, Y3 \
	VPMADDWD     Y15, Y3, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VBROADCASTSS xd, Y4 \
	VMULPS       Y4, Y2, Y4 \
	VFMADD231PS  Y4, Y3, acc

#define X4BLOCK \
	VPSIGNB      Y0, Y0, Y1 \
	VPBROADCASTW (SI), X2 \
	VCVTPH2PS    X2, Y2 \
	X4TOKEN((DI), (R8), Y8) \
	X4TOKEN((DI)(R10*1), (R8)(R11*1), Y9) \
	X4TOKEN((DI)(R10*2), (R8)(R11*2), Y10) \
	X4TOKEN((DI)(R13*1), (R8)(R14*1), Y11)

#define X4FINISH X4FINISHAT(out+48(FP))
