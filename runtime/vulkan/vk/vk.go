//go:build cgo

package vk

/*
#cgo LDFLAGS: -ldl
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Result is a VkResult that is not VK_SUCCESS, used as an error.
type Result int32

// Error names the result code, so that callers can wrap it with the call that failed.
func (r Result) Error() string {
	if s, ok := resultNames[r]; ok {
		return s
	}
	return fmt.Sprintf("VkResult(%d)", int32(r))
}

// resultNames holds the codes the backend can meet.
var resultNames = map[Result]string{
	1: "VK_NOT_READY", 2: "VK_TIMEOUT", 5: "VK_INCOMPLETE",
	-1: "VK_ERROR_OUT_OF_HOST_MEMORY", -2: "VK_ERROR_OUT_OF_DEVICE_MEMORY",
	-3: "VK_ERROR_INITIALIZATION_FAILED", -4: "VK_ERROR_DEVICE_LOST",
	-5: "VK_ERROR_MEMORY_MAP_FAILED", -6: "VK_ERROR_LAYER_NOT_PRESENT",
	-7: "VK_ERROR_EXTENSION_NOT_PRESENT", -8: "VK_ERROR_FEATURE_NOT_PRESENT",
	-9: "VK_ERROR_INCOMPATIBLE_DRIVER", -10: "VK_ERROR_TOO_MANY_OBJECTS",
	-13: "VK_ERROR_UNKNOWN", -1000069000: "VK_ERROR_OUT_OF_POOL_MEMORY",
}

// check turns a VkResult into nil or a Result error naming the call.
func check(r C.VkResult, call string) error {
	if r == C.VK_SUCCESS {
		return nil
	}
	return fmt.Errorf("vk: %s: %w", call, Result(r))
}

var (
	loadOnce sync.Once
	loadErr  error
	instOnce sync.Once // the instance-level table is fetched through the first instance
)

// Load opens libvulkan.so.1 and fetches the global entry points. It is safe to call repeatedly;
// only the first call does work.
func Load() error {
	loadOnce.Do(func() {
		switch C.sr_load() {
		case 0:
		case 1:
			loadErr = fmt.Errorf("vk: cannot open libvulkan.so.1 (install the Vulkan loader, e.g. Debian libvulkan1)")
		case 2:
			loadErr = fmt.Errorf("vk: libvulkan.so.1 has no vkGetInstanceProcAddr")
		default:
			loadErr = fmt.Errorf("vk: libvulkan.so.1 lacks vkCreateInstance")
		}
	})
	return loadErr
}

// cStrings copies names into one C array of C strings; free releases them.
func cStrings(names []string) (arr **C.char, free func()) {
	if len(names) == 0 {
		return nil, func() {}
	}
	p := (**C.char)(C.malloc(C.size_t(len(names)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	s := unsafe.Slice(p, len(names))
	for i, n := range names {
		s[i] = C.CString(n)
	}
	return p, func() {
		for _, c := range s {
			C.free(unsafe.Pointer(c))
		}
		C.free(unsafe.Pointer(p))
	}
}

// Instance is a VkInstance.
type Instance struct{ h C.VkInstance }

// InstanceLayers lists the names of the instance layers the loader can enable.
func InstanceLayers() ([]string, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	var n C.uint32_t
	if err := check(C.sr_EnumerateInstanceLayerProperties(&n, nil), "vkEnumerateInstanceLayerProperties"); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	props := make([]C.VkLayerProperties, n)
	if err := check(C.sr_EnumerateInstanceLayerProperties(&n, &props[0]), "vkEnumerateInstanceLayerProperties"); err != nil {
		return nil, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = C.GoString(&props[i].layerName[0])
	}
	return names, nil
}

// CreateInstance creates an instance asking for Vulkan 1.2 with the given layers and extensions
// enabled, then loads the instance- and device-level entry points through it.
func CreateInstance(appName string, layers, extensions []string) (Instance, error) {
	if err := Load(); err != nil {
		return Instance{}, err
	}
	name := C.CString(appName)
	defer C.free(unsafe.Pointer(name))
	lay, freeLay := cStrings(layers)
	defer freeLay()
	ext, freeExt := cStrings(extensions)
	defer freeExt()

	// Both structs live in C memory because the create info points at the application info.
	app := (*C.VkApplicationInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VkApplicationInfo{}))))
	defer C.free(unsafe.Pointer(app))
	app.sType = C.VK_STRUCTURE_TYPE_APPLICATION_INFO
	app.pApplicationName = name
	app.pEngineName = name
	app.apiVersion = C.VK_API_VERSION_1_2
	ci := (*C.VkInstanceCreateInfo)(C.calloc(1, C.size_t(unsafe.Sizeof(C.VkInstanceCreateInfo{}))))
	defer C.free(unsafe.Pointer(ci))
	ci.sType = C.VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
	ci.pApplicationInfo = app
	ci.enabledLayerCount = C.uint32_t(len(layers))
	ci.ppEnabledLayerNames = lay
	ci.enabledExtensionCount = C.uint32_t(len(extensions))
	ci.ppEnabledExtensionNames = ext

	var inst C.VkInstance
	if err := check(C.sr_CreateInstance(ci, nil, &inst), "vkCreateInstance"); err != nil {
		return Instance{}, err
	}
	instOnce.Do(func() { C.sr_load_instance(inst) })
	return Instance{inst}, nil
}

// Destroy destroys the instance; every object created from it must be destroyed first.
func (i Instance) Destroy() { C.sr_DestroyInstance(i.h, nil) }

// pinned runs f with every object in objs pinned, for calls whose argument structs point at Go
// memory.
func pinned(f func(), objs ...any) {
	var p runtime.Pinner
	defer p.Unpin()
	for _, o := range objs {
		p.Pin(o)
	}
	f()
}
