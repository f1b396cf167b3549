package runtime

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// blockWeights are one transformer block's tensors. Matrices are views of the file's bytes.
type blockWeights struct {
	attnNorm []float32   // [dim]
	wq       *cpu.Matrix // [n_head*head_dim][dim]
	wk, wv   *cpu.Matrix // [n_kv_head*head_dim][dim]
	bq       []float32   // [n_head*head_dim] or nil (required for qwen2)
	bk, bv   []float32   // [n_kv_head*head_dim] or nil
	qNorm    []float32   // [head_dim], qwen3 only
	kNorm    []float32   // [head_dim], qwen3 only
	wo       *cpu.Matrix // [dim][n_head*head_dim]
	ffnNorm  []float32   // [dim]
	gate, up *cpu.Matrix // [n_ff][dim]
	down     *cpu.Matrix // [dim][n_ff]
}

// weights are all of a model's tensors.
type weights struct {
	embd      *cpu.Matrix // [n_vocab][dim]
	outNorm   []float32   // [dim]
	output    *cpu.Matrix // [n_vocab][dim]; the embedding matrix itself when tied
	ropeFreqs []float32   // [rope_dim/2] frequency divisors (llama3 rope_freqs.weight), or nil
	blocks    []blockWeights
}

// binder looks tensors up by name and checks their shapes, keeping the first error so that the
// binding code reads as a plain list of tensors.
type binder struct {
	f   *gguf.File
	err error
}

func (b *binder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("runtime: "+format, args...)
	}
}

// lookup returns the tensor name with the given GGUF dims (ne0 first), or nil (and records an
// error unless optional) when it is absent or mis-shaped.
func (b *binder) lookup(name string, optional bool, dims ...int) *gguf.TensorInfo {
	t, ok := b.f.Tensor(name)
	if !ok {
		if !optional {
			b.fail("missing tensor %s (want shape %v)", name, dims)
		}
		return nil
	}
	same := len(t.Dims) == len(dims)
	for i := 0; same && i < len(dims); i++ {
		same = t.Dims[i] == int64(dims[i])
	}
	if !same {
		b.fail("tensor %s has shape %v, want %v", name, t.Dims, dims)
		return nil
	}
	return t
}

// matrix binds a 2-D weight of rows x cols (GGUF dims [cols rows]) without copying it.
func (b *binder) matrix(name string, rows, cols int) *cpu.Matrix {
	t := b.lookup(name, false, cols, rows)
	if t == nil {
		return nil
	}
	if !cpu.Supported(t.Type) { // also refuses types ggml can read but no kernel multiplies (TQ1_0, TQ2_0, MXFP4)
		b.fail("tensor %s has type %s, which sparkrun cannot compute with", name, t.Type)
		return nil
	}
	data, err := b.f.TensorData(t)
	if err != nil {
		b.fail("tensor %s: %v", name, err)
		return nil
	}
	// The kernels index rows by size, so a short buffer (possible from a virtual file) must
	// not get past here.
	if rb, err := ggml.RowBytes(t.Type, int64(cols)); err != nil || int64(len(data)) != rb*int64(rows) {
		b.fail("tensor %s holds %d bytes, want %d rows of %d %s values", name, len(data), rows, cols, t.Type)
		return nil
	}
	return &cpu.Matrix{Type: t.Type, Rows: rows, Cols: cols, Data: data}
}

// vector reads a 1-D tensor of n values into a new float32 slice (norms and biases are small,
// so a copy costs nothing and frees the ops from handling their types). optional tensors that
// are absent give nil.
func (b *binder) vector(name string, n int, optional bool) []float32 {
	t := b.lookup(name, optional, n)
	if t == nil {
		return nil
	}
	data, err := b.f.TensorData(t)
	if err == nil {
		v := make([]float32, n)
		if err = ggml.Dequantize(t.Type, data, v); err == nil {
			return v
		}
	}
	b.fail("tensor %s: %v", name, err)
	return nil
}

// bindWeights binds every tensor the configuration c needs.
func bindWeights(f *gguf.File, c *Config) (*weights, error) {
	b := &binder{f: f}
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	w := &weights{
		embd:      b.matrix("token_embd.weight", c.NVocab, c.NEmbd),
		outNorm:   b.vector("output_norm.weight", c.NEmbd, false),
		ropeFreqs: b.vector("rope_freqs.weight", c.RopeDim/2, true),
	}
	if _, ok := f.Tensor("output.weight"); ok {
		w.output = b.matrix("output.weight", c.NVocab, c.NEmbd)
	} else {
		w.output = w.embd // tied embeddings
	}
	for i := 0; i < c.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		bw := blockWeights{
			attnNorm: b.vector(p+"attn_norm.weight", c.NEmbd, false),
			wq:       b.matrix(p+"attn_q.weight", qDim, c.NEmbd),
			wk:       b.matrix(p+"attn_k.weight", kvDim, c.NEmbd),
			wv:       b.matrix(p+"attn_v.weight", kvDim, c.NEmbd),
			wo:       b.matrix(p+"attn_output.weight", c.NEmbd, qDim),
			ffnNorm:  b.vector(p+"ffn_norm.weight", c.NEmbd, false),
			gate:     b.matrix(p+"ffn_gate.weight", c.NFF, c.NEmbd),
			up:       b.matrix(p+"ffn_up.weight", c.NFF, c.NEmbd),
			down:     b.matrix(p+"ffn_down.weight", c.NEmbd, c.NFF),
		}
		// Biases are required where the architecture has them, and used wherever a file
		// carries them (some Llama-architecture models do).
		optional := !c.Arch.QKVBias
		bw.bq = b.vector(p+"attn_q.bias", qDim, optional)
		bw.bk = b.vector(p+"attn_k.bias", kvDim, optional)
		bw.bv = b.vector(p+"attn_v.bias", kvDim, optional)
		if c.Arch.QKNorm {
			bw.qNorm = b.vector(p+"attn_q_norm.weight", c.HeadDim, false)
			bw.kNorm = b.vector(p+"attn_k_norm.weight", c.HeadDim, false)
		}
		w.blocks = append(w.blocks, bw)
	}
	if b.err != nil {
		return nil, b.err
	}
	return w, nil
}
