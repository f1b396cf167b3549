package gguf

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// KV is one metadata key-value pair. Value holds one of the Go types uint8, int8, uint16,
// int16, uint32, int32, float32, bool, string, uint64, int64, float64 (the GGUF scalar types),
// a slice of one of them ([]uint8 ... []float64, []string, []bool) for an array, or []any for an
// array of arrays, whose elements are themselves such slices.
type KV struct {
	Key   string
	Value any
}

// File is a parsed GGUF file: its metadata and tensor table, and access to the tensor data.
// Once opened it is read-only, so its methods other than Close may be called concurrently.
type File struct {
	Version uint32       // GGUF format version: 2 or 3
	KV      []KV         // metadata in file order
	Tensors []TensorInfo // tensor infos in file order
	// Alignment of the data section and of every tensor offset, from general.alignment
	// (default 32).
	Alignment int64
	// DataOffset is the absolute file offset of the data section. When a file has no tensors it
	// may lie past the end of the file, since such files are allowed to end without padding.
	DataOffset int64

	name    string         // file name for error messages; "" when unknown
	size    int64          // file size in bytes
	keys    map[string]int // key -> index in KV
	tensors map[string]int // tensor name -> index in Tensors

	// Exactly one data source is set: mapped for files from Open on unix, src for files read
	// through an io.ReaderAt, virtual for files from NewFile.
	mapped  []byte
	src     io.ReaderAt
	virtual func(t *TensorInfo) ([]byte, error)
	closer  func() error // releases the mapping or the open file; nil when nothing to release
	closed  bool
}

// defaultAlignment is the data alignment GGUF uses when general.alignment is absent.
const defaultAlignment = 32

// alignmentKey is the metadata key that overrides the data alignment.
const alignmentKey = "general.alignment"

// NewFile returns a virtual file built in memory: its metadata and tensor table are kv and
// tensors, and TensorData calls data. It is used by loaders of other formats (safetensors) and by
// synthetic models, so that the runtime sees one kind of file. Tensors whose Size is 0 get the
// size implied by their type and dims. NewFile does not validate its arguments; duplicate keys or
// names resolve to the first occurrence.
func NewFile(kv []KV, tensors []TensorInfo, data func(t *TensorInfo) ([]byte, error)) *File {
	f := &File{
		Version:   3,
		KV:        append([]KV(nil), kv...),
		Tensors:   append([]TensorInfo(nil), tensors...),
		Alignment: defaultAlignment,
		virtual:   data,
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Size == 0 {
			if n, err := tensorSize(t.Name, t.Type, t.Dims); err == nil {
				t.Size = n
			}
		}
	}
	f.index()
	if a, ok := f.Lookup(alignmentKey); ok {
		if a, err := alignmentOf(a); err == nil {
			f.Alignment = a
		}
	}
	return f
}

// index builds the key and tensor-name lookup maps, keeping the first of any duplicate.
func (f *File) index() {
	f.keys = make(map[string]int, len(f.KV))
	for i, kv := range f.KV {
		if _, dup := f.keys[kv.Key]; !dup {
			f.keys[kv.Key] = i
		}
	}
	f.tensors = make(map[string]int, len(f.Tensors))
	for i, t := range f.Tensors {
		if _, dup := f.tensors[t.Name]; !dup {
			f.tensors[t.Name] = i
		}
	}
}

// Close releases the mapping or the open file. Slices returned by TensorData for a mapped file
// must not be used after Close. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.mapped = nil
	if f.closer != nil {
		return f.closer()
	}
	return nil
}

// Lookup returns the value of a metadata key. The value is shared with the File: do not modify
// slices.
func (f *File) Lookup(key string) (any, bool) {
	i, ok := f.keys[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// Has reports whether the metadata contains key.
func (f *File) Has(key string) bool {
	_, ok := f.keys[key]
	return ok
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// errClosed is returned by TensorData after Close.
var errClosed = errors.New("file is closed")

// TensorData returns the bytes of a tensor. For a file from Open on unix the result is a
// zero-copy view of the mapping (read-only, valid until Close); for a file read through an
// io.ReaderAt it is a fresh copy; for a virtual file it is what NewFile's data function returns.
func (f *File) TensorData(t *TensorInfo) ([]byte, error) {
	if f.virtual != nil {
		return f.virtual(t)
	}
	if f.closed {
		return nil, f.errorf("tensor %q: %w", t.Name, errClosed)
	}
	// t may come from another File or have been modified: check it against this file again.
	start := f.DataOffset + t.Offset
	if t.Offset < 0 || t.Size < 0 || t.Offset > math.MaxInt64-f.DataOffset ||
		start > f.size || t.Size > f.size-start || t.Size > math.MaxInt {
		return nil, f.errorf("tensor %q: data [offset %d, size %d] is outside the file (%d bytes)", t.Name, start, t.Size, f.size)
	}
	if f.mapped != nil {
		return f.mapped[start : start+t.Size : start+t.Size], nil
	}
	if f.src == nil {
		return nil, f.errorf("tensor %q: the file has no data source", t.Name)
	}
	buf := make([]byte, t.Size)
	// ReaderAt may report io.EOF along with a complete read that ends at the end of the input.
	if n, err := f.src.ReadAt(buf, start); err != nil && (n < len(buf) || !errors.Is(err, io.EOF)) {
		return nil, f.errorf("tensor %q: reading %d bytes at offset %d: %w", t.Name, t.Size, start, err)
	}
	return buf, nil
}

// errorf returns an error prefixed with "gguf: " and the file name when known.
func (f *File) errorf(format string, args ...any) error {
	return prefixError(f.name, fmt.Errorf(format, args...))
}

// prefixError adds "gguf: " and the file name (when known) to an error's message.
func prefixError(name string, err error) error {
	if name == "" {
		return fmt.Errorf("gguf: %w", err)
	}
	return fmt.Errorf("gguf: %s: %w", name, err)
}
