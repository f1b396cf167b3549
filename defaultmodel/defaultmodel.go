// Package defaultmodel embeds the tiny TinyStories model (stories260K, MIT) that sparkrun uses
// when no model is named, so the quick start works with no download.
package defaultmodel

import (
	"bytes"
	_ "embed"

	"github.com/sparkrun/sparkrun/gguf"
)

// Name is how the embedded model is named in messages and in `sparkrun info`.
const Name = "stories260K.gguf (embedded)"

//go:embed stories260K.gguf
var data []byte

// Open parses the embedded model. Its tensors are views into the binary's read-only data.
func Open() (*gguf.File, error) {
	return gguf.Read(bytes.NewReader(data), int64(len(data)))
}
