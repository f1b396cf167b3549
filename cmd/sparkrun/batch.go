package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/tokenizer/chat"
)

func init() {
	register("batch", "generate for every prompt of a JSONL file, resumably", runBatch)
}

// batchInput is one line of --in.
type batchInput struct {
	ID        json.RawMessage `json:"id"`
	Prompt    *string         `json:"prompt"`
	Messages  []chat.Message  `json:"messages"`
	MaxTokens *int            `json:"max_tokens"`
	Temp      *float64        `json:"temperature"`
	TopK      *int            `json:"top_k"`
	TopP      *float64        `json:"top_p"`
	MinP      *float64        `json:"min_p"`
	Repeat    *float64        `json:"repeat_penalty"`
	Seed      *int64          `json:"seed"`
	Stop      []string        `json:"stop"`

	key  string // canonical id, for duplicate and resume checks
	line int
}

// batchOutput is one line of --out.
type batchOutput struct {
	ID           json.RawMessage `json:"id"`
	Text         string          `json:"text"`
	Tokens       int             `json:"tokens"`
	PromptTokens int             `json:"prompt_tokens"`
	FinishReason string          `json:"finish_reason"`
	Error        string          `json:"error,omitempty"`
	Timings      batchTimings    `json:"timings"`
}

type batchTimings struct {
	PromptMS   float64 `json:"prompt_ms"`
	GenerateMS float64 `json:"generate_ms"`
	TotalMS    float64 `json:"total_ms"`
}

func runBatch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("batch", "[MODEL] --in prompts.jsonl --out results.jsonl", stderr)
	lf := addLoadFlags(fs)
	lf.device = addDeviceFlag(fs)
	sf := addSampleFlags(fs, 0.8)
	inPath := fs.String("in", "", "input JSONL: one {\"id\", \"prompt\" or \"messages\", optional max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, seed, stop} per line")
	outPath := fs.String("out", "", "output JSONL; results are appended, ids already there are skipped")
	parallel := fs.Int("parallel", 4, "sequences decoded together in each forward pass")
	n := fs.Int("n", 256, "default max_tokens")
	strict := fs.Bool("strict", false, "stop at the first malformed input line instead of skipping it")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("batch takes at most one MODEL")
	}
	if *inPath == "" || *outPath == "" {
		return usagef("batch needs --in and --out")
	}
	if *parallel < 1 {
		return usagef("--parallel %d: must be at least 1", *parallel)
	}
	if _, err := sf.options(); err != nil {
		return err
	}
	inputs, err := readBatchInputs(*inPath, *strict, stderr)
	if err != nil {
		return err
	}
	doneIDs, err := repairAndReadDone(*outPath)
	if err != nil {
		return err
	}
	var todo []*batchInput
	for _, in := range inputs {
		if !doneIDs[in.key] {
			todo = append(todo, in)
		}
	}
	if len(todo) < len(inputs) {
		fmt.Fprintf(stderr, "batch: %d of %d ids already in %s; %d to do\n", len(inputs)-len(todo), len(inputs), *outPath, len(todo))
	}
	if len(todo) == 0 {
		return nil
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	m, err := lf.load(path, true)
	if err != nil {
		return err
	}
	defer m.Close()
	var tmpl *chat.Template
	if src := m.tok.ChatTemplate(); src != "" {
		if tmpl, err = chat.Parse(src); err != nil {
			return modelError{fmt.Errorf("%s: chat template: %w", m.name, err)}
		}
	}
	out, err := os.OpenFile(*outPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()

	// Ctrl-C: finish nothing new, keep every result already written (each is one write).
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
			stop.Store(true)
		}
	}()

	bar := newProgress(stderr, len(todo), *quiet)
	byReq := map[*runtime.BatchRequest]*batchInput{}
	next := 0
	var genTokens int
	var firstErr error
	err = runtime.RunBatch(m.engine, *parallel, func() (*runtime.BatchRequest, bool) {
		for next < len(todo) && !stop.Load() {
			in := todo[next]
			next++
			req, err := buildRequest(in, m, tmpl, sf, *n)
			if err != nil {
				if werr := writeResult(out, batchOutput{ID: in.ID, FinishReason: "error", Error: err.Error()}); werr != nil {
					firstErr = werr
					return nil, false
				}
				bar.add(0)
				continue
			}
			byReq[req] = in
			return req, true
		}
		return nil, false
	}, func(req *runtime.BatchRequest, res runtime.BatchResult, rerr error) error {
		in := byReq[req]
		delete(byReq, req)
		o := batchOutput{ID: in.ID, Text: res.Text, Tokens: len(res.Tokens), PromptTokens: res.PromptTokens, FinishReason: res.Finish}
		if rerr != nil {
			o.FinishReason, o.Error = "error", rerr.Error()
		} else {
			o.Timings = batchTimings{
				PromptMS:   ms(res.FirstToken.Sub(res.Start)),
				GenerateMS: ms(res.End.Sub(res.FirstToken)),
				TotalMS:    ms(res.End.Sub(res.Start)),
			}
		}
		genTokens += len(res.Tokens)
		bar.add(len(res.Tokens))
		return writeResult(out, o)
	})
	bar.finish()
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return err
	}
	if stop.Load() {
		return fmt.Errorf("interrupted: finished results are in %s; rerun the same command to continue", *outPath)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// readBatchInputs parses --in. Malformed lines are reported with their line number and skipped
// (or fail with strict); duplicate ids fail before any work starts.
func readBatchInputs(path string, strict bool, stderr io.Writer) ([]*batchInput, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var inputs []*batchInput
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		in := &batchInput{line: line}
		err := parseBatchLine(text, in)
		if err != nil {
			if strict {
				return nil, usagef("%s:%d: %v", path, line, err)
			}
			fmt.Fprintf(stderr, "batch: %s:%d: %v (skipped)\n", path, line, err)
			continue
		}
		if prev, dup := seen[in.key]; dup {
			return nil, usagef("%s:%d: duplicate id %s (first on line %d)", path, line, in.key, prev)
		}
		seen[in.key] = line
		inputs = append(inputs, in)
	}
	return inputs, sc.Err()
}

func parseBatchLine(text []byte, in *batchInput) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		return fmt.Errorf("not a valid input object: %v", err)
	}
	key, err := idKey(in.ID)
	if err != nil {
		return err
	}
	in.key = key
	switch {
	case in.Prompt == nil && len(in.Messages) == 0:
		return errors.New(`needs "prompt" or "messages"`)
	case in.Prompt != nil && len(in.Messages) > 0:
		return errors.New(`has both "prompt" and "messages"`)
	case in.MaxTokens != nil && *in.MaxTokens < 0:
		return fmt.Errorf("max_tokens %d is negative", *in.MaxTokens)
	}
	return nil
}

// idKey returns the canonical form of a JSON id (a string or a number).
func idKey(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New(`missing "id"`)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch v.(type) {
	case string, float64:
		b, _ := json.Marshal(v)
		return string(b), nil
	}
	return "", fmt.Errorf("id %s must be a string or a number", raw)
}

// repairAndReadDone returns the ids already in out. A last line cut short (by a crash during a
// write) is removed, so the file again holds only complete lines.
func repairAndReadDone(path string) (map[string]bool, error) {
	done := map[string]bool{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return done, nil
	}
	if err != nil {
		return nil, err
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	if complete < len(data) {
		if err := os.Truncate(path, int64(complete)); err != nil {
			return nil, err
		}
	}
	for i, line := range bytes.Split(data[:complete], []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var o struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, fmt.Errorf("%s:%d: not a result line (%v); is --out the right file?", path, i+1, err)
		}
		key, err := idKey(o.ID)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		done[key] = true
	}
	return done, nil
}

// writeResult appends one result as a single write of a whole line, so a kill at any moment
// leaves either the complete line or nothing of it.
func writeResult(f *os.File, o batchOutput) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}

// buildRequest tokenizes one input with the per-line sampling overrides.
func buildRequest(in *batchInput, m *loaded, tmpl *chat.Template, defaults *sampleFlags, defaultN int) (*runtime.BatchRequest, error) {
	var ids []int32
	var err error
	if in.Prompt != nil {
		ids, err = m.tok.Encode(*in.Prompt, true, false)
	} else {
		if tmpl == nil {
			return nil, errors.New(`the model has no chat template, so "messages" cannot be rendered; use "prompt"`)
		}
		c := &chatter{m: m, tmpl: tmpl}
		ids, err = c.prompt(in.Messages, "")
	}
	if err != nil {
		return nil, err
	}
	sf := *defaults
	if sf.seed < 0 {
		sf.seed = 0 // reproducible by default: the same file gives the same results
	}
	if in.Temp != nil {
		sf.temp = *in.Temp
	}
	if in.TopK != nil {
		sf.topK = *in.TopK
	}
	if in.TopP != nil {
		sf.topP = *in.TopP
	}
	if in.MinP != nil {
		sf.minP = *in.MinP
	}
	if in.Repeat != nil {
		sf.repeat = *in.Repeat
	}
	if in.Seed != nil {
		sf.seed = *in.Seed
	}
	so, err := sf.options()
	if err != nil {
		return nil, fmt.Errorf("line %d: %v", in.line, err)
	}
	maxTok := defaultN
	if in.MaxTokens != nil {
		maxTok = *in.MaxTokens
	}
	return &runtime.BatchRequest{Prompt: ids, Options: runtime.GenerateOptions{
		MaxTokens: maxTok, Sampler: runtime.NewSampler(so), IsEOG: m.tok.IsEOG,
		Detokenize: continuation(m.tok, ids), Stop: in.Stop,
	}}, nil
}

// progress draws "done/total, tok/s, ETA" on a terminal stderr.
type progress struct {
	w            io.Writer
	on           bool
	total, done  int
	tokens       int
	start, drawn time.Time
}

func newProgress(w io.Writer, total int, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: !quiet && ok && isTerminal(f), total: total, start: time.Now()}
}

func (p *progress) add(tokens int) {
	p.done++
	p.tokens += tokens
	if !p.on || (time.Since(p.drawn) < 200*time.Millisecond && p.done < p.total) {
		return
	}
	p.drawn = time.Now()
	el := time.Since(p.start).Seconds()
	eta := el / float64(p.done) * float64(p.total-p.done)
	width := 30
	fill := width * p.done / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d  %.1f tok/s  ETA %s   ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		p.done, p.total, float64(p.tokens)/el, time.Duration(eta*float64(time.Second)).Round(time.Second))
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
