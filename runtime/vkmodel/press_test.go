//go:build cgo

package vkmodel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// pressTol bounds |vulkan - cpu| on the logits of a press session, per KV type. Both compress
// the same prompt with the same press; the device's keys and window queries differ from the
// CPU's only by the float32 rounding of the forward pass (the dense tolerances f32Tol /
// storiesTol), which could move a saliency or token score across a near tie and store another
// channel or token than the CPU.
//   - f32: measured (logged) at most 4e-5 over 24 steps on every case; 1e-3 leaves a wide margin
//     while a wrong α, sign, mask word or token moves these logits by 0.05 and more.
//   - f16: the device rounds keys and values to f16 in its KVStore shader, the CPU with its own
//     conversion, so even the dense prefill's logits differ (3.7e-3 on stories260K at the end of
//     the prompt, before any compression); compressing those keys and decoding 24 tokens over
//     them grew it to 0.044 (stories260K; 3e-5 on micro-llama3). 0.1 bounds that drift; the
//     greedy tokens must match exactly in every case anyway.
var pressTol = map[runtime.KVType]float64{runtime.KVF32: 1e-3, runtime.KVF16: 0.1}

// TestPressGreedyMatchesCPU prefills a prompt (the model's own greedy text, long enough for
// SnapKV's 64-token window) with a press cache on the device and on the CPU (runtime's
// PressCache, the reference), then decodes 24 greedy tokens: every step's logits must agree
// within pressTol and the greedy tokens must be the same. The presses are SparK (λ = 0.5, 0.8 with
// avg, avg_bottom and zero recovery; top-p and group modes), think, snap_spark, pyramid_spark,
// snapkv, pyramidkv, streaming_llm, snap_think, pyramid_think, tova, observed_attention and
// expected_attention (their statistics accumulated over the prompt's three prefill chunks):
// every press of the registry, with f32 and f16 caches, on stories260K,
// micro-llama3 and micro-qwen2 (NeoX RoPE pairs, for ExpectedAttention's rotation).
func TestPressGreedyMatchesCPU(t *testing.T) {
	type pc = runtime.PressConfig
	cases := []struct {
		model string
		kv    runtime.KVType
		cfg   pc
	}{
		{"stories260K.gguf", runtime.KVF32, pc{Name: "spark", Opts: press.Options{KeyRatio: 0.5}}},
		{"stories260K.gguf", runtime.KVF16, pc{Name: "spark", Opts: press.Options{KeyRatio: 0.8}}},
		{"stories260K.gguf", runtime.KVF32, pc{Name: "observed_attention", Opts: press.Options{TokenRatio: 0.5}}},
		{"stories260K.gguf", runtime.KVF16, pc{Name: "expected_attention", Opts: press.Options{TokenRatio: 0.5}}},
		{"stories260K.gguf", runtime.KVF32, pc{Name: "snap_spark", Opts: press.Options{KeyRatio: 0.5, Budget: 80}}},
		{"stories260K.gguf", runtime.KVF16, pc{Name: "streaming_llm", Opts: press.Options{TokenRatio: 0.5}}},
		{"micro-llama3.f32.gguf", runtime.KVF16, pc{Name: "observed_attention", Opts: press.Options{Budget: 60}}},
		{"micro-qwen2.f32.gguf", runtime.KVF32, pc{Name: "expected_attention", Opts: press.Options{TokenRatio: 0.5}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "spark", Opts: press.Options{KeyRatio: 0.8, Recovery: press.RecoveryAvgBottom}}},
		{"micro-llama3.f32.gguf", runtime.KVF16, pc{Name: "snap_spark", Opts: press.Options{KeyRatio: 0.8, TokenRatio: 0.4}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "pyramid_spark", Opts: press.Options{KeyRatio: 0.5, TokenRatio: 0.5}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "streaming_llm", Opts: press.Options{Budget: 50}}},
		{"micro-llama3.f32.gguf", runtime.KVF16, pc{Name: "snapkv", Opts: press.Options{Budget: 70}}},
		{"stories260K.gguf", runtime.KVF32, pc{Name: "spark", Opts: press.Options{KeyRatio: 0.5, Recovery: press.RecoveryZero}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "snap_think", Opts: press.Options{KeyRatio: 0.5, Budget: 72}}},
		{"micro-llama3.f32.gguf", runtime.KVF16, pc{Name: "tova", Opts: press.Options{TokenRatio: 0.3}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "snap_spark", Opts: press.Options{Mode: press.ModeTopP, Budget: 80}}},
		{"stories260K.gguf", runtime.KVF32, pc{Name: "spark", Opts: press.Options{Mode: press.ModeTopP}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "spark", Opts: press.Options{Mode: press.ModeGroup}}},
		{"stories260K.gguf", runtime.KVF16, pc{Name: "think", Opts: press.Options{KeyRatio: 0.5}}},
		{"micro-llama3.f32.gguf", runtime.KVF32, pc{Name: "pyramidkv", Opts: press.Options{TokenRatio: 0.5}}},
		{"micro-llama3.f32.gguf", runtime.KVF16, pc{Name: "pyramid_think", Opts: press.Options{KeyRatio: 0.5, TokenRatio: 0.5}}},
	}
	if testing.Short() {
		cases = cases[:4]
	}
	const promptLen, steps = 100, 24
	prompts := map[string][]int32{}
	covered := map[string]bool{"none": true}
	for _, c := range cases {
		covered[c.cfg.Name] = true
	}
	for _, name := range press.Names() {
		if !covered[name] {
			t.Errorf("press %s has no whole-model case", name)
		}
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d-%s/%s/%s", i, strings.TrimSuffix(c.model, ".gguf"), c.kv, c.cfg.Name), func(t *testing.T) {
			opts := runtime.Options{KVType: c.kv, ContextSize: 192, BatchSize: 48}
			cm := loadCPU(t, c.model, opts)
			prompt, ok := prompts[c.model]
			if !ok {
				res, err := cm.NewSession().Generate([]int32{1}, runtime.GenerateOptions{MaxTokens: promptLen - 1})
				if err != nil {
					t.Fatal(err)
				}
				prompt = append([]int32{1}, res.Tokens...)
				prompts[c.model] = prompt
			}
			cpu, err := cm.NewPressSession(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			popts := opts
			popts.Press = &c.cfg
			vm := loadVK(t, c.model, popts)
			dev := runtime.NewSessionOn(vm)
			for _, s := range []*runtime.Session{cpu, dev} {
				if err := s.Prefill(prompt); err != nil {
					t.Fatal(err)
				}
			}
			worst := 0.0
			for step := range steps {
				d, at := maxDiff(dev.Logits(), cpu.Logits())
				if d > pressTol[c.kv] {
					t.Fatalf("step %d logit %d: |vulkan - cpu| %.3g > %.3g", step, at, d, pressTol[c.kv])
				}
				worst = max(worst, d)
				next := runtime.Argmax(cpu.Logits())
				if got := runtime.Argmax(dev.Logits()); got != next {
					t.Fatalf("step %d: vulkan's greedy token %d, cpu's %d", step, got, next)
				}
				for _, s := range []*runtime.Session{cpu, dev} {
					if err := s.Decode(next); err != nil {
						t.Fatal(err)
					}
				}
			}
			db, err := dev.Cache().(*Cache).Bytes(0)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := cpu.Cache().(*runtime.PressCache).Bytes(0)
			if err != nil {
				t.Fatal(err)
			}
			if !db.Compressed || !cb.Compressed || db.PromptLen != promptLen || db.Positions != promptLen+steps {
				t.Fatalf("device cache compressed=%v prompt %d positions %d; cpu compressed=%v", db.Compressed, db.PromptLen, db.Positions, cb.Compressed)
			}
			for l := range db.Layers {
				if db.Layers[l].Kept != cb.Layers[l].Kept {
					t.Fatalf("layer %d: device keeps %d tokens, cpu %d", l, db.Layers[l].Kept, cb.Layers[l].Kept)
				}
			}
			t.Logf("max |vulkan - cpu| %.3g over %d steps; prompt KV bytes: device %d, cpu (spec 3.6) %d, dense %d", worst, steps, db.PromptStored, cb.PromptStored, db.PromptDense)
		})
	}
}

// TestPressCacheLifecycle checks what a session does around compression: a prompt shorter than
// SparK's window stays dense (and matches the dense model exactly), a multi-token continuation
// of a compressed prompt matches the CPU press cache, a restart at position 0 after compression
// prefills densely again, rewriting a position inside the compressed prompt is
// refused, and a press the model cannot run is refused at load.
func TestPressCacheLifecycle(t *testing.T) {
	spark := &runtime.PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.5}}
	opts := runtime.Options{KVType: runtime.KVF32, ContextSize: 128, Press: spark}
	vm := loadVK(t, "stories260K.gguf", opts)
	dense := loadVK(t, "stories260K.gguf", runtime.Options{KVType: runtime.KVF32, ContextSize: 128})
	s, ref := runtime.NewSessionOn(vm), runtime.NewSessionOn(dense)
	short := []int32{1, 400, 30, 77}
	for _, x := range []*runtime.Session{s, ref} {
		if err := x.Prefill(short); err != nil {
			t.Fatal(err)
		}
		if err := x.Decode(5); err != nil {
			t.Fatal(err)
		}
	}
	if d, at := maxDiff(s.Logits(), ref.Logits()); d != 0 {
		t.Fatalf("short prompt: logit %d differs from the dense model by %g", at, d)
	}
	if b, _ := s.Cache().(*Cache).Bytes(0); b.Compressed {
		t.Fatal("a 4-token prompt was compressed (SparK's window is 32)")
	}
	long := make([]int32, 60)
	for i := range long {
		long[i] = int32(1 + i*7%500)
	}
	s.Reset()
	if err := s.Prefill(long); err != nil {
		t.Fatal(err)
	}
	c := s.Cache().(*Cache)
	if b, _ := c.Bytes(0); !b.Compressed || b.Stored >= b.Dense {
		t.Fatalf("60-token prompt: compressed=%v stored %d dense %d", b.Compressed, b.Stored, b.Dense)
	}
	// A multi-token continuation after compression (a question suffix): each row attends over
	// the compressed prompt and the tail up to its own position, as on the CPU.
	cpuOpts := opts
	cpuOpts.Press = nil
	cpu, err := loadCPU(t, "stories260K.gguf", cpuOpts).NewPressSession(*spark)
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.Prefill(long); err != nil {
		t.Fatal(err)
	}
	suffix := []int32{5, 6, 7, 8, 9}
	want, err := cpu.PromptLogits(suffix)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.PromptLogits(suffix)
	if err != nil {
		t.Fatal(err)
	}
	if d, at := maxDiff(got, want); d > pressTol[runtime.KVF32] {
		t.Fatalf("continuation logit %d: |vulkan - cpu| %.3g > %.3g", at, d, pressTol[runtime.KVF32])
	}
	err = vm.Forward([]runtime.BatchEntry{{Pos: 10, Token: 3, Logits: true}}, c, make([]float32, vm.Config().NVocab))
	if err == nil || !strings.Contains(err.Error(), "inside the compressed prompt") {
		t.Fatalf("rewriting position 10 of a compressed prompt: error %v", err)
	}
	s.Reset()
	ref.Reset()
	for _, x := range []*runtime.Session{s, ref} {
		if err := x.Prefill(short); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := maxDiff(s.Logits(), ref.Logits()); d != 0 {
		t.Fatalf("after a restart the dense prefill differs by %g", d)
	}
	f := openFile(t, "stories260K.gguf")
	// Refused before any device is opened: zero Options will do.
	for _, c := range []struct {
		cfg  runtime.PressConfig
		want string
	}{
		{runtime.PressConfig{Name: "spark", Opts: press.Options{Mode: "wild"}}, `unknown SparK mode "wild"`},
		{runtime.PressConfig{Name: "sparkle"}, `unknown press "sparkle"`},
	} {
		opts.Press = &c.cfg
		if _, err := Load(f, opts, vulkan.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("press %s: error %v, want one containing %q", c.cfg.Name, err, c.want)
		}
	}
}

// TestPressStatsOrder checks that a press summing prefill statistics (ObservedAttention,
// ExpectedAttention) refuses a prompt position fed twice or skipped, which would count a
// position twice or never, and takes a restart at position 0.
func TestPressStatsOrder(t *testing.T) {
	for _, name := range []string{"observed_attention", "expected_attention"} {
		opts := runtime.Options{KVType: runtime.KVF32, ContextSize: 64,
			Press: &runtime.PressConfig{Name: name, Opts: press.Options{TokenRatio: 0.5}}}
		vm := loadVK(t, "stories260K.gguf", opts)
		c := vm.NewCache(1)
		logits := make([]float32, vm.Config().NVocab)
		feed := func(pos0, n int) error {
			var b []runtime.BatchEntry
			for i := range n {
				b = append(b, runtime.BatchEntry{Pos: pos0 + i, Token: int32(1 + (pos0+i)*7%500), Logits: i == n-1})
			}
			return vm.Forward(b, c, logits)
		}
		if err := feed(0, 10); err != nil {
			t.Fatal(err)
		}
		for _, pos := range []int{5, 11} {
			if err := feed(pos, 2); err == nil || !strings.Contains(err.Error(), "sums prefill statistics: position") {
				t.Errorf("%s: position %d after 10: error %v", name, pos, err)
			}
		}
		if err := feed(10, 2); err != nil {
			t.Fatalf("%s: the next positions: %v", name, err)
		}
		if err := feed(0, 3); err != nil {
			t.Fatalf("%s: a restart: %v", name, err)
		}
	}
}

// TestPressEndPrefillMemory checks that the end of prefill frees each layer's dense prompt as soon
// as the layer is compressed and allocates the tails only then: during EndPrefill the device
// holds less than before it plus the whole compressed prompt (holding the dense prompt, the
// compressed one and the tails at once would take more), and afterwards the sequence holds less
// than its dense cache did.
func TestPressEndPrefillMemory(t *testing.T) {
	spark := &runtime.PressConfig{Name: "spark", Opts: press.Options{KeyRatio: 0.8}}
	vm := loadVK(t, "stories260K.gguf", runtime.Options{KVType: runtime.KVF16, ContextSize: 256, Press: spark})
	c := vm.NewCache(1).(*Cache)
	defer c.Close()
	batch := make([]runtime.BatchEntry, 200)
	for i := range batch {
		batch[i] = runtime.BatchEntry{Pos: i, Token: int32(1 + i*7%500)}
	}
	batch[len(batch)-1].Logits = true
	if err := vm.Forward(batch, c, make([]float32, vm.Config().NVocab)); err != nil {
		t.Fatal(err)
	}
	before, _ := vm.ctx.Memory()
	vm.ctx.ResetPeak()
	if err := c.EndPrefill(0); err != nil {
		t.Fatal(err)
	}
	after, peak := vm.ctx.Memory()
	b, err := c.Bytes(0)
	if err != nil || !b.Compressed {
		t.Fatalf("bytes %+v, %v: want a compressed prompt", b, err)
	}
	t.Logf("device memory: %d bytes before EndPrefill, peak %d, after %d; compressed prompt %d bytes", before, peak, after, b.PromptStored)
	if peak >= before+uint64(b.PromptStored) {
		t.Errorf("peak %d bytes during EndPrefill: not below the %d held before plus the %d-byte compressed prompt", peak, before, b.PromptStored)
	}
	if after >= before {
		t.Errorf("%d bytes after EndPrefill, %d before: compressing freed nothing", after, before)
	}
}
