package press

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestAttendMatchesReference checks the decode kernel on compressed records (spec 3.7) against the
// oracle: decompress, append the tail, plain float64 softmax attention. Sizes are awkward on
// purpose: head_dim not a multiple of 8 (partial mask bytes), T not a multiple of the block,
// a single token, MHA and GQA; head dims that take each of the kernels (multiples of 64 and of
// 16 the AVX-512 ones, others the Go one) and T across the kernels' 256-row block. Tolerance: the kernel accumulates dot products and the softmax
// numerator in float32, so its error is a few float32 ulps (6e-8) times the summed magnitudes
// (√D-sized logits, |v| ≤ ~4): 2e-5 of the output scale holds with two orders of margin while
// any wrong channel, sign or scale moves outputs by O(1e-2) or more.
func TestAttendMatchesReference(t *testing.T) {
	shapes := []struct{ H, Hkv, T, D int }{
		{3, 1, 1, 8}, {6, 3, 37, 12}, {8, 2, 129, 64}, {4, 4, 200, 20}, {2, 1, 65, 72}, {4, 2, 96, 130},
		{8, 2, 300, 128}, {4, 1, 70, 80},
	}
	configs := []struct {
		name string
		opts Options
	}{
		{"none", Options{}},
		{"spark", Options{KeyRatio: 0.3}},
		{"spark", Options{KeyRatio: 0.8}},
		{"spark", Options{KeyRatio: 0.8, Recovery: RecoveryAvgBottom}},
		{"spark", Options{KeyRatio: 0.5, Recovery: RecoveryZero}},
		{"spark", Options{KeyRatio: 1}},
		{"spark", Options{Mode: ModeGroup}},
		{"spark", Options{Mode: ModeTopP, DType: BF16}},
		{"spark", Options{KeyRatio: 0.7, PaperSaliency: true, DType: F16}},
		{"think", Options{KeyRatio: 0.6}},
		{"snap_spark", Options{KeyRatio: 0.8, Budget: 80, DType: F16}},
		{"pyramid_think", Options{KeyRatio: 0.5, TokenRatio: 0.5}},
		{"tova", Options{Budget: 30}},
	}
	var s Scratch // shared across calls on purpose: shapes change, buffers must adapt
	for si, sh := range shapes {
		in := randInput(uint64(si), sh.H, sh.Hkv, sh.T, sh.D, 64)
		for ci, cfg := range configs {
			res := mustCompress(t, cfg.name, cfg.opts, in)
			for _, tailLen := range []int{0, 5, 70} {
				t.Run(fmt.Sprintf("%v/%s%d/tail%d", sh, cfg.name, ci, tailLen), func(t *testing.T) {
					tail := NewDenseTail(res.Layer.DType, sh.Hkv, sh.D, 2)
					rng := rand.New(rand.NewPCG(uint64(tailLen), 3))
					for range tailLen {
						k, v := make([]float32, sh.Hkv*sh.D), make([]float32, sh.Hkv*sh.D)
						for j := range k {
							k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
						}
						if err := tail.Append(k, v); err != nil {
							t.Fatal(err)
						}
					}
					q := randQueries(uint64(ci), sh.H, sh.D)
					got, want := make([]float32, sh.H*sh.D), make([]float32, sh.H*sh.D)
					if err := res.Layer.Attend(got, q, sh.H, tail, &s); err != nil {
						t.Fatal(err)
					}
					if err := AttendDense(withTail(res.Layer, tail), want, q, sh.H); err != nil {
						t.Fatal(err)
					}
					if diff, scale := maxAbsDiff(got, want); diff > 2e-5*scale {
						t.Errorf("max |kernel - reference| = %.3g, scale %.3g", diff, scale)
					}
				})
			}
		}
	}
}

// TestDenseTailRollback checks growth and Truncate in every number type: after appending and
// rolling back, attention equals (bit for bit) attention with only the kept tail.
func TestDenseTailRollback(t *testing.T) {
	for _, dt := range []DType{F32, F16, BF16} {
		t.Run(dt.String(), func(t *testing.T) { testDenseTailRollback(t, dt) })
	}
}

func testDenseTailRollback(t *testing.T, dt DType) {
	in := randInput(5, 4, 2, 100, 16, 64)
	res := mustCompress(t, "snap_spark", Options{KeyRatio: 0.5, Budget: 70}, in)
	q := randQueries(1, 4, 16)
	short, long := NewDenseTail(dt, 2, 16, 1), NewDenseTail(dt, 2, 16, 1)
	for n := range 9 {
		k, v := randQueries(uint64(100+n), 2, 16), randQueries(uint64(200+n), 2, 16)
		if n < 3 {
			if err := short.Append(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := long.Append(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if long.Cap() < 9 {
		t.Fatalf("tail capacity %d after 9 appends", long.Cap())
	}
	if err := long.Truncate(3); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, 4*16), make([]float32, 4*16)
	if err := res.Layer.Attend(a, q, 4, short, nil); err != nil {
		t.Fatal(err)
	}
	if err := res.Layer.Attend(b, q, 4, long, nil); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("out[%d]: %v after rollback, %v without the extra tokens", i, b[i], a[i])
		}
	}
	if err := long.Truncate(4); err == nil {
		t.Error("Truncate beyond the length: no error")
	}
	if err := long.Append(make([]float32, 3), make([]float32, 32)); err == nil {
		t.Error("Append with a wrong key length: no error")
	}
}

// TestAttendRejectsBadArguments checks argument errors and Validate on corrupted records.
func TestAttendRejectsBadArguments(t *testing.T) {
	in := randInput(6, 4, 2, 40, 16, 64)
	L := mustCompress(t, "spark", Options{KeyRatio: 0.5}, in).Layer
	out := make([]float32, 4*16)
	cases := []struct {
		name string
		err  error
	}{
		{"q too short", L.Attend(out, make([]float32, 10), 4, nil, nil)},
		{"heads not a multiple", L.Attend(make([]float32, 3*16), make([]float32, 3*16), 3, nil, nil)},
		{"tail shape", L.Attend(out, make([]float32, 4*16), 4, NewDenseTail(F32, 3, 16, 1), nil)},
		{"empty", (&CompressedLayer{NKVHeads: 2, HeadDim: 16, Keys: &DenseKeys{}}).Attend(out, make([]float32, 4*16), 4, nil, nil)},
		{"head dim over the kernels'", (&CompressedLayer{NKVHeads: 1, NTokens: 1, HeadDim: 520, Keys: &DenseKeys{K: make([]float32, 520)}, V: make([]float32, 520)}).Attend(make([]float32, 520), make([]float32, 520), 1, nil, nil)},
		{"f16 layer holding float32 values", (&CompressedLayer{NKVHeads: 1, NTokens: 1, HeadDim: 16, DType: F16, Keys: &DenseKeys{K16: make([]uint16, 16)}, V: make([]float32, 16)}).Attend(make([]float32, 16), make([]float32, 16), 1, nil, nil)},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := L.Validate(); err != nil {
		t.Fatalf("valid layer: %v", err)
	}
	// Hand-built layers with inconsistent arrays: Attend must refuse them, not index out of range.
	corruptions := []struct {
		name string
		edit func(k *SparKKeys)
	}{
		{"mask bit", func(k *SparKKeys) { k.Mask[3] ^= 1 }},
		{"short kept stream", func(k *SparKKeys) { k.Kept = k.Kept[:len(k.Kept)-1] }},
		{"short sign stream", func(k *SparKKeys) { k.Signs = k.Signs[:len(k.Signs)-1] }},
		{"alpha without signs", func(k *SparKKeys) { k.Signs = nil }},
		{"short rho", func(k *SparKKeys) { k.Rho = k.Rho[1:] }},
		{"offsets", func(k *SparKKeys) { k.KeptStart[1]++ }},
		{"mask bytes", func(k *SparKKeys) { k.MaskBytes = 1 }},
	}
	for _, c := range corruptions {
		orig := L.Keys.(*SparKKeys)
		k := *orig
		k.Mask = append([]byte(nil), orig.Mask...)
		k.KeptStart = append([]int(nil), orig.KeptStart...)
		c.edit(&k)
		bad := &CompressedLayer{NKVHeads: L.NKVHeads, NTokens: L.NTokens, HeadDim: L.HeadDim, Keys: &k, V: L.V}
		if err := bad.Attend(out, make([]float32, 4*16), 4, nil, nil); err == nil {
			t.Errorf("%s: Attend gave no error", c.name)
		}
	}
}
