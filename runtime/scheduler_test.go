package runtime

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
)

// batchPrompts returns n prompts of varied lengths over the stories260K vocabulary.
func batchPrompts(n int) [][]int32 {
	var out [][]int32
	for i := 0; i < n; i++ {
		p := []int32{1}
		for j := 0; j < 3+i%9; j++ {
			p = append(p, int32(260+(i*37+j*11)%250))
		}
		out = append(out, p)
	}
	return out
}

// runAll feeds prompts through RunBatch on e and returns the results in prompt order.
func runAll(t testing.TB, e Engine, parallel int, prompts [][]int32, opts func(i int) GenerateOptions) []BatchResult {
	t.Helper()
	results := make([]BatchResult, len(prompts))
	index := map[*BatchRequest]int{}
	next := 0
	err := RunBatch(e, parallel, func() (*BatchRequest, bool) {
		if next == len(prompts) {
			return nil, false
		}
		r := &BatchRequest{Prompt: prompts[next], Options: opts(next)}
		index[r] = next
		next++
		return r, true
	}, func(r *BatchRequest, res BatchResult, err error) error {
		if err != nil {
			return err
		}
		results[index[r]] = res
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// TestRunBatchMatchesGenerate: continuous batching gives each request exactly what a session of
// its own gives, whatever the number of slots (greedy, and seeded sampling with per-request
// samplers).
func TestRunBatchMatchesGenerate(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 128, KVType: KVF32})
	prompts := batchPrompts(11)
	opts := func(i int) GenerateOptions {
		o := GenerateOptions{MaxTokens: 5 + i%13, IsEOG: func(id int32) bool { return id == 2 }}
		if i%2 == 1 {
			o.Sampler = NewSampler(SamplerOptions{Temperature: 0.9, TopK: 40, Seed: uint64(i)})
		}
		return o
	}
	var want [][]int32
	for i, p := range prompts {
		s := m.NewSession()
		r, err := s.Generate(p, opts(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Tokens)
	}
	for _, parallel := range []int{1, 3, 8} {
		for i, r := range runAll(t, m, parallel, prompts, opts) {
			if !slices.Equal(r.Tokens, want[i]) {
				t.Errorf("parallel %d, prompt %d: %v, alone %v", parallel, i, r.Tokens, want[i])
			}
			if r.PromptTokens != len(prompts[i]) || r.Finish == "" || r.End.Before(r.FirstToken) {
				t.Errorf("parallel %d, prompt %d: bad result %+v", parallel, i, r)
			}
		}
	}
}

// TestRunBatchStopAndErrors: stop strings cut the text; a prompt longer than the context fails
// only its own request.
func TestRunBatchStopAndErrors(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 32})
	long := make([]int32, 40)
	for i := range long {
		long[i] = 300
	}
	text := func(ids []int32) string { return strings.Repeat("ab", len(ids)) }
	var errs []error
	var stopped BatchResult
	calls := 0
	err := RunBatch(m, 2, func() (*BatchRequest, bool) {
		calls++
		switch calls {
		case 1:
			return &BatchRequest{Prompt: long}, true
		case 2:
			return &BatchRequest{Prompt: []int32{1, 300}, Options: GenerateOptions{MaxTokens: 10, Detokenize: text, Stop: []string{"bab"}}}, true
		}
		return nil, false
	}, func(r *BatchRequest, res BatchResult, err error) error {
		if err != nil {
			errs = append(errs, err)
		} else {
			stopped = res
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "does not fit the context of 32") {
		t.Errorf("errors = %v", errs)
	}
	if stopped.Finish != FinishStop || stopped.Text != "a" {
		t.Errorf("stop-string result: finish %q text %q", stopped.Finish, stopped.Text)
	}
	if err := RunBatch(m, 0, nil, nil); err == nil {
		t.Error("parallel 0 accepted")
	}
}

// oneSeqEngine is the CPU model presented as an engine of another backend, so that RunBatch
// runs one pass per sequence as it does on Vulkan; its cache records EndPrefill calls.
type oneSeqEngine struct {
	*Model
	cache *prefillRecorder
}

func (e *oneSeqEngine) NewCache(nSeq int) KVCache {
	e.cache = &prefillRecorder{KVCache: e.Model.NewCache(nSeq)}
	return e.cache
}

// Forward refuses batches that mix sequences, as the Vulkan engine does.
func (e *oneSeqEngine) Forward(batch []BatchEntry, cache KVCache, logits []float32) error {
	for _, b := range batch {
		if b.Seq != batch[0].Seq {
			return fmt.Errorf("batch mixes sequences %d and %d", batch[0].Seq, b.Seq)
		}
	}
	return e.Model.Forward(batch, cache, logits)
}

// prefillRecorder passes a PressCache through, counting EndPrefill calls per sequence.
type prefillRecorder struct {
	KVCache
	ends map[int]int
}

func (c *prefillRecorder) EndPrefill(seq int) error {
	if c.ends == nil {
		c.ends = map[int]int{}
	}
	c.ends[seq]++
	return c.KVCache.(prefillEnder).EndPrefill(seq)
}

func (c *prefillRecorder) Err() error { return c.KVCache.(cacheErrer).Err() }

// TestRunBatchPress: with a press, every slot's prompt is compressed when it has been fed whole,
// so each request generates exactly what a press session of its own generates (Session.Generate
// compresses after Prefill); both on the CPU model, which mixes slots in one pass, and on an
// engine that runs one pass per sequence. Prompts are longer than SparK's 32-query window, so
// they really are compressed (the recorder counts one EndPrefill per request).
func TestRunBatchPress(t *testing.T) {
	cfg := &PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.75}}
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 192, KVType: KVF32, Press: cfg, BatchSize: 24})
	var prompts [][]int32
	for i := range 7 {
		p := []int32{1}
		for j := range 40 + 9*i {
			p = append(p, int32(260+(i*31+j*7)%250))
		}
		prompts = append(prompts, p)
	}
	opts := func(i int) GenerateOptions { return GenerateOptions{MaxTokens: 6 + i%5} }
	var want [][]int32
	for i, p := range prompts {
		r, err := m.NewSession().Generate(p, opts(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Tokens)
	}
	// The press changes what is generated: otherwise the comparison below could not fail.
	_, dense := openModel(t, "stories260K.gguf", Options{ContextSize: 192, KVType: KVF32})
	differ := 0
	for i, p := range prompts {
		r, err := dense.NewSession().Generate(p, opts(i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Tokens, want[i]) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("SparK at λ=0.75 generated what the dense cache generates for every prompt")
	}
	check := func(name string, got []BatchResult) {
		for i, r := range got {
			if !slices.Equal(r.Tokens, want[i]) {
				t.Errorf("%s, prompt %d: %v, a press session alone %v", name, i, r.Tokens, want[i])
			}
		}
	}
	check("cpu parallel 3", runAll(t, m, 3, prompts, opts))
	e := &oneSeqEngine{Model: m}
	check("one sequence per pass, parallel 4", runAll(t, e, 4, prompts, opts))
	total := 0
	for _, n := range e.cache.ends {
		total += n
	}
	if total != len(prompts) {
		t.Errorf("EndPrefill called %d times (%v), want once per request (%d)", total, e.cache.ends, len(prompts))
	}
}

// BenchmarkRunBatch measures aggregate generation throughput of continuous batching on the
// synthetic Llama-3.2-1B shape: 16 requests of 4 prompt and 32 generated tokens (so decoding,
// not prompt processing, dominates), at 1, 4 and 16 slots. tok/s counts generated tokens; the
// ratio between slot counts is the point.
func BenchmarkRunBatch(b *testing.B) {
	m := loadSynth(b, "llama3.2-1b", ggml.TypeQ4_0)
	prompts := make([][]int32, 16)
	for i := range prompts {
		for j := 0; j < 4; j++ {
			prompts[i] = append(prompts[i], int32(1000+i*16+j))
		}
	}
	for _, parallel := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			tokens := 0
			for i := 0; i < b.N; i++ {
				for _, r := range runAll(b, m, parallel, prompts, func(int) GenerateOptions { return GenerateOptions{MaxTokens: 32} }) {
					tokens += len(r.Tokens)
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
