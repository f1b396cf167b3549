package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// TestRunPressIdentity: a press that keeps everything (SparK λ = 0, SnapKV with a budget above
// the prompt) leaves the greedy story of the embedded model byte for byte (spec 6.6), and a
// real compression changes it while still generating the full length.
func TestRunPressIdentity(t *testing.T) {
	prompt := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends."
	base := mustRun(t, "run", "", prompt, "--temp", "0", "-n", "64")
	for _, args := range [][]string{
		{"--press", "spark", "--key-ratio", "0"},
		{"--press", "snapkv", "--budget", "1000"},
		{"--press", "none"},
	} {
		if got := mustRun(t, append([]string{"run", "", prompt, "--temp", "0", "-n", "64"}, args...)...); got != base {
			t.Errorf("%v changed the greedy text:\n got %q\nwant %q", args, got, base)
		}
	}
	ids := mustRun(t, "run", "", prompt, "--temp", "0", "-n", "64", "--ids", "--press", "snap_spark", "--budget", "16", "--key-ratio", "0.8")
	if n := len(strings.Split(strings.TrimSpace(ids), ",")); n != 64 {
		t.Errorf("snap_spark generated %d tokens, want 64", n)
	}
}

// TestPressFlagErrors: press flags are checked before the model loads, with usage errors (exit
// 2) that name the flag.
func TestPressFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "", "x", "--key-ratio", "0.5"}, "--key-ratio needs --press"},
		{[]string{"run", "", "x", "--press", "sparc"}, `unknown press "sparc"`},
		{[]string{"run", "", "x", "--press", "spark", "--key-ratio", "1.5"}, "key ratio 1.5"},
		{[]string{"run", "", "x", "--press", "spark", "--recovery", "mean"}, `unknown recovery "mean"`},
		{[]string{"ppl", "testdata/story.txt", "--press", "snapkv", "--budget", "-3"}, "must be >= 0"},
		{[]string{"info", "--press", "spark"}, "--press needs --kv"},
	}
	for _, c := range cases {
		_, errs, code := sparkrun(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, exitUsage, c.want)
		}
	}
}

// TestPPLPress: with a press, ppl compresses each chunk's unscored first half and scores the
// second half through the compressed cache. Presses that keep everything agree exactly with each
// other and with the dense run up to float32 summation order (the chunk is fed as two batches
// instead of one, so the attention's matrix products differ in size: measured 6e-7 relative;
// 1e-5 allows for other shapes); SparK at λ = 0.8 gives a different, finite perplexity.
func TestPPLPress(t *testing.T) {
	ppl := func(args ...string) pplResult {
		var r pplResult
		out := mustRun(t, append([]string{"ppl", "testdata/story600.txt", "--ctx", "256", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	dense, zero, spark := ppl(), ppl("--press", "spark", "--key-ratio", "0"), ppl("--press", "spark", "--key-ratio", "0.8")
	if all := ppl("--press", "snapkv", "--budget", "100000"); zero.PPL != all.PPL {
		t.Errorf("ppl with SparK λ=0 = %v, SnapKV keeping every token %v: want identical", zero.PPL, all.PPL)
	}
	if d := math.Abs(zero.PPL-dense.PPL) / dense.PPL; d > 1e-5 {
		t.Errorf("ppl with SparK λ=0 = %v, dense %v: relative difference %g > 1e-5", zero.PPL, dense.PPL, d)
	}
	if spark.PPL == dense.PPL || !(spark.PPL > 1) || spark.Scored != dense.Scored {
		t.Errorf("ppl with SparK λ=0.8 = %+v, dense %+v: want a different finite value over the same tokens", spark, dense)
	}
	t.Logf("stories260K ppl over story600 (ctx 256): dense %.4f, SparK λ=0.8 %.4f", dense.PPL, spark.PPL)
}

// TestInfoKV: info --kv reports dense bytes from the shape and a press's bytes from spec 3.6's
// layout (stories260K: 5 layers, 4 KV heads, head_dim 8).
func TestInfoKV(t *testing.T) {
	var r kvReport
	out := mustRun(t, "info", "--kv", "--ctx", "1000", "--press", "spark", "--key-ratio", "0.5", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	const nLayer, nKV, D, T, size = 5, 4, 8, 1000, 2
	np := D / 2
	perTok := 1 + (D-np)*size + (np+7)/8 + size + D*size // mask, kept, signs, α, values
	want := nLayer * (nKV*(T*perTok+4*D) + 8*2*(nKV+1))  // + ρ and stream offsets per head
	if r.Dense != nLayer*T*2*nKV*D*size || r.Stored != want || len(r.PerLayer) != nLayer || r.Estimated {
		t.Errorf("info --kv = %+v, want dense %d, stored %d over %d layers, exact", r, nLayer*T*2*nKV*D*size, want, nLayer)
	}
	// The device layout adds 32-bit mask words (4 bytes where spec 3.6 counts 1 at head_dim 8),
	// a header and tile checkpoints: a little more, and only in a build with Vulkan.
	if onDevice := vulkan.DevicePressNames() != nil; onDevice != (r.Device > 0) || onDevice && (r.Device <= r.Stored || r.Device > r.Stored*5/4) {
		t.Errorf("info --kv device bytes %d for %d stored (Vulkan in this build: %v)", r.Device, r.Stored, onDevice)
	}
	text := mustRun(t, "info", "--kv", "--ctx", "1000")
	if !strings.Contains(text, "640.0 B/token") {
		t.Errorf("info --kv text lacks the dense 640 B/token:\n%s", text)
	}
}
