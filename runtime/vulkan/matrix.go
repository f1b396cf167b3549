//go:build cgo

package vulkan

import (
	"fmt"
	"slices"

	"github.com/sparkrun/sparkrun/ggml"
)

// Matrix is a weight matrix or embedding table in device memory, in its ggml type, split into
// chunks of whole rows so that no chunk exceeds the largest range one binding may cover
// (maxStorageBufferRange: 128 MiB on lavapipe, 4 GiB on most GPUs).
type Matrix struct {
	Type   ggml.Type
	Rows   int     // output rows (vocabulary size for an embedding table)
	Cols   int     // elements per row
	chunks []chunk // in row order, covering [0, Rows)
}

// chunk is a run of whole rows in one buffer.
type chunk struct {
	buf  *Buffer // [rows][rowBytes]
	row0 int
	rows int
}

// matrixTypes are the weight types the kernels dequantize, with their kernel name suffixes
// (matvec_SUFFIX, matmul_SUFFIX and getrows_SUFFIX, built from shaders/weights*.glsl): every type
// the CPU kernels multiply.
var matrixTypes = map[ggml.Type]string{
	ggml.TypeF32: "f32", ggml.TypeF16: "f16", ggml.TypeBF16: "bf16",
	ggml.TypeQ8_0: "q8_0", ggml.TypeQ4_0: "q4_0", ggml.TypeQ4_1: "q4_1", ggml.TypeQ5_0: "q5_0", ggml.TypeQ5_1: "q5_1",
	ggml.TypeQ2_K: "q2_k", ggml.TypeQ3_K: "q3_k", ggml.TypeQ4_K: "q4_k", ggml.TypeQ5_K: "q5_k", ggml.TypeQ6_K: "q6_k",
	ggml.TypeIQ4_NL: "iq4_nl", ggml.TypeIQ4_XS: "iq4_xs",
}

// MatrixTypes lists the weight types UploadMatrix accepts, in type-id order.
func MatrixTypes() []ggml.Type {
	out := make([]ggml.Type, 0, len(matrixTypes))
	for t := range matrixTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// matrixLayout checks a [rows][cols] matrix of type t and returns its row size and how many
// rows one chunk holds. name identifies the tensor in errors.
func (c *Context) matrixLayout(name string, t ggml.Type, rows, cols int) (rowBytes uint64, per int, err error) {
	if _, ok := matrixTypes[t]; !ok {
		return 0, 0, fmt.Errorf("vulkan: tensor %s: type %v has no Vulkan kernel (have %v)", name, t, MatrixTypes())
	}
	if rows <= 0 || cols <= 0 || cols%t.BlockSize() != 0 {
		return 0, 0, fmt.Errorf("vulkan: tensor %s: shape [%d][%d] invalid for %v (columns must be a positive multiple of %d)", name, rows, cols, t, t.BlockSize())
	}
	rb64, err := ggml.RowBytes(t, int64(cols))
	if err != nil {
		return 0, 0, fmt.Errorf("vulkan: tensor %s: %w", name, err)
	}
	rowBytes = uint64(rb64)
	// A chunk's binding is rounded up to whole words, so keep 3 bytes of slack under the limit.
	per = int((c.chunkBytes() - 3) / rowBytes)
	if per == 0 {
		return 0, 0, fmt.Errorf("vulkan: tensor %s: one row is %d bytes, over the %d-byte limit of one chunk (binding range and single allocation)", name, rowBytes, c.chunkBytes())
	}
	return rowBytes, per, nil
}

// MatrixAllocs returns the device allocations UploadMatrix makes for a [rows][cols] matrix of
// type t, for CheckFit: full chunks, then the last, shorter one.
func (c *Context) MatrixAllocs(name string, t ggml.Type, rows, cols int) ([]Alloc, error) {
	rowBytes, per, err := c.matrixLayout(name, t, rows, cols)
	if err != nil {
		return nil, err
	}
	what := "weight chunk of " + name
	var out []Alloc
	if full := rows / per; full > 0 {
		out = append(out, Alloc{What: what, Bytes: uint64(per) * rowBytes, Count: full})
	}
	if rest := rows % per; rest > 0 {
		out = append(out, Alloc{What: what, Bytes: uint64(rest) * rowBytes, Count: 1})
	}
	return out, nil
}

// UploadMatrix copies a [rows][cols] matrix of type t (ggml row layout, as in a GGUF file) to the
// device. name identifies the tensor in errors.
func (c *Context) UploadMatrix(name string, t ggml.Type, rows, cols int, data []byte) (*Matrix, error) {
	rowBytes, per, err := c.matrixLayout(name, t, rows, cols)
	if err != nil {
		return nil, err
	}
	if want := rowBytes * uint64(rows); uint64(len(data)) != want {
		return nil, fmt.Errorf("vulkan: tensor %s: %d bytes of data, shape [%d][%d] %v needs %d", name, len(data), rows, cols, t, want)
	}
	m := &Matrix{Type: t, Rows: rows, Cols: cols}
	for r0 := 0; r0 < rows; r0 += per {
		n := min(per, rows-r0)
		b, err := c.NewBuffer(uint64(n) * rowBytes)
		if err == nil {
			err = b.Write(0, data[uint64(r0)*rowBytes:uint64(r0+n)*rowBytes])
			m.chunks = append(m.chunks, chunk{b, r0, n})
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("vulkan: tensor %s (%d bytes): %w", name, len(data), err)
		}
	}
	return m, nil
}

// Chunks returns how many buffers hold the matrix.
func (m *Matrix) Chunks() int { return len(m.chunks) }

// Bytes returns the device bytes the matrix's chunks hold.
func (m *Matrix) Bytes() uint64 {
	var n uint64
	for _, ch := range m.chunks {
		n += ch.buf.size
	}
	return n
}

// Close frees the matrix's device memory.
func (m *Matrix) Close() {
	for _, ch := range m.chunks {
		ch.buf.Close()
	}
	m.chunks = nil
}
