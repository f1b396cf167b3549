package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// WriteTensor is one tensor to write.
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int64 // outermost first
	Data  []byte  // little-endian elements, product(Shape) * DType.Size() bytes
}

// Write writes tensors as one safetensors file, in the given order, with optional metadata.
func Write(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	hdr := map[string]any{}
	if len(metadata) > 0 {
		hdr["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		want := int64(t.DType.Size())
		for _, d := range t.Shape {
			want *= d
		}
		if want == 0 && t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		if int64(len(t.Data)) != want {
			return fmt.Errorf("safetensors: tensor %q: %d data bytes, shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, want)
		}
		if _, dup := hdr[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		hdr[t.Name] = headerEntry{DType: t.DType, Shape: t.Shape, DataOffsets: [2]int64{off, off + want}}
		off += want
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// Pad the header with spaces to 8 bytes, as the reference writer does, so data is aligned.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if _, err := w.Write(js); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}
