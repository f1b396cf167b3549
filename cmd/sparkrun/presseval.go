package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sparkrun/sparkrun/runtime"
)

func init() {
	register("presseval", "compare KV presses on a text: ΔNLL, attention error and KV bytes versus the full cache", runPressEval)
}

// pressEvalRow is one press setting's result (a row of the table, an element of --json).
type pressEvalRow struct {
	Press    string  `json:"press"`
	Recovery string  `json:"recovery,omitempty"`
	KeyRatio float64 `json:"key_ratio"`
	// DeltaNLL is the mean NLL of the teacher-forced tokens minus the full cache's (nats).
	DeltaNLL float64 `json:"delta_nll"`
	// ChunkDeltaNLL is DeltaNLL chunk by chunk, and DeltaNLLSE the standard error of their mean
	// (0 for one chunk): chunks are independent texts, so two presses whose ΔNLL differ by less
	// than a few standard errors of their paired per-chunk differences are not ranked by the text.
	ChunkDeltaNLL []float64 `json:"chunk_delta_nll"`
	DeltaNLLSE    float64   `json:"delta_nll_se"`
	// KL is the mean KL(p_full ‖ p_press) of the next-token distributions (nats).
	KL float64 `json:"kl"`
	// AttnErr is, per layer, ‖o_press − o_full‖ / ‖o_full‖ of the layer's attention output over
	// the teacher-forced positions (the error a layer sees includes what earlier layers passed on).
	AttnErr []float64 `json:"attn_err"`
	// PromptDense and PromptStored are the prompt's K+V bytes without and with the press,
	// summed over the chunks.
	PromptDense  int `json:"prompt_dense_bytes"`
	PromptStored int `json:"prompt_stored_bytes"`
}

// pressEvalReport is what `presseval --json` prints.
type pressEvalReport struct {
	Model    string         `json:"model"`
	Prefill  int            `json:"prefill"`
	Continue int            `json:"continue"`
	Chunks   int            `json:"chunks"` // chunks of prefill+continue tokens pooled
	FullNLL  float64        `json:"full_nll"`
	Rows     []pressEvalRow `json:"rows"`
}

// pressSpec is one entry of --press: a press name and, for SparK, an optional recovery
// ("spark:zero").
type pressSpec struct{ name, recovery string }

// parsePressList parses --press "spark,spark:zero,think".
func parsePressList(s string) ([]pressSpec, error) {
	var specs []pressSpec
	for _, f := range strings.Split(s, ",") {
		name, rec, _ := strings.Cut(strings.TrimSpace(f), ":")
		if name == "" {
			return nil, usagef("--press %q: empty press name", s)
		}
		if rec != "" && !strings.Contains(name, "spark") {
			return nil, usagef("--press %q: a recovery (%s:%s) only applies to SparK presses", s, name, rec)
		}
		specs = append(specs, pressSpec{name, rec})
	}
	return specs, nil
}

// parseRatios parses --key-ratio "0.5,0.8".
func parseRatios(s string) ([]float64, error) {
	var rs []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > 1 {
			return nil, usagef("--key-ratio %q: %q is not a number in [0, 1]", s, f)
		}
		rs = append(rs, v)
	}
	return rs, nil
}

// runPressEval prefills N tokens of a text, compresses with each press setting, teacher-forces
// the next M tokens through the compressed cache (one batched pass after the prompt, which is
// causal over the compressed prompt plus the dense tail), and compares with the full cache.
func runPressEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("presseval", "[MODEL] TEXTFILE", stderr)
	lf := addModelFlags(fs)
	pf := addPressParamFlags(fs)
	presses := fs.String("press", "spark,spark:zero,think", "presses to compare, comma separated; spark:zero / spark:avg_bottom pick SparK's recovery")
	ratios := fs.String("key-ratio", "0.5,0.8", "λ values for the channel presses (SparK, ThinK and their compositions), comma separated")
	nPrefill := fs.Int("prefill", 0, "prompt tokens prefilled and compressed (0: all but --continue)")
	nCont := fs.Int("continue", 128, "tokens teacher-forced after the prompt and scored")
	nChunks := fs.Int("chunks", 1, "evaluate this many consecutive chunks of --prefill + --continue tokens of the text and pool them (0: as many as the text holds); needs --prefill when not 1")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	path, textPath, err := modelAndArg(pos, "presseval takes [MODEL] TEXTFILE")
	if err != nil {
		return err
	}
	specs, err := parsePressList(*presses)
	if err != nil {
		return err
	}
	lambdas, err := parseRatios(*ratios)
	if err != nil {
		return err
	}
	if *nCont < 1 || *nPrefill < 0 {
		return usagef("--continue %d / --prefill %d: need --continue >= 1 and --prefill >= 0", *nCont, *nPrefill)
	}
	if *nChunks < 0 || (*nChunks != 1 && *nPrefill == 0) {
		return usagef("--chunks %d: want 1, or with --prefill set, 0 (all) or a positive count", *nChunks)
	}
	var cfgs []*runtime.PressConfig
	for _, sp := range specs {
		ls := lambdas
		if !channelPress(sp.name) {
			ls = []float64{0} // λ does not apply to token presses
		}
		for _, l := range ls {
			p := *pf
			p.recovery = sp.recovery
			cfg, err := p.configFor(sp.name, l)
			if err != nil {
				return err
			}
			cfgs = append(cfgs, cfg)
		}
	}
	m, ids, err := lf.loadWithText(path, textPath, false)
	if err != nil {
		return err
	}
	defer m.Close()
	// Each chunk starts as a document does: with BOS when the model adds one.
	var bos []int32
	if m.tok.AddBOS() && m.tok.BOS() >= 0 {
		bos = []int32{m.tok.BOS()}
	}
	N, M := *nPrefill, *nCont
	if N == 0 {
		N = len(bos) + len(ids) - M
	}
	per := N + M - len(bos) // text tokens per chunk
	avail := 0
	if per > 0 {
		avail = len(ids) / per
	}
	C := *nChunks
	if C == 0 {
		C = avail
	}
	if N < 1 || per < 1 || C > avail || C < 1 {
		return fmt.Errorf("%s has %d tokens: cannot prefill %d and continue %d in %d chunk(s)", textPath, len(bos)+len(ids), N, M, max(C, 1))
	}
	if ctx := m.model.Options().ContextSize; N+M > ctx {
		return usagef("--prefill %d + --continue %d exceed the context of %d (raise --ctx)", N, M, ctx)
	}
	ev := &pressEvaluator{model: m.model, n: N}
	for c := range C {
		ev.chunks = append(ev.chunks, append(slices.Clone(bos), ids[c*per:(c+1)*per]...))
	}
	full, err := ev.run(&runtime.PressConfig{Name: "none"})
	if err != nil {
		return err
	}
	rep := pressEvalReport{Model: m.name, Prefill: N, Continue: M, Chunks: C, FullNLL: mean(full.nll)}
	for _, cfg := range cfgs {
		r, err := ev.run(cfg)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, compareRuns(cfg, full, r, C))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printPressEval(stdout, &rep)
	return nil
}

// pressEvaluator runs chunks of one text through sessions with different presses.
type pressEvaluator struct {
	model  *runtime.Model
	chunks [][]int32 // [chunks][prefill + continue] the text's tokens
	n      int       // prefill length
}

// evalRun is what one press produced over every chunk, chunk after chunk.
type evalRun struct {
	nll          []float64   // [chunks·continue] −log p of each teacher-forced token
	logits       []float32   // [chunks·continue][n_vocab]
	attn         [][]float32 // [layer][chunks·(continue-1)][n_head*head_dim] attention outputs at positions n..
	promptDense  int         // the prompts' K+V bytes without the press, summed over chunks
	promptStored int         // and with it
}

// run evaluates press cfg on every chunk: it prefills the chunk's first n tokens (compressing
// at the end of prefill), then feeds the rest in one batch, collecting the logits and every
// layer's attention output of the post-prefill positions.
func (ev *pressEvaluator) run(cfg *runtime.PressConfig) (*evalRun, error) {
	r := &evalRun{attn: make([][]float32, ev.model.Config().NLayer)}
	for _, ids := range ev.chunks {
		if err := ev.runChunk(cfg, ids, r); err != nil {
			return nil, fmt.Errorf("press %s: %w", describePress(cfg), err)
		}
	}
	return r, nil
}

// runChunk evaluates cfg on one chunk, appending to r.
func (ev *pressEvaluator) runChunk(cfg *runtime.PressConfig, ids []int32, r *evalRun) error {
	s, err := ev.model.NewPressSession(*cfg)
	if err != nil {
		return err
	}
	pc := s.Cache().(*runtime.PressCache)
	pc.SetAttendHook(func(layer int, e runtime.BatchEntry, out []float32) {
		if e.Pos >= ev.n {
			r.attn[layer] = append(r.attn[layer], out...)
		}
	})
	if err := s.Prefill(ids[:ev.n]); err != nil {
		return err
	}
	logits := slices.Clone(s.Logits())
	if rest := ids[ev.n : len(ids)-1]; len(rest) > 0 {
		rows, err := s.PromptLogits(rest)
		if err != nil {
			return err
		}
		logits = append(logits, rows...)
	}
	V := ev.model.Config().NVocab
	for i, id := range ids[ev.n:] {
		r.nll = append(r.nll, -logSoftmax(logits[i*V:(i+1)*V], id))
	}
	r.logits = append(r.logits, logits...)
	b, err := pc.Bytes(0)
	if err != nil {
		return err
	}
	r.promptDense += b.PromptDense
	r.promptStored += b.PromptStored
	return nil
}

// compareRuns is the table row of press run r against the full-cache run full, both over the
// same chunks.
func compareRuns(cfg *runtime.PressConfig, full, r *evalRun, chunks int) pressEvalRow {
	row := pressEvalRow{Press: cfg.Name, Recovery: cfg.Opts.Recovery, KeyRatio: cfg.Opts.KeyRatio,
		DeltaNLL: mean(r.nll) - mean(full.nll), PromptDense: r.promptDense, PromptStored: r.promptStored}
	M := len(full.nll) / chunks
	for c := range chunks {
		row.ChunkDeltaNLL = append(row.ChunkDeltaNLL, mean(r.nll[c*M:(c+1)*M])-mean(full.nll[c*M:(c+1)*M]))
	}
	row.DeltaNLLSE = stdErr(row.ChunkDeltaNLL)
	V := len(full.logits) / len(full.nll)
	for i := range full.nll {
		row.KL += klDiv(full.logits[i*V:(i+1)*V], r.logits[i*V:(i+1)*V])
	}
	row.KL /= float64(len(full.nll))
	for l := range full.attn {
		var d, n float64
		for j, a := range full.attn[l] {
			x := float64(r.attn[l][j] - a)
			d += x * x
			n += float64(a) * float64(a)
		}
		e := 0.0
		if n > 0 {
			e = math.Sqrt(d / n)
		}
		row.AttnErr = append(row.AttnErr, e)
	}
	return row
}

// klDiv returns KL(softmax(p) ‖ softmax(q)) in float64.
func klDiv(p, q []float32) float64 {
	lp, lq := logSoftmaxAll(p), logSoftmaxAll(q)
	var kl float64
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return kl
}

// logSoftmaxAll returns log softmax(x) in float64.
func logSoftmaxAll(x []float32) []float64 {
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v-m) - math.Log(sum)
	}
	return out
}

// stdErr returns the standard error of the mean of xs (sample standard deviation over
// sqrt(n)); 0 for fewer than two values.
func stdErr(xs []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	m := mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / (n - 1) / n)
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func printPressEval(w io.Writer, r *pressEvalReport) {
	fmt.Fprintf(w, "%s: %d chunk(s) of the text, each prefill %d tokens, then %d teacher-forced; full-cache NLL %.4f nats/token\n\n",
		r.Model, r.Chunks, r.Prefill, r.Continue, r.FullNLL)
	fmt.Fprintf(w, "%-22s %5s %10s %7s %9s %10s %10s %8s\n", "press", "λ", "ΔNLL", "±se", "KL", "attn err", "(max)", "KV/dense")
	for _, row := range r.Rows {
		lambda := "-" // λ does not apply to token presses
		if channelPress(row.Press) {
			lambda = fmt.Sprintf("%.2f", row.KeyRatio)
		}
		fmt.Fprintf(w, "%-22s %5s %+10.4f %7.4f %9.5f %10.4f %10.4f %8.3f\n", row.Press+recoverySuffix(row.Recovery), lambda, row.DeltaNLL, row.DeltaNLLSE, row.KL,
			mean(row.AttnErr), slices.Max(row.AttnErr), float64(row.PromptStored)/float64(row.PromptDense))
	}
	fmt.Fprintf(w, "\nper-layer attention-output error (relative L2 vs the full cache, layer 0 first):\n")
	for _, row := range r.Rows {
		var es []string
		for _, e := range row.AttnErr {
			es = append(es, fmt.Sprintf("%.4f", e))
		}
		name := row.Press + recoverySuffix(row.Recovery)
		if channelPress(row.Press) {
			name += fmt.Sprintf(" λ=%.2f", row.KeyRatio)
		}
		fmt.Fprintf(w, "%-28s %s\n", name+":", strings.Join(es, " "))
	}
	fmt.Fprintf(w, "\n±se: standard error of ΔNLL over the chunks (0 for one chunk). KV/dense: the prompt's K+V bytes\nwith the press over dense (spec 3.6 accounting).\n")
}

// channelPress reports whether a press prunes key channels (SparK, ThinK and their
// compositions), so that λ applies to it.
func channelPress(name string) bool {
	return strings.Contains(name, "spark") || strings.Contains(name, "think")
}

func recoverySuffix(r string) string {
	if r == "" {
		return ""
	}
	return ":" + r
}
