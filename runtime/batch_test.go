package runtime

import (
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
)

// TestMultiSequenceBatch runs two sequences interleaved in the same forward passes (a prefill of
// both prompts, then one decode step of both) and checks that each gets the logits it gets alone.
func TestMultiSequenceBatch(t *testing.T) {
	_, m := openModel(t, "micro-qwen2.f32.gguf", Options{KVType: KVF32})
	long, _ := readLogits(t, "micro-llama3.f32.long.logits.txt")
	seqs := [][]int32{long[:13], long[40:49]} // different lengths and contents
	vocab := m.Config().NVocab

	// Alone: each sequence in its own cache, prompt then one extra token.
	next := []int32{7, 300}
	alone := make([][]float32, len(seqs))
	for s, ids := range seqs {
		all := append(append([]int32(nil), ids...), next[s])
		alone[s] = batchLogits(t, m, all)
	}

	// Together: one cache with two sequences; the prompts interleaved in one batch.
	cache := m.NewCache(2)
	var batch []BatchEntry
	for i := 0; i < max(len(seqs[0]), len(seqs[1])); i++ {
		for s, ids := range seqs {
			if i < len(ids) {
				batch = append(batch, BatchEntry{Seq: s, Pos: i, Token: ids[i], Logits: true})
			}
		}
	}
	// Then a decode step of both sequences in one batch.
	step := []BatchEntry{
		{Seq: 1, Pos: len(seqs[1]), Token: next[1], Logits: true},
		{Seq: 0, Pos: len(seqs[0]), Token: next[0], Logits: true},
	}
	for _, b := range [][]BatchEntry{batch, step} {
		out := make([]float32, len(b)*vocab)
		if err := m.Forward(b, cache, out); err != nil {
			t.Fatal(err)
		}
		for i, e := range b {
			want := alone[e.Seq][e.Pos*vocab : (e.Pos+1)*vocab]
			// Same arithmetic per row; only the matmul kernel's blocking may differ with the
			// batch size, so allow float32 rounding noise.
			if d, at := maxDiff(out[i*vocab:(i+1)*vocab], want); d > 1e-5 {
				t.Fatalf("seq %d pos %d token %d: batched logits differ from alone by %.3g", e.Seq, e.Pos, at, d)
			}
		}
	}
}

// TestKVF16 compares the default f16 cache with the f32 one over 128 positions. Rounding keys
// and values to half precision (relative 2^-11 ≈ 5e-4 per element) moves these logits (RMS ~0.3)
// by about 1e-3, the level the reference README expects; 5e-3 bounds it while a wrong layout or
// conversion would move logits by O(0.1).
func TestKVF16(t *testing.T) {
	ids, _ := readLogits(t, "micro-llama3.f32.long.logits.txt")
	_, m32 := openModel(t, "micro-llama3.f32.gguf", Options{KVType: KVF32})
	_, m16 := openModel(t, "micro-llama3.f32.gguf", Options{KVType: KVF16})
	want := batchLogits(t, m32, ids)
	for _, c := range []struct {
		name string
		got  []float32
	}{
		{"batch", batchLogits(t, m16, ids)},
		{"incremental", incrementalLogits(t, m16, ids)},
	} {
		d, _ := maxDiff(c.got, want)
		if d > 5e-3 {
			t.Errorf("%s: f16 cache differs from f32 by %.3g", c.name, d)
		}
		t.Logf("%s: max |f16 - f32| = %.3g", c.name, d)
	}
}

// TestContextOverflow checks the errors for prompts that do not fit and that Generate stops
// with "length" at the end of the context.
func TestContextOverflow(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 8})
	s := m.NewSession()
	err := s.Prefill([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9})
	if err == nil || !strings.Contains(err.Error(), "context size 8") {
		t.Fatalf("Prefill of 9 tokens into 8: error %v, want one naming the context size", err)
	}
	if s.Pos() != 0 {
		t.Fatalf("failed Prefill left the session at position %d", s.Pos())
	}
	res, err := s.Generate([]int32{1, 403, 407, 261, 378}, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 5 prompt tokens; 3 generated tokens are fed (positions 5..7), the 4th fills no position.
	if res.Finish != FinishLength || len(res.Tokens) != 4 || s.Pos() != 8 {
		t.Fatalf("finish %q, %d tokens, position %d; want length, 4, 8", res.Finish, len(res.Tokens), s.Pos())
	}
	if err := s.Decode(1); err == nil {
		t.Fatal("Decode past the context succeeded")
	}
}

// TestForwardErrors checks that malformed batches are rejected with an error naming the field.
func TestForwardErrors(t *testing.T) {
	_, m := openModel(t, "stories260K.gguf", Options{ContextSize: 16})
	cache := m.NewCache(1)
	out := make([]float32, m.Config().NVocab)
	for _, c := range []struct {
		e    BatchEntry
		want string
	}{
		{BatchEntry{Seq: 1, Token: 1, Logits: true}, "sequence 1"},
		{BatchEntry{Pos: 16, Token: 1, Logits: true}, "position 16"},
		{BatchEntry{Pos: -1, Token: 1, Logits: true}, "position -1"},
		{BatchEntry{Token: 512, Logits: true}, "token 512"},
	} {
		err := m.Forward([]BatchEntry{c.e}, cache, out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.e, err, c.want)
		}
	}
	err := m.Forward([]BatchEntry{{Token: 1, Logits: true}, {Pos: 1, Token: 1, Logits: true}}, cache, out)
	if err == nil || !strings.Contains(err.Error(), "logits buffer") {
		t.Errorf("short logits buffer: error %v", err)
	}
}

// TestDecodeNoAlloc checks that a decode step allocates nothing in steady state.
func TestDecodeNoAlloc(t *testing.T) {
	for _, kv := range []KVType{KVF16, KVF32} {
		_, m := openModel(t, "micro-qwen3.Q4_K_M.gguf", Options{KVType: kv})
		s := m.NewSession()
		if err := s.Prefill([]int32{1, 403, 407}); err != nil {
			t.Fatal(err)
		}
		sampler := NewSampler(SamplerOptions{Temperature: 0.8, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1})
		step := func() {
			id := sampler.Sample(s.Logits(), s.Tokens())
			if err := s.Decode(id); err != nil {
				t.Fatal(err)
			}
		}
		step() // warm up: the activation buffers for one token and the sampler's scratch
		if a := testing.AllocsPerRun(20, step); a != 0 {
			t.Errorf("KV %s: a decode step allocates %v times", kv, a)
		}
	}
}

// virtualCopy returns a gguf.File with f's metadata and the tensors edit makes of f's tensor
// table, each reading f's data unless edit's data function overrides it.
func virtualCopy(f *gguf.File, edit func([]gguf.TensorInfo) []gguf.TensorInfo, data func(t *gguf.TensorInfo) ([]byte, error)) *gguf.File {
	tensors := edit(append([]gguf.TensorInfo(nil), f.Tensors...))
	if data == nil {
		data = dataOf(f)
	}
	return gguf.NewFile(f.KV, tensors, data)
}

// dataOf reads a tensor of a virtual file from the tensor of the same name in f.
func dataOf(f *gguf.File) func(t *gguf.TensorInfo) ([]byte, error) {
	return func(t *gguf.TensorInfo) ([]byte, error) {
		orig, _ := f.Tensor(t.Name)
		return f.TensorData(orig)
	}
}

// TestBindErrors checks that missing and mis-shaped tensors and unsupported architectures fail
// with errors naming them.
func TestBindErrors(t *testing.T) {
	f, _ := openModel(t, "micro-qwen2.f32.gguf", Options{})
	drop := func(name string) func([]gguf.TensorInfo) []gguf.TensorInfo {
		return func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			out := ts[:0]
			for _, ti := range ts {
				if ti.Name != name {
					out = append(out, ti)
				}
			}
			return out
		}
	}
	reshape := func(name string, dims ...int64) func([]gguf.TensorInfo) []gguf.TensorInfo {
		return func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			for i := range ts {
				if ts[i].Name == name {
					ts[i].Dims = dims
				}
			}
			return ts
		}
	}
	retype := func(name string, typ ggml.Type) func([]gguf.TensorInfo) []gguf.TensorInfo {
		return func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			for i := range ts {
				if ts[i].Name == name {
					ts[i].Type = typ
					n, _ := ggml.RowBytes(typ, ts[i].Elements())
					ts[i].Size = n
				}
			}
			return ts
		}
	}
	// zeroData gives tensor name zero bytes of its (new) size and the others their data.
	zeroData := func(data func(*gguf.TensorInfo) ([]byte, error), name string) func(*gguf.TensorInfo) ([]byte, error) {
		return func(t *gguf.TensorInfo) ([]byte, error) {
			if t.Name == name {
				return make([]byte, t.Size), nil
			}
			return data(t)
		}
	}
	cases := []struct {
		name string
		file *gguf.File
		want string
	}{
		{"missing matrix", virtualCopy(f, drop("blk.1.ffn_up.weight"), nil), "missing tensor blk.1.ffn_up.weight"},
		{"missing bias", virtualCopy(f, drop("blk.0.attn_k.bias"), nil), "missing tensor blk.0.attn_k.bias"},
		{"mis-shaped", virtualCopy(f, reshape("blk.0.attn_k.weight", 128, 256), nil), "tensor blk.0.attn_k.weight has shape [128 256], want [256 128]"},
		{"missing embedding", virtualCopy(f, drop("token_embd.weight"), nil), "token_embd.weight"},
		// ggml reads TQ2_0, but no kernel multiplies it: refused at load, not at the first pass.
		{"no kernel", virtualCopy(f, retype("blk.0.attn_k.weight", ggml.TypeTQ2_0), zeroData(dataOf(f), "blk.0.attn_k.weight")),
			"tensor blk.0.attn_k.weight has type TQ2_0, which sparkrun cannot compute with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.file, Options{Threads: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// Metadata errors: each edit of one key must give an error naming that key.
	keyCases := []struct {
		name, key string
		value     any // nil removes the key
		want      string
	}{
		{"unknown architecture", "general.architecture", "gpt2", `"gpt2"`},
		{"missing block count", "qwen2.block_count", nil, "qwen2.block_count"},
		{"zero heads", "qwen2.attention.head_count", uint32(0), "qwen2.attention.head_count"},
		{"kv heads do not divide", "qwen2.attention.head_count_kv", uint32(3), "head_count_kv 3"},
		{"odd rope dims", "qwen2.rope.dimension_count", uint32(63), "rope.dimension_count 63"},
		{"unsupported rope scaling", "qwen2.rope.scaling.type", "yarn", `"yarn"`},
		{"head too large", "qwen2.attention.key_length", uint32(1024), "head size 1024"},
	}
	for _, c := range keyCases {
		t.Run(c.name, func(t *testing.T) {
			var kv []gguf.KV
			for _, e := range f.KV {
				if e.Key == c.key {
					if c.value == nil {
						continue
					}
					e.Value = c.value
				}
				kv = append(kv, e)
			}
			if c.value != nil && !f.Has(c.key) {
				kv = append(kv, gguf.KV{Key: c.key, Value: c.value})
			}
			_, err := Load(gguf.NewFile(kv, f.Tensors, nil), Options{Threads: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestWeightTypes converts micro-llama3's F32 weights to other types in memory and compares the
// fast path (which quantizes activations like llama.cpp) with the float64 reference on the same
// dequantized weights; F32 (no conversion) is the direct fast-vs-reference check (f32Tol). The tolerances are about twice what activation quantization alone moved
// llama.cpp's logits of micro-llama (same shapes and weight scales) in the reference README:
// F16 0.0012, BF16 0.009, Q8_0 0.033, Q6_K 0.045. A kernel bound to the wrong type or layout
// moves them by O(1).
func TestWeightTypes(t *testing.T) {
	f, m := openModel(t, "micro-llama3.f32.gguf", Options{})
	ids, _ := readLogits(t, "micro-llama3.f32.logits.txt")
	cases := []struct {
		typ ggml.Type
		tol float64
	}{
		{ggml.TypeF32, f32Tol}, // no activation rounding: the plain fast-vs-reference check
		{ggml.TypeF16, 3e-3},
		{ggml.TypeBF16, 2e-2},
		{ggml.TypeQ8_0, 7e-2},
		{ggml.TypeQ6_K, 1e-1},
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			vf := convertMatrices(t, f, c.typ)
			qm, err := Load(vf, Options{Threads: 2, KVType: KVF32})
			if err != nil {
				t.Fatal(err)
			}
			defer qm.Close()
			got := batchLogits(t, qm, ids)
			r := refModel(t, vf, m.Config())
			worst := 0.0
			for i, id := range ids {
				want, err := r.Forward(int(id))
				if err != nil {
					t.Fatal(err)
				}
				d, _ := maxDiff(got[i*len(want):(i+1)*len(want)], want)
				worst = max(worst, d)
			}
			if worst > c.tol {
				t.Fatalf("fast path vs reference on %s weights: %.3g > %.3g", c.typ, worst, c.tol)
			}
			t.Logf("max |fast - ref| = %.3g", worst)
		})
	}
}

// convertMatrices returns a virtual copy of f whose 2-D tensors are stored as typ.
func convertMatrices(t *testing.T, f *gguf.File, typ ggml.Type) *gguf.File {
	t.Helper()
	data := map[string][]byte{}
	edit := func(ts []gguf.TensorInfo) []gguf.TensorInfo {
		for i := range ts {
			ti := &ts[i]
			raw, err := f.TensorData(ti)
			if err != nil {
				t.Fatal(err)
			}
			if len(ti.Dims) != 2 {
				data[ti.Name] = raw
				continue
			}
			vals := make([]float32, ti.Elements())
			if err := ggml.Dequantize(ti.Type, raw, vals); err != nil {
				t.Fatal(err)
			}
			n, err := ggml.RowBytes(typ, ti.Elements())
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, n)
			if err := ggml.Quantize(typ, vals, out); err != nil {
				t.Fatal(err)
			}
			ti.Type, ti.Size, data[ti.Name] = typ, n, out
		}
		return ts
	}
	return virtualCopy(f, edit, func(ti *gguf.TensorInfo) ([]byte, error) { return data[ti.Name], nil })
}

// TestLinearRopeScaling adds linear RoPE scaling (factor 4) to micro-qwen2's metadata and
// checks the fast path against the reference with the same scaling, and that the scaling
// changes the logits at all (so the key is really read).
func TestLinearRopeScaling(t *testing.T) {
	f, plain := openModel(t, "micro-qwen2.f32.gguf", Options{KVType: KVF32})
	kv := append(append([]gguf.KV(nil), f.KV...),
		gguf.KV{Key: "qwen2.rope.scaling.type", Value: "linear"},
		gguf.KV{Key: "qwen2.rope.scaling.factor", Value: float32(4)})
	vf := gguf.NewFile(kv, f.Tensors, dataOf(f))
	m, err := Load(vf, Options{Threads: 2, KVType: KVF32})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config().RopeScale != 4 {
		t.Fatalf("RopeScale = %g, want 4", m.Config().RopeScale)
	}
	ids, _ := readLogits(t, "micro-qwen2.f32.logits.txt")
	got := batchLogits(t, m, ids)
	r := refModel(t, vf, m.Config())
	vocab := m.Config().NVocab
	for i, id := range ids {
		want, err := r.Forward(int(id))
		if err != nil {
			t.Fatal(err)
		}
		if d, at := maxDiff(got[i*vocab:(i+1)*vocab], want); d > f32Tol {
			t.Fatalf("position %d token %d: |fast - ref| %.3g > %.3g", i, at, d, f32Tol)
		}
	}
	if d, _ := maxDiff(got, batchLogits(t, plain, ids)); d < 1e-2 {
		t.Fatalf("scaling moved the logits by only %.3g", d)
	}
}
