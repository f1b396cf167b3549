// Package vk is sparkrun's own thin cgo binding over the system <vulkan/vulkan.h>. It exposes only
// the entry points the Vulkan backend (package runtime/vulkan) uses, with Go types for handles
// and results, and builds every structure that holds pointers either in C memory or with the
// pointed-to Go memory pinned, so it passes under GOEXPERIMENT=cgocheck2.
//
// The loader is opened at run time as libvulkan.so.1 (VK_NO_PROTOTYPES), so binaries do not link
// against Vulkan and run on machines without it; Load reports that case as an error. Without cgo
// the package is empty and runtime/vulkan reports that Vulkan is unavailable.
package vk
