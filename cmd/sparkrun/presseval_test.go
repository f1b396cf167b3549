package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestPressEval runs presseval on the embedded stories260K over two chunks of stories20.txt (its
// own samples) with SparK-avg, SparK-zero and ThinK at λ = 0, 0.5, 0.8 and checks what must hold
// whatever the model: λ = 0 changes nothing (ΔNLL, KL and every layer's attention error exactly
// 0, spec 6.6); λ > 0 changes the attention; the prompt bytes follow spec 3.6, summed over the
// chunks; the per-chunk ΔNLL and their standard error are consistent with the pooled figure. The
// table is logged: the expected ordering (SparK-avg < SparK-zero < ThinK) is a property
// of the model measured over many chunks (the note has the 18-chunk table), not of two.
func TestPressEval(t *testing.T) {
	out := mustRun(t, "presseval", "testdata/stories20.txt", "--kv-type", "f16", "--prefill", "383", "--chunks", "2",
		"--press", "spark,spark:zero,think", "--key-ratio", "0,0.5,0.8", "--json")
	var rep pressEvalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Prefill+rep.Continue < 400 || rep.Continue != 128 || rep.Chunks != 2 || len(rep.Rows) != 9 {
		t.Fatalf("report covers %d chunks of %d+%d tokens with %d rows, want 2 chunks of >= 400 tokens, 128 scored, 9 rows", rep.Chunks, rep.Prefill, rep.Continue, len(rep.Rows))
	}
	if math.IsNaN(rep.FullNLL) || rep.FullNLL <= 0 {
		t.Errorf("full-cache NLL %v", rep.FullNLL)
	}
	// stories260K: 5 layers, 4 KV heads, head_dim 8, f16 cache.
	const nLayer, nKV, D, size = 5, 4, 8, 2
	T := rep.Prefill
	for _, r := range rep.Rows {
		name := r.Press + recoverySuffix(r.Recovery)
		if len(r.AttnErr) != nLayer {
			t.Fatalf("%s λ=%v: %d layers of attention error, want %d", name, r.KeyRatio, len(r.AttnErr), nLayer)
		}
		// The pooled ΔNLL is the mean of the per-chunk ones (equal chunk lengths), and the
		// standard error is that of two values: |a−b|/2.
		if c := r.ChunkDeltaNLL; len(c) != rep.Chunks {
			t.Errorf("%s λ=%v: %d per-chunk ΔNLL, want %d", name, r.KeyRatio, len(c), rep.Chunks)
		} else if m, se := (c[0]+c[1])/2, math.Abs(c[0]-c[1])/2; math.Abs(m-r.DeltaNLL) > 1e-12 || math.Abs(se-r.DeltaNLLSE) > 1e-12 {
			t.Errorf("%s λ=%v: per-chunk ΔNLL %v give mean %v ± %v, report says %v ± %v", name, r.KeyRatio, c, m, se, r.DeltaNLL, r.DeltaNLLSE)
		}
		if want := nLayer * T * 2 * nKV * D * size * rep.Chunks; r.PromptDense != want {
			t.Errorf("%s λ=%v: dense prompt bytes %d, want %d", name, r.KeyRatio, r.PromptDense, want)
		}
		if r.KeyRatio == 0 {
			if r.DeltaNLL != 0 || r.DeltaNLLSE != 0 || r.KL != 0 || r.PromptStored != r.PromptDense {
				t.Errorf("%s λ=0: ΔNLL %v KL %v stored %d of %d, want an unchanged cache", name, r.DeltaNLL, r.KL, r.PromptStored, r.PromptDense)
			}
			for l, e := range r.AttnErr {
				if e != 0 {
					t.Errorf("%s λ=0: layer %d attention error %v, want 0", name, l, e)
				}
			}
			continue
		}
		for l, e := range r.AttnErr {
			if !(e > 0 && e < 2) {
				t.Errorf("%s λ=%v: layer %d attention error %v, want in (0, 2)", name, r.KeyRatio, l, e)
			}
		}
		np := int(r.KeyRatio * D)
		var want int
		switch r.Press {
		case "spark": // mask, kept values, signs and α per token (none with zero recovery), ρ and offsets per head
			perTok := 1 + (D-np)*size + D*size
			if r.Recovery != "zero" {
				perTok += (np+7)/8 + size
			}
			want = nLayer * (nKV*(T*perTok+4*D) + 8*2*(nKV+1)) * rep.Chunks
		case "think": // kept channels of every token, 2-byte channel indices per head
			want = nLayer * nKV * (T*(D-np)*size + 2*(D-np) + T*D*size) * rep.Chunks
		}
		if r.PromptStored != want {
			t.Errorf("%s λ=%v: stored prompt bytes %d, spec 3.6 accounting gives %d", name, r.KeyRatio, r.PromptStored, want)
		}
	}
	var table strings.Builder
	printPressEval(&table, &rep)
	t.Logf("\n%s", table.String())
}

// TestPressEvalErrors checks presseval's argument errors.
func TestPressEvalErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"presseval", "testdata/story600.txt", "--press", "think:zero"}, "only applies to SparK"},
		{[]string{"presseval", "testdata/story600.txt", "--press", "sparc"}, `unknown press "sparc"`},
		{[]string{"presseval", "testdata/story600.txt", "--key-ratio", "0.5,x"}, `"x" is not a number`},
		{[]string{"presseval", "testdata/story600.txt", "--prefill", "2000"}, "cannot prefill 2000"},
		{[]string{"presseval", "testdata/stories20.txt", "--prefill", "300", "--chunks", "100"}, "in 100 chunk(s)"},
		{[]string{"presseval", "testdata/story600.txt", "--chunks", "3"}, "--chunks 3: want 1, or with --prefill set"},
		{[]string{"presseval", "testdata/story600.txt", "--press", "snapkv", "--token-ratio", "1"}, "token ratio 1"},
	}
	for _, c := range cases {
		_, errs, code := sparkrun(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error containing %q", c.args, code, errs, c.want)
		}
	}
}
