//go:build cgo

package vk

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestQueries creates an instance and reads every property the backend uses from each device,
// through the Properties2/Features2 chains. Without a Vulkan driver it fails unless
// SPARKRUN_VK_OPTIONAL=1.
func TestQueries(t *testing.T) {
	inst, err := CreateInstance("vk-test", nil, nil)
	if err != nil {
		if os.Getenv("SPARKRUN_VK_OPTIONAL") == "1" {
			t.Skipf("no Vulkan (SPARKRUN_VK_OPTIONAL=1): %v", err)
		}
		t.Fatalf("no Vulkan instance (install mesa-vulkan-drivers, or set SPARKRUN_VK_OPTIONAL=1): %v", err)
	}
	defer inst.Destroy()
	pds, err := inst.PhysicalDevices()
	if err != nil || len(pds) == 0 {
		t.Fatalf("physical devices: %d, %v", len(pds), err)
	}
	for _, pd := range pds {
		c := pd.Caps()
		t.Logf("%s: type %d api %#x driver %q %q subgroup %d ops %#x f16 %v int8 %v s16 %v s8 %v maxRange %d",
			c.Name, c.Type, c.APIVersion, c.DriverName, c.DriverInfo, c.SubgroupSize, c.SubgroupOps,
			c.ShaderFloat16, c.ShaderInt8, c.StorageBuffer16BitAccess, c.StorageBuffer8BitAccess, c.MaxStorageBufferRange)
		if c.Name == "" || c.APIVersion == 0 || c.MaxStorageBufferRange == 0 || c.MaxWorkGroupCount[0] == 0 || c.MinStorageBufferAlign == 0 {
			t.Errorf("implausible limits: %+v", c)
		}
		if c.APIVersion >= 1<<22|2<<12 && c.DriverName == "" {
			t.Errorf("%s: Vulkan 1.2 device without a driver name: the DriverProperties chain was not read", c.Name)
		}
		mp := pd.MemoryProperties()
		if len(mp.Types) == 0 || len(mp.Heaps) == 0 {
			t.Errorf("%s: no memory types or heaps", c.Name)
		}
		for _, ty := range mp.Types {
			if int(ty.Heap) >= len(mp.Heaps) {
				t.Errorf("%s: memory type in heap %d of %d", c.Name, ty.Heap, len(mp.Heaps))
			}
		}
		if len(pd.QueueFamilies()) == 0 {
			t.Errorf("%s: no queue families", c.Name)
		}
		if _, err := pd.Extensions(); err != nil {
			t.Error(err)
		}
	}
}

// TestResultError checks that results name themselves and wrap through check.
func TestResultError(t *testing.T) {
	err := check(-9, "vkCreateInstance")
	if !errors.Is(err, Result(-9)) || !strings.Contains(err.Error(), "vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER") {
		t.Errorf("check(-9) = %v", err)
	}
	if Result(-12345).Error() != "VkResult(-12345)" {
		t.Errorf("unknown result named %q", Result(-12345).Error())
	}
	if check(0, "x") != nil {
		t.Error("VK_SUCCESS is an error")
	}
}
