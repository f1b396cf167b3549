#include "textflag.h"
#include "dot_amd64.h"

// AVX2/FMA kernels for the 32-element block types whose activations are Q8_0: Q8_0, Q4_0,
// Q5_0 and IQ4_NL. They differ only in how a weight block becomes 32 signed bytes, so the
// loops are written once (Q32BODY1 for one token, Q32BODY4 for four) around WEXPAND, which is
// defined before each type's functions together with WSETUP, its constants.
//
// Integer blocks use ggml's sign trick: VPMADDUBSW multiplies unsigned by signed bytes, so
// |w| is multiplied by x carrying w's sign; pairs of products fit int16 because |x| <= 127
// and |w| <= 128.

DATA nibbleMask<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbleMask<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nibbleMask<>(SB), RODATA|NOPTR, $16

DATA eights<>+0(SB)/8, $0x0808080808080808
DATA eights<>+8(SB)/8, $0x0808080808080808
GLOBL eights<>(SB), RODATA|NOPTR, $16

// q5Spread sends byte k/8 of the 32 high bits to byte k; q5Bit then leaves every bit of byte k
// set except bit k%8, so a byte is all ones exactly when its element's high bit is set.
DATA q5Spread<>+0(SB)/8, $0x0000000000000000
DATA q5Spread<>+8(SB)/8, $0x0101010101010101
DATA q5Spread<>+16(SB)/8, $0x0202020202020202
DATA q5Spread<>+24(SB)/8, $0x0303030303030303
GLOBL q5Spread<>(SB), RODATA|NOPTR, $32

DATA q5Bit<>+0(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5Bit<>+8(SB)/8, $0x7fbfdfeff7fbfdfe
GLOBL q5Bit<>(SB), RODATA|NOPTR, $16

DATA highNibbles<>+0(SB)/8, $0xf0f0f0f0f0f0f0f0
DATA highNibbles<>+8(SB)/8, $0xf0f0f0f0f0f0f0f0
GLOBL highNibbles<>(SB), RODATA|NOPTR, $16

DATA sixteens<>+0(SB)/8, $0x1010101010101010
DATA sixteens<>+8(SB)/8, $0x1010101010101010
GLOBL sixteens<>(SB), RODATA|NOPTR, $16

// iq4nl is ggml's kvalues_iq4nl codebook as signed bytes.
DATA iq4nl<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nl<>+8(SB)/8, $0x7159453526190d01
GLOBL iq4nl<>(SB), RODATA|NOPTR, $16

// NIBBLES loads 16 bytes at ptr into Y0 as 32 nibbles 0..15 in element order: low nibbles
// are elements 0..15, high nibbles 16..31. Y14 holds 0x0f bytes.
#define NIBBLES(ptr) \
	VMOVDQU     ptr, X0 \
	VPSRLW      $4, X0, X5 \
	VINSERTI128 $1, X5, Y0, Y0 \
	VPAND       Y14, Y0, Y0

// Q32BODY1 is the one-token kernel over nb blocks of size bytes, with the block scale at
// offset 0: func(w *byte, qs *int8, d *float32, nb int) float32.
#define Q32BODY1(size) \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ d+16(FP), DX \
	MOVQ nb+24(FP), CX \
	ONES16 \
	WSETUP \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	TESTQ  CX, CX \
	JZ     done \
loop: \
	WEXPAND \
	VMOVDQU (DI), Y1 \
	Q8DOT \
	BLOCKSCALE((SI), (DX)) \
	VFMADD231PS Y3, Y2, Y8 \
	ADDQ $size, SI \
	ADDQ $32, DI \
	ADDQ $4, DX \
	DECQ CX \
	JZ   done \
	WEXPAND \
	VMOVDQU (DI), Y1 \
	Q8DOT \
	BLOCKSCALE((SI), (DX)) \
	VFMADD231PS Y3, Y2, Y9 \
	ADDQ $size, SI \
	ADDQ $32, DI \
	ADDQ $4, DX \
	DECQ CX \
	JNZ  loop \
done: \
	VADDPS Y9, Y8, Y0 \
	HSUM8 \
	VMOVSS X0, ret+32(FP) \
	VZEROUPPER \
	RET

// Q32BODY4 is the four-token kernel: func(w *byte, qs *int8, xstride int, d *float32,
// dstride int, nb int, out *[4]float32).
#define Q32BODY4(size) \
	X4SETUP \
	WSETUP \
	TESTQ CX, CX \
	JZ    done \
loop: \
	WEXPAND \
	X4BLOCK \
	ADDQ $size, SI \
	ADDQ $32, DI \
	ADDQ $4, R8 \
	DECQ CX \
	JNZ  loop \
done: \
	X4FINISH \
	RET

// Q32UBODY1 is the one-token kernel for the types with a minimum (Q4_1, Q5_1; Q8_1
// activations): the quants are unsigned, so VPMADDUBSW takes them as they are, and each block
// adds m * s (the weight minimum times the activation block's d*sum) into X11:
// func(w *byte, qs *int8, d *float32, s *float32, nb int) float32.
#define Q32UBODY1(size) \
	MOVQ w+0(FP), SI \
	MOVQ qs+8(FP), DI \
	MOVQ d+16(FP), DX \
	MOVQ s+24(FP), R9 \
	MOVQ nb+32(FP), CX \
	ONES16 \
	WSETUP \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y11, Y11, Y11 \
	TESTQ  CX, CX \
	JZ     done \
loop: \
	WEXPAND \
	VPMADDUBSW   (DI), Y0, Y2 \
	VPMADDWD     Y15, Y2, Y2 \
	VCVTDQ2PS    Y2, Y2 \
	BLOCKSCALE((SI), (DX)) \
	VFMADD231PS  Y3, Y2, Y8 \
	VPBROADCASTW 2(SI), X10 \
	VCVTPH2PS    X10, X10 \
	VFMADD231SS  (R9), X10, X11 \
	ADDQ $size, SI \
	ADDQ $32, DI \
	ADDQ $4, DX \
	ADDQ $4, R9 \
	DECQ CX \
	JNZ  loop \
done: \
	VMOVAPS Y8, Y0 \
	HSUM8 \
	VADDSS X11, X0, X0 \
	VMOVSS X0, ret+40(FP) \
	VZEROUPPER \
	RET

// Q8_0: d, then 32 signed quants.
#define WSETUP
#define WEXPAND VMOVDQU 2(SI), Y0

// func dotQ8_0AVX2(w *byte, qs *int8, d *float32, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	Q32BODY1(34)

// func dotQ8_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-56
	Q32BODY4(34)

// Q4_0: d, then 16 bytes of nibbles, each value minus 8.
#undef WSETUP
#undef WEXPAND
#define WSETUP VBROADCASTI128 nibbleMask<>(SB), Y14; VBROADCASTI128 eights<>(SB), Y13
#define WEXPAND NIBBLES(2(SI)); VPSUBB Y13, Y0, Y0

// func dotQ4_0AVX2(w *byte, qs *int8, d *float32, nb int) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-36
	Q32BODY1(18)

// func dotQ4_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-56
	Q32BODY4(18)

// Q5_0: d, 32 high bits, 16 bytes of low nibbles; value = (nibble | high<<4) - 16, built as
// the nibble OR 0xf0 (that is, minus 16) where the high bit is clear (ggml's AVX2 method).
#undef WSETUP
#undef WEXPAND
#define WSETUP VBROADCASTI128 nibbleMask<>(SB), Y14; VMOVDQU q5Spread<>(SB), Y13; VBROADCASTI128 q5Bit<>(SB), Y12; VBROADCASTI128 highNibbles<>(SB), Y7; VPCMPEQB Y6, Y6, Y6
#define WEXPAND NIBBLES(6(SI)); VPBROADCASTD 2(SI), Y5; VPSHUFB Y13, Y5, Y5; VPOR Y12, Y5, Y5; VPCMPEQB Y6, Y5, Y5; VPANDN Y7, Y5, Y5; VPOR Y5, Y0, Y0

// func dotQ5_0AVX2(w *byte, qs *int8, d *float32, nb int) float32
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-36
	Q32BODY1(22)

// func dotQ5_0x4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)
TEXT ·dotQ5_0x4AVX2(SB), NOSPLIT, $0-56
	Q32BODY4(22)

// IQ4_NL: d, then 16 bytes of nibbles indexing the codebook.
#undef WSETUP
#undef WEXPAND
#define WSETUP VBROADCASTI128 nibbleMask<>(SB), Y14; VBROADCASTI128 iq4nl<>(SB), Y13
#define WEXPAND NIBBLES(2(SI)); VPSHUFB Y0, Y13, Y0

// func dotIQ4_NLAVX2(w *byte, qs *int8, d *float32, nb int) float32
TEXT ·dotIQ4_NLAVX2(SB), NOSPLIT, $0-36
	Q32BODY1(18)

// func dotIQ4_NLx4AVX2(w *byte, qs *int8, xstride int, d *float32, dstride int, nb int, out *[4]float32)
TEXT ·dotIQ4_NLx4AVX2(SB), NOSPLIT, $0-56
	Q32BODY4(18)

// Q4_1: d, m, then 16 bytes of nibbles used as they are.
#undef WSETUP
#undef WEXPAND
#define WSETUP VBROADCASTI128 nibbleMask<>(SB), Y14
#define WEXPAND NIBBLES(4(SI))

// func dotQ4_1AVX2(w *byte, qs *int8, d *float32, s *float32, nb int) float32
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-44
	Q32UBODY1(20)

// Q5_1: d, m, 32 high bits, 16 bytes of nibbles; value = nibble | high<<4.
#undef WSETUP
#undef WEXPAND
#define WSETUP VBROADCASTI128 nibbleMask<>(SB), Y14; VMOVDQU q5Spread<>(SB), Y13; VBROADCASTI128 q5Bit<>(SB), Y12; VBROADCASTI128 sixteens<>(SB), Y7; VPCMPEQB Y6, Y6, Y6
#define WEXPAND NIBBLES(8(SI)); VPBROADCASTD 4(SI), Y5; VPSHUFB Y13, Y5, Y5; VPOR Y12, Y5, Y5; VPCMPEQB Y6, Y5, Y5; VPAND Y7, Y5, Y5; VPOR Y5, Y0, Y0

// func dotQ5_1AVX2(w *byte, qs *int8, d *float32, s *float32, nb int) float32
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-44
	Q32UBODY1(24)

// IQ4XSSUB adds sub-block ib (32 codebook values) of the IQ4_XS block at SI times its 6-bit
// scale minus 32 into Y9. BX holds scales_h, R10 the four scales_l bytes.
#define IQ4XSSUB(ib) \
	MOVL         R10, AX \
	SHRL         $(4*ib), AX \
	ANDL         $15, AX \
	MOVL         BX, DX \
	SHRL         $(2*ib), DX \
	ANDL         $3, DX \
	SHLL         $4, DX \
	ORL          DX, AX \
	SUBL         $32, AX \
	VMOVD        AX, X2 \
	VPBROADCASTW X2, Y2 \
	NIBBLES((8+16*ib)(SI)) \
	VPSHUFB      Y0, Y13, Y0 \
	VMOVDQU      (32*ib)(DI), Y1 \
	VPSIGNB      Y0, Y0, Y3 \
	VPSIGNB      Y0, Y1, Y1 \
	VPMADDUBSW   Y1, Y3, Y3 \
	VPMADDWD     Y2, Y3, Y3 \
	VPADDD       Y3, Y9, Y9

// func dotIQ4_XSAVX2(w *byte, qs *int8, d *float32, nb int) float32
// Per 256-element block (d, scales_h, 4 bytes scales_l, 128 bytes of nibbles): the integer
// sum over the eight sub-blocks of scale * dot, then one multiply by d * the Q8_K scale.
TEXT ·dotIQ4_XSAVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ nb+24(FP), CX
	VBROADCASTI128 nibbleMask<>(SB), Y14
	VBROADCASTI128 iq4nl<>(SB), Y13
	VXORPS Y8, Y8, Y8
	TESTQ  CX, CX
	JZ     iq4xsdone
iq4xsloop:
	MOVWLZX 2(SI), BX
	MOVL    4(SI), R10
	VPXOR   Y9, Y9, Y9
	IQ4XSSUB(0)
	IQ4XSSUB(1)
	IQ4XSSUB(2)
	IQ4XSSUB(3)
	IQ4XSSUB(4)
	IQ4XSSUB(5)
	IQ4XSSUB(6)
	IQ4XSSUB(7)
	VCVTDQ2PS Y9, Y9
	BLOCKSCALE((SI), (R8))
	VFMADD231PS Y3, Y9, Y8
	ADDQ $136, SI
	ADDQ $256, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  iq4xsloop
iq4xsdone:
	VMOVAPS Y8, Y0
	HSUM8
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET
