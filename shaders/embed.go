// Package shaders holds sparkrun's GLSL compute shaders (*.comp, *.glsl) and embeds their
// compiled SPIR-V (spv/*.spv, produced and checked by build.sh and committed), so that the Vulkan
// backend needs no shader compiler at run time.
package shaders

import (
	"embed"
	"encoding/binary"
	"fmt"
)

//go:embed spv/*.spv
var spv embed.FS

// SPIRV returns the words of spv/NAME.spv, for example SPIRV("matvec_q4_0_sg"). The bytes are
// copied into a []uint32 because embedded data carries no alignment guarantee.
func SPIRV(name string) ([]uint32, error) {
	b, err := spv.ReadFile("spv/" + name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("shaders: no compiled shader %q: %w", name, err)
	}
	if len(b) == 0 || len(b)%4 != 0 {
		return nil, fmt.Errorf("shaders: %s.spv is %d bytes, not a whole number of SPIR-V words", name, len(b))
	}
	words := make([]uint32, len(b)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	if words[0] != spirvMagic {
		return nil, fmt.Errorf("shaders: %s.spv does not start with the SPIR-V magic number", name)
	}
	return words, nil
}

// spirvMagic is the first word of every SPIR-V module.
const spirvMagic = 0x07230203
