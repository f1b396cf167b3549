package runtime

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// blockWeights are one transformer block's tensors. Matrices are views of the file's bytes.
type blockWeights = BlockTensors[*cpu.Matrix, []float32]

// weights are all of a model's tensors.
type weights struct {
	Tensors[*cpu.Matrix, []float32]
	ropeFreqs []float32 // [rope_dim/2] frequency divisors (llama3 rope_freqs.weight), or nil
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
	t, err := FindTensor(b.f, name, dims...)
	switch {
	case err != nil:
		b.fail("%v", err)
	case t == nil && !optional:
		b.fail("missing tensor %s (want shape %v)", name, dims)
	}
	return t
}

// Has reports whether the file has tensor name.
func (b *binder) Has(name string) bool {
	_, ok := b.f.Tensor(name)
	return ok
}

// Matrix binds a 2-D weight of rows x cols (GGUF dims [cols rows]) without copying it.
func (b *binder) Matrix(name string, rows, cols int) *cpu.Matrix {
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

// Vector reads a 1-D tensor of n values into a new float32 slice (norms and biases are small,
// so a copy costs nothing and frees the ops from handling their types). optional tensors that
// are absent give nil.
func (b *binder) Vector(name string, n int, optional bool) []float32 {
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
	w := &weights{Tensors: BindTensors(b, c), ropeFreqs: b.Vector("rope_freqs.weight", c.RopeDim/2, true)}
	if b.err != nil {
		return nil, b.err
	}
	return w, nil
}
