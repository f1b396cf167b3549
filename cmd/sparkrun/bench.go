package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

func init() {
	register("bench", "measure prompt and generation speed (llama-bench's pp and tg tests)", runBench)
}

// benchSeed fixes the synthetic weights and the benchmark's token ids, so that runs (and the
// file --save writes) are reproducible.
const benchSeed = 1

// lookupShape resolves --synthetic shape names. It is synth.Lookup; a variable only so that
// tests can add a shape small enough to build and save in milliseconds.
var lookupShape = synth.Lookup

// kvFootprint is the KV cache memory of the benchmarked model.
type kvFootprint struct {
	KVType          string `json:"kv_type"`            // "f16" or "f32"
	KVBytesPerToken int64  `json:"kv_bytes_per_token"` // n_layer * 2 * n_kv_head * head_dim * element bytes
	KVContext       int    `json:"kv_context"`         // positions the session's cache holds
	KVBytes         int64  `json:"kv_bytes"`           // the dense cache: KVBytesPerToken * KVContext
	// KVCompressedBytes is the cache of KVContext positions under a press (SparK records plus
	// the dense tail); 0 until the press integration measures it, and then omitted from JSON.
	KVCompressedBytes int64 `json:"kv_compressed_bytes,omitempty"`
}

// benchResult is one test of one model: a row of the table and an element of `bench --json`.
type benchResult struct {
	Model      string    `json:"model"`
	Backend    string    `json:"backend"`     // "CPU" or "Vulkan", where the forward passes ran
	Test       string    `json:"test"`        // "pp512" or "tg128", as llama-bench names them
	NTokens    int       `json:"n_tokens"`    // tokens per repetition
	MeanTPS    float64   `json:"mean_tps"`    // mean of the repetitions' tokens per second
	StddevTPS  float64   `json:"stddev_tps"`  // their sample standard deviation (0 for one repetition)
	Reps       int       `json:"reps"`        // timed repetitions, after one untimed warm-up
	SamplesTPS []float64 `json:"samples_tps"` // [reps] tokens per second of each repetition
	Threads    int       `json:"threads"`     // --threads; 0 means the runtime's default
	Bytes      int64     `json:"bytes"`       // bytes of all tensors (llama-bench's size)
	Params     int64     `json:"params"`      // elements of all tensors
	PeakRSS    int64     `json:"peak_rss"`    // peak resident set of the process (VmHWM), 0 if unknown
	kvFootprint
}

// runBench follows llama-bench: pp<P> prefills P random tokens into an empty cache in one batch,
// tg<N> decodes N random tokens one at a time from an empty cache; each is run once untimed to
// warm up, then -r times, and tokens per second are averaged over the repetitions. The context
// is P+N unless --ctx says otherwise, llama-bench's n_ctx.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[MODEL]", stderr)
	lf := addLoadFlags(fs)
	fs.Lookup("ctx").Usage = "context size in tokens (0: -p plus -n, llama-bench's)"
	nPrompt := fs.Int("p", 512, "prompt tokens of the pp test (0: skip it)")
	nGen := fs.Int("n", 128, "generated tokens of the tg test (0: skip it)")
	reps := fs.Int("r", 3, "timed repetitions of each test")
	depth := fs.Int("d", 0, "tg at depth: prefill this many tokens, untimed, before each tg repetition (llama-bench's -d); with --press they are compressed first")
	synthetic := fs.String("synthetic", "", "benchmark a random-weight model SHAPE:TYPE instead of a file, e.g. llama3.2-1b:q8_0 (shapes: "+strings.Join(synth.Names(), ", ")+")")
	save := fs.String("save", "", "with --synthetic: write the model to this GGUF file (for other runtimes) before benchmarking it")
	dev := addDeviceFlag(fs)
	asJSON := fs.Bool("json", false, "print the results as a JSON array")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usagef("bench takes at most one MODEL")
	case len(pos) == 1 && *synthetic != "":
		return usagef("give a MODEL or --synthetic, not both")
	case *save != "" && *synthetic == "":
		return usagef("--save writes a synthetic model: give --synthetic SHAPE:TYPE")
	case *nPrompt < 0 || *nGen < 0 || *depth < 0:
		return usagef("-p %d -n %d -d %d: token counts must be >= 0", *nPrompt, *nGen, *depth)
	case *reps < 1:
		return usagef("-r %d: need at least one repetition", *reps)
	case *nPrompt == 0 && *nGen == 0 && *save == "":
		return usagef("-p 0 -n 0: nothing to measure")
	}
	if lf.ctx == 0 {
		lf.ctx = max(*nPrompt, *depth) + *nGen
	} else if need := max(*nPrompt, *depth+*nGen); lf.ctx < need {
		return usagef("--ctx %d: the tests need %d positions", lf.ctx, need)
	}
	opts, err := lf.options()
	if err != nil {
		return err
	}

	var f *gguf.File
	var name string
	if *synthetic != "" {
		if f, name, err = buildSynthetic(*synthetic, stderr); err != nil {
			return err
		}
		defer f.Close()
		if *save != "" {
			fmt.Fprintf(stderr, "writing %s\n", *save)
			if err := gguf.WriteFile(*save, f.KV, f.Tensors, f.TensorData); err != nil {
				return err
			}
		}
		if *nPrompt == 0 && *nGen == 0 {
			return nil
		}
	} else {
		var path string
		if len(pos) == 1 {
			path = pos[0]
		}
		if f, name, err = openModel(path, !lf.mmap); err != nil {
			return err
		}
		defer f.Close()
		if path != "" {
			name = filepath.Base(path)
		}
	}

	start := time.Now()
	e, m, closeFn, err := dev.load(f, opts)
	if err != nil {
		return err
	}
	defer closeFn()
	fmt.Fprintf(stderr, "loaded %s in %.1fs\n", name, time.Since(start).Seconds())

	backend := "Vulkan"
	if m != nil {
		backend = "CPU"
	}
	base := benchResult{Model: name, Backend: backend, Threads: lf.threads, kvFootprint: kvOf(e)}
	for i := range f.Tensors {
		base.Bytes += f.Tensors[i].Size
		base.Params += f.Tensors[i].Elements()
	}
	if opts.Press != nil && *nGen > 0 && *depth == 0 {
		fmt.Fprintf(stderr, "note: tg decodes into an empty cache, which a press never compresses; give -d N to decode after a compressed prompt of N tokens\n")
	}
	results, err := runTests(e, base, *nPrompt, *nGen, *depth, *reps)
	if err != nil {
		return err
	}
	if n := max(*depth, *nPrompt); opts.Press != nil && n > 0 {
		// The press's footprint for the tests' context: the compressed prompt (the tg depth,
		// else the pp prompt) plus the dense positions after it.
		kvc, err := pressFootprint(e, randomTokens(n, e.Config().NVocab), base.KVContext, base.KVBytesPerToken)
		if err != nil {
			return err
		}
		for i := range results {
			results[i].KVCompressedBytes = kvc
		}
	}
	// The peak covers the whole run: weights, KV cache and activations at their largest.
	rss, _ := peakRSS()
	for i := range results {
		results[i].PeakRSS = rss
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(results)
	}
	return printBench(stdout, results)
}

// runTests runs the pp and tg tests (those with a positive token count) on one session of m
// and returns their results, base filled in with the test and its speeds.
func runTests(e runtime.Engine, base benchResult, nPrompt, nGen, depth, reps int) ([]benchResult, error) {
	sess := runtime.NewSessionOn(e)
	ids := randomTokens(max(nPrompt, nGen, depth), e.Config().NVocab)
	tests := []struct {
		name  string
		n     int
		setup func() error // untimed, after emptying the cache
		run   func() error
	}{
		{"pp", nPrompt, nil, func() error { return sess.Prefill(ids[:nPrompt]) }},
		{"tg", nGen, func() error {
			if depth == 0 {
				return nil
			}
			return sess.Prefill(ids[:depth])
		}, func() error {
			for _, id := range ids[:nGen] {
				if err := sess.Decode(id); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	var results []benchResult
	for _, t := range tests {
		if t.n == 0 {
			continue
		}
		r := base
		r.Test, r.NTokens = t.name+strconv.Itoa(t.n), t.n
		if t.name == "tg" && depth > 0 {
			r.Test += "@d" + strconv.Itoa(depth) // llama-bench's "tg128 @ d512"
		}
		var err error
		r.SamplesTPS, err = measure(reps, t.n, func() error {
			sess.Reset()
			if t.setup != nil {
				return t.setup()
			}
			return nil
		}, t.run)
		if err != nil {
			return nil, err
		}
		r.Reps = len(r.SamplesTPS)
		r.MeanTPS, r.StddevTPS = meanStddev(r.SamplesTPS)
		results = append(results, r)
	}
	return results, nil
}

// buildSynthetic parses SHAPE:TYPE and builds that random-weight model. The name it returns
// is "shape TYPE", for the table.
func buildSynthetic(spec string, stderr io.Writer) (*gguf.File, string, error) {
	shapeName, typeName, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, "", usagef("--synthetic %q: want SHAPE:TYPE, e.g. llama3.2-1b:q8_0", spec)
	}
	shape, ok := lookupShape(shapeName)
	if !ok {
		return nil, "", usagef("--synthetic %q: unknown shape %q (known: %s)", spec, shapeName, strings.Join(synth.Names(), ", "))
	}
	typ, err := ggml.ParseType(strings.ToUpper(typeName))
	var f *gguf.File
	if err == nil {
		f, err = synth.BuildShape(shape, typ, benchSeed)
	}
	if err != nil {
		return nil, "", usagef("--synthetic %q: cannot build %s in type %q (types: %s)", spec, shapeName, typeName, strings.Join(buildableTypes(shape), ", "))
	}
	fmt.Fprintf(stderr, "building synthetic %s %s\n", shapeName, typ)
	return f, shapeName + " " + typ.String(), nil
}

// buildableTypes names the ggml types that synth can build shape in. Building only lays out the
// tensor table (data is made on first read), so trying every type costs microseconds.
func buildableTypes(shape synth.Shape) []string {
	var out []string
	// ggml's type ids are small and stable; 64 is well past the last one.
	for t := ggml.Type(0); t < 64; t++ {
		if !t.Known() {
			continue
		}
		if f, err := synth.BuildShape(shape, t, benchSeed); err == nil {
			f.Close()
			out = append(out, t.String())
		}
	}
	return out
}

// kvOf returns the dense KV cache size of m's sessions.
func kvOf(e runtime.Engine) kvFootprint {
	c, o := e.Config(), e.Options()
	elem := int64(2)
	if o.KVType == runtime.KVF32 {
		elem = 4
	}
	perTok := int64(c.NLayer) * 2 * int64(c.NKVHead) * int64(c.HeadDim) * elem
	return kvFootprint{KVType: o.KVType.String(), KVBytesPerToken: perTok, KVContext: o.ContextSize, KVBytes: perTok * int64(o.ContextSize)}
}

// randomTokens returns n token ids below nVocab from a fixed seed, as llama-bench feeds random
// tokens: the model's speed does not depend on which tokens they are.
func randomTokens(n, nVocab int) []int32 {
	rng := rand.New(rand.NewPCG(benchSeed, benchSeed))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(nVocab))
	}
	return ids
}

// measure runs run once to warm up (page in the weights, grow the activation buffers), then
// reps times, each time after an untimed setup, and returns each timed run's speed in tokens
// per second for n tokens.
func measure(reps, n int, setup, run func() error) ([]float64, error) {
	tps := make([]float64, 0, reps)
	for i := -1; i < reps; i++ {
		if err := setup(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := run(); err != nil {
			return nil, err
		}
		if i >= 0 {
			tps = append(tps, float64(n)/time.Since(start).Seconds())
		}
	}
	return tps, nil
}

// meanStddev returns the mean and the sample standard deviation (n-1 denominator, llama-bench's)
// of v; the deviation of a single value is 0.
func meanStddev(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// peakRSS reads the process's peak resident set size (VmHWM) from /proc/self/status.
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	return parseVmHWM(b)
}

// parseVmHWM finds the "VmHWM:   1234 kB" line of a /proc/PID/status text and returns bytes.
func parseVmHWM(status []byte) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// printBench writes llama-bench's markdown table, then the memory figures.
func printBench(w io.Writer, results []benchResult) error {
	out := bufio.NewWriter(w)
	fmt.Fprintf(out, "| %-30s | %10s | %10s | %-7s | %7s | %8s | %20s |\n", "model", "size", "params", "backend", "threads", "test", "t/s")
	fmt.Fprintf(out, "| %s | %s: | %s: | %s | %s: | %s: | %s: |\n", strings.Repeat("-", 30), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 7), strings.Repeat("-", 6), strings.Repeat("-", 7), strings.Repeat("-", 19))
	for _, r := range results {
		threads := "auto"
		if r.Threads > 0 {
			threads = strconv.Itoa(r.Threads)
		}
		fmt.Fprintf(out, "| %-30s | %10s | %10s | %-7s | %7s | %8s | %20s |\n",
			r.Model, fmt.Sprintf("%.2f GiB", float64(r.Bytes)/(1<<30)), humanCount(r.Params), r.Backend, threads, r.Test,
			fmt.Sprintf("%.2f ± %.2f", r.MeanTPS, r.StddevTPS))
	}
	if len(results) > 0 {
		r := results[0]
		fmt.Fprintln(out)
		if r.PeakRSS > 0 {
			fmt.Fprintf(out, "peak RSS: %.1f MiB\n", float64(r.PeakRSS)/(1<<20))
		}
		fmt.Fprintf(out, "KV cache (%s): %d bytes/token, %.2f MiB for %d tokens", r.KVType, r.KVBytesPerToken, float64(r.KVBytes)/(1<<20), r.KVContext)
		if r.KVCompressedBytes > 0 {
			fmt.Fprintf(out, ", %.2f MiB compressed (%.3f of dense)", float64(r.KVCompressedBytes)/(1<<20), float64(r.KVCompressedBytes)/float64(r.KVBytes))
		}
		fmt.Fprintln(out)
	}
	return out.Flush()
}

// humanCount writes a parameter count as llama-bench does: 1.24 B, 494.03 M, 292.50 K.
func humanCount(n int64) string {
	switch v := float64(n); {
	case v >= 1e9:
		return fmt.Sprintf("%.2f B", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f K", v/1e3)
	}
	return strconv.FormatInt(n, 10)
}
