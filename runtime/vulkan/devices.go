//go:build cgo

package vulkan

import (
	"errors"
	"fmt"

	"github.com/sparkrun/sparkrun/runtime/vulkan/vk"
)

// Devices lists the visible Vulkan devices (SPARKRUN_VK_VISIBLE_DEVICES applies). A machine
// without a Vulkan loader or driver returns an error wrapping ErrNoDevice.
func Devices() ([]DeviceInfo, error) {
	o, err := OptionsFromEnv("auto")
	if err != nil {
		return nil, err
	}
	inst, err := newInstance(false)
	if err != nil {
		return nil, err
	}
	defer inst.Destroy()
	infos, _, err := enumerate(inst, o.Visible)
	return infos, err
}

// newInstance loads Vulkan and creates an instance, with the validation layer and debug utils when
// validate is set.
func newInstance(validate bool) (vk.Instance, error) {
	if err := vk.Load(); err != nil {
		return vk.Instance{}, fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	var layers, exts []string
	if validate {
		avail, err := vk.InstanceLayers()
		if err != nil {
			return vk.Instance{}, err
		}
		found := false
		for _, l := range avail {
			found = found || l == ValidationLayer
		}
		if !found {
			return vk.Instance{}, fmt.Errorf("vulkan: validation requested but %s is not installed (Debian: vulkan-validationlayers)", ValidationLayer)
		}
		layers = []string{ValidationLayer}
		exts = []string{vk.DebugUtilsExtension}
	}
	inst, err := vk.CreateInstance("sparkrun", layers, exts)
	if errors.Is(err, vk.Result(-9)) { // VK_ERROR_INCOMPATIBLE_DRIVER: loader present, no driver
		return inst, fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	return inst, err
}

// enumerate describes the visible devices of inst in visible order, with their handles.
func enumerate(inst vk.Instance, visible []int) ([]DeviceInfo, []vk.PhysicalDevice, error) {
	pds, err := inst.PhysicalDevices()
	if err != nil {
		return nil, nil, err
	}
	order := visible
	if order == nil {
		for i := range pds {
			order = append(order, i)
		}
	}
	var infos []DeviceInfo
	var sel []vk.PhysicalDevice
	for _, li := range order {
		if li >= len(pds) {
			return nil, nil, fmt.Errorf("vulkan: SPARKRUN_VK_VISIBLE_DEVICES names device %d but the loader reports %d device(s)", li, len(pds))
		}
		infos = append(infos, describe(pds[li], len(infos), li))
		sel = append(sel, pds[li])
	}
	return infos, sel, nil
}

// typeNames maps vk device types to DeviceInfo.Type.
var typeNames = map[int]string{
	vk.DeviceTypeDiscreteGPU: "discrete GPU", vk.DeviceTypeIntegratedGPU: "integrated GPU",
	vk.DeviceTypeVirtualGPU: "virtual GPU", vk.DeviceTypeCPU: "CPU", vk.DeviceTypeOther: "other",
}

// describe builds the DeviceInfo of pd.
func describe(pd vk.PhysicalDevice, index, loaderIndex int) DeviceInfo {
	c := pd.Caps()
	d := DeviceInfo{
		Index: index, LoaderIndex: loaderIndex, Name: c.Name, Type: typeNames[c.Type],
		API:                fmt.Sprintf("%d.%d.%d", c.APIVersion>>22&0x7f, c.APIVersion>>12&0x3ff, c.APIVersion&0xfff),
		Driver:             c.DriverName,
		DriverInfo:         c.DriverInfo,
		SubgroupSize:       c.SubgroupSize,
		SubgroupArithmetic: subgroupArithmetic(c),
		Float16:            c.ShaderFloat16, Int8: c.ShaderInt8,
		Storage16Bit: c.StorageBuffer16BitAccess, Storage8Bit: c.StorageBuffer8BitAccess,
		MaxStorageRange: uint64(c.MaxStorageBufferRange), MaxSharedMemory: c.MaxComputeSharedMemory,
	}
	if d.Type == "" {
		d.Type = "other"
	}
	for _, h := range pd.MemoryProperties().Heaps {
		d.Heaps = append(d.Heaps, Heap{Size: h.Size, DeviceLocal: h.Flags&vk.HeapDeviceLocal != 0})
	}
	return d
}

// subgroupArithmetic says whether compute shaders may use subgroup reductions.
func subgroupArithmetic(c vk.Caps) bool {
	return c.SubgroupStages&vk.StageCompute != 0 && c.SubgroupOps&vk.SubgroupArithmetic != 0 &&
		c.SubgroupOps&vk.SubgroupBasic != 0 && c.SubgroupSize > 0
}
