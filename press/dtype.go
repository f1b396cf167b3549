package press

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
)

// DType is the element type a compressed cache stores its key and value numbers in. F32 numbers
// live in the float32 fields of the layouts (K, Kept, Alpha, V), F16 and BF16 numbers as their
// 16-bit patterns in the uint16 fields (K16, Kept16, Alpha16, V16), so the bytes Bytes counts
// are the bytes held. Presses compute in float32 and round to the DType on compression.
type DType int

// The supported storage types.
const (
	F32  DType = iota // IEEE binary32, 4 bytes
	F16               // IEEE binary16, 2 bytes (llama.cpp's default KV type)
	BF16              // bfloat16, 2 bytes (the SparK experiments' cache type)
)

// Size returns the bytes one element takes in storage.
func (d DType) Size() int {
	if d == F32 {
		return 4
	}
	return 2
}

// String returns the conventional lower-case name (f32, f16, bf16).
func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

func (d DType) valid() bool { return d == F32 || d == F16 || d == BF16 }

// Round returns x rounded (to nearest, ties to even) to the nearest value representable in d.
func (d DType) Round(x float32) float32 {
	switch d {
	case F16:
		return ggml.FP16ToFP32(ggml.FP32ToFP16(x))
	case BF16:
		return ggml.BF16ToFP32(ggml.FP32ToBF16(x))
	}
	return x
}

// toBits returns the 16-bit pattern of x (F16 or BF16), rounded to nearest even.
func (d DType) toBits(x float32) uint16 {
	if d == BF16 {
		return ggml.FP32ToBF16(x)
	}
	return ggml.FP32ToFP16(x)
}

// fromBits returns the number a 16-bit pattern of d (F16 or BF16) stands for.
func (d DType) fromBits(h uint16) float32 {
	if d == BF16 {
		return ggml.BF16ToFP32(h)
	}
	return ggml.FP16ToFP32(h)
}

// widen returns the numbers of the 16-bit patterns src (F16 or BF16) as float32s in dst, grown
// when its capacity is short.
func (d DType) widen(dst []float32, src []uint16) []float32 {
	dst = grow(dst, len(src))
	for j, h := range src {
		dst[j] = d.fromBits(h)
	}
	return dst
}

// pack returns xs as d stores it: xs rounded in place for F32, else a new slice of 16-bit
// patterns (and nil float32s).
func (d DType) pack(xs []float32) ([]float32, []uint16) {
	if d == F32 {
		return xs, nil
	}
	h := make([]uint16, len(xs))
	for i, x := range xs {
		h[i] = d.toBits(x)
	}
	return nil, h
}

// Float32s returns the numbers of a vector stored in d as float32: f32 itself for F32, else
// u16's 16-bit patterns decoded into a new slice. It is for inspection and upload (a GPU
// backend, tests), not for the decode path.
func (d DType) Float32s(f32 []float32, u16 []uint16) []float32 {
	if d == F32 {
		return f32
	}
	return d.widen(make([]float32, len(u16)), u16)
}

// at returns element i of a vector stored in d (f32 for F32, else u16).
func (d DType) at(f32 []float32, u16 []uint16, i int) float32 {
	if d == F32 {
		return f32[i]
	}
	return d.fromBits(u16[i])
}

// stored checks that a vector is held in the field d uses (the other one empty) and returns
// its length.
func (d DType) stored(f32 []float32, u16 []uint16) (int, bool) {
	if d == F32 {
		return len(f32), len(u16) == 0
	}
	return len(u16), len(f32) == 0
}

// exactCopy returns a copy of xs whose capacity is its length (append would round the capacity
// up to an allocation size class, which the resident-memory figures would then count).
func exactCopy(xs []float32) []float32 {
	out := make([]float32, len(xs))
	copy(out, xs)
	return out
}
