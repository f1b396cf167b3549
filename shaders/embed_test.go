package shaders

import (
	"os"
	"strings"
	"testing"
)

// TestEveryShaderEmbedded checks that each .comp source has its plain build embedded and that
// every embedded module is well-formed SPIR-V.
func TestEveryShaderEmbedded(t *testing.T) {
	srcs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range srcs {
		name, ok := strings.CutSuffix(e.Name(), ".comp")
		if !ok {
			continue
		}
		n++
		if _, err := SPIRV(name); err != nil {
			t.Error(err)
		}
	}
	if n == 0 {
		t.Fatal("no .comp sources found")
	}
	if _, err := SPIRV("no_such_shader"); err == nil {
		t.Error("SPIRV of a missing shader returned no error")
	}
}
