package ggml_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// Hand-built blocks for the types that no reference file covers. Expected values are worked
// out from the format descriptions in the comments, with scales that are powers of two so
// that every expected value is exact.
func TestDequantizeHandBuiltBlocks(t *testing.T) {
	half := func(b []byte, f float32) { binary.LittleEndian.PutUint16(b, ggml.FP32ToFP16(f)) }
	tests := []struct {
		name  string
		typ   ggml.Type
		block func() []byte
		want  map[int]float32 // element index -> value
	}{
		{
			// IQ4_XS: d=0.5; group 0 has 6-bit scale 33 (low nibble 1 in scales_l[0], high bits
			// 2 in scales_h bits 0-1) -> 0.5; group 7 has scale 0 -> -16. Codebook values:
			// index 0 = -127, 15 = 113, 8 = 1.
			name: "IQ4_XS", typ: ggml.TypeIQ4_XS,
			block: func() []byte {
				b := make([]byte, 136)
				half(b, 0.5)
				binary.LittleEndian.PutUint16(b[2:], 2) // group 0 high bits = 2, others 0
				b[4] = 0x01                             // group 0 low = 1, group 1 low = 0
				b[8] = 0xF0                             // element 0: index 0, element 16: index 15
				b[8+16*7] = 0x08                        // element 224: index 8, element 240: index 0
				return b
			},
			want: map[int]float32{0: -63.5, 16: 56.5, 224: -16, 240: 2032},
		},
		{
			// MXFP4: e=130 -> scale 2^(130-128) = 4 (the half of E8M0, since the codebook is
			// doubled); index 7 = 12, index 12 = -4; index 8 (FP4 negative zero) is the integer 0.
			name: "MXFP4", typ: ggml.TypeMXFP4,
			block: func() []byte {
				b := make([]byte, 17)
				b[0] = 130
				b[1] = 0xC7 // element 0: index 7, element 16: index 12
				b[2] = 0x08 // element 1: index 8, element 17: index 0
				return b
			},
			want: map[int]float32{0: 48, 16: -16, 1: 0, 17: 0},
		},
		{
			// MXFP4 with e=0: scale 2^-128 is a float32 subnormal; index 1 = 1.
			name: "MXFP4 subnormal scale", typ: ggml.TypeMXFP4,
			block: func() []byte {
				b := make([]byte, 17)
				b[1] = 0x01
				return b
			},
			want: map[int]float32{0: float32(math.Ldexp(1, -128)), 16: 0},
		},
		{
			// TQ2_0: d=0.5; byte 0 holds elements 0, 32, 64, 96 in bit pairs 0-1 ... 6-7, each
			// storing value+1.
			name: "TQ2_0", typ: ggml.TypeTQ2_0,
			block: func() []byte {
				b := make([]byte, 66)
				b[0] = 0b00_01_10_10 // elements 0: 2 -> +1, 32: 2 -> +1, 64: 1 -> 0, 96: 0 -> -1
				b[32] = 0b10         // element 128 -> +1
				half(b[64:], 0.5)
				return b
			},
			want: map[int]float32{0: 0.5, 32: 0.5, 64: 0, 96: -0.5, 128: 0.5, 1: -0.5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := make([]float32, tc.typ.BlockSize())
			if err := ggml.Dequantize(tc.typ, tc.block(), out); err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				if math.Float32bits(out[i]) != math.Float32bits(want) {
					t.Errorf("element %d = %v, want %v", i, out[i], want)
				}
			}
		})
	}
}

// TestDequantizeTQ1_0 packs random ternary values the way quantize_row_tq1_0_ref lays them out
// (5 trits per byte as a base-3 fraction of 256, first trit most significant; bytes 0-31 hold
// elements n*32+m, bytes 32-47 hold 160+n*16+m, qh bytes hold 240+n*4+j) and checks that
// dequantization returns them times d.
func TestDequantizeTQ1_0(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	trits := make([]int, 256)
	for i := range trits {
		trits[i] = rng.IntN(3) - 1
	}
	b := make([]byte, 54)
	pack := func(idx []int) byte {
		var v int
		for _, i := range idx {
			v = v*3 + trits[i] + 1
		}
		for range 5 - len(idx) { // qh bytes hold 4 trits, shifted to the top
			v *= 3
		}
		return byte((v*256 + 242) / 243) // ceiling division, as ggml
	}
	for m := 0; m < 32; m++ {
		b[m] = pack([]int{m, 32 + m, 64 + m, 96 + m, 128 + m})
	}
	for m := 0; m < 16; m++ {
		b[32+m] = pack([]int{160 + m, 176 + m, 192 + m, 208 + m, 224 + m})
	}
	for j := 0; j < 4; j++ {
		b[48+j] = pack([]int{240 + j, 244 + j, 248 + j, 252 + j})
	}
	binary.LittleEndian.PutUint16(b[52:], ggml.FP32ToFP16(0.25))
	out := make([]float32, 256)
	if err := ggml.Dequantize(ggml.TypeTQ1_0, b, out); err != nil {
		t.Fatal(err)
	}
	for i, tr := range trits {
		if want := float32(tr) * 0.25; out[i] != want {
			t.Fatalf("element %d = %v, want %v", i, out[i], want)
		}
	}
}

// FuzzDequantize feeds arbitrary bytes and lengths to every type id: Dequantize must either
// fill dst or return an error, never panic, and accept exactly the sizes RowBytes names.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(ggml.TypeQ4_K), uint16(256), make([]byte, 144))
	f.Add(uint8(ggml.TypeQ3_K), uint16(256), make([]byte, 109))
	f.Add(uint8(ggml.TypeTQ1_0), uint16(512), make([]byte, 108))
	f.Add(uint8(ggml.TypeF16), uint16(3), []byte{1, 2, 3, 4, 5, 6})
	f.Add(uint8(40), uint16(32), make([]byte, 17))
	f.Fuzz(func(t *testing.T, typ uint8, n uint16, data []byte) {
		tt := ggml.Type(typ)
		err := ggml.Dequantize(tt, data, make([]float32, n))
		want, sizeErr := ggml.RowBytes(tt, int64(n))
		ok := ggml.Supported(tt) && sizeErr == nil && want == int64(len(data))
		if (err == nil) != ok {
			t.Fatalf("Dequantize(%s, %d bytes, %d floats) = %v, want success %v", tt, len(data), n, err, ok)
		}
	})
}
