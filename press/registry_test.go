package press

import (
	"strings"
	"testing"
)

// TestRegistry checks that every documented press is registered and described, and that an
// unknown name lists the valid ones.
func TestRegistry(t *testing.T) {
	want := []string{"expected_attention", "none", "observed_attention", "pyramid_spark", "pyramid_think",
		"pyramidkv", "snap_spark", "snap_think", "snapkv", "spark", "streaming_llm", "think", "tova"}
	got := Names()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range got {
		p, err := New(n, Options{})
		if err != nil || p.Name() != n || Describe(n) == "" {
			t.Errorf("%s: New err %v, name %q, description %q", n, err, p.Name(), Describe(n))
		}
	}
	_, err := New("h2o", Options{})
	if err == nil || !strings.Contains(err.Error(), "snap_spark") || !strings.Contains(err.Error(), `"h2o"`) {
		t.Errorf("unknown press: error %v does not name it and list the valid ones", err)
	}
}

// TestInvalidOptions checks that every invalid parameter is an error naming it, including the
// recovery codes and group thresholds the SparK code crashes on or silently mishandles (spec A4-A7).
func TestInvalidOptions(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{KeyRatio: 1.5}, "key ratio"},
		{Options{KeyRatio: -0.1}, "key ratio"},
		{Options{TokenRatio: 1}, "token ratio"},
		{Options{Budget: -3}, "budget"},
		{Options{Recovery: "gauss"}, `recovery "gauss"`},
		{Options{Recovery: "0.65"}, "recovery"},
		{Options{Mode: "adaptive"}, "mode"},
		{Options{Mode: ModeGroup, ThresholdRatio: 0.5}, "threshold ratio"},
		{Options{KernelSize: 4}, "kernel size"},
		{Options{Beta: -1}, "beta"},
		{Options{DType: DType(7)}, "dtype"},
		{Options{SnapWindow: -1}, "negative"},
	}
	for _, c := range cases {
		_, err := New("snap_spark", c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.opts, err, c.want)
		}
	}
}

// TestBadInputs checks that inputs a press cannot work with are errors, never panics.
func TestBadInputs(t *testing.T) {
	good := func() *Input { return randInput(71, 4, 2, 100, 16, 64) }
	cases := []struct {
		name  string
		press string
		opts  Options
		edit  func(in *Input)
		want  string
	}{
		{"short K", "spark", Options{KeyRatio: 0.5}, func(in *Input) { in.KV.K = in.KV.K[1:] }, "len(K)"},
		{"head_dim mismatch", "spark", Options{KeyRatio: 0.5}, func(in *Input) { in.Window.HeadDim = 8; in.Window.W *= 2 }, "head_dim"},
		{"GQA", "spark", Options{KeyRatio: 0.5}, func(in *Input) { in.Window.NHeads = 3; in.Window.Q = in.Window.Q[:3*64*16] }, "multiple"},
		{"NaN key", "snapkv", Options{Budget: 70}, func(in *Input) { in.KV.K[5] = float32(nanF()) }, "keys[5]"},
		{"short window", "spark", Options{KeyRatio: 0.5}, func(in *Input) { in.Window.W = 8; in.Window.Q = in.Window.Q[:4*8*16] }, "window query rows"},
		{"snap window", "snapkv", Options{Budget: 70}, func(in *Input) { in.Window.W = 32; in.Window.Q = in.Window.Q[:4*32*16] }, "window query rows"},
		{"pyramid layers", "pyramidkv", Options{TokenRatio: 0.5}, func(in *Input) { in.NLayers = 0 }, "n_layers"},
		{"streaming sinks", "streaming_llm", Options{Budget: 3}, func(in *Input) {}, "n_sink"},
		{"nothing kept", "tova", Options{TokenRatio: 0.999}, func(in *Input) {}, "no token"},
		{"observed sums", "observed_attention", Options{TokenRatio: 0.5}, func(in *Input) { in.ObservedColSums = nil }, "ObservedColSums"},
		{"expected queries", "expected_attention", Options{TokenRatio: 0.5}, func(in *Input) { in.PreRoPE.W-- }, "pre-RoPE"},
		{"expected freqs", "expected_attention", Options{TokenRatio: 0.5}, func(in *Input) { in.RoPEInvFreq = nil }, "inverse frequencies"},
	}
	for _, c := range cases {
		in := good()
		c.edit(in)
		p, err := New(c.press, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Compress(in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func nanF() float64 { var z float64; return z / z }

// TestEdgeRatios checks the documented readings where the SparK code misbehaves (spec A6):
// λ = 1 prunes every channel with a = mean of all saliencies (the code raises IndexError), and
// int(λD) = 0 prunes nothing (the code would prune everything).
func TestEdgeRatios(t *testing.T) {
	in := randInput(81, 4, 2, 40, 16, 32)
	L := mustCompress(t, "spark", Options{KeyRatio: 1}, in).Layer
	sk := L.Keys.(*SparKKeys)
	if len(sk.Kept) != 0 || popcount(sk.Mask) != 0 {
		t.Errorf("λ = 1 kept %d values", len(sk.Kept))
	}
	qn := windowQueryNorm(&in.Window, 2, 32)
	s := make([]float64, 16)
	tokenSaliency(s, in.KV.K[:16], qn[:16], false)
	var mean float64
	for _, x := range s {
		mean += x / 16
	}
	if a := float64(sk.Alpha[0]) * float64(sk.Alpha[0]); a < mean*(1-1e-5) || a > mean*(1+1e-5) {
		t.Errorf("λ = 1: a = %v, want the mean saliency %v", a, mean)
	}
	if _, ok := mustCompress(t, "spark", Options{KeyRatio: 0.05}, in).Layer.Keys.(*DenseKeys); !ok {
		t.Error("int(0.05·16) = 0 pruned channels did not give dense keys")
	}
	if _, ok := mustCompress(t, "think", Options{KeyRatio: 1}, in).Layer.Keys.(*ChannelKeys); !ok {
		t.Error("ThinK λ = 1 did not give channel keys")
	}
}

// TestPyramidSaneFallback checks the two fork quirks the option replaces (spec 4.3, A11): at
// T = 8000, 32 layers, budget 512 the fork keeps round(T·0.9) = 7200 tokens in every layer; the
// sane fallback keeps the budget, and a budget with token ratio 0 is applied instead of ignored.
func TestPyramidSaneFallback(t *testing.T) {
	fork := Options{Budget: 512, TokenRatio: 0.1}
	fork, _ = fork.withDefaults()
	if n, fb := pyramidBudget(8000, &fork, 5, 32); n != 7200 || !fb {
		t.Errorf("fork rule: %d tokens (fallback %v), want 7200 (true)", n, fb)
	}
	sane := fork
	sane.PyramidSaneFallback = true
	if n, _ := pyramidBudget(8000, &sane, 5, 32); n != 512 {
		t.Errorf("sane fallback: %d tokens, want 512", n)
	}
	// Spec 4.3 examples: m = 2048 gives 3869 in layer 0 and 99 in layer 31.
	m2048 := Options{Budget: 2048, TokenRatio: 0.1}
	m2048, _ = m2048.withDefaults()
	if a, _ := pyramidBudget(8000, &m2048, 0, 32); a != 3869 {
		t.Errorf("m=2048 layer 0: %d, want 3869", a)
	}
	if b, _ := pyramidBudget(8000, &m2048, 31, 32); b != 99 {
		t.Errorf("m=2048 layer 31: %d, want 99", b)
	}
	// RULER settings (T = 8192): ratio 0.5 gives 7987 ... 205, ratio 0.8 gives 3195 ... 82.
	for _, c := range []struct {
		ratio       float64
		first, last int
	}{{0.5, 7987, 205}, {0.8, 3195, 82}} {
		o, _ := Options{TokenRatio: c.ratio}.withDefaults()
		a, _ := pyramidBudget(8192, &o, 0, 32)
		b, _ := pyramidBudget(8192, &o, 31, 32)
		if a != c.first || b != c.last {
			t.Errorf("ratio %v: layers 0/31 keep %d/%d, want %d/%d", c.ratio, a, b, c.first, c.last)
		}
	}
	in := randInput(91, 4, 2, 200, 16, 64)
	if n := mustCompress(t, "pyramidkv", Options{Budget: 100, PyramidSaneFallback: true}, in).Layer.NTokens; n >= 200 {
		t.Errorf("sane mode with token ratio 0 kept all %d tokens", n)
	}
}
