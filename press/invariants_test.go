package press

import (
	"fmt"
	"math"
	"testing"
)

// TestNoOpSettingsAreIdentity checks spec 6.6 "λ = 0 → identity; n_kept ≥ T → identity": the
// decode outputs, with and without a dense tail, equal those of the uncompressed cache bit for bit.
func TestNoOpSettingsAreIdentity(t *testing.T) {
	in := randInput(21, 8, 2, 150, 32, 64)
	T := in.KV.T
	full := mustCompress(t, "none", Options{}, in).Layer
	cases := []struct {
		name string
		opts Options
	}{
		{"spark", Options{}},
		{"spark", Options{KeyRatio: 0.01}}, // int(0.01·32) = 0: no pruning (spec A6)
		{"think", Options{}},
		{"snapkv", Options{Budget: T}},
		{"snapkv", Options{Budget: 10 * T}},
		{"snapkv", Options{}}, // token ratio 0 and no budget: the press is off
		{"streaming_llm", Options{Budget: T}},
		{"tova", Options{Budget: T + 1}},
		{"observed_attention", Options{Budget: T}},
		{"expected_attention", Options{Budget: T}},
		{"pyramidkv", Options{Budget: 100}}, // compression_ratio 0: the fork returns early (spec 4.3)
		{"snap_spark", Options{Budget: T}},
		{"snap_think", Options{Budget: T}},
		{"pyramid_spark", Options{}},
	}
	tail := NewDenseTail(F32, 2, 32, 4)
	for n := range 3 {
		if err := tail.Append(randQueries(uint64(50+n), 2, 32), randQueries(uint64(60+n), 2, 32)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s%+v", c.name, c.opts), func(t *testing.T) {
			L := mustCompress(t, c.name, c.opts, in).Layer
			if L.NTokens != T {
				t.Fatalf("kept %d of %d tokens", L.NTokens, T)
			}
			for l := range 3 {
				q := randQueries(uint64(l), 8, 32)
				for _, tl := range []*DenseTail{nil, tail} {
					got, want := make([]float32, 8*32), make([]float32, 8*32)
					if err := L.Attend(got, q, 8, tl, nil); err != nil {
						t.Fatal(err)
					}
					if err := full.Attend(want, q, 8, tl, nil); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("query %d out[%d] = %v, uncompressed %v", l, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestSwapKVHeads checks the GQA mapping (spec 6.6): swapping KV heads a and b, together with
// their query-head groups in every query input, swaps the outputs of those query groups. Scores
// averaged over all query heads (TOVA) are summed in a different order after the swap, so
// outputs are compared to 1e-6 of their scale rather than bit for bit.
func TestSwapKVHeads(t *testing.T) {
	const H, Hkv, T, D = 6, 3, 120, 16
	G := H / Hkv
	in := randInput(31, H, Hkv, T, D, 64)
	sw := swapHeads(in, 0, 2)
	qs := randQueries(7, H, D)
	qsw := swapRows(qs, D, G, 0, 2)
	for _, name := range Names() {
		opts := Options{KeyRatio: 0.6, TokenRatio: 0.4}
		t.Run(name, func(t *testing.T) {
			a := mustCompress(t, name, opts, in).Layer
			b := mustCompress(t, name, opts, sw).Layer
			oa, ob := make([]float32, H*D), make([]float32, H*D)
			if err := a.Attend(oa, qs, H, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := b.Attend(ob, qsw, H, nil, nil); err != nil {
				t.Fatal(err)
			}
			if diff, scale := maxAbsDiff(swapRows(ob, D, G, 0, 2), oa); diff > 1e-6*scale {
				t.Errorf("outputs after swapping KV heads 0 and 2 differ by %.3g (scale %.3g)", diff, scale)
			}
		})
	}
}

// swapRows swaps the blocks of n rows (width d) starting at rows a·n and b·n of x ([rows][d]).
func swapRows[E float32 | float64](x []E, d, n, a, b int) []E {
	y := append([]E(nil), x...)
	for r := range n {
		ra, rb := (a*n+r)*d, (b*n+r)*d
		copy(y[ra:ra+d], x[rb:rb+d])
		copy(y[rb:rb+d], x[ra:ra+d])
	}
	return y
}

// swapHeads returns in with KV heads a and b swapped, and their query-head groups with them.
func swapHeads(in *Input, a, b int) *Input {
	kv, w, pq := in.KV, in.Window, in.PreRoPE
	G := w.NHeads / kv.NKVHeads
	out := *in
	out.KV.K = swapRows(kv.K, kv.T*kv.HeadDim, 1, a, b)
	out.KV.V = swapRows(kv.V, kv.T*kv.HeadDim, 1, a, b)
	out.Window.Q = swapRows(w.Q, w.W*w.HeadDim, G, a, b)
	out.PreRoPE.Q = swapRows(pq.Q, pq.W*pq.HeadDim, G, a, b)
	out.ObservedColSums = swapRows(in.ObservedColSums, kv.T, G, a, b)
	return &out
}

// TestZeroQueryNormChannel checks spec 6.6 "qn = 0 channel does not produce NaN/Inf": a channel
// zero in every window query, and one where a group's two heads cancel, give ρ = 0, recovered
// entries 0 and finite outputs under every SparK recovery, mode and saliency form.
func TestZeroQueryNormChannel(t *testing.T) {
	const H, Hkv, T, D, W = 4, 2, 50, 16, 64
	in := randInput(41, H, Hkv, T, D, W)
	for h := range H {
		for r := range W {
			row := in.Window.row(h, r)
			row[5] = 0
			if h == 1 {
				row[9] = -in.Window.row(0, r)[9] // KV head 0's group mean cancels on channel 9
			}
		}
	}
	for _, opts := range []Options{
		{KeyRatio: 0.5}, {KeyRatio: 0.8, Recovery: RecoveryAvgBottom}, {KeyRatio: 0.5, Recovery: RecoveryZero},
		{Mode: ModeGroup}, {Mode: ModeTopP}, {KeyRatio: 0.5, PaperSaliency: true}, {KeyRatio: 1},
	} {
		L := mustCompress(t, "spark", opts, in).Layer
		kv := L.Decompress()
		for i := range Hkv {
			for tk := range T {
				for _, j := range []int{5, 9} {
					if j == 9 && i != 0 {
						continue
					}
					if x := kv.K[(i*T+tk)*D+j]; x != 0 {
						t.Fatalf("%+v: head %d token %d channel %d (qn = 0) recovered as %v", opts, i, tk, j, x)
					}
				}
			}
		}
		out := make([]float32, H*D)
		if err := L.Attend(out, randQueries(3, H, D), H, nil, nil); err != nil {
			t.Fatal(err)
		}
		if !allFinite(kv.K) || !allFinite(out) {
			t.Errorf("%+v: NaN or Inf in recovered keys or outputs", opts)
		}
	}
}

// TestSparKRecoveryProperties checks spec 3.5 on random data: every token prunes exactly int(λD)
// channels, each pruned channel has saliency ≤ every kept one, kept entries are bit-identical,
// recovered entries keep the key's sign and carry the mean pruned saliency a: K̂²·qn = a with the
// code's saliency k²·qn, |K̂|·qn = a with the paper's |k|·qn (spec A1). Tolerance 1e-5 relative:
// α and ρ are float32 (a few ulps each), squared.
func TestSparKRecoveryProperties(t *testing.T) {
	const H, Hkv, T, D = 4, 2, 70, 24
	in := randInput(51, H, Hkv, T, D, 32)
	qn := windowQueryNorm(&in.Window, Hkv, 32)
	for _, paper := range []bool{false, true} {
		for _, lambda := range []float64{0.3, 0.5, 0.7, 0.8, 0.9, 1} {
			L := mustCompress(t, "spark", Options{KeyRatio: lambda, PaperSaliency: paper}, in).Layer
			kv := L.Decompress()
			np := int(lambda * D)
			mask, _ := layerRecords(L)
			s := make([]float64, D)
			for i := range Hkv {
				for tk := range T {
					off := (i*T + tk) * D
					tokenSaliency(s, in.KV.K[off:off+D], qn[i*D:(i+1)*D], paper)
					minKept, maxPruned, pruned, a := math.Inf(1), math.Inf(-1), 0, 0.0
					for j := range D {
						if mask[off+j] == 0 {
							a += s[j] / float64(np)
						}
					}
					for j := range D {
						k, r := in.KV.K[off+j], kv.K[off+j]
						if mask[off+j] == 1 {
							minKept = min(minKept, s[j])
							if r != k {
								t.Fatalf("λ=%v kept entry changed: %v -> %v", lambda, k, r)
							}
							continue
						}
						pruned++
						maxPruned = max(maxPruned, s[j])
						if (k > 0) != (r > 0) {
							t.Fatalf("λ=%v sign of %v recovered as %v", lambda, k, r)
						}
						got := math.Abs(float64(r)) * qn[i*D+j]
						if !paper {
							got *= math.Abs(float64(r))
						}
						if math.Abs(got-a) > 1e-5*a {
							t.Fatalf("paper=%v λ=%v recovered saliency %v, want a = %v", paper, lambda, got, a)
						}
					}
					if pruned != np || maxPruned > minKept {
						t.Fatalf("λ=%v head %d token %d: %d pruned (want %d), max pruned s %v > min kept %v", lambda, i, tk, pruned, np, maxPruned, minKept)
					}
				}
			}
		}
	}
}

// TestGoldenExample checks the worked example of spec 3.15 (H = Hkv = 1, W = 2, D = 4, T = 1).
func TestGoldenExample(t *testing.T) {
	in := &Input{
		KV:     LayerKV{NKVHeads: 1, T: 1, HeadDim: 4, K: []float32{2, -1, 0.5, -3}, V: []float32{1, 2, 3, 4}},
		Window: Queries{NHeads: 1, W: 2, HeadDim: 4, Q: []float32{1, 1, 2, 0, 1, 0, 0, 2}},
	}
	L := mustCompress(t, "spark", Options{KeyRatio: 0.5, SparKWindow: 2}, in).Layer
	got := L.Decompress().K
	want := []float64{2, -math.Sqrt(0.75), math.Sqrt(0.375), -3}
	for j := range want {
		if math.Abs(float64(got[j])-want[j]) > 1e-6 {
			t.Errorf("K̂[%d] = %v, want %v", j, got[j], want[j])
		}
	}
	if a := L.Keys.(*SparKKeys).Alpha[0]; math.Abs(float64(a*a)-0.75) > 1e-6 {
		t.Errorf("a = %v, want 0.75", a*a)
	}
}
