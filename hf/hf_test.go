package hf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/safetensors"
)

func TestPermuteRows(t *testing.T) {
	// One head of 4 rows, one byte per row: HF order (r0 r1 | r2 r3) = halves of the rotary
	// pairs; GGUF interleaves them as r0 r2 r1 r3.
	got := permuteRows([]byte{0, 1, 2, 3}, 4, 1)
	if string(got) != string([]byte{0, 2, 1, 3}) {
		t.Fatalf("one head: %v", got)
	}
	// Two heads of 4 rows of 2 bytes: each head permuted on its own.
	in := []byte{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}
	want := []byte{0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 6, 6, 5, 5, 7, 7}
	if got := permuteRows(in, 8, 2); string(got) != string(want) {
		t.Fatalf("two heads: %v", got)
	}
}

// TestRopeFreqsMatchConverter compares the llama3 frequency factors with rope_freqs.weight of
// the shared micro-llama3.f32.gguf, which its README says was computed "with the exact
// arithmetic of llama.cpp's converter" (head_dim 64, theta 500000, factor 8, low 1, high 4,
// original context 8192). The bit patterns below were read from that file.
func TestRopeFreqsMatchConverter(t *testing.T) {
	want := []uint32{
		1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1065353216,
		1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1065353216, 1069995594,
		1076654894, 1084767237, 1090519040, 1090519040, 1090519040, 1090519040, 1090519040, 1090519040,
		1090519040, 1090519040, 1090519040, 1090519040, 1090519040, 1090519040, 1090519040, 1090519040,
	}
	c := &Config{HeadDim: 64, RopeTheta: 500000, RopeScaling: &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}}
	got := c.ropeFreqs()
	for i := range want {
		if math.Float32bits(got[i]) != want[i] {
			t.Errorf("factor %d = %v, want %v", i, got[i], math.Float32frombits(want[i]))
		}
	}
}

func f32s(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// ramp returns n f32 values 0, 1, 2, ... as bytes, so every row is recognisable after a
// permutation.
func ramp(n int) []byte {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return f32s(v...)
}

const llamaConfig = `{"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":16,
"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"max_position_embeddings":64,
"rms_norm_eps":1e-5,"rope_theta":10000,"vocab_size":4,"tie_word_embeddings":true,
"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`

func writeModel(t *testing.T, config string, tensors []safetensors.WriteTensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(filepath.Join(dir, safetensors.SingleName))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := safetensors.Write(fh, tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyLlama() []safetensors.WriteTensor {
	w := func(name string, dt safetensors.DType, data []byte, shape ...int64) safetensors.WriteTensor {
		return safetensors.WriteTensor{Name: name, DType: dt, Shape: shape, Data: data}
	}
	bf16 := make([]byte, 2*16*8)
	for i := 0; i < len(bf16); i += 2 {
		bf16[i+1] = 0x3f // 1.0 in bf16 is 0x3f80; any fixed pattern will do
		bf16[i] = byte(i)
	}
	return []safetensors.WriteTensor{
		w("model.embed_tokens.weight", safetensors.F32, ramp(4*8), 4, 8),
		w("model.norm.weight", safetensors.F32, ramp(8), 8),
		w("lm_head.weight", safetensors.F32, ramp(4*8), 4, 8),
		w("model.layers.0.input_layernorm.weight", safetensors.F32, ramp(8), 8),
		w("model.layers.0.self_attn.q_proj.weight", safetensors.F32, ramp(8*8), 8, 8),
		w("model.layers.0.self_attn.k_proj.weight", safetensors.F32, ramp(4*8), 4, 8),
		w("model.layers.0.self_attn.v_proj.weight", safetensors.F32, ramp(4*8), 4, 8),
		w("model.layers.0.self_attn.o_proj.weight", safetensors.F32, ramp(8*8), 8, 8),
		w("model.layers.0.self_attn.rotary_emb.inv_freq", safetensors.F32, ramp(2), 2),
		w("model.layers.0.post_attention_layernorm.weight", safetensors.F32, ramp(8), 8),
		w("model.layers.0.mlp.gate_proj.weight", safetensors.BF16, bf16, 16, 8),
		w("model.layers.0.mlp.up_proj.weight", safetensors.BF16, bf16, 16, 8),
		w("model.layers.0.mlp.down_proj.weight", safetensors.F32, ramp(8*16), 8, 16),
	}
}

func TestOpenLlama(t *testing.T) {
	f, err := Open(writeModel(t, llamaConfig, tinyLlama()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, want := range map[string]int64{
		"llama.block_count": 1, "llama.embedding_length": 8, "llama.attention.head_count": 2,
		"llama.attention.head_count_kv": 1, "llama.feed_forward_length": 16, "llama.context_length": 64,
		"llama.rope.dimension_count": 4,
	} {
		if got, err := f.Int(key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if _, ok := f.Tensor("output.weight"); ok {
		t.Error("tied model kept output.weight")
	}
	if _, ok := f.Tensor("blk.0.rotary_emb.inv_freq"); ok {
		t.Error("inv_freq buffer was kept")
	}
	rf, ok := f.Tensor("rope_freqs.weight")
	if !ok || rf.Dims[0] != 2 {
		t.Fatalf("rope_freqs.weight = %+v", rf)
	}
	gate, _ := f.Tensor("blk.0.ffn_gate.weight")
	if gate.Type != ggml.TypeBF16 || gate.Dims[0] != 8 || gate.Dims[1] != 16 {
		t.Errorf("ffn_gate: %s %v, want BF16 [8 16]", gate.Type, gate.Dims)
	}
	// attn_k has one head of 4 rows (head_dim 4): GGUF row order is HF rows 0 2 1 3.
	k, _ := f.Tensor("blk.0.attn_k.weight")
	data, err := f.TensorData(k)
	if err != nil {
		t.Fatal(err)
	}
	for dst, src := range []int{0, 2, 1, 3} {
		got := math.Float32frombits(binary.LittleEndian.Uint32(data[dst*8*4:]))
		if got != float32(src*8) {
			t.Errorf("attn_k row %d starts with %v, want HF row %d (%v)", dst, got, src, src*8)
		}
	}
	// attn_q has two heads of 4 rows: each permuted within its head.
	q, _ := f.Tensor("blk.0.attn_q.weight")
	data, _ = f.TensorData(q)
	for dst, src := range []int{0, 2, 1, 3, 4, 6, 5, 7} {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(data[dst*8*4:])); got != float32(src*8) {
			t.Errorf("attn_q row %d starts with %v, want HF row %d", dst, got, src)
		}
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct{ name, config, want string }{
		{"unknown arch", `{"architectures":["GPT2LMHeadModel"]}`, `unsupported architecture "GPT2LMHeadModel"`},
		{"two archs", `{"architectures":["A","B"]}`, "exactly one class"},
		{"missing size", `{"architectures":["LlamaForCausalLM"],"num_hidden_layers":1}`, "hidden_size = 0 is out of range"},
		{"bad gqa", strings.Replace(llamaConfig, `"num_key_value_heads":1`, `"num_key_value_heads":3`, 1), "not a multiple of num_key_value_heads 3"},
		{"yarn", strings.Replace(llamaConfig, `"rope_type":"llama3"`, `"rope_type":"yarn"`, 1), `rope_scaling type "yarn"`},
		{"not json", `{`, "unexpected end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(writeModel(t, c.config, tinyLlama()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestUnknownTensor(t *testing.T) {
	ts := append(tinyLlama(), safetensors.WriteTensor{Name: "model.vision.weight", DType: safetensors.F32, Shape: []int64{1}, Data: f32s(1)})
	_, err := Open(writeModel(t, llamaConfig, ts))
	if err == nil || !strings.Contains(err.Error(), `"model.vision.weight" has no GGUF equivalent`) {
		t.Fatalf("err = %v", err)
	}
}
