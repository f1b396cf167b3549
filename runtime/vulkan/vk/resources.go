//go:build cgo

package vk

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// Buffer usage bits (VkBufferUsageFlagBits).
const (
	BufferStorage     = C.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT
	BufferTransferSrc = C.VK_BUFFER_USAGE_TRANSFER_SRC_BIT
	BufferTransferDst = C.VK_BUFFER_USAGE_TRANSFER_DST_BIT
)

// Buffer is a VkBuffer.
type Buffer struct{ h C.VkBuffer }

// Memory is a VkDeviceMemory.
type Memory struct{ h C.VkDeviceMemory }

// MemoryRequirements is VkMemoryRequirements.
type MemoryRequirements struct {
	Size      uint64
	Alignment uint64
	TypeBits  uint32 // bit i set: memory type i may back the resource
}

// CreateBuffer creates an exclusive-sharing buffer of size bytes.
func (d Device) CreateBuffer(size uint64, usage uint32) (Buffer, error) {
	ci := C.VkBufferCreateInfo{
		sType:       C.VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		size:        C.VkDeviceSize(size),
		usage:       C.VkBufferUsageFlags(usage),
		sharingMode: C.VK_SHARING_MODE_EXCLUSIVE,
	}
	var b C.VkBuffer
	if err := check(C.sr_CreateBuffer(d.h, &ci, nil, &b), "vkCreateBuffer"); err != nil {
		return Buffer{}, err
	}
	return Buffer{b}, nil
}

// DestroyBuffer destroys b.
func (d Device) DestroyBuffer(b Buffer) { C.sr_DestroyBuffer(d.h, b.h, nil) }

// BufferMemoryRequirements returns the size, alignment and allowed memory types for b.
func (d Device) BufferMemoryRequirements(b Buffer) MemoryRequirements {
	var r C.VkMemoryRequirements
	C.sr_GetBufferMemoryRequirements(d.h, b.h, &r)
	return MemoryRequirements{uint64(r.size), uint64(r.alignment), uint32(r.memoryTypeBits)}
}

// AllocateMemory allocates size bytes from memory type typeIndex.
func (d Device) AllocateMemory(size uint64, typeIndex uint32) (Memory, error) {
	ai := C.VkMemoryAllocateInfo{
		sType:           C.VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
		allocationSize:  C.VkDeviceSize(size),
		memoryTypeIndex: C.uint32_t(typeIndex),
	}
	var m C.VkDeviceMemory
	if err := check(C.sr_AllocateMemory(d.h, &ai, nil, &m), "vkAllocateMemory"); err != nil {
		return Memory{}, err
	}
	return Memory{m}, nil
}

// FreeMemory frees m; buffers bound to it must be destroyed first.
func (d Device) FreeMemory(m Memory) { C.sr_FreeMemory(d.h, m.h, nil) }

// BindBufferMemory binds b to m at offset.
func (d Device) BindBufferMemory(b Buffer, m Memory, offset uint64) error {
	return check(C.sr_BindBufferMemory(d.h, b.h, m.h, C.VkDeviceSize(offset)), "vkBindBufferMemory")
}

// MapMemory maps size bytes of host-visible m from offset. The slice aliases driver memory and
// stays valid until UnmapMemory or FreeMemory.
func (d Device) MapMemory(m Memory, offset, size uint64) ([]byte, error) {
	var p unsafe.Pointer
	if err := check(C.sr_MapMemory(d.h, m.h, C.VkDeviceSize(offset), C.VkDeviceSize(size), 0, &p), "vkMapMemory"); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// UnmapMemory unmaps m.
func (d Device) UnmapMemory(m Memory) { C.sr_UnmapMemory(d.h, m.h) }

// ShaderModule is a VkShaderModule.
type ShaderModule struct{ h C.VkShaderModule }

// CreateShaderModule creates a module from SPIR-V words.
func (d Device) CreateShaderModule(code []uint32) (ShaderModule, error) {
	if len(code) == 0 {
		return ShaderModule{}, check(C.VK_ERROR_INITIALIZATION_FAILED, "vkCreateShaderModule: empty SPIR-V")
	}
	ci := C.VkShaderModuleCreateInfo{
		sType:    C.VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
		codeSize: C.size_t(4 * len(code)),
		pCode:    (*C.uint32_t)(unsafe.Pointer(&code[0])),
	}
	var m C.VkShaderModule
	var r C.VkResult
	pinned(func() { r = C.sr_CreateShaderModule(d.h, &ci, nil, &m) }, &code[0])
	if err := check(r, "vkCreateShaderModule"); err != nil {
		return ShaderModule{}, err
	}
	return ShaderModule{m}, nil
}

// DestroyShaderModule destroys m.
func (d Device) DestroyShaderModule(m ShaderModule) { C.sr_DestroyShaderModule(d.h, m.h, nil) }

// DescriptorSetLayout is a VkDescriptorSetLayout.
type DescriptorSetLayout struct{ h C.VkDescriptorSetLayout }

// CreateStorageSetLayout creates a layout of n storage buffers at bindings 0..n-1, visible to
// the compute stage: the only kind of descriptor set the backend uses.
func (d Device) CreateStorageSetLayout(n int) (DescriptorSetLayout, error) {
	binds := make([]C.VkDescriptorSetLayoutBinding, n)
	for i := range binds {
		binds[i] = C.VkDescriptorSetLayoutBinding{
			binding:         C.uint32_t(i),
			descriptorType:  C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
			descriptorCount: 1,
			stageFlags:      C.VK_SHADER_STAGE_COMPUTE_BIT,
		}
	}
	ci := C.VkDescriptorSetLayoutCreateInfo{
		sType:        C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
		bindingCount: C.uint32_t(n),
	}
	var l C.VkDescriptorSetLayout
	var r C.VkResult
	if n == 0 {
		r = C.sr_CreateDescriptorSetLayout(d.h, &ci, nil, &l)
	} else {
		ci.pBindings = &binds[0]
		pinned(func() { r = C.sr_CreateDescriptorSetLayout(d.h, &ci, nil, &l) }, &binds[0])
	}
	if err := check(r, "vkCreateDescriptorSetLayout"); err != nil {
		return DescriptorSetLayout{}, err
	}
	return DescriptorSetLayout{l}, nil
}

// DestroyDescriptorSetLayout destroys l.
func (d Device) DestroyDescriptorSetLayout(l DescriptorSetLayout) {
	C.sr_DestroyDescriptorSetLayout(d.h, l.h, nil)
}

// PipelineLayout is a VkPipelineLayout.
type PipelineLayout struct{ h C.VkPipelineLayout }

// CreatePipelineLayout creates a layout of one descriptor set and pushBytes of compute push
// constants (0 for none).
func (d Device) CreatePipelineLayout(set DescriptorSetLayout, pushBytes uint32) (PipelineLayout, error) {
	// Handles are not Go pointers, so these structs can live in Go memory and be passed directly.
	sets := [1]C.VkDescriptorSetLayout{set.h}
	pc := C.VkPushConstantRange{stageFlags: C.VK_SHADER_STAGE_COMPUTE_BIT, size: C.uint32_t(pushBytes)}
	ci := C.VkPipelineLayoutCreateInfo{
		sType:          C.VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
		setLayoutCount: 1,
		pSetLayouts:    &sets[0],
	}
	if pushBytes > 0 {
		ci.pushConstantRangeCount = 1
		ci.pPushConstantRanges = &pc
	}
	var l C.VkPipelineLayout
	var r C.VkResult
	pinned(func() { r = C.sr_CreatePipelineLayout(d.h, &ci, nil, &l) }, &sets[0], &pc)
	if err := check(r, "vkCreatePipelineLayout"); err != nil {
		return PipelineLayout{}, err
	}
	return PipelineLayout{l}, nil
}

// DestroyPipelineLayout destroys l.
func (d Device) DestroyPipelineLayout(l PipelineLayout) { C.sr_DestroyPipelineLayout(d.h, l.h, nil) }

// Pipeline is a VkPipeline.
type Pipeline struct{ h C.VkPipeline }

// CreateComputePipeline creates a compute pipeline from entry point "main" of m, with
// specialization constant i (constant_id = i) set to spec[i] (32-bit values: uint, int or float
// bits).
func (d Device) CreateComputePipeline(m ShaderModule, layout PipelineLayout, spec []uint32) (Pipeline, error) {
	// Everything the create info points at is C memory, so nothing needs pinning.
	mainName := C.CString("main")
	defer C.free(unsafe.Pointer(mainName))
	ci := (*C.VkComputePipelineCreateInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VkComputePipelineCreateInfo{}))))
	defer C.free(unsafe.Pointer(ci))
	ci.sType = C.VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
	ci.stage.sType = C.VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
	ci.stage.stage = C.VK_SHADER_STAGE_COMPUTE_BIT
	ci.stage.module = m.h
	ci.stage.pName = mainName
	ci.layout = layout.h
	if len(spec) > 0 {
		n := len(spec)
		si := (*C.VkSpecializationInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VkSpecializationInfo{}))))
		defer C.free(unsafe.Pointer(si))
		entries := (*C.VkSpecializationMapEntry)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.VkSpecializationMapEntry{}))))
		defer C.free(unsafe.Pointer(entries))
		data := (*C.uint32_t)(C.calloc(C.size_t(n), 4))
		defer C.free(unsafe.Pointer(data))
		es, ds := unsafe.Slice(entries, n), unsafe.Slice(data, n)
		for i, v := range spec {
			es[i] = C.VkSpecializationMapEntry{constantID: C.uint32_t(i), offset: C.uint32_t(4 * i), size: 4}
			ds[i] = C.uint32_t(v)
		}
		si.mapEntryCount = C.uint32_t(n)
		si.pMapEntries = entries
		si.dataSize = C.size_t(4 * n)
		si.pData = unsafe.Pointer(data)
		ci.stage.pSpecializationInfo = si
	}
	var p C.VkPipeline
	if err := check(C.sr_CreateComputePipelines(d.h, nil, 1, ci, nil, &p), "vkCreateComputePipelines"); err != nil {
		return Pipeline{}, err
	}
	return Pipeline{p}, nil
}

// DestroyPipeline destroys p.
func (d Device) DestroyPipeline(p Pipeline) { C.sr_DestroyPipeline(d.h, p.h, nil) }

// DescriptorPool is a VkDescriptorPool.
type DescriptorPool struct{ h C.VkDescriptorPool }

// DescriptorSet is a VkDescriptorSet.
type DescriptorSet struct{ h C.VkDescriptorSet }

// CreateDescriptorPool creates a pool for maxSets sets holding storageBuffers storage buffers in
// all. Sets are never freed one by one; the pool is destroyed as a whole.
func (d Device) CreateDescriptorPool(maxSets, storageBuffers uint32) (DescriptorPool, error) {
	size := C.VkDescriptorPoolSize{_type: C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, descriptorCount: C.uint32_t(storageBuffers)}
	ci := C.VkDescriptorPoolCreateInfo{
		sType:         C.VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
		maxSets:       C.uint32_t(maxSets),
		poolSizeCount: 1,
		pPoolSizes:    &size,
	}
	var p C.VkDescriptorPool
	var r C.VkResult
	pinned(func() { r = C.sr_CreateDescriptorPool(d.h, &ci, nil, &p) }, &size)
	if err := check(r, "vkCreateDescriptorPool"); err != nil {
		return DescriptorPool{}, err
	}
	return DescriptorPool{p}, nil
}

// DestroyDescriptorPool destroys p and every set allocated from it.
func (d Device) DestroyDescriptorPool(p DescriptorPool) { C.sr_DestroyDescriptorPool(d.h, p.h, nil) }

// AllocateDescriptorSet allocates one set of layout l from p. An exhausted pool returns an
// error wrapping VK_ERROR_OUT_OF_POOL_MEMORY.
func (d Device) AllocateDescriptorSet(p DescriptorPool, l DescriptorSetLayout) (DescriptorSet, error) {
	layouts := [1]C.VkDescriptorSetLayout{l.h}
	ai := C.VkDescriptorSetAllocateInfo{
		sType:              C.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
		descriptorPool:     p.h,
		descriptorSetCount: 1,
		pSetLayouts:        &layouts[0],
	}
	var s C.VkDescriptorSet
	var r C.VkResult
	pinned(func() { r = C.sr_AllocateDescriptorSets(d.h, &ai, &s) }, &layouts[0])
	if err := check(r, "vkAllocateDescriptorSets"); err != nil {
		return DescriptorSet{}, err
	}
	return DescriptorSet{s}, nil
}

// BufferRange is a byte range of a buffer bound to one storage binding.
type BufferRange struct {
	Buffer Buffer
	Offset uint64
	Size   uint64
}

// WriteStorageSet points binding i of s at ranges[i].
func (d Device) WriteStorageSet(s DescriptorSet, ranges []BufferRange) {
	n := len(ranges)
	if n == 0 {
		return
	}
	// The writes point at the buffer infos, so both arrays live in C memory.
	infos := unsafe.Slice((*C.VkDescriptorBufferInfo)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.VkDescriptorBufferInfo{})))), n)
	writes := unsafe.Slice((*C.VkWriteDescriptorSet)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.VkWriteDescriptorSet{})))), n)
	defer C.free(unsafe.Pointer(&infos[0]))
	defer C.free(unsafe.Pointer(&writes[0]))
	for i, r := range ranges {
		infos[i] = C.VkDescriptorBufferInfo{buffer: r.Buffer.h, offset: C.VkDeviceSize(r.Offset), _range: C.VkDeviceSize(r.Size)}
		writes[i] = C.VkWriteDescriptorSet{
			sType:           C.VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
			dstSet:          s.h,
			dstBinding:      C.uint32_t(i),
			descriptorCount: 1,
			descriptorType:  C.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
			pBufferInfo:     &infos[i],
		}
	}
	C.sr_UpdateDescriptorSets(d.h, C.uint32_t(n), &writes[0], 0, nil)
}
