//go:build cgo

package vk

/*
#include "shim.h"
*/
import "C"

// PhysicalDevice is a VkPhysicalDevice.
type PhysicalDevice struct{ h C.VkPhysicalDevice }

// Device types, as VkPhysicalDeviceType.
const (
	DeviceTypeOther         = C.VK_PHYSICAL_DEVICE_TYPE_OTHER
	DeviceTypeIntegratedGPU = C.VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU
	DeviceTypeDiscreteGPU   = C.VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
	DeviceTypeVirtualGPU    = C.VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU
	DeviceTypeCPU           = C.VK_PHYSICAL_DEVICE_TYPE_CPU
)

// Subgroup operation bits (VkSubgroupFeatureFlagBits) and the compute stage bit, to read Caps.
const (
	SubgroupBasic      = C.VK_SUBGROUP_FEATURE_BASIC_BIT
	SubgroupArithmetic = C.VK_SUBGROUP_FEATURE_ARITHMETIC_BIT
	StageCompute       = C.VK_SHADER_STAGE_COMPUTE_BIT
)

// Caps is what the backend needs to know about a physical device: identity, limits, subgroup
// properties and optional features.
type Caps struct {
	Name          string
	Type          int    // one of the DeviceType constants
	APIVersion    uint32 // VK_MAKE_API_VERSION encoding
	DriverVersion uint32 // vendor-specific encoding
	VendorID      uint32
	DeviceID      uint32
	DriverName    string // empty before Vulkan 1.2
	DriverInfo    string // empty before Vulkan 1.2

	MaxStorageBufferRange   uint32
	MaxPushConstantsSize    uint32
	MaxComputeSharedMemory  uint32
	MaxWorkGroupInvocations uint32
	MaxWorkGroupCount       [3]uint32
	MinStorageBufferAlign   uint64
	NonCoherentAtomSize     uint64
	TimestampPeriod         float32 // nanoseconds per timestamp tick
	TimestampCompute        bool    // timestamps supported on graphics and compute queues

	SubgroupSize   uint32
	SubgroupStages uint32 // VkShaderStageFlags where subgroup operations work
	SubgroupOps    uint32 // VkSubgroupFeatureFlags

	ShaderFloat16            bool
	ShaderInt8               bool
	StorageBuffer16BitAccess bool
	StorageBuffer8BitAccess  bool
}

// PhysicalDevices lists the instance's physical devices in loader order.
func (i Instance) PhysicalDevices() ([]PhysicalDevice, error) {
	var n C.uint32_t
	if err := check(C.sr_EnumeratePhysicalDevices(i.h, &n, nil), "vkEnumeratePhysicalDevices"); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	hs := make([]C.VkPhysicalDevice, n)
	if err := check(C.sr_EnumeratePhysicalDevices(i.h, &n, &hs[0]), "vkEnumeratePhysicalDevices"); err != nil {
		return nil, err
	}
	out := make([]PhysicalDevice, n)
	for k := range out {
		out[k] = PhysicalDevice{hs[k]}
	}
	return out, nil
}

// Caps queries properties, limits, subgroup and driver properties and optional features.
func (p PhysicalDevice) Caps() Caps {
	var props C.VkPhysicalDeviceProperties2
	props.sType = C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
	C.sr_GetPhysicalDeviceProperties2(p.h, &props)
	var c C.sr_caps
	C.sr_query_caps(p.h, props.properties.apiVersion, &c)
	lim := &c.props.limits
	return Caps{
		Name:                     C.GoString(&c.props.deviceName[0]),
		Type:                     int(c.props.deviceType),
		APIVersion:               uint32(c.props.apiVersion),
		DriverVersion:            uint32(c.props.driverVersion),
		VendorID:                 uint32(c.props.vendorID),
		DeviceID:                 uint32(c.props.deviceID),
		DriverName:               C.GoString(&c.driverName[0]),
		DriverInfo:               C.GoString(&c.driverInfo[0]),
		MaxStorageBufferRange:    uint32(lim.maxStorageBufferRange),
		MaxPushConstantsSize:     uint32(lim.maxPushConstantsSize),
		MaxComputeSharedMemory:   uint32(lim.maxComputeSharedMemorySize),
		MaxWorkGroupInvocations:  uint32(lim.maxComputeWorkGroupInvocations),
		MaxWorkGroupCount:        [3]uint32{uint32(lim.maxComputeWorkGroupCount[0]), uint32(lim.maxComputeWorkGroupCount[1]), uint32(lim.maxComputeWorkGroupCount[2])},
		MinStorageBufferAlign:    uint64(lim.minStorageBufferOffsetAlignment),
		NonCoherentAtomSize:      uint64(lim.nonCoherentAtomSize),
		TimestampPeriod:          float32(lim.timestampPeriod),
		TimestampCompute:         lim.timestampComputeAndGraphics != 0,
		SubgroupSize:             uint32(c.subgroupSize),
		SubgroupStages:           uint32(c.subgroupStages),
		SubgroupOps:              uint32(c.subgroupOps),
		ShaderFloat16:            c.shaderFloat16 != 0,
		ShaderInt8:               c.shaderInt8 != 0,
		StorageBuffer16BitAccess: c.storageBuffer16BitAccess != 0,
		StorageBuffer8BitAccess:  c.storageBuffer8BitAccess != 0,
	}
}

// Memory property bits (VkMemoryPropertyFlagBits).
const (
	MemoryDeviceLocal  = C.VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
	MemoryHostVisible  = C.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
	MemoryHostCoherent = C.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
	MemoryHostCached   = C.VK_MEMORY_PROPERTY_HOST_CACHED_BIT
	HeapDeviceLocal    = C.VK_MEMORY_HEAP_DEVICE_LOCAL_BIT
)

// MemoryType is one VkMemoryType.
type MemoryType struct {
	Flags uint32 // Memory* bits
	Heap  uint32 // index into MemoryProperties.Heaps
}

// MemoryHeap is one VkMemoryHeap.
type MemoryHeap struct {
	Size  uint64 // bytes
	Flags uint32 // HeapDeviceLocal or 0
}

// MemoryProperties lists a device's memory types and heaps.
type MemoryProperties struct {
	Types []MemoryType
	Heaps []MemoryHeap
}

// MemoryProperties queries the device's memory types and heaps.
func (p PhysicalDevice) MemoryProperties() MemoryProperties {
	var m C.VkPhysicalDeviceMemoryProperties
	C.sr_GetPhysicalDeviceMemoryProperties(p.h, &m)
	var out MemoryProperties
	for k := 0; k < int(m.memoryTypeCount); k++ {
		out.Types = append(out.Types, MemoryType{uint32(m.memoryTypes[k].propertyFlags), uint32(m.memoryTypes[k].heapIndex)})
	}
	for k := 0; k < int(m.memoryHeapCount); k++ {
		out.Heaps = append(out.Heaps, MemoryHeap{uint64(m.memoryHeaps[k].size), uint32(m.memoryHeaps[k].flags)})
	}
	return out
}

// Queue capability bits (VkQueueFlagBits).
const (
	QueueCompute = C.VK_QUEUE_COMPUTE_BIT
)

// QueueFamily is one VkQueueFamilyProperties.
type QueueFamily struct {
	Flags              uint32 // Queue* bits
	Count              uint32
	TimestampValidBits uint32
}

// QueueFamilies lists the device's queue families.
func (p PhysicalDevice) QueueFamilies() []QueueFamily {
	var n C.uint32_t
	C.sr_GetPhysicalDeviceQueueFamilyProperties(p.h, &n, nil)
	if n == 0 {
		return nil
	}
	qs := make([]C.VkQueueFamilyProperties, n)
	C.sr_GetPhysicalDeviceQueueFamilyProperties(p.h, &n, &qs[0])
	out := make([]QueueFamily, n)
	for k := range out {
		out[k] = QueueFamily{uint32(qs[k].queueFlags), uint32(qs[k].queueCount), uint32(qs[k].timestampValidBits)}
	}
	return out
}

// Extensions lists the device extensions the driver supports.
func (p PhysicalDevice) Extensions() ([]string, error) {
	var n C.uint32_t
	if err := check(C.sr_EnumerateDeviceExtensionProperties(p.h, nil, &n, nil), "vkEnumerateDeviceExtensionProperties"); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	props := make([]C.VkExtensionProperties, n)
	if err := check(C.sr_EnumerateDeviceExtensionProperties(p.h, nil, &n, &props[0]), "vkEnumerateDeviceExtensionProperties"); err != nil {
		return nil, err
	}
	out := make([]string, n)
	for k := range out {
		out[k] = C.GoString(&props[k].extensionName[0])
	}
	return out, nil
}

// Features selects the optional features to enable at device creation.
type Features struct {
	ShaderFloat16            bool
	ShaderInt8               bool
	StorageBuffer16BitAccess bool
	StorageBuffer8BitAccess  bool
}

// Device is a VkDevice.
type Device struct{ h C.VkDevice }

// Queue is a VkQueue.
type Queue struct{ h C.VkQueue }

// CreateDevice creates a logical device with one queue from family and the given features and
// extensions enabled.
func (p PhysicalDevice) CreateDevice(family uint32, f Features, extensions []string) (Device, error) {
	en := C.sr_enable{
		shaderFloat16:            vkBool(f.ShaderFloat16),
		shaderInt8:               vkBool(f.ShaderInt8),
		storageBuffer16BitAccess: vkBool(f.StorageBuffer16BitAccess),
		storageBuffer8BitAccess:  vkBool(f.StorageBuffer8BitAccess),
	}
	ext, freeExt := cStrings(extensions)
	defer freeExt()
	var d C.VkDevice
	if err := check(C.sr_create_device(p.h, C.uint32_t(family), &en, ext, C.uint32_t(len(extensions)), &d), "vkCreateDevice"); err != nil {
		return Device{}, err
	}
	return Device{d}, nil
}

// vkBool converts a Go bool to VkBool32.
func vkBool(b bool) C.VkBool32 {
	if b {
		return C.VK_TRUE
	}
	return C.VK_FALSE
}

// Destroy destroys the device; every object created from it must be destroyed first.
func (d Device) Destroy() { C.sr_DestroyDevice(d.h, nil) }

// WaitIdle waits until the device has finished all submitted work.
func (d Device) WaitIdle() error { return check(C.sr_DeviceWaitIdle(d.h), "vkDeviceWaitIdle") }

// Queue returns queue index of family.
func (d Device) Queue(family, index uint32) Queue {
	var q C.VkQueue
	C.sr_GetDeviceQueue(d.h, C.uint32_t(family), C.uint32_t(index), &q)
	return Queue{q}
}
