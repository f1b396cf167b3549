package ggml_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// halfValue decodes an IEEE binary16 bit pattern from its definition, independently of the
// package's table: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1F), float64(h&0x3FF)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 31:
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1024+m, e-25)
}

func TestFP16ToFP32Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got, want := ggml.FP16ToFP32(uint16(h)), halfValue(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Signbit(float64(got)) != (h&0x8000 != 0) {
				t.Errorf("FP16ToFP32(%#04x) = %v, want a NaN with the same sign", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Errorf("FP16ToFP32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// refFP32ToFP16 rounds x to the nearest half, ties to the even bit pattern, by searching the
// sorted positive halves: an independent statement of IEEE round-to-nearest-even.
func refFP32ToFP16(x float32) uint16 {
	if math.IsNaN(float64(x)) {
		return 0x7E00 | uint16(math.Float32bits(x)>>16&0x8000)
	}
	var sign uint16
	a := float64(x)
	if math.Signbit(a) {
		sign, a = 0x8000, -a
	}
	// Halves 0..0x7BFF are the finite non-negative values in increasing order; 0x7C00 (inf)
	// acts as 65536 for rounding, so that values from 65520 up overflow.
	val := func(h int) float64 {
		if h == 0x7C00 {
			return 65536
		}
		return halfValue(uint16(h))
	}
	hi := sort.Search(0x7C01, func(h int) bool { return val(h) >= a })
	if hi > 0x7C00 {
		return sign | 0x7C00
	}
	if val(hi) == a || hi == 0 {
		return sign | uint16(hi)
	}
	lo := hi - 1
	dlo, dhi := a-val(lo), val(hi)-a
	switch {
	case dlo < dhi:
		return sign | uint16(lo)
	case dhi < dlo:
		return sign | uint16(hi)
	case lo%2 == 0:
		return sign | uint16(lo)
	}
	return sign | uint16(hi)
}

func TestFP32ToFP16(t *testing.T) {
	cases := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 65504, 65519.996, 65520, 65536, 1e10,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x33000000), // 2^-25: half the smallest subnormal, ties to 0
		math.Float32frombits(0x33000001), // just above: rounds up to 2^-24
		math.Float32frombits(0x33C00000), // 1.5 * 2^-24: tie between 1 and 2 subnormal ulps -> 2
		math.Float32frombits(0x38800000), // 2^-14, smallest normal
		math.Float32frombits(0x387FC000), // largest subnormal
		1 + 1.0/2048, 1 + 3.0/2048,       // ties at 1.0 and 1+2^-10: to even
		math.SmallestNonzeroFloat32, math.MaxFloat32,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		cases = append(cases, math.Float32frombits(rng.Uint32()))
	}
	for range 50000 { // concentrated on the half range, where rounding matters
		cases = append(cases, float32(rng.NormFloat64()*math.Ldexp(1, rng.IntN(40)-24)))
	}
	for _, x := range cases {
		if got, want := ggml.FP32ToFP16(x), refFP32ToFP16(x); got != want {
			t.Errorf("FP32ToFP16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	// Every finite half survives the round trip.
	for h := 0; h < 1<<16; h++ {
		if h&0x7C00 == 0x7C00 && h&0x3FF != 0 {
			continue // NaN payloads are canonicalised to 0x7E00
		}
		if got := ggml.FP32ToFP16(ggml.FP16ToFP32(uint16(h))); got != uint16(h) {
			t.Errorf("round trip %#04x -> %#04x", h, got)
		}
	}
}

func TestBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []uint32{0, 0x80000000, 0x3F808000, 0x3F818000, 0x3F808001, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
		0x7F800001, 0xFFC00000, 0x7FBFFFFF, 0x00000001, 0x00008000, 0x00018000}
	for range 200000 {
		cases = append(cases, rng.Uint32())
	}
	for _, u := range cases {
		x := math.Float32frombits(u)
		got := ggml.FP32ToBF16(x)
		var want uint16
		if math.IsNaN(float64(x)) {
			want = uint16(u>>16) | 0x40 // quiet NaN, payload top bits and sign kept
		} else {
			// Nearest of the two bf16 neighbours, ties to even; the one past the largest
			// finite value is infinity, which counts as 2^128 for the distance.
			lo := uint16(u >> 16)
			hi := lo + 1
			val := func(b uint16) float64 {
				if b&0x7FFF == 0x7F80 {
					return math.Copysign(math.Ldexp(1, 128), float64(x))
				}
				return float64(ggml.BF16ToFP32(b))
			}
			dlo, dhi := math.Abs(float64(x)-val(lo)), math.Abs(val(hi)-float64(x))
			switch {
			case u&0xFFFF == 0 || dlo < dhi || (dlo == dhi && lo%2 == 0):
				want = lo
			default:
				want = hi
			}
		}
		if got != want {
			t.Errorf("FP32ToBF16(%#08x) = %#04x, want %#04x", u, got, want)
		}
		if back := ggml.BF16ToFP32(uint16(u >> 16)); math.Float32bits(back) != u&0xFFFF0000 {
			t.Errorf("BF16ToFP32(%#04x) = %#08x", u>>16, math.Float32bits(back))
		}
	}
}
