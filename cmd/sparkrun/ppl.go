package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/sparkrun/sparkrun/runtime"
)

func init() {
	register("ppl", "perplexity of a model over a text file (llama-perplexity's method)", runPPL)
}

// pplResult is what `ppl --json` prints.
type pplResult struct {
	Chunks int     `json:"chunks"`
	Ctx    int     `json:"ctx"`
	Scored int     `json:"scored_tokens"`
	PPL    float64 `json:"ppl"`
	PPLErr float64 `json:"ppl_error"`
	NLL    float64 `json:"mean_nll"`
}

// runPPL follows llama-perplexity: the text is tokenized with BOS and cut into chunks of --ctx
// tokens (default 512); each chunk starts with BOS in place of its first token, and only the second half of
// each chunk is scored (tokens ctx/2+1 .. ctx-1, predicted from the logits before them), so every
// scored token sees at least ctx/2 tokens of context.
func runPPL(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ppl", "[MODEL] FILE", stderr)
	lf := addLoadFlags(fs)
	lf.device = addDeviceFlag(fs)
	maxChunks := fs.Int("chunks", 0, "score at most this many chunks (0: all)")
	asJSON := fs.Bool("json", false, "print the final result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	path, textPath, err := modelAndArg(pos, "ppl takes [MODEL] FILE")
	if err != nil {
		return err
	}
	// As in llama-perplexity, the context size is the chunk size (-c there, --ctx here).
	if lf.ctx == 0 {
		lf.ctx = 512
	}
	n := lf.ctx
	if n < 4 {
		return usagef("--ctx %d: need at least 4 tokens per chunk", n)
	}
	m, ids, err := lf.loadWithText(path, textPath, true)
	if err != nil {
		return err
	}
	defer m.Close()
	chunks := len(ids) / n
	if *maxChunks > 0 && chunks > *maxChunks {
		chunks = *maxChunks
	}
	if chunks == 0 {
		return fmt.Errorf("%s has %d tokens, fewer than one chunk of %d (lower --ctx)", textPath, len(ids), n)
	}
	nVocab := m.engine.Config().NVocab
	bos := m.tok.BOS()
	sess := runtime.NewSessionOn(m.engine)
	var nll, nll2 float64
	count := 0
	chunk := make([]int32, n)
	for c := 0; c < chunks; c++ {
		copy(chunk, ids[c*n:(c+1)*n])
		if bos >= 0 {
			chunk[0] = bos
		}
		sess.Reset()
		logits, err := chunkLogits(sess, chunk, m.engine.Options().Press != nil)
		if err != nil {
			return err
		}
		for j := n / 2; j < n-1; j++ {
			v := -logSoftmax(logits[j*nVocab:(j+1)*nVocab], chunk[j+1])
			nll += v
			nll2 += v * v
			count++
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "[%d]%.4f ", c+1, math.Exp(nll/float64(count)))
		}
	}
	mean := nll / float64(count)
	res := pplResult{Chunks: chunks, Ctx: n, Scored: count, NLL: mean, PPL: math.Exp(mean)}
	if v := nll2/float64(count) - mean*mean; v > 0 && count > 1 {
		res.PPLErr = math.Sqrt(v/float64(count-1)) * res.PPL
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "\nFinal estimate: PPL = %.4f +/- %.5f (%d chunks of %d, %d tokens scored)\n", res.PPL, res.PPLErr, chunks, n, count)
	return nil
}

// chunkLogits returns the logits after every token of chunk ([len(chunk)][n_vocab]). With a
// press, the unscored first half (positions 0..n/2) is the prompt, compressed at its end, and the
// scored half is teacher-forced through the compressed cache, so the perplexity measures the
// press; the rows before n/2, never scored, are left zero.
func chunkLogits(sess *runtime.Session, chunk []int32, pressed bool) ([]float32, error) {
	if !pressed {
		return sess.PromptLogits(chunk)
	}
	n, nVocab := len(chunk), len(sess.Logits())
	out := make([]float32, n*nVocab)
	if err := sess.Prefill(chunk[:n/2+1]); err != nil {
		return nil, err
	}
	copy(out[n/2*nVocab:], sess.Logits())
	if rest := chunk[n/2+1 : n-1]; len(rest) > 0 {
		rows, err := sess.PromptLogits(rest)
		if err != nil {
			return nil, err
		}
		copy(out[(n/2+1)*nVocab:], rows)
	}
	return out, nil
}

// logSoftmax returns log p(id) under logits, in float64.
func logSoftmax(logits []float32, id int32) float64 {
	maxL := logits[0]
	for _, v := range logits {
		maxL = max(maxL, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - maxL))
	}
	return float64(logits[id]-maxL) - math.Log(sum)
}
