//go:build cgo

package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// Buffer is a device-local storage buffer with its own memory allocation. On devices whose
// device-local memory is host-visible it stays mapped and Write/Read copy directly; otherwise they
// go through a staging buffer and one extra submission each.
type Buffer struct {
	ctx    *Context
	buf    vk.Buffer
	mem    vk.Memory
	size   uint64 // bytes usable by callers
	alloc  uint64 // bytes of the vk.Buffer: size rounded up to 16 so kernels may read whole words
	memory uint64 // bytes of its memory allocation (the driver's requirement, at least alloc)
	mapped []byte // [alloc] when direct
}

// NewBuffer creates a device-local storage buffer of size bytes (contents undefined).
func (c *Context) NewBuffer(size uint64) (*Buffer, error) {
	if size == 0 {
		return nil, fmt.Errorf("vulkan: buffer of 0 bytes")
	}
	b, err := c.newRawBuffer((size+15)&^15, c.memDevice,
		vk.BufferStorage|vk.BufferTransferSrc|vk.BufferTransferDst, c.direct)
	if err != nil {
		return nil, err
	}
	b.size = size
	return b, nil
}

// newRawBuffer creates a buffer of size bytes in memory type mem, mapped if mapIt.
func (c *Context) newRawBuffer(size uint64, mem uint32, usage uint32, mapIt bool) (*Buffer, error) {
	b := &Buffer{ctx: c, size: size, alloc: size}
	var err error
	if b.buf, err = c.dev.CreateBuffer(size, usage); err != nil {
		return nil, fmt.Errorf("vulkan: buffer of %d bytes: %w", size, err)
	}
	req := c.dev.BufferMemoryRequirements(b.buf)
	if req.TypeBits&(1<<mem) == 0 {
		c.dev.DestroyBuffer(b.buf)
		return nil, fmt.Errorf("vulkan: buffer of %d bytes cannot live in memory type %d", size, mem)
	}
	if b.mem, err = c.dev.AllocateMemory(req.Size, mem); err != nil {
		c.dev.DestroyBuffer(b.buf)
		return nil, fmt.Errorf("vulkan: allocating %d bytes of device memory on %s (heap of %d bytes, shared with everything already allocated): %w", req.Size, c.Info.Name, c.heapBytes, err)
	}
	b.memory = req.Size
	c.memLive += req.Size
	c.memPeak = max(c.memPeak, c.memLive)
	if err = c.dev.BindBufferMemory(b.buf, b.mem, 0); err == nil && mapIt {
		b.mapped, err = c.dev.MapMemory(b.mem, 0, size)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Size returns the buffer's size in bytes.
func (b *Buffer) Size() uint64 { return b.size }

// Close frees the buffer; it must not be in use by a pending submission.
func (b *Buffer) Close() {
	c := b.ctx
	for k := range c.sets {
		if k.uses(b.buf) {
			// The set stays allocated (pools free as a whole) but is never handed out again.
			delete(c.sets, k)
		}
	}
	c.dev.DestroyBuffer(b.buf)
	c.dev.FreeMemory(b.mem)
	c.memLive -= b.memory
}

// Memory returns the bytes of memory the context's buffers hold now and the most they have held
// since the context was made or since the last ResetPeak: for checking when memory is freed
// (the press cache's end of prefill) and reporting how much a job needed.
func (c *Context) Memory() (live, peak uint64) { return c.memLive, c.memPeak }

// ResetPeak starts a new peak measurement of Memory at the current use.
func (c *Context) ResetPeak() { c.memPeak = c.memLive }

// All returns a span of the whole buffer.
func (b *Buffer) All() Span { return Span{b, 0, b.size} }

// checkRange reports whether [off, off+n) lies inside the buffer.
func (b *Buffer) checkRange(op string, off, n uint64) error {
	if off > b.size || n > b.size-off {
		return fmt.Errorf("vulkan: %s of %d bytes at offset %d outside a buffer of %d bytes", op, n, off, b.size)
	}
	return nil
}

// Write copies data into the buffer at byte offset off.
func (b *Buffer) Write(off uint64, data []byte) error {
	if err := b.checkRange("write", off, uint64(len(data))); err != nil || len(data) == 0 {
		return err
	}
	if b.mapped != nil {
		copy(b.mapped[off:], data)
		return nil
	}
	c := b.ctx
	st, err := c.newRawBuffer(uint64(len(data)), c.memHost, vk.BufferTransferSrc, true)
	if err != nil {
		return err
	}
	defer st.Close()
	copy(st.mapped, data)
	return c.runOneShot(func(cb vk.CommandBuffer) {
		cb.CopyBuffer(st.buf, b.buf, 0, off, uint64(len(data)))
		cb.Barrier(vk.StageTransfer, vk.StageComputeSh, vk.AccessTransferWr, vk.AccessShaderRead|vk.AccessShaderWr)
	})
}

// Read copies len(dst) bytes from byte offset off of the buffer into dst. Work submitted earlier
// has completed (submissions wait for their fence), and Recorder ends every command buffer with a
// barrier that makes shader writes visible to the host and to transfers.
func (b *Buffer) Read(off uint64, dst []byte) error {
	if err := b.checkRange("read", off, uint64(len(dst))); err != nil || len(dst) == 0 {
		return err
	}
	if b.mapped != nil {
		copy(dst, b.mapped[off:])
		return nil
	}
	c := b.ctx
	st, err := c.newRawBuffer(uint64(len(dst)), c.memHost, vk.BufferTransferDst, true)
	if err != nil {
		return err
	}
	defer st.Close()
	err = c.runOneShot(func(cb vk.CommandBuffer) {
		cb.CopyBuffer(b.buf, st.buf, off, 0, uint64(len(dst)))
		cb.Barrier(vk.StageTransfer, vk.StageHost, vk.AccessTransferWr, vk.AccessHostRead)
	})
	copy(dst, st.mapped)
	return err
}

// WriteF32 writes v as little-endian f32 at element offset off.
func (b *Buffer) WriteF32(off int, v []float32) error {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return b.Write(4*uint64(off), raw)
}

// ReadF32 reads len(dst) f32 values from element offset off.
func (b *Buffer) ReadF32(off int, dst []float32) error {
	raw := make([]byte, 4*len(dst))
	if err := b.Read(4*uint64(off), raw); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

// WriteU32 writes v (token ids, for GetRows) at element offset off.
func (b *Buffer) WriteU32(off int, v []uint32) error {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], x)
	}
	return b.Write(4*uint64(off), raw)
}

// Span is a byte range of a Buffer bound to one kernel operand.
type Span struct {
	Buf *Buffer
	Off uint64 // bytes; a multiple of the device's minStorageBufferOffsetAlignment
	Len uint64 // bytes
}

// F32 returns the span of n f32 elements starting at element off of b.
func (b *Buffer) F32(off, n int) Span { return Span{b, 4 * uint64(off), 4 * uint64(n)} }

// binding checks that s holds at least need bytes and can be bound, and returns its range
// (rounded up to whole 32-bit words, which the allocation always contains).
func (s Span) binding(op, operand string, need uint64, c *Context) (vk.BufferRange, error) {
	switch {
	case s.Buf == nil:
		return vk.BufferRange{}, fmt.Errorf("vulkan: %s: operand %s has no buffer", op, operand)
	case s.Len < need:
		return vk.BufferRange{}, fmt.Errorf("vulkan: %s: operand %s has %d bytes, needs %d", op, operand, s.Len, need)
	case s.Off%c.caps.MinStorageBufferAlign != 0:
		return vk.BufferRange{}, fmt.Errorf("vulkan: %s: operand %s at offset %d, not a multiple of the device's %d-byte alignment", op, operand, s.Off, c.caps.MinStorageBufferAlign)
	case s.Off > s.Buf.size || s.Len > s.Buf.size-s.Off:
		return vk.BufferRange{}, fmt.Errorf("vulkan: %s: operand %s [%d, +%d) outside its %d-byte buffer", op, operand, s.Off, s.Len, s.Buf.size)
	}
	n := (s.Len + 3) &^ 3
	if n > c.maxBind {
		return vk.BufferRange{}, fmt.Errorf("vulkan: %s: operand %s binds %d bytes, over the device's %d-byte maxStorageBufferRange", op, operand, n, c.maxBind)
	}
	return vk.BufferRange{Buffer: s.Buf.buf, Offset: s.Off, Size: n}, nil
}
