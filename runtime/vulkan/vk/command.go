//go:build cgo

package vk

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// CommandPool is a VkCommandPool.
type CommandPool struct{ h C.VkCommandPool }

// CommandBuffer is a VkCommandBuffer.
type CommandBuffer struct{ h C.VkCommandBuffer }

// CreateCommandPool creates a pool for family whose buffers can be reset one by one, so that a
// recorder can re-record its buffer every step.
func (d Device) CreateCommandPool(family uint32) (CommandPool, error) {
	ci := C.VkCommandPoolCreateInfo{
		sType:            C.VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		flags:            C.VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		queueFamilyIndex: C.uint32_t(family),
	}
	var p C.VkCommandPool
	if err := check(C.sr_CreateCommandPool(d.h, &ci, nil, &p), "vkCreateCommandPool"); err != nil {
		return CommandPool{}, err
	}
	return CommandPool{p}, nil
}

// DestroyCommandPool destroys p and its command buffers.
func (d Device) DestroyCommandPool(p CommandPool) { C.sr_DestroyCommandPool(d.h, p.h, nil) }

// AllocateCommandBuffer allocates one primary command buffer from p.
func (d Device) AllocateCommandBuffer(p CommandPool) (CommandBuffer, error) {
	ai := C.VkCommandBufferAllocateInfo{
		sType:              C.VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		commandPool:        p.h,
		level:              C.VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		commandBufferCount: 1,
	}
	var cb C.VkCommandBuffer
	if err := check(C.sr_AllocateCommandBuffers(d.h, &ai, &cb), "vkAllocateCommandBuffers"); err != nil {
		return CommandBuffer{}, err
	}
	return CommandBuffer{cb}, nil
}

// Begin resets cb and starts recording for one submission.
func (cb CommandBuffer) Begin() error {
	if err := check(C.sr_ResetCommandBuffer(cb.h, 0), "vkResetCommandBuffer"); err != nil {
		return err
	}
	bi := C.VkCommandBufferBeginInfo{
		sType: C.VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		flags: C.VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	}
	return check(C.sr_BeginCommandBuffer(cb.h, &bi), "vkBeginCommandBuffer")
}

// End finishes recording.
func (cb CommandBuffer) End() error { return check(C.sr_EndCommandBuffer(cb.h), "vkEndCommandBuffer") }

// BindComputePipeline binds p for subsequent dispatches.
func (cb CommandBuffer) BindComputePipeline(p Pipeline) {
	C.sr_CmdBindPipeline(cb.h, C.VK_PIPELINE_BIND_POINT_COMPUTE, p.h)
}

// BindDescriptorSet binds s as set 0 of layout l.
func (cb CommandBuffer) BindDescriptorSet(l PipelineLayout, s DescriptorSet) {
	sets := [1]C.VkDescriptorSet{s.h}
	C.sr_CmdBindDescriptorSets(cb.h, C.VK_PIPELINE_BIND_POINT_COMPUTE, l.h, 0, 1, &sets[0], 0, nil)
}

// PushConstants records data (a multiple of 4 bytes) as the compute push constants of l.
func (cb CommandBuffer) PushConstants(l PipelineLayout, data []byte) {
	if len(data) == 0 {
		return
	}
	C.sr_CmdPushConstants(cb.h, l.h, C.VK_SHADER_STAGE_COMPUTE_BIT, 0, C.uint32_t(len(data)), unsafe.Pointer(&data[0]))
}

// Dispatch records a dispatch of x*y*z workgroups.
func (cb CommandBuffer) Dispatch(x, y, z uint32) {
	C.sr_CmdDispatch(cb.h, C.uint32_t(x), C.uint32_t(y), C.uint32_t(z))
}

// Pipeline stage and access bits for Barrier.
const (
	StageTopOfPipe   = C.VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT
	StageComputeSh   = C.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT
	StageTransfer    = C.VK_PIPELINE_STAGE_TRANSFER_BIT
	StageHost        = C.VK_PIPELINE_STAGE_HOST_BIT
	StageBottom      = C.VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT
	AccessShaderRead = C.VK_ACCESS_SHADER_READ_BIT
	AccessShaderWr   = C.VK_ACCESS_SHADER_WRITE_BIT
	AccessTransferRd = C.VK_ACCESS_TRANSFER_READ_BIT
	AccessTransferWr = C.VK_ACCESS_TRANSFER_WRITE_BIT
	AccessHostRead   = C.VK_ACCESS_HOST_READ_BIT
	AccessHostWrite  = C.VK_ACCESS_HOST_WRITE_BIT
)

// Barrier records a global memory barrier: writes of srcAccess in srcStage become visible to
// dstAccess in dstStage.
func (cb CommandBuffer) Barrier(srcStage, dstStage, srcAccess, dstAccess uint32) {
	mb := C.VkMemoryBarrier{
		sType:         C.VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		srcAccessMask: C.VkAccessFlags(srcAccess),
		dstAccessMask: C.VkAccessFlags(dstAccess),
	}
	C.sr_CmdPipelineBarrier(cb.h, C.VkPipelineStageFlags(srcStage), C.VkPipelineStageFlags(dstStage), 0, 1, &mb, 0, nil, 0, nil)
}

// CopyBuffer records a copy of size bytes from src at srcOff to dst at dstOff.
func (cb CommandBuffer) CopyBuffer(src, dst Buffer, srcOff, dstOff, size uint64) {
	r := C.VkBufferCopy{srcOffset: C.VkDeviceSize(srcOff), dstOffset: C.VkDeviceSize(dstOff), size: C.VkDeviceSize(size)}
	C.sr_CmdCopyBuffer(cb.h, src.h, dst.h, 1, &r)
}

// QueryPool is a VkQueryPool of timestamps.
type QueryPool struct{ h C.VkQueryPool }

// CreateTimestampPool creates a pool of n timestamp queries.
func (d Device) CreateTimestampPool(n uint32) (QueryPool, error) {
	ci := C.VkQueryPoolCreateInfo{
		sType:      C.VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
		queryType:  C.VK_QUERY_TYPE_TIMESTAMP,
		queryCount: C.uint32_t(n),
	}
	var p C.VkQueryPool
	if err := check(C.sr_CreateQueryPool(d.h, &ci, nil, &p), "vkCreateQueryPool"); err != nil {
		return QueryPool{}, err
	}
	return QueryPool{p}, nil
}

// DestroyQueryPool destroys p.
func (d Device) DestroyQueryPool(p QueryPool) { C.sr_DestroyQueryPool(d.h, p.h, nil) }

// ResetQueries records a reset of queries [first, first+n) of p.
func (cb CommandBuffer) ResetQueries(p QueryPool, first, n uint32) {
	C.sr_CmdResetQueryPool(cb.h, p.h, C.uint32_t(first), C.uint32_t(n))
}

// WriteTimestamp records a timestamp into query q of p once all earlier compute work is done.
func (cb CommandBuffer) WriteTimestamp(p QueryPool, q uint32) {
	C.sr_CmdWriteTimestamp(cb.h, C.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, p.h, C.uint32_t(q))
}

// TimestampResults waits for and returns the 64-bit ticks of queries [first, first+len(out)).
func (d Device) TimestampResults(p QueryPool, first uint32, out []uint64) error {
	if len(out) == 0 {
		return nil
	}
	return check(C.sr_GetQueryPoolResults(d.h, p.h, C.uint32_t(first), C.uint32_t(len(out)),
		C.size_t(8*len(out)), unsafe.Pointer(&out[0]), 8, C.VK_QUERY_RESULT_64_BIT|C.VK_QUERY_RESULT_WAIT_BIT),
		"vkGetQueryPoolResults")
}

// Fence is a VkFence.
type Fence struct{ h C.VkFence }

// CreateFence creates an unsignalled fence.
func (d Device) CreateFence() (Fence, error) {
	ci := C.VkFenceCreateInfo{sType: C.VK_STRUCTURE_TYPE_FENCE_CREATE_INFO}
	var f C.VkFence
	if err := check(C.sr_CreateFence(d.h, &ci, nil, &f), "vkCreateFence"); err != nil {
		return Fence{}, err
	}
	return Fence{f}, nil
}

// DestroyFence destroys f.
func (d Device) DestroyFence(f Fence) { C.sr_DestroyFence(d.h, f.h, nil) }

// WaitFence waits until f is signalled, in waits of timeoutNs each, then resets it for the next
// submission. A wait that times out is repeated, not reported: the work is still running (a
// long prefill on a CPU driver under load takes minutes), and a caller told it failed would free
// memory the device is still using. A lost device ends the wait with an error.
func (d Device) WaitFence(f Fence, timeoutNs uint64) error {
	fs := [1]C.VkFence{f.h}
	r := C.sr_WaitForFences(d.h, 1, &fs[0], C.VK_TRUE, C.uint64_t(timeoutNs))
	for r == C.VK_TIMEOUT {
		r = C.sr_WaitForFences(d.h, 1, &fs[0], C.VK_TRUE, C.uint64_t(timeoutNs))
	}
	if err := check(r, "vkWaitForFences"); err != nil {
		return err
	}
	return check(C.sr_ResetFences(d.h, 1, &fs[0]), "vkResetFences")
}

// Submit submits cb to q; f is signalled when it completes.
func (q Queue) Submit(cb CommandBuffer, f Fence) error {
	cbs := [1]C.VkCommandBuffer{cb.h}
	si := C.VkSubmitInfo{
		sType:              C.VK_STRUCTURE_TYPE_SUBMIT_INFO,
		commandBufferCount: 1,
		pCommandBuffers:    &cbs[0],
	}
	var r C.VkResult
	pinned(func() { r = C.sr_QueueSubmit(q.h, 1, &si, f.h) }, &cbs[0])
	return check(r, "vkQueueSubmit")
}
