package ggml

import (
	"encoding/binary"
	"math"
)

// The k-quant formats: 256-element super-blocks (QK_K) split into sub-blocks of 16 or 32
// elements, each with its own small integer scale (and min) that multiplies the super-block's
// F16 d (and dmin). Byte layouts (offsets within one block):
//
//	Q2_K  scales[16] (4-bit scale | 4-bit min << 4), qs[64] 2-bit, d, dmin           84 bytes
//	Q3_K  hmask[32] high bits, qs[64] low 2 bits, scales[12] 6-bit packed, d        110 bytes
//	Q4_K  d, dmin, scales[12] 6-bit scale+min packed, qs[128] 4-bit                 144 bytes
//	Q5_K  d, dmin, scales[12], qh[32] fifth bits, qs[128] low 4 bits                176 bytes
//	Q6_K  ql[128] low 4 bits, qh[64] high 2 bits, scales[16] int8, d                210 bytes
//	Q8_K  d float32, qs[256] int8, bsums[16] int16 (sums of 16 qs, for dot products) 292 bytes
//
// Inside a 128-element half, 2-bit fields of qs byte l hold elements l, l+32, l+64, l+96
// (Q2_K/Q3_K/Q6_K high bits); 4-bit fields of byte l hold elements l and l+32 of a 64-element
// group (Q4_K/Q5_K/Q6_K low bits).

const qkK = 256 // elements per k-quant super-block

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from the 12-byte scales
// field of Q4_K/Q5_K (ggml's get_scale_min_k4): j < 4 sit in the low 6 bits of bytes j and j+4;
// j >= 4 take their low 4 bits from byte j+4 and their top 2 bits from bytes j-4 and j.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// scaleQ3K unpacks the 6-bit scale of sub-block j (0..15) of Q3_K, still offset by 32: low 4
// bits in nibbles of bytes 0..7, top 2 bits in bytes 8..11.
func scaleQ3K(j int, s []byte) int {
	var lo uint8
	if j < 8 {
		lo = s[j] & 0xF
	} else {
		lo = s[j-8] >> 4
	}
	return int(lo | (s[8+j%4]>>(2*(j/4))&3)<<4)
}

// forSubBlocks16 calls fn for each 16-element sub-block of a Q2_K/Q3_K super-block, in ggml's
// order, with the sub-block index is (0..15), the bit shift of its 2-bit levels inside the qs
// bytes, the 128-element half it lies in, the offset l0 (0 or 16) of its 16 qs (and hmask)
// bytes within the 32 of that half, and its 16 outputs.
func forSubBlocks16(out []float32, fn func(is, shift, half, l0 int, o []float32)) {
	for half := 0; half < 2; half++ {
		for j := 0; j < 4; j++ {
			for s := 0; s < 2; s++ {
				base := 128*half + 32*j + 16*s
				fn(8*half+2*j+s, 2*j, half, 16*s, out[base:base+16])
			}
		}
	}
}

func dequantQ2_K(b []byte, out []float32) {
	scales, qs := b[0:16], b[16:80]
	d, dmin := halfAt(b[80:]), halfAt(b[82:])
	forSubBlocks16(out[:qkK], func(is, shift, half, l0 int, o []float32) {
		sc := scales[is]
		dl, ml := float32(d*float32(sc&0xF)), float32(dmin*float32(sc>>4))
		q := qs[32*half+l0 : 32*half+l0+16]
		for l := range o {
			o[l] = float32(dl*float32(q[l]>>shift&3)) - ml
		}
	})
}

func dequantQ3_K(b []byte, out []float32) {
	hmask, qs, scales := b[0:32], b[32:96], b[96:108]
	d := halfAt(b[108:])
	forSubBlocks16(out[:qkK], func(is, shift, half, l0 int, o []float32) {
		dl := d * float32(scaleQ3K(is, scales)-32)
		q := qs[32*half+l0 : 32*half+l0+16]
		hm := hmask[l0 : l0+16]
		bit := uint8(1) << (4*half + shift/2)
		for l := range o {
			v := int(q[l]>>shift) & 3
			if hm[l]&bit == 0 {
				v -= 4
			}
			o[l] = dl * float32(v)
		}
	})
}

// dequantScaleMinK is dequantize_row_q4_K (qh == nil) and dequantize_row_q5_K: each
// 32-element sub-block j yields d*sc_j*q - dmin*m_j, the product rounded before the subtraction.
// qs byte l of 64-element group g holds elements 64g+l (low nibble) and 64g+l+32 (high);
// Q5_K's fifth bits for those are bits 2g and 2g+1 of qh[l].
func dequantScaleMinK(b, qh, qs []byte, out []float32) {
	d, dmin := halfAt(b), halfAt(b[2:])
	scales := b[4:16]
	out = out[:qkK]
	for g := 0; g < qkK/64; g++ {
		q := qs[32*g : 32*g+32]
		sc, m := scaleMinK4(2*g, scales)
		d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
		sc, m = scaleMinK4(2*g+1, scales)
		d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
		o := out[64*g : 64*g+64]
		for l, v := range q {
			lo, hi := v&0xF, v>>4
			if qh != nil {
				lo |= (qh[l] >> (2 * g) & 1) << 4
				hi |= (qh[l] >> (2*g + 1) & 1) << 4
			}
			o[l] = float32(d1*float32(lo)) - m1
			o[l+32] = float32(d2*float32(hi)) - m2
		}
	}
}

func dequantQ4_K(b []byte, out []float32) { dequantScaleMinK(b, nil, b[16:144], out) }

func dequantQ5_K(b []byte, out []float32) { dequantScaleMinK(b, b[16:48], b[48:176], out) }

func dequantQ6_K(b []byte, out []float32) {
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	d := halfAt(b[208:])
	out = out[:qkK]
	for half := 0; half < 2; half++ {
		lq, hq, s := ql[64*half:], qh[32*half:], sc[8*half:]
		o := out[128*half : 128*half+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			h := hq[l]
			q1 := int(lq[l]&0xF|(h>>0&3)<<4) - 32
			q2 := int(lq[l+32]&0xF|(h>>2&3)<<4) - 32
			q3 := int(lq[l]>>4|(h>>4&3)<<4) - 32
			q4 := int(lq[l+32]>>4|(h>>6&3)<<4) - 32
			o[l] = d * float32(int8(s[is])) * float32(q1)
			o[l+32] = d * float32(int8(s[is+2])) * float32(q2)
			o[l+64] = d * float32(int8(s[is+4])) * float32(q3)
			o[l+96] = d * float32(int8(s[is+6])) * float32(q4)
		}
	}
}

func dequantQ8_K(b []byte, out []float32) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(b))
	dequantInt8(b[4:4+qkK], d, out[:qkK])
}
