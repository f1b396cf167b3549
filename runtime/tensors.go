package runtime

import (
	"fmt"

	"github.com/sparkrun/sparkrun/gguf"
)

// Tensors is the weight set of the models sparkrun runs (Llama, Qwen2, Qwen3), generic in how a
// backend holds a matrix (M) and a vector (V): the CPU binds matrices as views of the file's bytes
// and copies vectors into float32 slices, the Vulkan backend uploads both. BindTensors fills it,
// so every backend reads the same tensors with the same shapes and the same rules. An absent
// optional vector is V's zero value.
type Tensors[M, V any] struct {
	Embd    M // [n_vocab][dim]
	OutNorm V // [dim]
	Output  M // [n_vocab][dim]; Embd itself when the embeddings are tied
	Blocks  []BlockTensors[M, V]
}

// BlockTensors are one transformer block's weights.
type BlockTensors[M, V any] struct {
	AttnNorm     V // [dim]
	Wq           M // [n_head*head_dim][dim]
	Wk, Wv       M // [n_kv_head*head_dim][dim]
	Bq           V // [n_head*head_dim], required for qwen2, used wherever a file has it
	Bk, Bv       V // [n_kv_head*head_dim], likewise
	QNorm, KNorm V // [head_dim], qwen3 only
	Wo           M // [dim][n_head*head_dim]
	FFNNorm      V // [dim]
	Gate, Up     M // [n_ff][dim]
	Down         M // [dim][n_ff]
}

// TensorSource is where BindTensors gets the tensors: Matrix binds the 2-D weight name of rows x
// cols (GGUF dims [cols rows]), Vector the 1-D one of n values (absent and optional: the zero
// V), Has reports whether the file has a tensor. A source records its first error itself, so
// that the binding reads as a plain list of tensors.
type TensorSource[M, V any] interface {
	Matrix(name string, rows, cols int) M
	Vector(name string, n int, optional bool) V
	Has(name string) bool
}

// BindTensors returns every tensor configuration c needs, taken from src.
func BindTensors[M, V any](src TensorSource[M, V], c *Config) Tensors[M, V] {
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	w := Tensors[M, V]{
		Embd:    src.Matrix("token_embd.weight", c.NVocab, c.NEmbd),
		OutNorm: src.Vector("output_norm.weight", c.NEmbd, false),
	}
	if src.Has("output.weight") {
		w.Output = src.Matrix("output.weight", c.NVocab, c.NEmbd)
	} else {
		w.Output = w.Embd // tied embeddings
	}
	for i := range c.NLayer {
		p := fmt.Sprintf("blk.%d.", i)
		b := BlockTensors[M, V]{
			AttnNorm: src.Vector(p+"attn_norm.weight", c.NEmbd, false),
			Wq:       src.Matrix(p+"attn_q.weight", qDim, c.NEmbd),
			Wk:       src.Matrix(p+"attn_k.weight", kvDim, c.NEmbd),
			Wv:       src.Matrix(p+"attn_v.weight", kvDim, c.NEmbd),
			Wo:       src.Matrix(p+"attn_output.weight", c.NEmbd, qDim),
			FFNNorm:  src.Vector(p+"ffn_norm.weight", c.NEmbd, false),
			Gate:     src.Matrix(p+"ffn_gate.weight", c.NFF, c.NEmbd),
			Up:       src.Matrix(p+"ffn_up.weight", c.NFF, c.NEmbd),
			Down:     src.Matrix(p+"ffn_down.weight", c.NEmbd, c.NFF),
		}
		// Biases are required where the architecture has them, and used wherever a file
		// carries them (some Llama-architecture models do).
		optional := !c.Arch.QKVBias
		b.Bq = src.Vector(p+"attn_q.bias", qDim, optional)
		b.Bk = src.Vector(p+"attn_k.bias", kvDim, optional)
		b.Bv = src.Vector(p+"attn_v.bias", kvDim, optional)
		if c.Arch.QKNorm {
			b.QNorm = src.Vector(p+"attn_q_norm.weight", c.HeadDim, false)
			b.KNorm = src.Vector(p+"attn_k_norm.weight", c.HeadDim, false)
		}
		w.Blocks = append(w.Blocks, b)
	}
	return w
}

// FindTensor returns tensor name of f, checking that it has the GGUF dims (ne0 first): nil and no
// error when f has no such tensor, an error naming both shapes when it has another.
func FindTensor(f *gguf.File, name string, dims ...int) (*gguf.TensorInfo, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil
	}
	same := len(t.Dims) == len(dims)
	for i := 0; same && i < len(dims); i++ {
		same = t.Dims[i] == int64(dims[i])
	}
	if !same {
		return nil, fmt.Errorf("tensor %s has shape %v, want %v", name, t.Dims, dims)
	}
	return t, nil
}
