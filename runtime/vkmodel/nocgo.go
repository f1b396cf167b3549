//go:build !cgo

package vkmodel

import (
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// Open reports that this build has no Vulkan support.
func Open(f *gguf.File, opts runtime.Options, vo vulkan.Options) (Engine, error) {
	return nil, vulkan.ErrNoCgo
}
