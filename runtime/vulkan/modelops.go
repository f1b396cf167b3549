//go:build cgo

package vulkan

import (
	"fmt"

	"github.com/sparkrun/sparkrun/ggml"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// This file holds what a whole-model forward pass needs beyond the layer ops: host-visible
// buffers for its per-step inputs and outputs, a bias broadcast and an f32 row gather.

// NewHostBuffer creates a storage buffer of size bytes in host-visible, host-coherent memory,
// mapped for its whole life, so that Write and Read copy directly even on a discrete GPU. A
// forward pass keeps its token ids and logits there: writing the ids and reading the logits then
// cost no submission besides the step's own. Kernels reach it over the bus, so it suits small
// per-step data, not weights.
func (c *Context) NewHostBuffer(size uint64) (*Buffer, error) {
	if size == 0 {
		return nil, fmt.Errorf("vulkan: host buffer of 0 bytes")
	}
	b, err := c.newRawBuffer(allocSize(size), c.memHost,
		vk.BufferStorage|vk.BufferTransferSrc|vk.BufferTransferDst, true)
	if err != nil {
		return nil, err
	}
	b.size = size
	return b, nil
}

// AddRows records out[t][i] = x[t][i] + bias[i] for rows rows of width f32 elements: x and out
// are [rows][width], bias is [width]. out may be the same range as x.
func (r *Recorder) AddRows(x, bias, out Span, rows, width int) error {
	if rows <= 0 || width <= 0 {
		return fmt.Errorf("vulkan: add rows: shape [%d][%d]", rows, width)
	}
	n := rows * width
	b, err := r.bind("add rows", []Span{x, bias, out}, []string{"x", "bias", "out"},
		[]uint64{4 * uint64(n), 4 * uint64(width), 4 * uint64(n)})
	if err != nil {
		return err
	}
	return r.dispatch("add_rows", b, push(n, width), groupsFor(n), 1)
}

// GatherRows records out[j] = src[ids[j]] for j < n: src is [srcRows][cols] f32 in a buffer (an
// activation, unlike GetRows's uploaded table), ids is [n] uint32, out is [n][cols] f32. Ids must
// be below srcRows (check them on the host); the row of an id outside src is left unwritten.
func (r *Recorder) GatherRows(src Span, srcRows, cols int, ids, out Span, n int) error {
	if n <= 0 || srcRows <= 0 || cols <= 0 {
		return fmt.Errorf("vulkan: gather rows: %d ids from [%d][%d]", n, srcRows, cols)
	}
	b, err := r.bind("gather rows", []Span{src, ids, out}, []string{"src", "ids", "out"},
		[]uint64{4 * uint64(srcRows*cols), 4 * uint64(n), 4 * uint64(n*cols)})
	if err != nil {
		return err
	}
	// getrows_f32 reads an f32 table from its first binding, whatever buffer holds it.
	return r.dispatch("getrows_f32", b, push(cols, n, 0, srcRows), groupsFor(n*cols), 1)
}

// MatrixType reports whether UploadMatrix accepts weights of type t (whether the kernels
// dequantize it on the fly).
func MatrixType(t ggml.Type) bool {
	_, ok := matrixTypes[t]
	return ok
}

// Discard ends a recording without submitting it (after an op failed to record), so that the
// next Begin starts afresh. It does nothing when no recording is open.
func (r *Recorder) Discard() error {
	if !r.open {
		return nil
	}
	r.open = false
	return r.cb.End()
}
