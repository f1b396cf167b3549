// Package hftest writes Hugging Face model folders from GGUF models, for tests: the inverse of
// package hf, so that a folder and the GGUF it came from can be compared tensor by tensor and
// logit by logit.
package hftest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/safetensors"
)

// hfNames maps GGUF tensor names (without the blk.N. prefix) to Hugging Face names.
var hfNames = map[string]string{
	"token_embd.weight":  "model.embed_tokens.weight",
	"output_norm.weight": "model.norm.weight",
	"output.weight":      "lm_head.weight",
	"attn_norm.weight":   "input_layernorm.weight",
	"attn_q.weight":      "self_attn.q_proj.weight",
	"attn_q.bias":        "self_attn.q_proj.bias",
	"attn_k.weight":      "self_attn.k_proj.weight",
	"attn_k.bias":        "self_attn.k_proj.bias",
	"attn_v.weight":      "self_attn.v_proj.weight",
	"attn_v.bias":        "self_attn.v_proj.bias",
	"attn_output.weight": "self_attn.o_proj.weight",
	"attn_q_norm.weight": "self_attn.q_norm.weight",
	"attn_k_norm.weight": "self_attn.k_norm.weight",
	"ffn_norm.weight":    "post_attention_layernorm.weight",
	"ffn_gate.weight":    "mlp.gate_proj.weight",
	"ffn_up.weight":      "mlp.up_proj.weight",
	"ffn_down.weight":    "mlp.down_proj.weight",
}

var classes = map[string]string{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}

// WriteFolder writes f (an F32 GGUF of a llama, qwen2 or qwen3 model without rope scaling) as
// config.json + model.safetensors in dir, with tensors stored as dtype (F32 or BF16). Llama Q/K
// rows are un-permuted back to Hugging Face order. Extra files (name → contents) are written too,
// e.g. tokenizer.json.
func WriteFolder(dir string, f *gguf.File, dtype safetensors.DType, extra map[string][]byte) error {
	arch, err := f.String("general.architecture")
	if err != nil {
		return err
	}
	var keyErr error
	geti := func(k string) int64 {
		v, err := f.Int(arch + "." + k)
		if err != nil && keyErr == nil {
			keyErr = err
		}
		return v
	}
	eps, err := f.Float(arch + ".attention.layer_norm_rms_epsilon")
	if err != nil {
		return err
	}
	theta, err := f.Float(arch + ".rope.freq_base")
	if err != nil {
		theta = 10000
	}
	embd, _ := f.Tensor("token_embd.weight")
	_, hasOutput := f.Tensor("output.weight")
	nHead, nKV := geti("attention.head_count"), geti("attention.head_count_kv")
	cfg := map[string]any{
		"architectures":           []string{classes[arch]},
		"hidden_size":             geti("embedding_length"),
		"intermediate_size":       geti("feed_forward_length"),
		"num_hidden_layers":       geti("block_count"),
		"num_attention_heads":     nHead,
		"num_key_value_heads":     nKV,
		"max_position_embeddings": geti("context_length"),
		"rms_norm_eps":            eps,
		"rope_theta":              theta,
		"vocab_size":              embd.Dims[1],
		"tie_word_embeddings":     !hasOutput,
	}
	if keyErr != nil {
		return keyErr
	}
	js, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		return err
	}
	var tensors []safetensors.WriteTensor
	for i := range f.Tensors {
		t := &f.Tensors[i]
		name, layer := t.Name, ""
		if strings.HasPrefix(name, "blk.") {
			parts := strings.SplitN(name, ".", 3)
			layer, name = parts[1], parts[2]
		}
		hfName, ok := hfNames[name]
		if !ok {
			return fmt.Errorf("hftest: no Hugging Face name for %q", t.Name)
		}
		if layer != "" {
			hfName = "model.layers." + layer + "." + hfName
		}
		raw, err := f.TensorData(t)
		if err != nil {
			return err
		}
		vals := make([]float32, t.Elements())
		if err := ggml.Dequantize(t.Type, raw, vals); err != nil {
			return err
		}
		rows := int(t.Dims[len(t.Dims)-1])
		if arch == "llama" && (name == "attn_q.weight" || name == "attn_k.weight") {
			heads := nHead
			if name == "attn_k.weight" {
				heads = nKV
			}
			vals = unpermute(vals, rows, int(heads))
		}
		shape := make([]int64, len(t.Dims))
		for i, d := range t.Dims {
			shape[len(shape)-1-i] = d
		}
		tensors = append(tensors, safetensors.WriteTensor{Name: hfName, DType: dtype, Shape: shape, Data: encode(vals, dtype)})
	}
	fh, err := os.Create(filepath.Join(dir, safetensors.SingleName))
	if err != nil {
		return err
	}
	if err := safetensors.Write(fh, tensors, map[string]string{"format": "pt"}); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	for name, data := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// unpermute undoes llama.cpp's converter permutation: GGUF row h*d + 2i + j is HF row
// h*d + j*d/2 + i.
func unpermute(vals []float32, rows, heads int) []float32 {
	cols := len(vals) / rows
	d := rows / heads
	out := make([]float32, len(vals))
	for h := 0; h < heads; h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				g, hf := h*d+2*i+j, h*d+j*(d/2)+i
				copy(out[hf*cols:(hf+1)*cols], vals[g*cols:(g+1)*cols])
			}
		}
	}
	return out
}

func encode(vals []float32, dtype safetensors.DType) []byte {
	switch dtype {
	case safetensors.BF16:
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], ggml.FP32ToBF16(v))
		}
		return b
	case safetensors.F16:
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], ggml.FP32ToFP16(v))
		}
		return b
	}
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
