package gguf

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	Dims []int64 // ne: [ne0, ne1, ...], ne0 is the fastest-varying (row length), as in GGUF
	Type ggml.Type
	// Offset is the byte offset of the tensor's data relative to the start of the data section.
	Offset int64
	// Size is the byte size of the tensor's data: ggml.RowBytes(Type, Elements()).
	Size int64
}

// Elements returns the number of elements: the product of Dims (1 for no dims). Infos that came
// from Read, Open or a Writer are validated, so the product does not overflow.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Limits that llama.cpp imposes on tensor infos (GGML_MAX_DIMS, GGML_MAX_NAME). The reader
// enforces them too, so that every file it accepts can be rewritten by Writer and loaded by
// llama.cpp.
const (
	maxDims       = 4
	maxNameLength = 63 // GGML_MAX_NAME is 64 bytes including the terminating NUL
)

// tensorSize validates a tensor's name, type and shape and returns its data size in bytes. It
// fails on names llama.cpp cannot hold, unknown types, empty or non-positive dims, rows that are
// not whole blocks and element counts or sizes that overflow int64.
func tensorSize(name string, typ ggml.Type, dims []int64) (int64, error) {
	if len(name) > maxNameLength {
		return 0, fmt.Errorf("tensor %q: name is %d bytes, limit %d", name, len(name), maxNameLength)
	}
	if !typ.Known() {
		return 0, fmt.Errorf("tensor %q: unknown type id %d", name, uint32(typ))
	}
	if len(dims) == 0 || len(dims) > maxDims {
		return 0, fmt.Errorf("tensor %q: %d dims, must be 1 to %d", name, len(dims), maxDims)
	}
	n := int64(1)
	for i, d := range dims {
		if d <= 0 {
			return 0, fmt.Errorf("tensor %q: dim %d is %d, must be positive", name, i, d)
		}
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("tensor %q: element count of dims %v overflows int64", name, dims)
		}
		n *= d
	}
	if bs := int64(typ.BlockSize()); dims[0]%bs != 0 {
		return 0, fmt.Errorf("tensor %q: row length %d is not a multiple of the %s block size %d", name, dims[0], typ, bs)
	}
	size, err := ggml.RowBytes(typ, n)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", name, err)
	}
	return size, nil
}
