package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// pressIDs returns n pseudo-random token ids of model m (fixed seed): attention patterns of
// random text are less peaked than real text's, which makes pruning errors easier to see.
func pressIDs(m *Model, n int, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(2 + r.IntN(m.Config().NVocab-2))
	}
	return ids
}

// teacherForce prefills prompt on s, then decodes cont one token at a time, and returns the
// logits after the prompt and after every continuation token ([1+len(cont)][n_vocab]).
func teacherForce(t *testing.T, s *Session, prompt, cont []int32) []float32 {
	t.Helper()
	if err := s.Prefill(prompt); err != nil {
		t.Fatal(err)
	}
	out := append([]float32(nil), s.Logits()...)
	for _, id := range cont {
		if err := s.Decode(id); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Logits()...)
	}
	return out
}

// pressSession returns a session of m with press name and options.
func pressSession(t *testing.T, m *Model, name string, o press.Options) (*Session, *PressCache) {
	t.Helper()
	s, err := m.NewPressSession(PressConfig{Name: name, Opts: o})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Cache().(*PressCache)
}

// TestPressIdentity checks spec 6.6: a press that keeps every token and channel (λ = 0,
// budget >= T, "none") leaves the logits identical, bit for bit, to the dense cache, through
// the prompt and teacher-forced decoding, for both KV types and for Qwen3's q norm path.
func TestPressIdentity(t *testing.T) {
	cases := []struct {
		name string
		opts press.Options
	}{
		{"none", press.Options{}},
		{"spark", press.Options{KeyRatio: 0}},
		{"think", press.Options{KeyRatio: 0}},
		{"snapkv", press.Options{Budget: 100}},
		{"streaming_llm", press.Options{Budget: 1000}},
		{"snap_spark", press.Options{Budget: 96, KeyRatio: 0}},
		{"tova", press.Options{TokenRatio: 0}},
		{"observed_attention", press.Options{Budget: 96}},
		{"expected_attention", press.Options{Budget: 96}},
	}
	for _, model := range []string{"stories260K.gguf", "micro-qwen3.Q4_K_M.gguf"} {
		for _, kv := range []KVType{KVF16, KVF32} {
			_, m := openModel(t, model, Options{KVType: kv})
			ids := pressIDs(m, 96+12, 1)
			prompt, cont := ids[:96], ids[96:]
			want := teacherForce(t, m.NewSession(), prompt, cont)
			for _, c := range cases {
				t.Run(model+"/"+kv.String()+"/"+c.name, func(t *testing.T) {
					s, pc := pressSession(t, m, c.name, c.opts)
					got := teacherForce(t, s, prompt, cont)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("logit %d (row %d) = %v, dense cache %v", i, i/m.cfg.NVocab, got[i], want[i])
						}
					}
					b, err := pc.Bytes(0)
					if err != nil {
						t.Fatal(err)
					}
					if b.Compressed || b.Stored != b.Dense || b.Positions != len(ids) {
						t.Errorf("bytes %+v: want an uncompressed cache of %d positions", b, len(ids))
					}
				})
			}
		}
	}
}

// maxRelDiff returns max|a-b| / max|b| over two logit arrays.
func maxRelDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		n = max(n, math.Abs(float64(b[i])))
	}
	return d / n
}

// TestPressCompressedClose runs real compressions through the whole model: the logits after the
// prompt are the dense ones exactly (the prompt's own attention uses the full keys, spec 2.1),
// and the teacher-forced decode logits move, by less than a bound, but do move.
func TestPressCompressedClose(t *testing.T) {
	cases := []struct {
		model string
		name  string
		opts  press.Options
		// maxRel bounds max|Δlogit| / max|logit| over the decode rows. Measured 0.09-0.27
		// (logged) on these random-token prompts of tiny models, whose attention is flat, so
		// every pruned channel shows; the bound only catches gross failure (garbage or Inf).
		// Exactness of the decode path is TestPressDecodeMatchesDecompressed's job.
		maxRel float64
	}{
		{"stories260K.gguf", "spark", press.Options{KeyRatio: 0.5}, 0.5},
		{"micro-llama3.f32.gguf", "spark", press.Options{KeyRatio: 0.5}, 0.5},
		{"micro-qwen3.Q4_K_M.gguf", "spark", press.Options{KeyRatio: 0.5}, 0.5},
		{"stories260K.gguf", "spark", press.Options{KeyRatio: 0.5, Recovery: press.RecoveryZero}, 0.5},
		{"stories260K.gguf", "think", press.Options{KeyRatio: 0.5}, 0.5},
		{"stories260K.gguf", "snapkv", press.Options{Budget: 80}, 0.5},
		{"stories260K.gguf", "pyramid_spark", press.Options{TokenRatio: 0.2, KeyRatio: 0.5}, 0.5},
	}
	for _, c := range cases {
		t.Run(c.model+"/"+c.name, func(t *testing.T) {
			_, m := openModel(t, c.model, Options{KVType: KVF32})
			ids := pressIDs(m, 100+16, 2)
			prompt, cont := ids[:100], ids[100:]
			want := teacherForce(t, m.NewSession(), prompt, cont)
			s, pc := pressSession(t, m, c.name, c.opts)
			got := teacherForce(t, s, prompt, cont)
			V := m.cfg.NVocab
			for i := range V {
				if got[i] != want[i] {
					t.Fatalf("prompt logit %d = %v, dense %v: the prompt's attention must use the full cache", i, got[i], want[i])
				}
			}
			rel := maxRelDiff(got[V:], want[V:])
			t.Logf("max relative decode logit change %.4g", rel)
			if rel == 0 || rel > c.maxRel {
				t.Errorf("relative decode logit change %v, want in (0, %v]", rel, c.maxRel)
			}
			b, err := pc.Bytes(0)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Compressed || b.Stored >= b.Dense || b.Positions != len(ids) {
				t.Errorf("bytes %+v: want a compressed cache smaller than dense, %d positions", b, len(ids))
			}
		})
	}
}

// TestPressDecodeMatchesDecompressed checks the position mapping and the causal tail: a
// compressed session's decode logits equal those of a dense cache holding the decompressed
// prompt (the press oracle) at the same positions, to float32 summation-order tolerance.
func TestPressDecodeMatchesDecompressed(t *testing.T) {
	_, m := openModel(t, "micro-llama3.f32.gguf", Options{KVType: KVF32})
	ids := pressIDs(m, 64+8, 3)
	prompt, cont := ids[:64], ids[64:]
	s, pc := pressSession(t, m, "snap_spark", press.Options{Budget: 40, KeyRatio: 0.5})
	got := teacherForce(t, s, prompt, cont)

	// Oracle: the same compressed layers, decompressed, plus the same post-prefill tokens,
	// attended with press.AttendDense at the same positions.
	ref := &oracleCache{pc: pc, tails: make([][2][]float32, m.cfg.NLayer)}
	rs := m.newSession(ref)
	rs.history = append(rs.history, prompt...)
	var oracle []float32
	for _, id := range cont {
		if err := rs.Decode(id); err != nil {
			t.Fatal(err)
		}
		oracle = append(oracle, rs.Logits()...)
	}
	// Tolerance: the oracle sums in float64 with a two-pass softmax, the kernel in float32
	// online; f32Tol is the float32 summation-order bound of model_test.go.
	if d := maxAbsDiff(got[m.cfg.NVocab:], oracle); d > f32Tol {
		t.Errorf("max |compressed kernel - decompressed oracle| = %g > %g", d, f32Tol)
	}
}

// maxAbsDiff returns max|a-b|.
func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// oracleCache attends over the decompressed compressed prompt of a PressCache's sequence 0
// plus its own dense tail, with press.AttendDense: an independent implementation of decode
// attention on the compressed cache.
type oracleCache struct {
	pc    *PressCache
	tails [][2][]float32 // [layer] K, V: [pos][n_kv_head*head_dim] post-prefill tokens
}

func (o *oracleCache) Seqs() int    { return 1 }
func (o *oracleCache) Context() int { return o.pc.ctx }

func (o *oracleCache) Store(layer int, batch []BatchEntry, k, v []float32) {
	o.tails[layer][0] = append(o.tails[layer][0], k...)
	o.tails[layer][1] = append(o.tails[layer][1], v...)
}

func (o *oracleCache) Attend(layer int, batch []BatchEntry, q, out []float32) {
	pc, hd, nKV := o.pc, o.pc.hd, o.pc.nKV
	st := &pc.seqs[0]
	nTail := len(o.tails[layer][0]) / (nKV * hd)
	for h := range nKV {
		kv := st.layers[layer].heads[h].Decompress()
		for r := range nTail {
			kv.K = append(kv.K, o.tails[layer][0][(r*nKV+h)*hd:(r*nKV+h+1)*hd]...)
			kv.V = append(kv.V, o.tails[layer][1][(r*nKV+h)*hd:(r*nKV+h+1)*hd]...)
		}
		kv.T += nTail
		G := pc.nHead / nKV
		if err := press.AttendDense(kv, out[h*G*hd:(h+1)*G*hd], q[h*G*hd:(h+1)*G*hd], G); err != nil {
			panic(err) // test helper: shapes are the cache's own
		}
	}
}

// TestPressGenerate generates with token-evicting and composed presses at a budget below the
// prompt length and checks the kept counts and that the text continues.
func TestPressGenerate(t *testing.T) {
	cases := []struct {
		name string
		opts press.Options
		kept int
	}{
		{"snap_spark", press.Options{Budget: 70, KeyRatio: 0.8}, 70},
		{"streaming_llm", press.Options{Budget: 50}, 50},
		{"tova", press.Options{TokenRatio: 0.5}, 60},
		{"snap_think", press.Options{Budget: 90, KeyRatio: 0.5}, 90},
		{"observed_attention", press.Options{Budget: 64}, 64},
		{"expected_attention", press.Options{Budget: 64}, 64},
	}
	_, m := openModel(t, "stories260K.gguf", Options{})
	prompt := pressIDs(m, 120, 4)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, pc := pressSession(t, m, c.name, c.opts)
			res, err := s.Generate(prompt, GenerateOptions{MaxTokens: 40})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tokens) != 40 || s.Pos() != 120+40 {
				t.Errorf("generated %d tokens to position %d, want 40 to 160", len(res.Tokens), s.Pos())
			}
			b, err := pc.Bytes(0)
			if err != nil {
				t.Fatal(err)
			}
			for l, lb := range b.Layers {
				if lb.Kept != c.kept {
					t.Errorf("layer %d keeps %d tokens, want %d", l, lb.Kept, c.kept)
				}
			}
			if b.Positions != 160 {
				t.Errorf("cache holds %d positions, want 160", b.Positions)
			}
		})
	}
}

// TestPressBytes checks the accounting of spec 3.6 on a head_dim 64 model: per token per KV
// head, SparK keys take a D-bit mask, n_k kept values, ceil(n_p/8) sign bytes and α, values
// stay dense; per layer and KV head ρ (4 bytes per channel) and two stream offsets (8 bytes).
func TestPressBytes(t *testing.T) {
	for _, kv := range []KVType{KVF16, KVF32} {
		for _, lambda := range []float64{0.5, 0.8} {
			_, m := openModel(t, "micro-llama3.f32.gguf", Options{KVType: kv})
			c := m.Config()
			D, size, T := c.HeadDim, 2, 200
			if kv == KVF32 {
				size = 4
			}
			s, pc := pressSession(t, m, "spark", press.Options{KeyRatio: lambda})
			if err := s.Prefill(pressIDs(m, T, 5)); err != nil {
				t.Fatal(err)
			}
			if err := s.Decode(7); err != nil {
				t.Fatal(err)
			}
			b, err := pc.Bytes(0)
			if err != nil {
				t.Fatal(err)
			}
			np := int(lambda * float64(D))
			perTok := D/8 + (D-np)*size + (np+7)/8 + size + D*size
			perLayer := c.NKVHead*(T*perTok+4*D) + 8*2*(c.NKVHead+1)
			tail := 2 * c.NKVHead * D * size // the decoded token, dense
			for l, lb := range b.Layers {
				if lb.Stored != perLayer+tail {
					t.Errorf("%s λ=%v layer %d: stored %d bytes, spec 3.6 gives %d", kv, lambda, l, lb.Stored, perLayer+tail)
				}
				if lb.Dense != (T+1)*2*c.NKVHead*D*size {
					t.Errorf("%s λ=%v layer %d: dense %d bytes, want %d", kv, lambda, l, lb.Dense, (T+1)*2*c.NKVHead*D*size)
				}
			}
			if b.PromptLen != T || b.Positions != T+1 {
				t.Errorf("%s λ=%v: prompt %d of %d positions, want %d of %d", kv, lambda, b.PromptLen, b.Positions, T, T+1)
			}
			if b.PromptStored != c.NLayer*perLayer || b.Stored != c.NLayer*(perLayer+tail) {
				t.Errorf("%s λ=%v: totals %+v do not add up", kv, lambda, b)
			}
			// The process holds exactly the accounted prompt layout in either KV type (f16
			// numbers as 16-bit patterns), plus the cpu.SignSlack bytes of slack after each layer's sign
			// stream (the decode kernel's loads) and the tail's capacity: 64 tokens in the KV
			// type, its initial allocation.
			tailCap := c.NLayer * 2 * c.NKVHead * 64 * D * size
			if want := b.PromptStored + cpu.SignSlack*c.NLayer + tailCap; b.Resident != want {
				t.Errorf("%s λ=%v: resident %d bytes, want prompt %d + sign slack %d + tail capacity %d", kv, lambda, b.Resident, b.PromptStored, cpu.SignSlack*c.NLayer, tailCap)
			}
			t.Logf("%s λ=%v: prompt K+V stored/dense = %.3f, resident %d", kv, lambda, float64(b.PromptStored)/float64(b.PromptDense), b.Resident)
		}
	}
}

// TestPressRollback checks truncation and restart: decoding after Truncate into the tail
// reproduces the first run; truncating into the compressed prompt fails clearly; Reset and a
// new prompt compress again.
func TestPressRollback(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{KVType: KVF32})
	ids := pressIDs(m, 80+10, 6)
	prompt, cont := ids[:80], ids[80:]
	s, pc := pressSession(t, m, "spark", press.Options{KeyRatio: 0.5})
	first := teacherForce(t, s, prompt, cont)
	V := m.cfg.NVocab
	if err := s.Truncate(83); err != nil {
		t.Fatal(err)
	}
	for i, id := range cont[3:] {
		if err := s.Decode(id); err != nil {
			t.Fatal(err)
		}
		row := 4 + i
		if d := maxAbsDiff(s.Logits(), first[row*V:(row+1)*V]); d != 0 {
			t.Fatalf("after truncation, row %d differs by %g", row, d)
		}
	}
	if f := pc.RollbackFloor(0); f != 80 {
		t.Errorf("rollback floor %d, want the prompt length 80", f)
	}
	if err := s.Truncate(40); err != nil {
		t.Fatal(err)
	}
	err := s.Decode(5)
	if err == nil || !strings.Contains(err.Error(), "inside the compressed prompt") {
		t.Errorf("decode inside the compressed prompt: error %v, want one naming the compressed prompt", err)
	}
	s.Reset()
	again := teacherForce(t, s, prompt, cont)
	if d := maxAbsDiff(again, first); d != 0 {
		t.Errorf("after Reset the same text differs by %g", d)
	}
	if b, _ := pc.Bytes(0); !b.Compressed {
		t.Errorf("after Reset and a new prompt the cache is not compressed")
	}
}

// TestPressMultiSeq checks that the sequences of one press cache are independent: two prompts
// fed in one batch and decoded together give each sequence's single-session logits.
func TestPressMultiSeq(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{KVType: KVF32})
	cfg := PressConfig{Name: "snap_spark", Opts: press.Options{Budget: 60, KeyRatio: 0.5}}
	p0, p1 := pressIDs(m, 90, 7), pressIDs(m, 70, 8)
	c0, c1 := pressIDs(m, 5, 9), pressIDs(m, 5, 10)
	var want [2][]float32
	for i, pr := range [][]int32{p0, p1} {
		s, err := m.NewPressSession(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = teacherForce(t, s, pr, [][]int32{c0, c1}[i])
	}
	pc, err := m.NewPressCache(2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	V := m.cfg.NVocab
	var batch []BatchEntry
	for i, pr := range [][]int32{p0, p1} {
		for p, id := range pr {
			batch = append(batch, BatchEntry{Seq: i, Pos: p, Token: id, Logits: p == len(pr)-1})
		}
	}
	logits := make([]float32, 2*V)
	if err := m.Forward(batch, pc, logits); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := pc.EndPrefill(i); err != nil {
			t.Fatal(err)
		}
	}
	got := [2][]float32{append([]float32(nil), logits[:V]...), append([]float32(nil), logits[V:]...)}
	for step := range 5 {
		batch = []BatchEntry{{Seq: 0, Pos: len(p0) + step, Token: c0[step], Logits: true},
			{Seq: 1, Pos: len(p1) + step, Token: c1[step], Logits: true}}
		if err := m.Forward(batch, pc, logits); err != nil {
			t.Fatal(err)
		}
		got[0] = append(got[0], logits[:V]...)
		got[1] = append(got[1], logits[V:]...)
	}
	for i := range 2 {
		if d := maxAbsDiff(got[i], want[i]); d != 0 {
			t.Errorf("sequence %d differs from its own session by %g", i, d)
		}
	}
}

// TestPressObservedColumnSums checks the accumulated prefill attention of observed_attention:
// every query row's probabilities sum to 1, so each layer's and head's column sums over T
// prompt positions add up to T, whether the prompt arrives in one chunk or in several; and a
// restart at position 0 starts the sums again.
func TestPressObservedColumnSums(t *testing.T) {
	_, m := openModel(t, "micro-qwen3.Q4_K_M.gguf", Options{})
	ids := pressIDs(m, 90, 12)
	for _, chunks := range [][]int{{90}, {5, 40, 45}} {
		s, pc := pressSession(t, m, "observed_attention", press.Options{Budget: 30})
		for round := range 2 { // the second round checks the restart
			s.Reset()
			at := 0
			for _, n := range chunks {
				if _, err := s.PromptLogits(ids[at : at+n]); err != nil { // PromptLogits does not end prefill
					t.Fatal(err)
				}
				at += n
			}
			for l, cs := range pc.seqs[0].colSums {
				for h := range m.cfg.NHead {
					var sum float64
					for p := range 90 {
						sum += cs[p*m.cfg.NHead+h]
					}
					// Each of the 90 rows sums to 1 in float64: 1e-9 is far above rounding.
					if math.Abs(sum-90) > 1e-9 {
						t.Errorf("chunks %v round %d layer %d head %d: column sums add to %v, want 90", chunks, round, l, h, sum)
					}
				}
			}
		}
		if err := pc.EndPrefill(0); err != nil {
			t.Fatal(err)
		}
		if b, _ := pc.Bytes(0); !b.Compressed || b.Layers[0].Kept != 30 {
			t.Errorf("chunks %v: after EndPrefill bytes %+v, want 30 kept tokens", chunks, b)
		}
	}
}

// TestPressPreRoPEQueries checks the queries expected_attention gets: RoPE undone and the
// channels in NeoX pair order. Putting them back in the model's order and applying the model's
// own RoPE (cpu.RopeNorm for Llama's normal layout, cpu.RopeNeox for Qwen3) must give the queries
// attention saw, which the window ring holds.
func TestPressPreRoPEQueries(t *testing.T) {
	for _, model := range []string{"stories260K.gguf", "micro-qwen3.Q4_K_M.gguf"} {
		t.Run(model, func(t *testing.T) {
			_, m := openModel(t, model, Options{})
			s, pc := pressSession(t, m, "expected_attention", press.Options{Budget: 30})
			const T = 80
			if _, err := s.PromptLogits(pressIDs(m, T, 13)); err != nil { // does not end prefill
				t.Fatal(err)
			}
			st, hd, qDim := &pc.seqs[0], m.cfg.HeadDim, m.cfg.NHead*m.cfg.HeadDim
			cs := make([]float32, m.cfg.RopeDim)
			var worst float64
			for l := range m.cfg.NLayer {
				for p := T - pc.winCap; p < T; p++ {
					post := st.win[l][p%pc.winCap*qDim:][:qDim]
					re := append([]float32(nil), st.preRoPE[l][p*qDim:][:qDim]...)
					cpu.RopeTable(cs, m.invFreq, p)
					for h := 0; h < qDim; h += hd {
						normalOrder(re[h:h+hd], pc.neox)
					}
					if pc.neox {
						cpu.RopeNeox(re, hd, cs)
					} else {
						cpu.RopeNorm(re, hd, cs)
					}
					worst = max(worst, maxAbsDiff(re, post)/maxAbs(post))
				}
			}
			// Two float32 rotations of |x| ~ 1 vectors: a few ulps, 1e-5 relative is generous
			// and far below a wrong pair layout or angle sign (O(1)).
			if worst > 1e-5 {
				t.Errorf("re-rotated pre-RoPE queries differ from attention's by %g relative", worst)
			}
		})
	}
}

// maxAbs returns max|x|.
func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestPressErrors checks that bad press settings fail at load or session creation with an
// error naming the problem.
func TestPressErrors(t *testing.T) {
	f, m := openModel(t, "stories260K.gguf", Options{})
	cases := []struct {
		cfg  PressConfig
		want string
	}{
		{PressConfig{Name: "sparc"}, `unknown press "sparc"`},
		{PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 1.5}}, "key ratio 1.5"},
		{PressConfig{Name: "spark", Opts: press.Options{Recovery: "mean"}}, `unknown recovery "mean"`},
		{PressConfig{Name: "snapkv", Opts: press.Options{TokenRatio: 1}}, "token ratio 1"},
	}
	for _, c := range cases {
		t.Run(c.cfg.Name, func(t *testing.T) {
			if _, err := m.NewPressSession(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewPressSession: error %v, want one containing %q", err, c.want)
			}
			cfg := c.cfg
			if _, err := Load(f, Options{Threads: 1, Press: &cfg}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load: error %v, want one containing %q", err, c.want)
			}
		})
	}
	// ExpectedAttention's rotation average needs every channel pair rotated.
	partial := &Model{cfg: m.cfg, opts: m.opts, pool: m.pool}
	partial.cfg.RopeDim = m.cfg.HeadDim / 2
	if _, err := partial.NewPressCache(1, PressConfig{Name: "expected_attention"}); err == nil || !strings.Contains(err.Error(), "full rotary") {
		t.Errorf("expected_attention with partial RoPE: error %v, want one naming full rotary embeddings", err)
	}
	// A budget that keeps no token fails at the end of prefill, naming the press.
	s, _ := pressSession(t, m, "streaming_llm", press.Options{TokenRatio: 0.999})
	if err := s.Prefill(pressIDs(m, 80, 11)); err == nil || !strings.Contains(err.Error(), "streaming_llm") {
		t.Errorf("prefill with a budget of no tokens: error %v, want one naming the press", err)
	}
}

// ExampleModel_NewPressSession generates with snap_spark: SnapKV keeps 64 of the prompt's 120
// tokens per KV head, SparK prunes 80% of their key channels, and the generated tokens are
// stored dense after them. stories260K has 5 layers of 4 KV heads of 8 channels; with the f16
// cache each kept token takes a 1-byte mask, 2 kept values (4 B), 1 sign byte, α (2 B) and its
// values (16 B), each head 32 B of ρ, each layer 80 B of stream offsets (spec 3.6):
// 5·(4·(64·24 + 32) + 80) = 31760 bytes, against 5·120·2·4·8·2 = 76800 dense.
func ExampleModel_NewPressSession() {
	f, err := gguf.Open("testdata/stories260K.gguf")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := Load(f, Options{Threads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	s, err := m.NewPressSession(PressConfig{Name: "snap_spark", Opts: press.Options{Budget: 64, KeyRatio: 0.8}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := s.Generate(pressIDs(m, 120, 1), GenerateOptions{MaxTokens: 16}); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := s.Cache().(*PressCache).Bytes(0)
	fmt.Printf("prompt %d tokens, %d kept per KV head; %d positions held\n", b.PromptLen, b.Layers[0].Kept, b.Positions)
	fmt.Printf("prompt K+V: %d of %d dense bytes\n", b.PromptStored, b.PromptDense)
	// Output:
	// prompt 120 tokens, 64 kept per KV head; 136 positions held
	// prompt K+V: 31760 of 76800 dense bytes
}
