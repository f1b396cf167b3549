package press

import (
	"fmt"
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

// TestHalfStorage checks that 16-bit layers hold their numbers as 16-bit patterns, so that the
// bytes Bytes counts are the bytes held: every float32 number field is empty, the arrays add up
// to Bytes, and the stored numbers (keys, α, values) are exactly those of the same press run in
// float32, rounded to the type.
func TestHalfStorage(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"spark", Options{KeyRatio: 0.8}},
		{"spark", Options{KeyRatio: 0.5, Recovery: RecoveryZero}},
		{"think", Options{KeyRatio: 0.5}},
		{"snapkv", Options{Budget: 40}},
	} {
		for _, dt := range []DType{F16, BF16} {
			in := randInput(71, 8, 2, 90, 64, 64)
			o16 := c.o
			o16.DType = dt
			L32 := mustCompress(t, c.name, c.o, in).Layer
			L16 := mustCompress(t, c.name, o16, in).Layer
			what := fmt.Sprintf("%s %+v %v", c.name, c.o, dt)
			k32, _, a32, _ := L32.streams()
			kf, kh, af, ah := L16.streams()
			if L16.V != nil || kf != nil || af != nil || len(kh) != len(k32) || len(ah) != len(a32) || len(L16.V16) != len(L32.V) {
				t.Fatalf("%s: float32 fields set or 16-bit ones of the wrong length", what)
			}
			held := 2 * (len(L16.V16) + len(kh) + len(ah))
			switch k := L16.Keys.(type) {
			case *ChannelKeys:
				held += 2 * len(k.Channels)
			case *SparKKeys:
				held += 4*len(k.Rho) + len(k.Mask) + len(k.Signs) + offsetBytes*(len(k.KeptStart)+len(k.SignStart))
			}
			if L16.Bytes() != held {
				t.Errorf("%s: Bytes() = %d, the arrays hold %d", what, L16.Bytes(), held)
			}
			for _, st := range []struct {
				name string
				h    []uint16
				f    []float32
			}{{"key", kh, k32}, {"alpha", ah, a32}, {"value", L16.V16, L32.V}} {
				for i, x := range st.f {
					if st.h[i] != dt.toBits(x) {
						t.Fatalf("%s: %s %d is %#04x, the float32 press's %v rounds to %#04x", what, st.name, i, st.h[i], x, dt.toBits(x))
					}
				}
			}
		}
	}
}
