package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// decoder reads the little-endian header of a GGUF file sequentially through a buffer, keeping
// track of the offset so that every length and count can be checked against the bytes that are
// left before anything is allocated.
type decoder struct {
	br      *bufio.Reader
	off     int64 // bytes consumed so far
	size    int64 // file size
	scratch [8]byte
	strBuf  []byte // reused for string bytes, so each string costs one allocation
}

func newDecoder(r io.ReaderAt, size int64) *decoder {
	// Small files get a small buffer: fuzzing and corrupt-file tests parse many of them.
	return &decoder{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(size, 64<<10))), size: size}
}

// remaining is the number of unread bytes in the file.
func (d *decoder) remaining() int64 { return d.size - d.off }

// full reads len(p) bytes, failing with an error that gives the offset and the file size when
// the file ends early.
func (d *decoder) full(p []byte) error {
	if int64(len(p)) > d.remaining() {
		return d.truncated(int64(len(p)))
	}
	n, err := io.ReadFull(d.br, p)
	d.off += int64(n)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return d.truncated(int64(len(p) - n))
		}
		return fmt.Errorf("read at offset %d: %w", d.off, err)
	}
	return nil
}

func (d *decoder) truncated(need int64) error {
	return fmt.Errorf("unexpected end of file at offset %d: need %d bytes, %d left (file is %d bytes)", d.off, need, d.remaining(), d.size)
}

func (d *decoder) u8() (uint8, error) {
	err := d.full(d.scratch[:1])
	return d.scratch[0], err
}

func (d *decoder) u16() (uint16, error) {
	err := d.full(d.scratch[:2])
	return binary.LittleEndian.Uint16(d.scratch[:2]), err
}

func (d *decoder) u32() (uint32, error) {
	err := d.full(d.scratch[:4])
	return binary.LittleEndian.Uint32(d.scratch[:4]), err
}

func (d *decoder) u64() (uint64, error) {
	err := d.full(d.scratch[:8])
	return binary.LittleEndian.Uint64(d.scratch[:8]), err
}

// count reads a 64-bit count of items that each occupy at least minSize bytes and rejects it
// when the rest of the file cannot hold that many, so callers may allocate for it.
func (d *decoder) count(what string, minSize int64) (int64, error) {
	at := d.off
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	left := d.remaining()
	switch {
	case minSize == 1 && n > uint64(left):
		return 0, fmt.Errorf("%s %d at offset %d exceeds the %d bytes left in the file", what, n, at, left)
	case minSize > 1 && n > uint64(left/minSize):
		return 0, fmt.Errorf("%s %d at offset %d exceeds what the %d bytes left in the file can hold (at least %d bytes each)", what, n, at, left, minSize)
	}
	return int64(n), nil
}

// str reads a GGUF string: a 64-bit byte length followed by the bytes.
func (d *decoder) str() (string, error) {
	n, err := d.count("string length", 1)
	if err != nil {
		return "", err
	}
	if int64(cap(d.strBuf)) < n {
		d.strBuf = make([]byte, n)
	}
	b := d.strBuf[:n]
	if err := d.full(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// value reads one top-level metadata value of type t.
func (d *decoder) value(t ValueType) (any, error) {
	switch t {
	case Uint8:
		return d.u8()
	case Int8:
		v, err := d.u8()
		return int8(v), err
	case Uint16:
		return d.u16()
	case Int16:
		v, err := d.u16()
		return int16(v), err
	case Uint32:
		return d.u32()
	case Int32:
		v, err := d.u32()
		return int32(v), err
	case Float32:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case Bool:
		at := d.off
		v, err := d.u8()
		if err != nil {
			return nil, err
		}
		return decodeBool(v, at)
	case String:
		return d.str()
	case Uint64:
		return d.u64()
	case Int64:
		v, err := d.u64()
		return int64(v), err
	case Float64:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case Array:
		return d.array(1)
	}
	return nil, fmt.Errorf("unknown value type id %d at offset %d", uint32(t), d.off-4)
}

// decodeBool accepts only 0 and 1, the values gguf-py and llama.cpp write; anything else is a
// sign of corruption.
func decodeBool(v uint8, at int64) (bool, error) {
	if v > 1 {
		return false, fmt.Errorf("bool value %d at offset %d is not 0 or 1", v, at)
	}
	return v == 1, nil
}

// array reads an array value (element type, count, elements) nested depth arrays deep, counting
// itself.
func (d *decoder) array(depth int) (any, error) {
	if depth > maxArrayDepth {
		return nil, fmt.Errorf("arrays nested deeper than %d at offset %d", maxArrayDepth, d.off)
	}
	et, err := d.u32()
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if !elem.valid() {
		return nil, fmt.Errorf("unknown array element type id %d at offset %d", et, d.off-4)
	}
	n, err := d.count("array count", elem.minSize())
	if err != nil {
		return nil, err
	}
	switch elem {
	case Uint8:
		return fixedArray(d, n, 1, func(b []byte) (uint8, error) { return b[0], nil })
	case Int8:
		return fixedArray(d, n, 1, func(b []byte) (int8, error) { return int8(b[0]), nil })
	case Uint16:
		return fixedArray(d, n, 2, func(b []byte) (uint16, error) { return binary.LittleEndian.Uint16(b), nil })
	case Int16:
		return fixedArray(d, n, 2, func(b []byte) (int16, error) { return int16(binary.LittleEndian.Uint16(b)), nil })
	case Uint32:
		return fixedArray(d, n, 4, func(b []byte) (uint32, error) { return binary.LittleEndian.Uint32(b), nil })
	case Int32:
		return fixedArray(d, n, 4, func(b []byte) (int32, error) { return int32(binary.LittleEndian.Uint32(b)), nil })
	case Float32:
		return fixedArray(d, n, 4, func(b []byte) (float32, error) {
			return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
		})
	case Bool:
		start := d.off
		i := int64(0)
		return fixedArray(d, n, 1, func(b []byte) (bool, error) {
			i++
			return decodeBool(b[0], start+i-1)
		})
	case Uint64:
		return fixedArray(d, n, 8, func(b []byte) (uint64, error) { return binary.LittleEndian.Uint64(b), nil })
	case Int64:
		return fixedArray(d, n, 8, func(b []byte) (int64, error) { return int64(binary.LittleEndian.Uint64(b)), nil })
	case Float64:
		return fixedArray(d, n, 8, func(b []byte) (float64, error) {
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		})
	case String:
		return variableArray(d, n, func() (string, error) { return d.str() })
	}
	return variableArray(d, n, func() (any, error) { return d.array(depth + 1) })
}

// fixedArray reads n elements of size bytes each, converting each with conv. The caller has
// checked that the file holds n*size more bytes, so the allocation is bounded by the file size.
func fixedArray[T any](d *decoder, n int64, size int, conv func([]byte) (T, error)) ([]T, error) {
	out := make([]T, n)
	const chunk = 64 << 10
	buf := make([]byte, min(n*int64(size), chunk))
	for i := int64(0); i < n; {
		k := min(n-i, int64(len(buf)/size))
		b := buf[:k*int64(size)]
		if err := d.full(b); err != nil {
			return nil, err
		}
		for j := range k {
			v, err := conv(b[j*int64(size):])
			if err != nil {
				return nil, err
			}
			out[i+j] = v
		}
		i += k
	}
	return out, nil
}

// variableArray reads n strings or nested arrays. Their size is only known by reading them, so
// the slice grows as elements arrive instead of trusting n for the allocation.
func variableArray[T any](d *decoder, n int64, next func() (T, error)) ([]T, error) {
	out := make([]T, 0, min(n, 1024))
	for range n {
		v, err := next()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
