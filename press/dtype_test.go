package press

import (
	"math"
	"testing"
)

// TestRound checks DType.Round on tie and range cases; the conversions themselves are ggml's,
// tested exhaustively there.
func TestRound(t *testing.T) {
	cases := []struct {
		d       DType
		in, out float32
	}{
		{F16, 1 + 1.0/2048, 1},            // tie → even
		{F16, 1 + 3.0/2048, 1 + 2.0/1024}, // tie → even (up)
		{F16, 65520, float32(math.Inf(1))},
		{F16, 2.9802322e-08, 0}, // 2^-25: tie between 0 and 2^-24 → even
	}
	for _, c := range cases {
		if got := c.d.Round(c.in); got != c.out {
			t.Errorf("%s.Round(%v) = %v, want %v", c.d, c.in, got, c.out)
		}
	}
}

// TestBF16Conversion checks bf16 rounding (ties to even).
func TestBF16Conversion(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{1, 1},
		{1 + 1.0/256, 1},          // tie → even
		{1 + 3.0/256, 1 + 1.0/64}, // tie → even (up)
		{1 + 1.0/256 + 1e-6, 1 + 1.0/128},
		{-3.1415927, -3.140625},
	}
	for _, c := range cases {
		if got := BF16.Round(c.in); got != c.want {
			t.Errorf("BF16.Round(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if F32.Round(0.1) != 0.1 || F16.Size() != 2 || F32.Size() != 4 || BF16.String() != "bf16" {
		t.Error("DType basics wrong")
	}
}

// TestExpNonPos checks the decode kernel's exponential against math.Exp on a dense grid of
// [-90, 0]: within 2 float32 ulps (2.4e-7 relative) down to -87.3, 0 below (where e^x is under
// the smallest normal float32), exactly 1 at 0, 0 for -Inf.
func TestExpNonPos(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 900000; i++ {
		x := float32(-90 + float64(i)*1e-4)
		if x > 0 {
			x = 0
		}
		want := math.Exp(float64(x))
		got := float64(expNonPos(x))
		if x <= -87.3 { // flushed to 0: e^x is within 1.3e-38 of it
			if got != 0 {
				t.Fatalf("expNonPos(%v) = %v, want 0", x, got)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 2.4e-7 {
		t.Errorf("max relative error %.3g", worst)
	}
	if expNonPos(0) != 1 || expNonPos(float32(math.Inf(-1))) != 0 {
		t.Errorf("expNonPos(0) = %v, expNonPos(-Inf) = %v", expNonPos(0), expNonPos(float32(math.Inf(-1))))
	}
}
