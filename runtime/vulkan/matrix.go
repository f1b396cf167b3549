//go:build cgo

package vulkan

import (
	"fmt"

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

// matrixTypes are the weight types the kernels dequantize, with their kernel name suffixes.
var matrixTypes = map[ggml.Type]string{
	ggml.TypeF32: "f32", ggml.TypeF16: "f16", ggml.TypeQ8_0: "q8_0", ggml.TypeQ4_0: "q4_0",
}

// UploadMatrix copies a [rows][cols] matrix of type t (ggml row layout, as in a GGUF file) to the
// device. name identifies the tensor in errors.
func (c *Context) UploadMatrix(name string, t ggml.Type, rows, cols int, data []byte) (*Matrix, error) {
	if _, ok := matrixTypes[t]; !ok {
		return nil, fmt.Errorf("vulkan: tensor %s: type %v has no Vulkan kernel (have f32, f16, q8_0, q4_0)", name, t)
	}
	if rows <= 0 || cols <= 0 || cols%t.BlockSize() != 0 {
		return nil, fmt.Errorf("vulkan: tensor %s: shape [%d][%d] invalid for %v (columns must be a positive multiple of %d)", name, rows, cols, t, t.BlockSize())
	}
	rb64, err := ggml.RowBytes(t, int64(cols))
	if err != nil {
		return nil, fmt.Errorf("vulkan: tensor %s: %w", name, err)
	}
	rowBytes := uint64(rb64)
	if want := rowBytes * uint64(rows); uint64(len(data)) != want {
		return nil, fmt.Errorf("vulkan: tensor %s: %d bytes of data, shape [%d][%d] %v needs %d", name, len(data), rows, cols, t, want)
	}
	// A chunk's binding is rounded up to whole words, so keep 3 bytes of slack under the limit.
	per := int((c.maxBind - 3) / rowBytes)
	if per == 0 {
		return nil, fmt.Errorf("vulkan: tensor %s: one row is %d bytes, over the %d-byte binding limit", name, rowBytes, c.maxBind)
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

// Close frees the matrix's device memory.
func (m *Matrix) Close() {
	for _, ch := range m.chunks {
		ch.buf.Close()
	}
	m.chunks = nil
}
