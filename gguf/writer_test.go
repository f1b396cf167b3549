package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestRoundTrip writes every value type and several tensor types, with the default and a custom
// alignment, reads the file back and compares metadata, tensor infos, layout and data.
func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64, 1} {
		kv := allTypesKV()
		if align != 0 {
			kv = append(kv, KV{alignmentKey, align})
		}
		wantAlign := int64(align)
		if align == 0 {
			wantAlign = defaultAlignment
		}
		b := writeSynth(t, kv)
		f, err := readBytes(b)
		if err != nil {
			t.Fatalf("alignment %d: %v", align, err)
		}
		if !reflect.DeepEqual(f.KV, kv) {
			t.Fatalf("alignment %d: metadata differs after the round trip:\n got %#v\nwant %#v", align, f.KV, kv)
		}
		if f.Version != 3 || f.Alignment != wantAlign || f.DataOffset%wantAlign != 0 || int64(len(b))%wantAlign != 0 {
			t.Fatalf("alignment %d: version %d, alignment %d, data offset %d, file size %d", align, f.Version, f.Alignment, f.DataOffset, len(b))
		}
		if len(f.Tensors) != len(synthTensors) {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), len(synthTensors))
		}
		end := int64(0)
		for i, s := range synthTensors {
			ti := &f.Tensors[i]
			size, _ := tensorSize(s.name, s.typ, s.dims)
			if ti.Name != s.name || ti.Type != s.typ || !reflect.DeepEqual(ti.Dims, s.dims) || ti.Size != size {
				t.Fatalf("tensor %d = %+v, want %v %s %v size %d", i, *ti, s.name, s.typ, s.dims, size)
			}
			// gguf-py's layout: each tensor starts where the previous one ends, padded.
			if ti.Offset != end {
				t.Errorf("tensor %q at offset %d, want %d", s.name, ti.Offset, end)
			}
			end, _ = alignUp(ti.Offset+ti.Size, wantAlign)
			d, err := f.TensorData(ti)
			if err != nil || !bytes.Equal(d, tensorBytes(s.name, size)) {
				t.Errorf("tensor %q data differs (%v)", s.name, err)
			}
		}
		if f.DataOffset+end != int64(len(b)) {
			t.Errorf("file is %d bytes, want data offset %d + padded data %d", len(b), f.DataOffset, end)
		}
	}
}

// TestRewriteIdentical re-writes each test file from its parsed form: the writer reproduces
// gguf-py's files (stories260K, micro-qwen3), llama.cpp's (micro-llama.Q4_K, from
// llama-quantize) and a vocab-only file without final padding byte for byte.
func TestRewriteIdentical(t *testing.T) {
	for _, name := range []string{"stories260K.gguf", "ggml-vocab-bert-bge.gguf", "micro-qwen3.f32.gguf", "micro-llama.Q4_K.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := filepath.Join(t.TempDir(), name)
			if err := WriteFile(out, f.KV, f.Tensors, f.TensorData); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("rewrite differs from the original: %d vs %d bytes, first difference at offset %d", len(got), len(want), i)
			}
		})
	}
}

// TestWriteFileAtomic checks that a failed WriteFile leaves neither a partial file nor a
// temporary file behind, and keeps an existing file intact.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.gguf")
	kv := []KV{{"general.architecture", "llama"}}
	tensors := []TensorInfo{
		{Name: "a", Type: ggml.TypeF32, Dims: []int64{4}},
		{Name: "b", Type: ggml.TypeF32, Dims: []int64{4}},
	}
	failOn := ""
	data := func(ti *TensorInfo) ([]byte, error) {
		if ti.Name == failOn {
			return nil, errors.New("disk on fire")
		}
		return tensorBytes(ti.Name, 16), nil
	}
	failOn = "b"
	err := WriteFile(path, kv, tensors, data)
	if err == nil || !strings.Contains(err.Error(), `tensor "b": disk on fire`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile with failing data: %v", err)
	}
	assertDir(t, dir, nil)

	failOn = ""
	if err := WriteFile(path, kv, tensors, data); err != nil {
		t.Fatal(err)
	}
	assertDir(t, dir, []string{"model.gguf"})
	before, _ := os.ReadFile(path)
	f, err := readBytes(before)
	if err != nil || len(f.Tensors) != 2 {
		t.Fatalf("written file: %v", err)
	}

	failOn = "a"
	if err := WriteFile(path, kv, tensors, data); err == nil {
		t.Fatal("WriteFile with failing data succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed WriteFile changed the existing file")
	}
	assertDir(t, dir, []string{"model.gguf"})
}

// assertDir checks that dir holds exactly the named files.
func assertDir(t *testing.T, dir string, want []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("directory holds %v, want %v", got, want)
	}
}

// TestWriterErrors checks that misuse of the Writer and invalid values are reported with the
// key or tensor named.
func TestWriterErrors(t *testing.T) {
	f32x4 := tensorBytes("x", 16)
	tests := []struct {
		name string
		run  func(w *Writer) error
		err  string
	}{
		{"duplicate key", func(w *Writer) error {
			w.AddKV("k", uint8(1))
			return w.AddKV("k", uint8(2))
		}, `duplicate metadata key "k"`},
		{"Go int", func(w *Writer) error { return w.AddKV("k", 5) }, `key "k": unsupported metadata value type int`},
		{"array of arrays with a scalar", func(w *Writer) error {
			return w.AddKV("k", []any{[]int32{1}, "x"})
		}, `key "k": element 1 of an array of arrays is string, not an array`},
		{"nested too deep", func(w *Writer) error {
			return w.AddKV("k", nestedArray(maxArrayDepth+1))
		}, "nested deeper than 16"},
		{"alignment not a power of two", func(w *Writer) error {
			return w.AddKV(alignmentKey, uint32(48))
		}, "alignment 48 is not a power of two"},
		{"alignment zero", func(w *Writer) error { return w.AddKV(alignmentKey, uint32(0)) }, "alignment 0 is not a power of two"},
		{"alignment wrong type", func(w *Writer) error {
			return w.AddKV(alignmentKey, uint64(32))
		}, `key "general.alignment": expected uint32, found uint64`},
		{"duplicate tensor", func(w *Writer) error {
			w.AddTensor("t", ggml.TypeF32, []int64{4})
			return w.AddTensor("t", ggml.TypeF32, []int64{4})
		}, `duplicate tensor name "t"`},
		{"unknown type", func(w *Writer) error {
			return w.AddTensor("t", ggml.Type(4), []int64{4})
		}, `tensor "t": unknown type id 4`},
		{"zero dim", func(w *Writer) error {
			return w.AddTensor("t", ggml.TypeF32, []int64{4, 0})
		}, `tensor "t": dim 1 is 0, must be positive`},
		{"five dims", func(w *Writer) error {
			return w.AddTensor("t", ggml.TypeF32, []int64{1, 1, 1, 1, 1})
		}, `tensor "t": 5 dims, must be 1 to 4`},
		{"partial block", func(w *Writer) error {
			return w.AddTensor("t", ggml.TypeQ4_K, []int64{128, 2})
		}, `tensor "t": row length 128 is not a multiple of the Q4_K block size 256`},
		{"name too long", func(w *Writer) error {
			return w.AddTensor(strings.Repeat("n", 64), ggml.TypeF32, []int64{4})
		}, "name is 64 bytes, limit 63"},
		{"size overflow", func(w *Writer) error {
			return w.AddTensor("t", ggml.TypeF32, []int64{1 << 31, 1 << 31, 1 << 2})
		}, `tensor "t"`},
		{"KV after header", func(w *Writer) error {
			w.WriteHeader()
			return w.AddKV("k", true)
		}, `key "k": header already written`},
		{"tensor after header", func(w *Writer) error {
			w.WriteHeader()
			return w.AddTensor("t", ggml.TypeF32, []int64{4})
		}, `tensor "t": header already written`},
		{"data before header", func(w *Writer) error {
			w.AddTensor("t", ggml.TypeF32, []int64{4})
			return w.WriteTensorData("t", f32x4)
		}, `tensor "t": data written before WriteHeader`},
		{"out of order", func(w *Writer) error {
			w.AddTensor("a", ggml.TypeF32, []int64{4})
			w.AddTensor("b", ggml.TypeF32, []int64{4})
			w.WriteHeader()
			return w.WriteTensorData("b", f32x4)
		}, `tensor "b" written out of order: expected "a"`},
		{"wrong size", func(w *Writer) error {
			w.AddTensor("a", ggml.TypeF32, []int64{4})
			w.WriteHeader()
			return w.WriteTensorData("a", f32x4[:15])
		}, `tensor "a": got 15 bytes of data, want 16`},
		{"too many", func(w *Writer) error {
			w.AddTensor("a", ggml.TypeF32, []int64{4})
			w.WriteHeader()
			w.WriteTensorData("a", f32x4)
			return w.WriteTensorData("a", f32x4)
		}, `all 1 declared tensors were already written`},
		{"missing data at Close", func(w *Writer) error {
			w.AddTensor("a", ggml.TypeF32, []int64{4})
			w.AddTensor("b", ggml.TypeF32, []int64{4})
			w.WriteHeader()
			w.WriteTensorData("a", f32x4)
			return w.Close()
		}, `tensor "b": data not written (1 of 2 tensors written)`},
		{"header twice", func(w *Writer) error {
			w.WriteHeader()
			return w.WriteHeader()
		}, "header already written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(NewWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Fatalf("err = %v, want \"gguf: ...%s...\"", err, tt.err)
			}
		})
	}
}

// failWriter fails every write, like a full disk.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestWriterOutputError checks that a failing output is reported, and keeps being reported.
func TestWriterOutputError(t *testing.T) {
	w := NewWriter(failWriter{})
	if err := w.AddTensor("a", ggml.TypeF32, []int64{1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err) // buffered: nothing reached the output yet
	}
	err := w.WriteTensorData("a", make([]byte, 4<<20))
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("WriteTensorData = %v, want the output's error", err)
	}
	if err2 := w.Close(); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("Close = %v, want the same error %v", err2, err)
	}
}

// TestWriterCloseWritesHeader checks that Close alone produces a valid metadata-only file.
func TestWriterCloseWritesHeader(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddKV("general.architecture", "llama"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := readBytes(buf.Bytes())
	if err != nil || len(f.KV) != 1 || len(f.Tensors) != 0 {
		t.Fatalf("metadata-only file: %v", err)
	}
	// No tensors: no padding after the header, like llama.cpp's vocab-only files.
	if want := 24 + 8 + len("general.architecture") + 4 + 8 + len("llama"); buf.Len() != want {
		t.Errorf("file is %d bytes, want %d (no padding)", buf.Len(), want)
	}
}

// nestedArray returns an array of arrays nested depth levels deep (counting the innermost
// []uint8).
func nestedArray(depth int) any {
	var v any = []uint8{1}
	for range depth - 1 {
		v = []any{v}
	}
	return v
}

// TestNestingLimit checks that arrays nested as deep as the limit round-trip.
func TestNestingLimit(t *testing.T) {
	kv := []KV{{"deep", nestedArray(maxArrayDepth)}}
	f, err := readBytes(writeSynth(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.KV, kv) {
		t.Fatalf("got %#v, want %#v", f.KV, kv)
	}
}
