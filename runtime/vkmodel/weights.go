//go:build cgo

package vkmodel

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// blockWeights are one transformer block's tensors in device memory (vectors as f32 buffers).
type blockWeights = runtime.BlockTensors[*vulkan.Matrix, *vulkan.Buffer]

// weights are all of a model's tensors in device memory.
type weights struct {
	runtime.Tensors[*vulkan.Matrix, *vulkan.Buffer]
	// ropeFF holds the per-pair divisors of the RoPE angle, [rope_dim/2] f32: rope_freqs.weight
	// (Llama 3) times the linear scaling factor, or nil when both are absent (all ones).
	ropeFF *vulkan.Buffer
}

// uploader looks tensors up, checks their shapes and uploads them, keeping the first error so
// that the binding code reads as a plain list of tensors (as the CPU runtime's binder does). It
// remembers everything it uploaded, so that a failed load frees it.
type uploader struct {
	f    *gguf.File
	ctx  *vulkan.Context
	err  error
	mats []*vulkan.Matrix
	bufs []*vulkan.Buffer
	// plan, when non-nil, makes the uploader a dry run for the fit check (fit.go): tensors are
	// looked up and checked but neither read nor uploaded, and the device allocations the upload
	// would make are appended here instead.
	plan *[]vulkan.Alloc
}

func (u *uploader) fail(format string, args ...any) {
	if u.err == nil {
		u.err = fmt.Errorf("vkmodel: "+format, args...)
	}
}

// lookup returns tensor name with GGUF dims (ne0 first) and its bytes, or nil (recording an error
// unless optional) when it is absent or mis-shaped.
func (u *uploader) lookup(name string, optional bool, dims ...int) (*gguf.TensorInfo, []byte) {
	if u.err != nil {
		return nil, nil
	}
	t, err := runtime.FindTensor(u.f, name, dims...)
	switch {
	case err != nil:
		u.fail("%v", err)
		return nil, nil
	case t == nil:
		if !optional {
			u.fail("missing tensor %s (want shape %v)", name, dims)
		}
		return nil, nil
	case u.plan != nil:
		return t, nil
	}
	data, err := u.f.TensorData(t)
	if err != nil {
		u.fail("tensor %s: %v", name, err)
		return nil, nil
	}
	return t, data
}

// Has reports whether the file has tensor name.
func (u *uploader) Has(name string) bool {
	_, ok := u.f.Tensor(name)
	return ok
}

// floats dequantizes n values of tensor name (type typ) to f32.
func (u *uploader) floats(name string, typ ggml.Type, data []byte, n int) []float32 {
	v := make([]float32, n)
	if err := ggml.Dequantize(typ, data, v); err != nil {
		u.fail("tensor %s: %v", name, err)
		return nil
	}
	return v
}

// Matrix uploads a 2-D weight of rows x cols (GGUF dims [cols rows]) in its own type: the device
// has a kernel for every type the CPU kernels multiply.
func (u *uploader) Matrix(name string, rows, cols int) *vulkan.Matrix {
	t, data := u.lookup(name, false, cols, rows)
	if t == nil {
		return nil
	}
	if u.plan != nil {
		a, err := u.ctx.MatrixAllocs(name, t.Type, rows, cols)
		if err != nil {
			u.fail("%v", err)
		}
		*u.plan = append(*u.plan, a...)
		return nil
	}
	m, err := u.ctx.UploadMatrix(name, t.Type, rows, cols, data)
	if err != nil {
		u.fail("%v", err)
		return nil
	}
	u.mats = append(u.mats, m)
	return m
}

// planned records, in a dry run, the f32 buffer of n values that tensor name would be uploaded
// to, and reports whether this is a dry run.
func (u *uploader) planned(name string, n int) bool {
	if u.plan == nil {
		return false
	}
	*u.plan = append(*u.plan, vulkan.Alloc{What: "tensor " + name, Bytes: 4 * uint64(n), Count: 1})
	return true
}

// Vector uploads a 1-D tensor of n values as f32; an absent optional tensor gives nil.
func (u *uploader) Vector(name string, n int, optional bool) *vulkan.Buffer {
	t, data := u.lookup(name, optional, n)
	if t == nil || u.planned(name, n) {
		return nil
	}
	v := u.floats(name, t.Type, data, n)
	if v == nil {
		return nil
	}
	return u.f32(name, v)
}

// f32 uploads v to a new buffer.
func (u *uploader) f32(name string, v []float32) *vulkan.Buffer {
	b, err := u.ctx.NewBuffer(4 * uint64(len(v)))
	if err == nil {
		u.bufs = append(u.bufs, b)
		err = b.WriteF32(0, v)
	}
	if err != nil {
		u.fail("tensor %s: %v", name, err)
		return nil
	}
	return b
}

// free releases everything uploaded.
func (u *uploader) free() {
	for _, m := range u.mats {
		m.Close()
	}
	for _, b := range u.bufs {
		b.Close()
	}
}

// upload binds and uploads every tensor configuration c needs, the same set the CPU runtime
// binds (runtime.BindTensors).
func (u *uploader) upload(c *runtime.Config) *weights {
	return &weights{Tensors: runtime.BindTensors(u, c), ropeFF: u.ropeFactors(c)}
}

// ropeFactors returns the RoPE angle divisors: the rope shader divides each pair's angle by its
// factor, so linear scaling (positions divided by RopeScale) folds into the factors as a product
// with rope_freqs.weight, matching cpu.RopeFreqs.
func (u *uploader) ropeFactors(c *runtime.Config) *vulkan.Buffer {
	n := c.RopeDim / 2
	t, data := u.lookup("rope_freqs.weight", true, n)
	if (t == nil && c.RopeScale == 1) || u.planned("rope_freqs.weight", n) {
		return nil
	}
	ff := make([]float32, n)
	if t != nil {
		if ff = u.floats("rope_freqs.weight", t.Type, data, n); ff == nil {
			return nil
		}
	} else {
		for i := range ff {
			ff[i] = 1
		}
	}
	for i := range ff {
		ff[i] *= float32(c.RopeScale)
	}
	return u.f32("rope_freqs.weight", ff)
}
