//go:build cgo

package vulkan

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
	"github.com/sparkrun/sparkrun/shaders"
)

// wgSize is the workgroup size of every kernel (specialization constant 0): a power of two (the
// shared-memory reductions halve it), at least 64 (the attention kernel's accumulators), no smaller than
// the subgroup sizes met in practice (8..64), and within the 128 invocations every device allows.
const wgSize = 128

// fenceTimeout is the slice in which the host waits for a submission (vk.Device.WaitFence keeps
// waiting until the work is done: lavapipe on 2 loaded cores needs minutes for large work).
var fenceTimeout uint64 = 60e9 // a variable so that a test can make every wait time out

// Context is an open Vulkan device with its queue, pipelines and memory bookkeeping. It is not
// safe for concurrent use except where noted: one goroutine records and submits.
type Context struct {
	Info DeviceInfo // the selected device
	opts Options
	caps vk.Caps

	inst      vk.Instance
	messenger *vk.Messenger
	pd        vk.PhysicalDevice
	dev       vk.Device
	queue     vk.Queue
	family    uint32
	tsBits    uint32 // timestampValidBits of the queue family; 0: no timestamps

	subgroups bool   // kernels use subgroup reductions
	s16       bool   // f16 data is read through 16-bit storage
	i8        bool   // int8 weights are read through 8-bit storage
	maxBind   uint64 // largest range bound to one storage binding
	memDevice uint32 // memory type for device-local buffers
	memHost   uint32 // host-visible, host-coherent memory type for staging
	direct    bool   // memDevice is host-visible and coherent: map instead of staging
	heapBytes uint64 // size of memDevice's heap, for out-of-memory errors
	maxAlloc  uint64 // largest single allocation planned for (see chunkBytes)
	// memLive and memPeak count the bytes of the buffers' memory allocations (Memory). Buffers
	// are made and freed by one goroutine at a time, like the descriptor-set cache they share.
	memLive, memPeak uint64

	cmdPool  vk.CommandPool
	oneShot  vk.CommandBuffer // for uploads and downloads through staging
	oneFence vk.Fence

	pipes   map[string]*pipeline
	layouts map[int]setLayouts
	sets    map[setKey]vk.DescriptorSet
	pools   []vk.DescriptorPool
	poolUse uint32 // sets allocated from the last pool

	submits atomic.Uint64

	forceSplits int // tests: token splits of every decode attention (0: splitsFor chooses)

	valMu  sync.Mutex
	valMsg []string // validation messages, collected by the messenger callback
}

// Open creates a Context on the device o.Device selects. With o.Validate the Khronos validation
// layer is enabled and its messages are collected.
func Open(o Options) (*Context, error) {
	c := &Context{opts: o, pipes: map[string]*pipeline{}, layouts: map[int]setLayouts{}, sets: map[setKey]vk.DescriptorSet{}}
	inst, err := newInstance(o.Validate)
	if err != nil {
		return nil, err
	}
	c.inst = inst
	if o.Validate {
		c.messenger, err = inst.CreateMessenger(c.collect)
		if err != nil {
			inst.Destroy()
			return nil, err
		}
	}
	if err := c.init(); err != nil {
		c.destroy()
		return nil, err
	}
	return c, nil
}

// collect is the validation messenger callback; it may run on a driver thread.
func (c *Context) collect(severity int, id, text string) {
	c.valMu.Lock()
	defer c.valMu.Unlock()
	c.valMsg = append(c.valMsg, fmt.Sprintf("%s: %s", id, text))
}

// ValidationMessages returns the validation messages collected so far (safe for concurrent use).
func (c *Context) ValidationMessages() []string {
	c.valMu.Lock()
	defer c.valMu.Unlock()
	return append([]string(nil), c.valMsg...)
}

// init selects the device, creates it with the features the kernels can use, and prepares the
// queue, command pool and memory types.
func (c *Context) init() error {
	infos, pds, err := enumerate(c.inst, c.opts.Visible)
	if err != nil {
		return err
	}
	i, err := pick(infos, c.opts.Device)
	if err != nil {
		return err
	}
	c.Info, c.pd = infos[i], pds[i]
	c.caps = c.pd.Caps()
	if c.caps.APIVersion < 1<<22|1<<12 {
		return fmt.Errorf("vulkan: %s supports Vulkan %s; sparkrun needs 1.1", c.Info.Name, c.Info.API)
	}
	found := false
	for f, q := range c.pd.QueueFamilies() {
		if q.Flags&vk.QueueCompute != 0 {
			c.family, c.tsBits, found = uint32(f), q.TimestampValidBits, true
			break
		}
	}
	if !found {
		return fmt.Errorf("vulkan: %s has no compute queue", c.Info.Name)
	}
	c.subgroups = !c.opts.NoSubgroup && c.Info.SubgroupArithmetic && c.caps.SubgroupSize <= wgSize
	c.s16 = !c.opts.NoF16 && c.caps.StorageBuffer16BitAccess
	// The i8 kernels declare int8_t storage buffers and convert int8 to int: both features.
	c.i8 = !c.opts.NoInt8 && c.caps.StorageBuffer8BitAccess && c.caps.ShaderInt8
	c.maxBind = uint64(c.caps.MaxStorageBufferRange)
	if c.opts.MaxBindingBytes != 0 && c.opts.MaxBindingBytes < c.maxBind {
		c.maxBind = c.opts.MaxBindingBytes
	}
	if err := c.checkSharedMemory(); err != nil {
		return err
	}
	feats := vk.Features{StorageBuffer16BitAccess: c.s16, StorageBuffer8BitAccess: c.i8, ShaderInt8: c.i8}
	if c.dev, err = c.pd.CreateDevice(c.family, feats, nil); err != nil {
		return fmt.Errorf("vulkan: creating device %s: %w", c.Info.Name, err)
	}
	c.queue = c.dev.Queue(c.family, 0)
	if err := c.chooseMemory(); err != nil {
		return err
	}
	if c.cmdPool, err = c.dev.CreateCommandPool(c.family); err != nil {
		return err
	}
	if c.oneShot, err = c.dev.AllocateCommandBuffer(c.cmdPool); err != nil {
		return err
	}
	c.oneFence, err = c.dev.CreateFence()
	return err
}

// chooseMemory picks the memory types: device-local for buffers (preferring one that is also
// host-visible and coherent, as on unified-memory devices, so that no staging is needed), and a
// host-visible coherent type for staging.
func (c *Context) chooseMemory() error {
	mp := c.pd.MemoryProperties()
	const hostVC = vk.MemoryHostVisible | vk.MemoryHostCoherent
	devIdx, directIdx, hostIdx := -1, -1, -1
	for i, t := range mp.Types {
		if t.Flags&vk.MemoryDeviceLocal != 0 && devIdx < 0 {
			devIdx = i
		}
		if t.Flags&vk.MemoryDeviceLocal != 0 && t.Flags&hostVC == hostVC && directIdx < 0 {
			directIdx = i
		}
		if t.Flags&hostVC == hostVC && hostIdx < 0 {
			hostIdx = i
		}
	}
	if hostIdx < 0 {
		return fmt.Errorf("vulkan: %s has no host-visible coherent memory", c.Info.Name)
	}
	switch {
	case directIdx >= 0 && !c.opts.ForceStaging:
		c.memDevice, c.direct = uint32(directIdx), true
	case devIdx >= 0:
		c.memDevice = uint32(devIdx)
	default:
		c.memDevice = uint32(hostIdx)
	}
	c.memHost = uint32(hostIdx)
	c.heapBytes = mp.Heaps[mp.Types[c.memDevice].Heap].Size
	c.maxAlloc = min(minMaxAllocation, c.heapBytes)
	return nil
}

// minMaxAllocation is the smallest maxMemoryAllocationSize Vulkan 1.1 allows (2^30 bytes). The
// device's own limit (VkPhysicalDeviceMaintenance3Properties) is not queried by package vk yet, so
// single allocations are planned to stay within this guaranteed bound: weight matrices are split
// into chunks of at most this size (see chunkBytes) and CheckFit refuses any larger buffer.
const minMaxAllocation = 1 << 30

// chunkBytes is the most bytes one weight chunk may hold: within both the binding range and the
// single-allocation limit.
func (c *Context) chunkBytes() uint64 { return min(c.maxBind, c.maxAlloc) }

// MemoryLimits are the device-memory bounds a model must fit in (Context.Limits).
type MemoryLimits struct {
	Heap     uint64 // bytes of the heap device buffers come from (Options.MaxDeviceBytes if lower)
	MaxAlloc uint64 // largest single buffer allocation
}

// Limits returns the device-memory bounds that CheckFit applies.
func (c *Context) Limits() MemoryLimits {
	l := MemoryLimits{Heap: c.heapBytes, MaxAlloc: c.maxAlloc}
	if c.opts.MaxDeviceBytes != 0 && c.opts.MaxDeviceBytes < l.Heap {
		l.Heap = c.opts.MaxDeviceBytes
	}
	return l
}

// allocSize is the size NewBuffer allocates for size bytes: whole 16-byte units, so that kernels
// may read whole words and vectors.
func allocSize(size uint64) uint64 { return (size + 15) &^ 15 }

// PlanBytes returns the bytes the allocations of plan take, each rounded as NewBuffer rounds it.
func PlanBytes(plan []Alloc) uint64 {
	var total uint64
	for _, a := range plan {
		total += allocSize(a.Bytes) * uint64(max(a.Count, 0))
	}
	return total
}

// Alloc is one planned device allocation (or a group of equal ones), for CheckFit.
type Alloc struct {
	What  string // for the error, e.g. "KV cache layer buffer"
	Bytes uint64 // size of each
	Count int    // how many
}

// CheckFit compares planned allocations with the device's memory before anything is allocated, so
// that a model too large for the device fails at once with the numbers, rather than part-way
// through its upload with a driver error. Sizes are rounded as NewBuffer rounds them. The heap may
// also hold other programs' data, so passing is necessary, not sufficient.
func (c *Context) CheckFit(plan []Alloc) error {
	l := c.Limits()
	for _, a := range plan {
		if a.Count > 0 && allocSize(a.Bytes) > l.MaxAlloc {
			return fmt.Errorf("%w: %s of %d bytes is over the %d-byte single-allocation limit of %s", ErrNoFit, a.What, a.Bytes, l.MaxAlloc, c.Info.Name)
		}
	}
	if total := PlanBytes(plan); total > l.Heap {
		return fmt.Errorf("%w: the model needs %d bytes (%.2f GiB) of device memory, %s has %d bytes (%.2f GiB)",
			ErrNoFit, total, float64(total)/(1<<30), c.Info.Name, l.Heap, float64(l.Heap)/(1<<30))
	}
	return nil
}

// Submits returns how many command buffers this context has submitted (uploads and downloads
// through staging included), so that callers can prove one submission per token.
func (c *Context) Submits() uint64 { return c.submits.Load() }

// submitWait submits cb, waits for it and counts the submission.
func (c *Context) submitWait(cb vk.CommandBuffer, f vk.Fence) error {
	if err := c.queue.Submit(cb, f); err != nil {
		return err
	}
	c.submits.Add(1)
	return c.dev.WaitFence(f, fenceTimeout)
}

// runOneShot records record into the one-shot command buffer, submits it and waits.
func (c *Context) runOneShot(record func(cb vk.CommandBuffer)) error {
	if err := c.oneShot.Begin(); err != nil {
		return err
	}
	record(c.oneShot)
	if err := c.oneShot.End(); err != nil {
		return err
	}
	return c.submitWait(c.oneShot, c.oneFence)
}

// Close waits for the device, destroys everything the context created and returns an error
// listing the validation messages collected over its life (destruction included), if any.
// Buffers, matrices and recorders must be closed first.
func (c *Context) Close() error {
	err := c.dev.WaitIdle()
	c.destroy()
	if msgs := c.ValidationMessages(); len(msgs) > 0 {
		err = errors.Join(err, fmt.Errorf("vulkan: %d validation message(s):\n%s", len(msgs), strings.Join(msgs, "\n")))
	}
	return err
}

// destroy releases whatever init created, in reverse order; zero handles are skipped by Vulkan.
func (c *Context) destroy() {
	if c.dev != (vk.Device{}) {
		for _, p := range c.pipes {
			c.dev.DestroyPipeline(p.pipe)
			c.dev.DestroyShaderModule(p.module)
		}
		for _, l := range c.layouts {
			c.dev.DestroyPipelineLayout(l.pipe)
			c.dev.DestroyDescriptorSetLayout(l.set)
		}
		for _, p := range c.pools {
			c.dev.DestroyDescriptorPool(p)
		}
		c.dev.DestroyFence(c.oneFence)
		c.dev.DestroyCommandPool(c.cmdPool)
		c.dev.Destroy()
	}
	if c.messenger != nil {
		c.messenger.Destroy()
	}
	c.inst.Destroy()
}

// bigSharedKernels are the kernels that declare more shared memory than the 16 KiB every Vulkan
// device provides (maxComputeSharedMemorySize): the attention loop's tiles and value partials
// (shaders/attn.glsl). TestSharedMemory checks that every other embedded module stays within
// 16 KiB, so that checking these at Open covers them all.
var bigSharedKernels = []string{"attn_f32", "attn_f16", "attn_spark"}

// checkSharedMemory fails, wrapping ErrNoFit, when the device allows less shared memory per
// workgroup than one of bigSharedKernels declares in the variant c would use: such a device
// would refuse the pipeline at the first attention, so say it at Open with both numbers (and let
// --device auto fall back to the CPU).
func (c *Context) checkSharedMemory() error {
	limit := c.caps.MaxComputeSharedMemory
	if c.opts.maxSharedBytes != 0 {
		limit = min(limit, c.opts.maxSharedBytes)
	}
	for _, name := range bigSharedKernels {
		spv, code, err := c.module(name)
		if err != nil {
			return err
		}
		need, err := sharedBytes(code, wgSize)
		if err != nil {
			return fmt.Errorf("vulkan: kernel %s: %w", spv, err)
		}
		if need > uint64(limit) {
			return fmt.Errorf("%w: kernel %s needs %d bytes of shared memory per workgroup, %s allows %d (maxComputeSharedMemorySize)",
				ErrNoFit, spv, need, c.Info.Name, limit)
		}
	}
	return nil
}

// module returns the embedded module implementing kernel name on c (the best of c.variants) and
// its words.
func (c *Context) module(name string) (string, []uint32, error) {
	var err error
	for _, v := range c.variants(name) {
		var code []uint32
		if code, err = shaders.SPIRV(v); err == nil {
			return v, code, nil
		}
	}
	return "", nil, fmt.Errorf("vulkan: kernel %s: %w", name, err)
}

// SPIR-V opcodes, decorations and storage classes that sharedBytes reads (SPIR-V spec 3.x).
const (
	opDecorate       = 71
	opTypeBool       = 20
	opTypeInt        = 21
	opTypeFloat      = 22
	opTypeVector     = 23
	opTypeMatrix     = 24
	opTypeArray      = 28
	opTypeStruct     = 30
	opTypePointer    = 32
	opConstant       = 43
	opSpecConstant   = 50
	opVariable       = 59
	decorationSpecID = 1
	storageWorkgroup = 4
)

// sharedBytes returns the bytes of shared (Workgroup storage class) variables a SPIR-V module
// declares, with specialization constant 0 (the workgroup size) at wg and any other at its
// default. Members and elements are packed at their natural sizes (4-byte scalars; the modules
// hold only 32-bit scalars and vectors of them, which need no padding), as the validation layer
// counts them. Types of no known size (buffer blocks with runtime arrays, arrays sized by a
// specialization-constant expression, which would need evaluating) are an error only in a shared
// variable.
func sharedBytes(code []uint32, wg uint32) (uint64, error) {
	const header = 5
	if len(code) < header {
		return 0, fmt.Errorf("SPIR-V module of %d words, shorter than its header", len(code))
	}
	specID := map[uint32]uint32{}  // result id -> SpecId
	consts := map[uint32]uint64{}  // result id -> value of an integer constant
	size := map[uint32]uint64{}    // type id -> bytes
	pointee := map[uint32]uint32{} // pointer type id -> pointed-to type id
	var total uint64
	for i := header; i < len(code); {
		n, op := int(code[i]>>16), code[i]&0xffff
		if n == 0 || i+n > len(code) {
			return 0, fmt.Errorf("SPIR-V instruction at word %d: word count %d (zero, or past the module's %d words)", i, n, len(code))
		}
		w := code[i+1 : i+n] // operands
		// sized reports whether the first k operand words exist.
		sized := func(k int) bool { return len(w) >= k }
		switch {
		case op == opDecorate && sized(3) && w[1] == decorationSpecID:
			specID[w[0]] = w[2]
		case op == opTypeBool && sized(1):
			size[w[0]] = 4
		case (op == opTypeInt || op == opTypeFloat) && sized(2):
			size[w[0]] = uint64(w[1]) / 8
		case (op == opTypeVector || op == opTypeMatrix || op == opTypeArray) && sized(3):
			count, ok := uint64(w[2]), true
			if op == opTypeArray {
				count, ok = consts[w[2]]
			}
			if b, known := size[w[1]]; ok && known {
				size[w[0]] = b * count
			}
		case op == opTypeStruct && sized(1):
			var sum uint64
			known := true
			for _, m := range w[1:] {
				b, ok := size[m]
				sum, known = sum+b, known && ok
			}
			if known {
				size[w[0]] = sum
			}
		case op == opTypePointer && sized(3):
			pointee[w[0]] = w[2]
		case op == opConstant && sized(3):
			consts[w[1]] = uint64(w[2])
		case op == opSpecConstant && sized(3):
			consts[w[1]] = uint64(w[2])
			if id, ok := specID[w[1]]; ok && id == 0 {
				consts[w[1]] = uint64(wg)
			}
		case op == opVariable && sized(3) && w[2] == storageWorkgroup:
			b, ok := size[pointee[w[0]]]
			if !ok {
				return 0, fmt.Errorf("SPIR-V shared variable %d: its type %d has no known size (a runtime array, or an array length that is not a constant or specialization constant)", w[1], pointee[w[0]])
			}
			total += b
		}
		i += n
	}
	return total, nil
}
