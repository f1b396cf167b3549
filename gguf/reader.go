package gguf

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"

	"github.com/sparkrun/sparkrun/ggml"
)

// magic is the first four bytes of every GGUF file.
const magic = "GGUF"

// Lower bounds on encoded sizes, used to reject counts the file cannot hold before allocating.
const (
	headerSize     = 4 + 4 + 8 + 8     // magic, version, tensor count, KV count
	minKVSize      = 8 + 4 + 1         // key length, value type, smallest value
	minTensorSize  = 8 + 4 + 8 + 4 + 8 // name length, n_dims, one dim, type, offset
	initialCapHint = 1024              // largest up-front allocation for a claimed count
)

// Read parses and validates a GGUF file of size bytes read through r. Tensor data is read from r
// on demand by TensorData, so r must stay usable while the File is.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := parse(r, size, "")
	if err != nil {
		return nil, err
	}
	f.src = r
	return f, nil
}

// parse reads the header, metadata and tensor infos and validates the layout. name is used in
// error messages only.
func parse(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{name: name, size: size}
	if err := f.decode(newDecoder(r, size)); err != nil {
		return nil, prefixError(name, err)
	}
	return f, nil
}

// decode reads the file through d into f.
func (f *File) decode(d *decoder) error {
	if d.size < headerSize {
		return fmt.Errorf("file is %d bytes, shorter than the %d-byte GGUF header", d.size, headerSize)
	}
	var m [4]byte
	if err := d.full(m[:]); err != nil {
		return err
	}
	if string(m[:]) != magic {
		return fmt.Errorf("bad magic %q, want %q: not a GGUF file", m[:], magic)
	}
	v, err := d.u32()
	if err != nil {
		return err
	}
	if err := checkVersion(v); err != nil {
		return err
	}
	f.Version = v
	nTensors, err := d.count("tensor count", minTensorSize)
	if err != nil {
		return err
	}
	nKV, err := d.count("metadata key count", minKVSize)
	if err != nil {
		return err
	}
	if err := f.parseKVs(d, nKV); err != nil {
		return err
	}
	if err := f.parseTensorInfos(d, nTensors); err != nil {
		return err
	}
	return f.layout(d.off)
}

// checkVersion accepts versions 2 and 3. Version 1 used 32-bit counts and is obsolete; a
// big-endian file (allowed since version 3) shows up here as a byte-swapped version.
func checkVersion(v uint32) error {
	switch {
	case v == 2 || v == 3:
		return nil
	case v == 1:
		return fmt.Errorf("GGUF version 1 is not supported (only versions 2 and 3)")
	case v&0xffff == 0 && bits.ReverseBytes32(v) <= 3:
		return fmt.Errorf("big-endian GGUF file (version field %#08x) is not supported", v)
	}
	return fmt.Errorf("unsupported GGUF version %d (only versions 2 and 3)", v)
}

func (f *File) parseKVs(d *decoder, n int64) error {
	f.KV = make([]KV, 0, min(n, initialCapHint))
	f.keys = make(map[string]int, min(n, initialCapHint))
	f.Alignment = defaultAlignment
	for i := range n {
		key, err := d.str()
		if err != nil {
			return fmt.Errorf("metadata key %d of %d: %w", i, n, err)
		}
		if _, dup := f.keys[key]; dup {
			return fmt.Errorf("duplicate metadata key %q", key)
		}
		t, err := d.u32()
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		val, err := d.value(ValueType(t))
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		if key == alignmentKey {
			if f.Alignment, err = alignmentOf(val); err != nil {
				return err
			}
		}
		f.keys[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: val})
	}
	return nil
}

// alignmentOf validates a general.alignment value: llama.cpp requires a uint32 power of two.
func alignmentOf(v any) (int64, error) {
	a, ok := v.(uint32)
	if !ok {
		return 0, fmt.Errorf("key %q: expected uint32, found %s", alignmentKey, describe(v))
	}
	if !isPowerOfTwo(uint64(a)) {
		return 0, fmt.Errorf("key %q: alignment %d is not a power of two", alignmentKey, a)
	}
	return int64(a), nil
}

func (f *File) parseTensorInfos(d *decoder, n int64) error {
	// The count was checked against the bytes after the header; check it again now that the
	// metadata is known to take some of them.
	if left := d.remaining(); n > left/minTensorSize {
		return fmt.Errorf("tensor count %d exceeds what the %d bytes left after the metadata can hold (at least %d bytes each)", n, left, minTensorSize)
	}
	f.Tensors = make([]TensorInfo, 0, min(n, initialCapHint))
	f.tensors = make(map[string]int, min(n, initialCapHint))
	for i := range n {
		t, err := readTensorInfo(d)
		if err != nil {
			if t.Name == "" {
				return fmt.Errorf("tensor info %d of %d: %w", i, n, err)
			}
			return err
		}
		if _, dup := f.tensors[t.Name]; dup {
			return fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

// readTensorInfo reads one tensor info and validates its shape and type. On error the returned
// info carries the name when it could be read, and the error names the tensor.
func readTensorInfo(d *decoder) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str(); err != nil {
		return t, err
	}
	nDims, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if nDims == 0 || nDims > maxDims {
		return t, fmt.Errorf("tensor %q: %d dims, must be 1 to %d", t.Name, nDims, maxDims)
	}
	t.Dims = make([]int64, nDims)
	for j := range t.Dims {
		v, err := d.u64()
		if err != nil {
			return t, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if v > math.MaxInt64 {
			return t, fmt.Errorf("tensor %q: dim %d is %d, larger than int64", t.Name, j, v)
		}
		t.Dims[j] = int64(v)
	}
	typ, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	t.Type = ggml.Type(typ)
	off, err := d.u64()
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if off > math.MaxInt64 {
		return t, fmt.Errorf("tensor %q: offset %d larger than int64", t.Name, off)
	}
	t.Offset = int64(off)
	if t.Size, err = tensorSize(t.Name, t.Type, t.Dims); err != nil {
		return t, err
	}
	return t, nil
}

// layout places the data section after the tensor infos (which end at infoEnd) and checks that
// every tensor is aligned, lies inside the file and overlaps no other tensor.
func (f *File) layout(infoEnd int64) error {
	var ok bool
	if f.DataOffset, ok = alignUp(infoEnd, f.Alignment); !ok {
		return fmt.Errorf("data section offset overflows int64")
	}
	if len(f.Tensors) == 0 {
		// Vocab-only files end right after the tensor infos, without padding.
		return nil
	}
	if f.DataOffset > f.size {
		return fmt.Errorf("data section at offset %d (aligned to %d) is past the end of the file (%d bytes)", f.DataOffset, f.Alignment, f.size)
	}
	dataSize := f.size - f.DataOffset
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataSize || t.Size > dataSize-t.Offset {
			return fmt.Errorf("tensor %q: data [offset %d, size %d] past end of file (%d bytes)", t.Name, f.DataOffset+t.Offset, t.Size, f.size)
		}
	}
	// Order by offset (ties by file order, for a deterministic message) and compare neighbours.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(f.Tensors[a].Offset, f.Tensors[b].Offset) })
	for k := 1; k < len(order); k++ {
		prev, cur := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if cur.Offset < prev.Offset+prev.Size {
			return fmt.Errorf("tensor %q: data [offset %d, size %d] overlaps tensor %q [offset %d, size %d]",
				cur.Name, cur.Offset, cur.Size, prev.Name, prev.Offset, prev.Size)
		}
	}
	return nil
}
