package ggml

import (
	"encoding/binary"
	"math"
)

// Codebook formats: each 4-bit level indexes a table of 16 non-uniform values that a scale
// multiplies. Packing as in the legacy types: a 32-element group uses 16 bytes, element j in
// the low nibble of byte j and element j+16 in its high nibble.
//
//	IQ4_NL  d (F16), qs[16]                                               18 bytes / 32
//	IQ4_XS  d (F16), scales_h uint16, scales_l[4], qs[128]               136 bytes / 256
//	        (6-bit scale of group ib: low 4 bits from scales_l, high 2 from scales_h, minus 32)
//	MXFP4   e (E8M0 exponent), qs[16]; values are FP4 (E2M1) doubled     17 bytes / 32

// kvaluesIQ4NL is ggml's kvalues_iq4nl, the IQ4_NL/IQ4_XS codebook (a non-linear 4-bit grid
// fitted to the weight distribution of trained models).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// kvaluesMXFP4 is ggml's kvalues_mxfp4: the E2M1 values times two, so that they are integers;
// the scale is halved to compensate.
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// dequantCodebook writes d*table[level] for the 32 levels packed in qs[16].
func dequantCodebook(qs []byte, table *[16]int8, d float32, out []float32) {
	qs, out = qs[:qk/2], out[:qk]
	for j, b := range qs {
		out[j] = d * float32(table[b&0xF])
		out[j+qk/2] = d * float32(table[b>>4])
	}
}

func dequantIQ4_NL(b []byte, out []float32) {
	dequantCodebook(b[2:18], &kvaluesIQ4NL, halfAt(b), out)
}

func dequantIQ4_XS(b []byte, out []float32) {
	d := halfAt(b)
	scalesH := binary.LittleEndian.Uint16(b[2:])
	scalesL, qs := b[4:8], b[8:136]
	for ib := 0; ib < qkK/qk; ib++ {
		ls := int(scalesL[ib/2]>>(4*(ib%2))&0xF) | int(scalesH>>(2*ib)&3)<<4
		dl := d * float32(ls-32)
		dequantCodebook(qs[16*ib:], &kvaluesIQ4NL, dl, out[qk*ib:])
	}
}

// e8m0Half is ggml_e8m0_to_fp32_half: 2^(e-128) built directly from bits (subnormal for e < 2).
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

func dequantMXFP4(b []byte, out []float32) {
	dequantCodebook(b[1:17], &kvaluesMXFP4, e8m0Half(b[0]), out)
}
