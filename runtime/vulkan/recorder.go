//go:build cgo

package vulkan

import (
	"fmt"
	"io"
	"os"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// maxTimed is how many dispatches per submission get GPU timestamps under DebugKernels.
const maxTimed = 4096

// Recorder records dispatches into one command buffer and submits them at once. Every dispatch
// after the first is preceded by a compute-to-compute memory barrier, since each op reads what
// earlier ops wrote; the command buffer ends with a barrier that makes shader writes visible to the
// host and to transfers. Typical use, once per token: Begin, the ops of a forward pass, Submit.
type Recorder struct {
	ctx   *Context
	cb    vk.CommandBuffer
	fence vk.Fence
	open  bool
	ops   []string // [dispatches] kernel module and grid, for DebugKernels

	timed bool
	qp    vk.QueryPool
	times []KernelTime // of the last submission, under DebugKernels

	// parts is the scratch of token-split attention ([S][n_heads][head_dim+2] f32 partial
	// states, attendSplit), grown by replacement; the last is current, the outgrown ones are kept
	// until the next Begin since a recorded dispatch may still bind them (Submit waits for the
	// submission, so none does then). Every attention of a submission
	// reuses the current one: the barrier before each dispatch orders one merge's reads before
	// the next split kernel's writes (and those writes before the next merge's reads).
	parts []*Buffer
}

// KernelTime is one dispatch's GPU time, measured with timestamp queries.
type KernelTime struct {
	Kernel string  // embedded module and grid, e.g. "matvec_q4_0_sg 2048x1x1"
	Micros float64 // GPU microseconds from the end of the previous dispatch to the end of this one
}

// NewRecorder creates a recorder with its own command buffer and fence.
func (c *Context) NewRecorder() (*Recorder, error) {
	r := &Recorder{ctx: c, timed: c.opts.DebugKernels && c.tsBits > 0 && c.caps.TimestampCompute}
	var err error
	if r.cb, err = c.dev.AllocateCommandBuffer(c.cmdPool); err != nil {
		return nil, err
	}
	if r.fence, err = c.dev.CreateFence(); err != nil {
		return nil, err
	}
	if r.timed {
		if r.qp, err = c.dev.CreateTimestampPool(maxTimed + 1); err != nil {
			c.dev.DestroyFence(r.fence)
			return nil, err
		}
	}
	return r, nil
}

// Close frees the recorder's fence, query pool and scratch (its command buffer goes with the
// context's pool).
func (r *Recorder) Close() {
	r.ctx.dev.DestroyFence(r.fence)
	if r.timed {
		r.ctx.dev.DestroyQueryPool(r.qp)
	}
	for _, b := range r.parts {
		b.Close()
	}
}

// scratch returns a span of at least n bytes of the recorder's scratch. It grows to at least
// twice its size, so that a context growing token by token replaces it only a few times.
func (r *Recorder) scratch(n uint64) (Span, error) {
	k := len(r.parts)
	if k > 0 && r.parts[k-1].Size() >= n {
		return r.parts[k-1].All(), nil
	}
	if k > 0 {
		n = max(n, 2*r.parts[k-1].Size())
	}
	b, err := r.ctx.NewBuffer(n)
	if err != nil {
		return Span{}, err
	}
	r.parts = append(r.parts, b)
	return b.All(), nil
}

// Begin starts recording a new submission.
func (r *Recorder) Begin() error {
	if r.open {
		return fmt.Errorf("vulkan: Recorder.Begin while recording")
	}
	if err := r.cb.Begin(); err != nil {
		return err
	}
	if k := len(r.parts); k > 1 {
		for _, b := range r.parts[:k-1] {
			b.Close()
		}
		r.parts = append(r.parts[:0], r.parts[k-1])
	}
	r.open, r.ops = true, r.ops[:0]
	if r.timed {
		r.cb.ResetQueries(r.qp, 0, maxTimed+1)
		r.cb.WriteTimestamp(r.qp, 0)
	}
	return nil
}

// Dispatches returns how many dispatches have been recorded since Begin.
func (r *Recorder) Dispatches() int { return len(r.ops) }

// dispatch records kernel name over groups workgroups (split into a 2-D grid when above the
// device's x limit) times z, binding ranges and pushing pc.
func (r *Recorder) dispatch(name string, ranges []vk.BufferRange, pc []byte, groups, z uint32) error {
	if !r.open {
		return fmt.Errorf("vulkan: %s recorded outside Begin/Submit", name)
	}
	c := r.ctx
	p, err := c.pipeline(name, len(ranges))
	if err != nil {
		return err
	}
	set, err := c.descriptorSet(p, ranges)
	if err != nil {
		return err
	}
	x, y := groups, uint32(1)
	if maxX := c.caps.MaxWorkGroupCount[0]; x > maxX {
		x, y = maxX, (groups+maxX-1)/maxX
	}
	if y > c.caps.MaxWorkGroupCount[1] || z > c.caps.MaxWorkGroupCount[2] || groups == 0 {
		return fmt.Errorf("vulkan: %s: grid of %d x %d workgroups outside the device's limits", name, groups, z)
	}
	if len(r.ops) > 0 {
		r.cb.Barrier(vk.StageComputeSh, vk.StageComputeSh, vk.AccessShaderWr, vk.AccessShaderRead|vk.AccessShaderWr)
	}
	r.cb.BindComputePipeline(p.pipe)
	r.cb.BindDescriptorSet(p.layout.pipe, set)
	r.cb.PushConstants(p.layout.pipe, pc)
	r.cb.Dispatch(x, y, z)
	r.ops = append(r.ops, fmt.Sprintf("%s %dx%dx%d", p.spv, x, y, z))
	if r.timed && len(r.ops) <= maxTimed {
		r.cb.WriteTimestamp(r.qp, uint32(len(r.ops)))
	}
	return nil
}

// Submit ends recording, submits the command buffer (one queue submission) and waits for it.
// Under DebugKernels it then lists every dispatch with its GPU time.
func (r *Recorder) Submit() error {
	if !r.open {
		return fmt.Errorf("vulkan: Recorder.Submit without Begin")
	}
	r.open = false
	c := r.ctx
	r.cb.Barrier(vk.StageComputeSh, vk.StageHost|vk.StageTransfer, vk.AccessShaderWr, vk.AccessHostRead|vk.AccessTransferRd)
	if err := r.cb.End(); err != nil {
		return err
	}
	if err := c.submitWait(r.cb, r.fence); err != nil {
		return fmt.Errorf("vulkan: submitting %d dispatches: %w", len(r.ops), err)
	}
	if r.timed {
		return r.readTimes()
	}
	return nil
}

// readTimes converts the submission's timestamps into KernelTimes and prints them.
func (r *Recorder) readTimes() error {
	n := min(len(r.ops), maxTimed)
	ts := make([]uint64, n+1)
	if err := r.ctx.dev.TimestampResults(r.qp, 0, ts); err != nil {
		return err
	}
	mask := ^uint64(0)
	if b := r.ctx.tsBits; b < 64 {
		mask = 1<<b - 1
	}
	period := float64(r.ctx.caps.TimestampPeriod)
	r.times = r.times[:0]
	var w io.Writer = os.Stderr
	if r.ctx.opts.DebugOut != nil {
		w = r.ctx.opts.DebugOut
	}
	total := 0.0
	for i := 0; i < n; i++ {
		us := float64((ts[i+1]-ts[i])&mask) * period / 1e3
		total += us
		r.times = append(r.times, KernelTime{r.ops[i], us})
		fmt.Fprintf(w, "vk kernel %4d %-40s %10.1f us\n", i, r.ops[i], us)
	}
	fmt.Fprintf(w, "vk kernels: %d dispatches, %.1f us GPU\n", n, total)
	return nil
}

// Times returns the GPU time of each dispatch of the last submission (DebugKernels only).
func (r *Recorder) Times() []KernelTime { return r.times }
