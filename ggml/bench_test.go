package ggml_test

import (
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// benchElements is the length of the benchmarked row: 64K elements, a typical weight row block
// (256 super-blocks), small enough to stay in L2 so that the kernels, not memory, are measured.
const benchElements = 1 << 16

// BenchmarkDequantize reports MB/s of quantized input consumed. Inputs are random bytes: the
// kernels' speed does not depend on the values (F16 subnormals become float32 normals, so no
// slow denormal arithmetic occurs).
func BenchmarkDequantize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, typ := range dequantizable {
		b.Run(typ.String(), func(b *testing.B) {
			nb, err := ggml.RowBytes(typ, benchElements)
			if err != nil {
				b.Fatal(err)
			}
			src := make([]byte, nb)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			dst := make([]float32, benchElements)
			b.SetBytes(nb)
			for b.Loop() {
				if err := ggml.Dequantize(typ, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantize reports MB/s of float32 input consumed (4 bytes per element), on normal data.
func BenchmarkQuantize(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	src := make([]float32, benchElements)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, typ := range quantizable {
		b.Run(typ.String(), func(b *testing.B) {
			nb, err := ggml.RowBytes(typ, benchElements)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, nb)
			b.SetBytes(4 * benchElements)
			for b.Loop() {
				if err := ggml.Quantize(typ, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
