// Package safetensors reads Hugging Face safetensors files: single files and sharded folders
// (model.safetensors.index.json), with the header validated as strictly as GGUF's before any
// tensor byte is touched.
//
// The format is an 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
// {dtype, shape, data_offsets}, then the tensor bytes. Offsets are relative to the end of the
// header.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// DType is a safetensors element type name.
type DType string

// The element types sparkrun reads. Others are rejected with an error naming the tensor.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size returns the bytes per element of d, or 0 for types sparkrun does not read.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// maxHeader bounds the JSON header: real headers are well under 1 MiB even for models with
// thousands of tensors, and a hostile length must not make us allocate gigabytes.
const maxHeader = 100 << 20

// maxDims bounds tensor rank; transformer weights have at most 2.
const maxDims = 8

// Tensor describes one tensor of a file.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64 // row-major, outermost first (PyTorch order): a Linear weight is [out, in]
	Begin int64   // absolute byte offset of the data in the file
	Size  int64   // bytes
}

// Elements returns the product of the shape.
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is an open safetensors file.
type File struct {
	Path     string
	Tensors  []Tensor // sorted by data offset
	Metadata map[string]string
	byName   map[string]int // index into Tensors
	r        io.ReaderAt
	closer   io.Closer
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Open opens and validates the safetensors file at path.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %s: %w", path, errors.Unwrap(err))
	}
	f.Path = path
	f.closer = fh
	return f, nil
}

// Read parses and validates a safetensors file of the given size through r.
func Read(r io.ReaderAt, size int64) (*File, error) {
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %w", fmt.Errorf(format, args...))
	}
	if size < 8 {
		return nil, wrap("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, wrap("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader {
		return nil, wrap("header length %d exceeds the %d-byte limit", n, maxHeader)
	}
	if int64(n) > size-8 {
		return nil, wrap("header length %d runs past the end of the %d-byte file", n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, wrap("reading header: %v", err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, wrap("header is not a JSON object: %v", err)
	}
	f := &File{r: r}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, wrap("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(msg))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, wrap("tensor %q: bad header entry: %v", name, err)
		}
		t, err := validate(name, e, dataLen)
		if err != nil {
			return nil, wrap("%v", err)
		}
		t.Begin += dataStart
		f.Tensors = append(f.Tensors, t)
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Begin < f.Tensors[j].Begin })
	f.byName = make(map[string]int, len(f.Tensors))
	for i := range f.Tensors {
		f.byName[f.Tensors[i].Name] = i
		if i == 0 {
			continue
		}
		a, b := &f.Tensors[i-1], &f.Tensors[i]
		if a.Begin+a.Size > b.Begin {
			return nil, wrap("tensors %q and %q overlap", a.Name, b.Name)
		}
	}
	return f, nil
}

func validate(name string, e headerEntry, dataLen int64) (Tensor, error) {
	t := Tensor{Name: name, DType: e.DType, Shape: e.Shape}
	if name == "" {
		return t, errors.New("empty tensor name")
	}
	es := int64(e.DType.Size())
	if es == 0 {
		return t, fmt.Errorf("tensor %q: unsupported dtype %q (supported: F32, F16, BF16)", name, e.DType)
	}
	if len(e.Shape) > maxDims {
		return t, fmt.Errorf("tensor %q: %d dimensions exceed the limit of %d", name, len(e.Shape), maxDims)
	}
	elems := int64(1)
	for _, d := range e.Shape {
		if d < 0 {
			return t, fmt.Errorf("tensor %q: negative dimension %d", name, d)
		}
		if d != 0 && elems > math.MaxInt64/es/d {
			return t, fmt.Errorf("tensor %q: shape %v overflows", name, e.Shape)
		}
		elems *= d
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > dataLen {
		return t, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d data bytes", name, begin, end, dataLen)
	}
	if end-begin != elems*es {
		return t, fmt.Errorf("tensor %q: %s shape %v needs %d bytes, data_offsets give %d", name, e.DType, e.Shape, elems*es, end-begin)
	}
	t.Begin, t.Size = begin, end-begin
	return t, nil
}

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// ReadData reads the bytes of t.
func (f *File) ReadData(t *Tensor) ([]byte, error) {
	buf := make([]byte, t.Size)
	if _, err := f.r.ReadAt(buf, t.Begin); err != nil {
		return nil, fmt.Errorf("safetensors: %s: tensor %q: %w", f.Path, t.Name, err)
	}
	return buf, nil
}

// Close releases the file.
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}
