// Package gguf reads and writes GGUF files, the container format of llama.cpp: a header of
// typed key-value metadata, a table of tensor infos (name, shape, ggml type, offset), and an
// aligned data section holding the tensor bytes.
//
// The reader works like debug/elf: [Open] maps the file (or reads it through an io.ReaderAt
// where mapping is unavailable) and validates every count, offset, size and shape before any
// tensor byte is touched, so a truncated or hostile file yields an error that names the file,
// the key or tensor and the limit involved, never a panic or an allocation proportional to a
// count that the file claims but cannot hold. Versions 2 and 3 in little-endian byte order are
// supported; version 1 and big-endian files are rejected with a clear error.
//
// [TensorData] returns a zero-copy view of the mapping for files from [Open], so model weights
// are used in place. [NewFile] builds a virtual file in memory (for example from safetensors)
// that the rest of the runtime treats like a real one.
//
// The writer ([Writer], [WriteFile]) streams GGUF v3 files in the layout of gguf-py's writer,
// which llama.cpp accepts: header, metadata, tensor infos, padding to the alignment, then each
// tensor's data padded to the alignment.
//
// [TensorData]: File.TensorData
package gguf
