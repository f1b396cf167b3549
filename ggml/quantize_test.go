package ggml_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// quantizable lists every type Quantize supports; TestCanQuantize keeps it in sync.
var quantizable = []ggml.Type{
	ggml.TypeF32, ggml.TypeF16, ggml.TypeBF16,
	ggml.TypeQ4_0, ggml.TypeQ4_1, ggml.TypeQ5_0, ggml.TypeQ5_1, ggml.TypeQ8_0, ggml.TypeQ8_1,
	ggml.TypeQ2_K, ggml.TypeQ3_K, ggml.TypeQ4_K, ggml.TypeQ5_K, ggml.TypeQ6_K, ggml.TypeQ8_K,
}

// dequantizable lists every type Dequantize supports.
var dequantizable = append(append([]ggml.Type(nil), quantizable...),
	ggml.TypeIQ4_NL, ggml.TypeIQ4_XS,
	ggml.TypeTQ1_0, ggml.TypeTQ2_0, ggml.TypeMXFP4)

func TestSupportedAndCanQuantize(t *testing.T) {
	inList := func(list []ggml.Type, t ggml.Type) bool {
		for _, x := range list {
			if x == t {
				return true
			}
		}
		return false
	}
	for id := ggml.Type(0); id < 64; id++ {
		if got, want := ggml.Supported(id), inList(dequantizable, id); got != want {
			t.Errorf("Supported(%s) = %v, want %v", id, got, want)
		}
		if got, want := ggml.CanQuantize(id), inList(quantizable, id); got != want {
			t.Errorf("CanQuantize(%s) = %v, want %v", id, got, want)
		}
	}
}

// distributions are the inputs the round-trip test quantizes; each fills x from rng.
var distributions = []struct {
	name string
	fill func(rng *rand.Rand, x []float32)
}{
	{"normal", func(rng *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}},
	{"uniform-positive", func(rng *rand.Rand, x []float32) {
		for i := range x {
			x[i] = rng.Float32() * 3
		}
	}},
	{"negative-shifted", func(rng *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64()*0.01 - 0.5)
		}
	}},
	{"outliers", func(rng *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.02)
			if rng.IntN(50) == 0 {
				x[i] *= 300
			}
		}
	}},
	{"sparse", func(rng *rand.Rand, x []float32) {
		for i := range x {
			if rng.IntN(10) == 0 {
				x[i] = float32(rng.NormFloat64())
			} else {
				x[i] = 0
			}
		}
	}},
	{"zeros", func(rng *rand.Rand, x []float32) { clear(x) }},
	{"constant", func(rng *rand.Rand, x []float32) {
		for i := range x {
			x[i] = 0.375
		}
	}},
}

// maxBlockError bounds |x - dequant(quant(x))| for one block of x, from the format's step size.
// The small factors above the ideal half step cover the F16 rounding of the stored scale(s)
// (relative 2^-11, times the largest level) and, for Q4_0/Q5_0, the clamp of the most negative
// level (the block's signed extreme maps to level 0, its mirror image can be one step off).
func maxBlockError(typ ggml.Type, x []float32) float64 {
	var amax, lo, hi float64
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range x {
		amax = math.Max(amax, math.Abs(float64(v)))
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	const f16 = 1.0 / 2048
	switch typ {
	case ggml.TypeF32:
		return 0
	case ggml.TypeF16:
		return amax*f16 + math.Ldexp(1, -25) // half an ulp (ulp <= |x|*2^-10), or half the smallest subnormal
	case ggml.TypeBF16:
		return amax / 256 // half an ulp, ulp <= |x|*2^-7
	case ggml.TypeQ8_0, ggml.TypeQ8_1:
		return amax / 127 * (0.5 + 127*f16)
	case ggml.TypeQ8_K: // float32 scale
		return amax / 127 * 0.5 * (1 + 1e-6)
	case ggml.TypeQ4_0:
		return amax / 8 * (1 + 16*f16)
	case ggml.TypeQ5_0:
		return amax / 16 * (1 + 32*f16)
	case ggml.TypeQ4_1:
		return (hi-lo)/15*(0.5+15*f16) + math.Abs(lo)*f16
	case ggml.TypeQ5_1:
		return (hi-lo)/31*(0.5+31*f16) + math.Abs(lo)*f16
	}
	return math.NaN() // k-quants: checked by RMS below
}

// maxRelRMS bounds the RMS error relative to the RMS of the data for the k-quants, whose
// scales come from a search: [0] for normal data, [1] for the other distributions. Theory for
// a uniform grid of n levels over ±3σ gives 6σ/(n-1)/√12: 0.58 (2 bits), 0.25 (3), 0.12 (4),
// 0.056 (5), 0.027 (6). The worst of 200 random 256-element blocks measured, normal / others:
// Q2_K 0.34 / 1.16, Q3_K 0.17 / 0.15, Q4_K 0.080 / 0.105, Q5_K 0.040 / 0.085, Q6_K 0.020 /
// 0.038. Q2_K's 1.16 is ggml's behaviour next to outliers (sub-block scales quantized to 4 bits
// against the largest round to zero); its file-level exactness is tested against llama.cpp.
// A broken scale or level layout gives errors of order 1 on normal data.
var maxRelRMS = map[ggml.Type][2]float64{
	ggml.TypeQ2_K: {0.40, 1.3},
	ggml.TypeQ3_K: {0.20, 0.30},
	ggml.TypeQ4_K: {0.12, 0.24},
	ggml.TypeQ5_K: {0.06, 0.12},
	ggml.TypeQ6_K: {0.03, 0.06},
}

func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range quantizable {
		bs := typ.BlockSize()
		// awkward sizes: one block, an odd count of blocks, and for scalars odd lengths
		sizes := []int{bs, 3 * bs, 7 * bs}
		if bs == 1 {
			sizes = []int{1, 31, 257}
		}
		for _, dist := range distributions {
			for _, n := range sizes {
				x := make([]float32, n)
				dist.fill(rng, x)
				nb, err := ggml.RowBytes(typ, int64(n))
				if err != nil {
					t.Fatal(err)
				}
				q := make([]byte, nb)
				if err := ggml.Quantize(typ, x, q); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				y := make([]float32, n)
				if err := ggml.Dequantize(typ, q, y); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				checkRoundTrip(t, typ, dist.name, x, y)
				// Quantizing is deterministic and the output depends only on the input.
				q2 := make([]byte, nb)
				for i := range q2 {
					q2[i] = 0xA5
				}
				if err := ggml.Quantize(typ, x, q2); err != nil || string(q2) != string(q) {
					t.Errorf("%s %s n=%d: second quantization differs (%v)", typ, dist.name, n, err)
				}
			}
		}
	}
}

func checkRoundTrip(t *testing.T, typ ggml.Type, dist string, x, y []float32) {
	t.Helper()
	bs := max(typ.BlockSize(), 1)
	if _, ok := maxRelRMS[typ]; ok {
		var se, ss float64
		for i := range x {
			d := float64(x[i] - y[i])
			se += d * d
			ss += float64(x[i]) * float64(x[i])
			if math.IsNaN(float64(y[i])) || math.IsInf(float64(y[i]), 0) {
				t.Fatalf("%s %s: element %d dequantizes to %v", typ, dist, i, y[i])
			}
		}
		rel := math.Sqrt(se / math.Max(ss, 1e-30))
		limit := maxRelRMS[typ][0]
		if dist != "normal" {
			limit = maxRelRMS[typ][1]
		}
		if ss == 0 && se != 0 || ss > 0 && rel > limit {
			t.Errorf("%s %s n=%d: relative RMS error %.4f > %.4f", typ, dist, len(x), rel, limit)
		}
		return
	}
	for b := 0; b < len(x); b += bs {
		xb, yb := x[b:b+bs], y[b:b+bs]
		limit := maxBlockError(typ, xb)
		for i := range xb {
			if e := math.Abs(float64(xb[i] - yb[i])); !(e <= limit) {
				t.Errorf("%s %s n=%d: element %d: %v -> %v, error %g > %g", typ, dist, len(x), b+i, xb[i], yb[i], e, limit)
				return
			}
		}
	}
}

// TestActivationSideData checks the extra fields the dot products read: Q8_1's s = d*Σq and
// Q8_K's bsums (Σq over each 16 levels).
func TestActivationSideData(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 512)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	q := make([]byte, 2*36*8)
	if err := ggml.Quantize(ggml.TypeQ8_1, x, q[:16*36]); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 16; b++ {
		blk := q[36*b : 36*b+36]
		sum := 0
		for _, v := range blk[4:] {
			sum += int(int8(v))
		}
		// s is rounded from the unrounded float32 scale d = amax/127.
		var amax float32
		for _, v := range x[32*b : 32*b+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		if got, want := binary.LittleEndian.Uint16(blk[2:]), ggml.FP32ToFP16(float32(sum)*d); got != want {
			t.Errorf("Q8_1 block %d: s = %#04x, want %#04x", b, got, want)
		}
	}
	qk := make([]byte, 2*292)
	if err := ggml.Quantize(ggml.TypeQ8_K, x, qk); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 2; b++ {
		blk := qk[292*b : 292*b+292]
		for j := 0; j < 16; j++ {
			sum := 0
			for _, v := range blk[4+16*j : 4+16*j+16] {
				sum += int(int8(v))
			}
			if got := int16(binary.LittleEndian.Uint16(blk[260+2*j:])); int(got) != sum {
				t.Errorf("Q8_K block %d: bsums[%d] = %d, want %d", b, j, got, sum)
			}
		}
	}
}

func TestSizeAndTypeErrors(t *testing.T) {
	tests := []struct {
		name    string
		run     func() error
		wantSub string
	}{
		{"dequant short src", func() error { return ggml.Dequantize(ggml.TypeQ4_0, make([]byte, 17), make([]float32, 32)) }, "18 bytes"},
		{"dequant long src", func() error { return ggml.Dequantize(ggml.TypeQ4_K, make([]byte, 145), make([]float32, 256)) }, "Q4_K"},
		{"dequant partial block", func() error { return ggml.Dequantize(ggml.TypeQ8_0, make([]byte, 34), make([]float32, 33)) }, "not a whole number"},
		{"dequant F16 odd bytes", func() error { return ggml.Dequantize(ggml.TypeF16, make([]byte, 5), make([]float32, 2)) }, "F16"},
		{"dequant unsupported", func() error { return ggml.Dequantize(ggml.TypeIQ2_XXS, make([]byte, 66), make([]float32, 256)) }, "IQ2_XXS"},
		{"dequant retired id", func() error { return ggml.Dequantize(ggml.Type(4), nil, nil) }, "type(4)"},
		{"dequant unknown id", func() error { return ggml.Dequantize(ggml.Type(1000), nil, nil) }, "type(1000)"},
		{"quant short dst", func() error { return ggml.Quantize(ggml.TypeQ6_K, make([]float32, 256), make([]byte, 209)) }, "210 bytes"},
		{"quant partial block", func() error { return ggml.Quantize(ggml.TypeQ8_K, make([]float32, 255), make([]byte, 292)) }, "not a whole number"},
		{"quant unsupported", func() error { return ggml.Quantize(ggml.TypeIQ4_NL, make([]float32, 32), make([]byte, 18)) }, "IQ4_NL"},
		{"quant unknown id", func() error { return ggml.Quantize(ggml.Type(77), nil, nil) }, "type(77)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Errorf("error %q does not mention %q", err, tc.wantSub)
			}
		})
	}
	// Empty buffers are a valid zero-length conversion.
	for _, typ := range dequantizable {
		if err := ggml.Dequantize(typ, nil, nil); err != nil {
			t.Errorf("Dequantize(%s, empty): %v", typ, err)
		}
	}
}
