package vulkan

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrNoDevice is returned (wrapped) when no usable Vulkan device exists.
var ErrNoDevice = errors.New("vulkan: no Vulkan device found")

// ErrNoFit is returned (wrapped) by Context.CheckFit when a model's planned allocations exceed the
// device's memory, and by Open when the device's shared memory per workgroup is below what the
// attention kernels need, so that callers can fall back to the CPU.
var ErrNoFit = errors.New("vulkan: not enough device memory")

// ValidationLayer is the Khronos validation layer's name.
const ValidationLayer = "VK_LAYER_KHRONOS_validation"

// Options configure Open. OptionsFromEnv fills them from the environment; tests set fields
// directly.
type Options struct {
	// Device is "auto", "vulkan" (both: the best device) or "vulkan:N" (visible device N).
	Device string
	// Visible, if non-nil, lists the loader indices of the devices to expose, in order
	// (SPARKRUN_VK_VISIBLE_DEVICES).
	Visible []int
	// Validate enables the Khronos validation layer; its messages become errors returned by
	// Context.Close and listed by Context.ValidationMessages.
	Validate bool
	// NoSubgroup selects the shared-memory reductions even if subgroup arithmetic is supported.
	NoSubgroup bool
	// NoF16 reads f16 data as 32-bit words instead of through 16-bit storage.
	NoF16 bool
	// NoInt8 reads int8 weights (Q8_0) as 32-bit words instead of through 8-bit storage
	// (SPARKRUN_VK_NO_INT8), and leaves shaderInt8 and storageBuffer8BitAccess disabled.
	NoInt8 bool
	// ForceStaging uploads and downloads through staging buffers even when device memory is
	// host-visible, so that the discrete-GPU path is exercised on unified-memory devices.
	ForceStaging bool
	// MaxBindingBytes, if non-zero and below the device's maxStorageBufferRange, is the largest
	// range bound to one storage binding; tests lower it to exercise weight splitting.
	MaxBindingBytes uint64
	// MaxDeviceBytes, if non-zero and below the size of the device-local heap, is the device
	// memory that Context.CheckFit allows (SPARKRUN_VK_MAX_MEMORY, in MiB): a user can keep room
	// for other programs on the GPU, and tests exercise the out-of-memory error without a model
	// larger than the device.
	MaxDeviceBytes uint64
	// DebugKernels records a GPU timestamp around every dispatch and writes one line per dispatch
	// to DebugOut after each submit (SPARKRUN_DEBUG=kernels).
	DebugKernels bool
	// DebugOut receives the DebugKernels lines; nil means os.Stderr.
	DebugOut io.Writer

	// maxSharedBytes, if non-zero, lowers the device's shared memory per workgroup that Open
	// checks the kernels against: tests exercise the refusal on a device that has enough.
	maxSharedBytes uint32
}

// OptionsFromEnv returns the options for device (a --device value) with the SPARKRUN_VK_* and
// SPARKRUN_DEBUG environment variables applied.
func OptionsFromEnv(device string) (Options, error) {
	o := Options{Device: device}
	if v, ok := os.LookupEnv("SPARKRUN_VK_VISIBLE_DEVICES"); ok {
		vis, err := parseVisible(v)
		if err != nil {
			return o, err
		}
		o.Visible = vis
	}
	o.Validate = os.Getenv("SPARKRUN_VK_VALIDATE") == "1" ||
		strings.Contains(os.Getenv("VK_INSTANCE_LAYERS"), ValidationLayer)
	o.NoSubgroup = os.Getenv("SPARKRUN_VK_NO_SUBGROUP") == "1"
	o.NoF16 = os.Getenv("SPARKRUN_VK_NO_F16") == "1"
	o.NoInt8 = os.Getenv("SPARKRUN_VK_NO_INT8") == "1"
	if v, ok := os.LookupEnv("SPARKRUN_VK_MAX_MEMORY"); ok {
		mib, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || mib == 0 || mib > 1<<40 {
			return o, fmt.Errorf("vulkan: SPARKRUN_VK_MAX_MEMORY=%q: want a positive number of MiB", v)
		}
		o.MaxDeviceBytes = mib << 20
	}
	for _, d := range strings.Split(os.Getenv("SPARKRUN_DEBUG"), ",") {
		if strings.TrimSpace(d) == "kernels" {
			o.DebugKernels = true
		}
	}
	return o, nil
}

// parseVisible parses SPARKRUN_VK_VISIBLE_DEVICES: comma-separated non-negative loader indices,
// no repeats. An empty value hides every device.
func parseVisible(v string) ([]int, error) {
	out := []int{}
	seen := map[int]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("vulkan: SPARKRUN_VK_VISIBLE_DEVICES=%q: %q is not a device index", v, f)
		}
		if seen[n] {
			return nil, fmt.Errorf("vulkan: SPARKRUN_VK_VISIBLE_DEVICES=%q: index %d repeated", v, n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// parseDevice parses a device spec: -1 for "auto" or "vulkan", N for "vulkan:N".
func parseDevice(spec string) (int, error) {
	switch spec {
	case "", "auto", "vulkan":
		return -1, nil
	}
	if rest, ok := strings.CutPrefix(spec, "vulkan:"); ok {
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("vulkan: device %q: want auto, vulkan or vulkan:N", spec)
}

// typeRank orders device types for automatic selection: discrete GPU first, then integrated,
// virtual, CPU (lavapipe) and other.
var typeRank = map[string]int{"discrete GPU": 0, "integrated GPU": 1, "virtual GPU": 2, "CPU": 3, "other": 4}

// pick returns the index into infos of the device spec selects.
func pick(infos []DeviceInfo, spec string) (int, error) {
	n, err := parseDevice(spec)
	if err != nil {
		return 0, err
	}
	if len(infos) == 0 {
		return 0, fmt.Errorf("%w (is a Vulkan driver installed? on CPU-only machines Mesa's lavapipe, Debian mesa-vulkan-drivers, provides one; check SPARKRUN_VK_VISIBLE_DEVICES)", ErrNoDevice)
	}
	if n >= 0 {
		if n >= len(infos) {
			return 0, fmt.Errorf("vulkan: device %q: only %d visible device(s) (vulkan:0..vulkan:%d)", spec, len(infos), len(infos)-1)
		}
		return n, nil
	}
	best := 0
	for i, d := range infos {
		if typeRank[d.Type] < typeRank[infos[best].Type] {
			best = i
		}
	}
	return best, nil
}

// Heap is one memory heap of a device.
type Heap struct {
	Size        uint64 // bytes
	DeviceLocal bool
}

// DeviceInfo describes one visible Vulkan device, as `sparkrun devices` prints it.
type DeviceInfo struct {
	Index        int    // N in --device vulkan:N
	LoaderIndex  int    // index in the loader's enumeration (SPARKRUN_VK_VISIBLE_DEVICES)
	Name         string // e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
	Type         string // "discrete GPU", "integrated GPU", "virtual GPU", "CPU" or "other"
	API          string // Vulkan version, e.g. "1.3.230"
	Driver       string // driver name, e.g. "llvmpipe"
	DriverInfo   string // driver version details, e.g. "Mesa 22.3.6 (LLVM 15.0.6)"
	Heaps        []Heap
	SubgroupSize uint32 // invocations per subgroup (8 on lavapipe, 32 NVIDIA, 32/64 AMD)
	// SubgroupArithmetic says subgroup reductions are available in compute shaders.
	SubgroupArithmetic bool
	Float16            bool   // shaderFloat16
	Int8               bool   // shaderInt8
	Storage16Bit       bool   // storageBuffer16BitAccess
	Storage8Bit        bool   // storageBuffer8BitAccess
	MaxStorageRange    uint64 // maxStorageBufferRange: largest range bound to one binding
	// MaxSharedMemory is maxComputeSharedMemorySize: shared memory per workgroup (Open refuses a
	// device below what the attention kernels declare).
	MaxSharedMemory uint32
}

// String formats the device on one line.
func (d DeviceInfo) String() string {
	var heaps []string
	for _, h := range d.Heaps {
		s := fmt.Sprintf("%.1f GiB", float64(h.Size)/(1<<30))
		if h.DeviceLocal {
			s += " device-local"
		}
		heaps = append(heaps, s)
	}
	return fmt.Sprintf("vulkan:%d %s (%s, Vulkan %s, driver %s %s) heaps [%s] subgroup %d%s f16 %v int8 %v shared %d KiB",
		d.Index, d.Name, d.Type, d.API, d.Driver, d.DriverInfo, strings.Join(heaps, ", "),
		d.SubgroupSize, map[bool]string{true: " (arithmetic)", false: ""}[d.SubgroupArithmetic], d.Float16, d.Int8,
		d.MaxSharedMemory/1024)
}
