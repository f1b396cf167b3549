package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sparkrun/sparkrun/ggml"
)

// Writer streams a GGUF version 3 file: declare metadata with AddKV and tensors with AddTensor,
// call WriteHeader, then pass each tensor's bytes to WriteTensorData in declaration order, and
// finish with Close. The layout is gguf-py's: header, metadata, tensor infos, zero padding to
// the alignment, then each tensor's data followed by zero padding to the alignment (no padding at
// all when there are no tensors, like llama.cpp's vocab-only files). The alignment is 32 unless
// a general.alignment KV (uint32, power of two) says otherwise.
type Writer struct {
	w         *bufio.Writer
	name      string // file name for error messages; "" when unknown
	meta      []byte // encoded metadata KVs, in AddKV order
	nKV       int    // number of KVs in meta
	keys      map[string]bool
	tensors   []TensorInfo // declared tensors; Offset is set by WriteHeader
	names     map[string]bool
	alignment int64
	header    bool  // WriteHeader has run
	next      int   // index of the next tensor WriteTensorData expects
	err       error // first write error; every later call returns it
}

// NewWriter returns a Writer that streams a GGUF file to w. Close flushes it but does not close
// w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{
		w:         bufio.NewWriterSize(w, 1<<20),
		keys:      map[string]bool{},
		names:     map[string]bool{},
		alignment: defaultAlignment,
	}
}

// errorf returns an error prefixed with "gguf: " and the file name when known.
func (w *Writer) errorf(format string, args ...any) error {
	return prefixError(w.name, fmt.Errorf(format, args...))
}

var errHeaderWritten = errors.New("header already written")

// AddKV declares a metadata key-value pair. Value must be one of the types listed on KV (Go
// int and uint are rejected: GGUF needs an explicit width). Keys must be unique.
func (w *Writer) AddKV(key string, value any) error {
	if w.header {
		return w.errorf("key %q: %w", key, errHeaderWritten)
	}
	if w.keys[key] {
		return w.errorf("duplicate metadata key %q", key)
	}
	typ, _, err := typeOf(value)
	if err != nil {
		return w.errorf("key %q: %w", key, err)
	}
	var alignment int64
	if key == alignmentKey {
		if alignment, err = alignmentOf(value); err != nil {
			return prefixError(w.name, err)
		}
	}
	b := appendString(w.meta, key)
	b = binary.LittleEndian.AppendUint32(b, uint32(typ))
	if b, err = appendValue(b, value, 0); err != nil {
		return w.errorf("key %q: %w", key, err)
	}
	if alignment != 0 {
		w.alignment = alignment
	}
	w.meta = b
	w.nKV++
	w.keys[key] = true
	return nil
}

// AddTensor declares a tensor; its data is passed to WriteTensorData later, in declaration
// order. dims is ne (ne[0] is the row length). Names must be unique and at most 63 bytes
// (llama.cpp's limit), dims 1 to 4 positive values whose first is a multiple of the type's block
// size.
func (w *Writer) AddTensor(name string, typ ggml.Type, dims []int64) error {
	if w.header {
		return w.errorf("tensor %q: %w", name, errHeaderWritten)
	}
	if w.names[name] {
		return w.errorf("duplicate tensor name %q", name)
	}
	size, err := tensorSize(name, typ, dims)
	if err != nil {
		return prefixError(w.name, err)
	}
	w.tensors = append(w.tensors, TensorInfo{Name: name, Dims: append([]int64(nil), dims...), Type: typ, Size: size})
	w.names[name] = true
	return nil
}

// WriteHeader writes the header, the metadata and the tensor infos, with each tensor's offset
// placed after the previous tensor's data padded to the alignment.
func (w *Writer) WriteHeader() error {
	if w.header {
		return w.errorf("%w", errHeaderWritten)
	}
	w.header = true
	le := binary.LittleEndian
	b := append([]byte(magic), 0, 0, 0, 0)
	le.PutUint32(b[4:], 3)
	b = le.AppendUint64(b, uint64(len(w.tensors)))
	b = le.AppendUint64(b, uint64(w.nKV))
	b = append(b, w.meta...)
	w.meta = nil
	var off int64
	for i := range w.tensors {
		t := &w.tensors[i]
		t.Offset = off
		var ok bool
		if off, ok = alignUp(off+t.Size, w.alignment); !ok {
			return w.fail(w.errorf("tensor %q: data section size overflows int64", t.Name))
		}
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = le.AppendUint64(b, uint64(d))
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, uint64(t.Offset))
	}
	if len(w.tensors) > 0 {
		b = pad(b, int64(len(b)), w.alignment)
	}
	return w.write(b)
}

// WriteTensorData writes the data of the next declared tensor, which must be the one named, and
// pads it to the alignment. len(data) must be the tensor's size.
func (w *Writer) WriteTensorData(name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if !w.header {
		return w.errorf("tensor %q: data written before WriteHeader", name)
	}
	if w.next >= len(w.tensors) {
		return w.errorf("tensor %q: all %d declared tensors were already written", name, len(w.tensors))
	}
	t := &w.tensors[w.next]
	if t.Name != name {
		return w.errorf("tensor %q written out of order: expected %q (tensor %d)", name, t.Name, w.next)
	}
	if int64(len(data)) != t.Size {
		return w.errorf("tensor %q: got %d bytes of data, want %d (%s %v)", name, len(data), t.Size, t.Type, t.Dims)
	}
	if err := w.write(data); err != nil {
		return err
	}
	w.next++
	return w.write(pad(nil, t.Size, w.alignment))
}

// Close writes the header if WriteHeader was not called, flushes the output, and fails if a
// declared tensor's data was not written.
func (w *Writer) Close() error {
	if !w.header {
		if err := w.WriteHeader(); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return w.fail(w.errorf("flush: %w", err))
	}
	if w.next < len(w.tensors) {
		return w.errorf("tensor %q: data not written (%d of %d tensors written)", w.tensors[w.next].Name, w.next, len(w.tensors))
	}
	return nil
}

// write writes b, remembering the first failure so that a broken output is reported by every
// later call.
func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(b); err != nil {
		return w.fail(w.errorf("write: %w", err))
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

// pad appends the zero bytes that bring a length of n up to a multiple of align.
func pad(b []byte, n, align int64) []byte {
	if r := n % align; r != 0 {
		b = append(b, make([]byte, align-r)...)
	}
	return b
}

// WriteFile writes a GGUF file with the given metadata and tensors, calling data for each tensor
// (with a pointer into tensors) to get its bytes; the tensors' Offset and Size are recomputed,
// not trusted. It writes to a temporary file in the same directory, syncs it and renames it to
// path, so an interrupted write never leaves a partial file at path.
func WriteFile(path string, kv []KV, tensors []TensorInfo, data func(t *TensorInfo) ([]byte, error)) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := NewWriter(tmp)
	w.name = path
	if err := writeAll(w, kv, tensors, data); err != nil {
		return err
	}
	// CreateTemp makes the file private; a model file is as readable as any other output.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// writeAll streams a whole file through w.
func writeAll(w *Writer, kv []KV, tensors []TensorInfo, data func(t *TensorInfo) ([]byte, error)) error {
	for _, e := range kv {
		if err := w.AddKV(e.Key, e.Value); err != nil {
			return err
		}
	}
	for _, t := range tensors {
		if err := w.AddTensor(t.Name, t.Type, t.Dims); err != nil {
			return err
		}
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for i := range tensors {
		t := &tensors[i]
		b, err := data(t)
		if err != nil {
			return w.errorf("tensor %q: %w", t.Name, err)
		}
		if err := w.WriteTensorData(t.Name, b); err != nil {
			return err
		}
	}
	return w.Close()
}
