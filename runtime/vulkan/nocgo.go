//go:build !cgo

package vulkan

import (
	"errors"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
)

// ErrNoCgo is returned by every entry point of a build without cgo.
var ErrNoCgo = errors.New("vulkan: built without cgo: Vulkan unavailable (rebuild with CGO_ENABLED=1)")

// Devices reports that this build cannot use Vulkan.
func Devices() ([]DeviceInfo, error) { return nil, ErrNoCgo }

// MatrixType reports that no weight type has a kernel in a build without Vulkan.
func MatrixType(ggml.Type) bool { return false }

// DevicePressNames reports that no press runs on a device in a build without Vulkan.
func DevicePressNames() []string { return nil }

// LayoutBytes reports that a build without Vulkan has no device layout.
func LayoutBytes(*press.CompressedLayer) (uint64, error) { return 0, ErrNoCgo }
