package ggml

import (
	"encoding/binary"
	"math"
)

// The legacy 32-element block formats (ggml's Q4_0 ... Q8_1). Every block starts with an F16
// scale d; "_1" types add an F16 offset m (Q8_1: the sum s of the dequantized values). 4-bit
// levels are packed in 16 bytes qs with element j in the low nibble of qs[j] and element j+16
// in the high nibble; 5-bit types keep the fifth bits in the 32-bit little-endian word qh (bit j
// for element j).

const qk = 32 // elements per legacy block

// levels4 unpacks the 4-bit levels of a qs[16] array into element order.
func levels4(qs []byte) (l [qk]uint8) {
	qs = qs[:qk/2]
	for j, b := range qs {
		l[j] = b & 0x0F
		l[j+qk/2] = b >> 4
	}
	return l
}

// levels5 unpacks 5-bit levels: nibbles from qs[16], fifth bits from the 4 bytes at qh.
func levels5(qs, qh []byte) (l [qk]uint8) {
	l = levels4(qs)
	h := binary.LittleEndian.Uint32(qh)
	for j := range l {
		l[j] |= uint8(h>>j&1) << 4
	}
	return l
}

// pack4 stores 32 levels (each < 16) into qs[16].
func pack4(l *[qk]uint8, qs []byte) {
	qs = qs[:qk/2]
	for j := range qs {
		qs[j] = l[j]&0x0F | l[j+qk/2]<<4
	}
}

// pack5 stores 32 levels (each < 32) into qs[16] and the 32-bit word at qh.
func pack5(l *[qk]uint8, qs, qh []byte) {
	pack4(l, qs)
	var h uint32
	for j, v := range l {
		h |= uint32(v>>4&1) << j
	}
	binary.LittleEndian.PutUint32(qh, h)
}

// dequantCentered writes (l - offset) * d: Q4_0 and Q5_0.
func dequantCentered(l *[qk]uint8, offset int, d float32, out []float32) {
	out = out[:qk]
	for j, v := range l {
		out[j] = float32(int(v)-offset) * d
	}
}

// dequantAffine writes l*d + m: Q4_1 and Q5_1. The product is rounded before the addition,
// as in ggml's C, so no fused multiply-add may change the last bit.
func dequantAffine(l *[qk]uint8, d, m float32, out []float32) {
	out = out[:qk]
	for j, v := range l {
		out[j] = float32(float32(v)*d) + m
	}
}

func dequantQ4_0(b []byte, out []float32) {
	l := levels4(b[2:18])
	dequantCentered(&l, 8, halfAt(b), out)
}

func dequantQ4_1(b []byte, out []float32) {
	l := levels4(b[4:20])
	dequantAffine(&l, halfAt(b), halfAt(b[2:]), out)
}

func dequantQ5_0(b []byte, out []float32) {
	l := levels5(b[6:22], b[2:6])
	dequantCentered(&l, 16, halfAt(b), out)
}

func dequantQ5_1(b []byte, out []float32) {
	l := levels5(b[8:24], b[4:8])
	dequantAffine(&l, halfAt(b), halfAt(b[2:]), out)
}

// dequantInt8 writes q*d for 8-bit signed levels: Q8_0, Q8_1 (and Q8_K with a float32 d).
func dequantInt8(qs []byte, d float32, out []float32) {
	qs = qs[:len(out)]
	for j, q := range qs {
		out[j] = float32(int8(q)) * d
	}
}

func dequantQ8_0(b []byte, out []float32) { dequantInt8(b[2:34], halfAt(b), out) }

// dequantQ8_1 ignores the stored sum s: it only speeds up dot products with Q4_1/Q5_1.
func dequantQ8_1(b []byte, out []float32) { dequantInt8(b[4:36], halfAt(b), out) }

// signedAbsMax returns the largest |x[i]| and the x[i] (with its sign) that attains it first.
func signedAbsMax(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	return amax, max
}

// absMax returns the largest |x[i]|: ggml's `amax = MAX(amax, fabsf(v))` loop, written with
// the same comparison (Go's max differs for NaN).
func absMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	return amax
}

// inverse is ggml's `d ? 1.0f/d : 0.0f`.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

// quantCentered is quantize_row_q4_0_ref / q5_0_ref for one block: the signed value of largest
// magnitude maps to level 0 (d = max / -half), levels are truncated after adding half+0.5 and
// capped at 2*half-1. It stores d at b[0:2] and returns the levels.
func quantCentered(x []float32, half int, b []byte) (l [qk]uint8) {
	_, mx := signedAbsMax(x[:qk])
	d := mx / float32(-half)
	id := inverse(d)
	putHalf(b, d)
	bias := float32(half) + 0.5
	for j, v := range x[:qk] {
		l[j] = uint8(min(2*half-1, int(int8(float32(v*id)+bias))))
	}
	return l
}

// quantAffine is quantize_row_q4_1_ref / q5_1_ref for one block: levels 0..nmax span
// [min, max]. It stores d at b[0:2] and m = min at b[2:4] and returns the levels.
func quantAffine(x []float32, nmax int, b []byte) (l [qk]uint8) {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x[:qk] {
		// Plain comparisons as in C: Go's min/max would prefer -0 over +0.
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	d := (hi - lo) / float32(nmax)
	id := inverse(d)
	putHalf(b, d)
	putHalf(b[2:], lo)
	for j, v := range x[:qk] {
		l[j] = uint8(min(nmax, int(int8(float32(float32(v-lo)*id)+0.5))))
	}
	return l
}

func quantQ4_0(x []float32, b []byte) {
	l := quantCentered(x, 8, b)
	pack4(&l, b[2:18])
}

func quantQ4_1(x []float32, b []byte) {
	l := quantAffine(x, 15, b)
	pack4(&l, b[4:20])
}

func quantQ5_0(x []float32, b []byte) {
	l := quantCentered(x, 16, b)
	pack5(&l, b[6:22], b[2:6])
}

func quantQ5_1(x []float32, b []byte) {
	l := quantAffine(x, 31, b)
	pack5(&l, b[8:24], b[4:8])
}

// quantInt8 is the body of quantize_row_q8_0_ref / q8_1_ref: d = amax/127, levels rounded
// half away from zero (C's roundf). It stores the levels in qs and returns d and their sum.
func quantInt8(x []float32, qs []byte) (d float32, sum int) {
	d = absMax(x) / 127
	id := inverse(d)
	for j, v := range x {
		q := int8(math.Round(float64(v * id)))
		qs[j] = uint8(q)
		sum += int(q)
	}
	return d, sum
}

func quantQ8_0(x []float32, b []byte) {
	d, _ := quantInt8(x[:qk], b[2:34])
	putHalf(b, d)
}

func quantQ8_1(x []float32, b []byte) {
	d, sum := quantInt8(x[:qk], b[4:36])
	putHalf(b, d)
	putHalf(b[2:], float32(sum)*d)
}
