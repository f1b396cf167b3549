package ggml

import (
	"encoding/binary"
	"math"
)

// fp16Table maps every IEEE half-precision bit pattern to its float32 value. Dequantizers read
// one or two halves per block and F16 tensors one per element, so a 256 KiB table beats the
// bit arithmetic (it is also what ggml's CPU backend does with ggml_table_f32_f16).
var fp16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for h := range t {
		t[h] = fp16ToFP32Compute(uint16(h))
	}
	return &t
}()

// fp16ToFP32Compute converts a half to float32 the way ggml_compute_fp16_to_fp32 does: the
// exponent is rebased by a float multiply (normals) or a magic-bias subtraction (subnormals).
// Every finite half converts exactly; NaN payloads are kept.
func fp16ToFP32Compute(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	twoW := w + w

	const expOffset = 0xE0 << 23
	expScale := math.Float32frombits(0x07800000) // 2^-112
	normalized := math.Float32frombits((twoW>>4)+expOffset) * expScale

	const magicMask = 126 << 23
	denormalized := math.Float32frombits((twoW>>17)|magicMask) - 0.5

	const denormalizedCutoff = 1 << 27
	var bits uint32
	if twoW < denormalizedCutoff {
		bits = math.Float32bits(denormalized)
	} else {
		bits = math.Float32bits(normalized)
	}
	return math.Float32frombits(sign | bits)
}

// FP16ToFP32 converts an IEEE half-precision value (as its bit pattern) to float32. The
// conversion is exact for every finite value.
func FP16ToFP32(h uint16) float32 { return fp16Table[h] }

// FP32ToFP16 converts f to IEEE half precision with round-to-nearest-even, overflow to
// infinity and NaN mapped to the quiet NaN 0x7E00 (sign kept), exactly like ggml's
// ggml_compute_fp32_to_fp16. The rounding is done by the FPU: scaling |f| up and back down
// by powers of two saturates large values to infinity, and adding a power of two aligned
// with the half's exponent makes the float32 addition round the mantissa to 10 bits.
func FP32ToFP16(f float32) uint16 {
	scaleToInf := math.Float32frombits(0x77800000)  // 2^112
	scaleToZero := math.Float32frombits(0x08800000) // 2^-110
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)

	w := math.Float32bits(f)
	shl1W := w + w
	sign := w & 0x80000000
	bias := shl1W & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantissaBits := bits & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1W > 0xFF000000 {
		nonsign = 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// BF16ToFP32 converts a bfloat16 bit pattern to float32 (exact: bf16 is the top half of f32).
func BF16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// FP32ToBF16 converts f to bfloat16 with round-to-nearest-even; NaNs are made quiet (bit 6 of
// the result set) instead of being rounded, which could turn them into infinities. Subnormals
// are kept. This is ggml_compute_fp32_to_bf16.
func FP32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + ((u >> 16) & 1))) >> 16)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ 0x80000000) }

// halfAt reads the little-endian half at b[0:2] as float32; every ggml block scale is one.
func halfAt(b []byte) float32 { return fp16Table[binary.LittleEndian.Uint16(b)] }

// putHalf stores f as a little-endian half at b[0:2].
func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

func dequantF32(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func dequantF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = fp16Table[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

func dequantBF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func quantF32(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func quantF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
	}
}

func quantBF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
	}
}
