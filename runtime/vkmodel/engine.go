package vkmodel

import (
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// Engine is a model loaded on a Vulkan device as a command sees it: a runtime.Engine that holds
// device resources until Close, which also reports any validation messages.
type Engine interface {
	runtime.Engine
	// Device describes the Vulkan device the model runs on.
	Device() vulkan.DeviceInfo
	// Close frees the device resources; the engine must not be used afterwards.
	Close() error
}
