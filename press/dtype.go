package press

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
)

// DType is the element type a compressed cache stores its key and value numbers in. The press
// keeps them in float32 slices so that one kernel serves every type, but rounds every stored
// number to the DType on compression and counts DType.Size bytes for it in Bytes: the attention
// results are then exactly those of a cache that really stores f16 or bf16.
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

// roundAll rounds every element of xs in place.
func (d DType) roundAll(xs []float32) {
	if d == F32 {
		return
	}
	for i, x := range xs {
		xs[i] = d.Round(x)
	}
}
