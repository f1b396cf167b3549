package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func f32Bytes(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func sample() []WriteTensor {
	return []WriteTensor{
		{Name: "a.weight", DType: F32, Shape: []int64{2, 3}, Data: f32Bytes(1, 2, 3, 4, 5, 6)},
		{Name: "b.bias", DType: BF16, Shape: []int64{3}, Data: []byte{0x80, 0x3f, 0, 0x40, 0x40, 0x40}},
		{Name: "c", DType: F16, Shape: []int64{1}, Data: []byte{0, 0x3c}},
	}
}

func encode(t testing.TB, ts []WriteTensor) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := encode(t, sample())
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	for _, w := range sample() {
		got, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %q missing", w.Name)
		}
		if got.DType != w.DType || fmt.Sprint(got.Shape) != fmt.Sprint(w.Shape) {
			t.Errorf("%s: got %s %v, want %s %v", w.Name, got.DType, got.Shape, w.DType, w.Shape)
		}
		b, err := f.ReadData(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, w.Data) {
			t.Errorf("%s: data %v, want %v", w.Name, b, w.Data)
		}
	}
}

// header builds a file from a raw JSON header and n data bytes, for hostile-input cases.
func header(js string, n int) []byte {
	b := make([]byte, 8, 8+len(js)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(js)))
	b = append(b, js...)
	return append(b, make([]byte, n)...)
}

func TestBadInput(t *testing.T) {
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"short", "shorter than the 8-byte", []byte{1, 2}},
		{"huge header length", "exceeds", huge},
		{"header past end", "past the end", header(`{}`, 0)[:9]},
		{"not json", "not a JSON object", header(`[1,2]`, 0)},
		{"unknown dtype", `unsupported dtype "I8"`, header(`{"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, 1)},
		{"size mismatch", "needs 8 bytes", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8)},
		{"offsets past end", "outside the 4 data bytes", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4)},
		{"negative dim", "negative dimension", header(`{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4)},
		{"overflow", "overflows", header(`{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}`, 4)},
		{"overlap", "overlap", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8)},
		{"unknown field", "bad header entry", header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"evil":1}}`, 4)},
		{"bad metadata", "__metadata__", header(`{"__metadata__":{"a":1}}`, 0)},
		{"too many dims", "dimensions exceed", header(`{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, 4)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestTruncated checks that every truncation of a valid file is an error, never a panic.
func TestTruncated(t *testing.T) {
	data := encode(t, sample())
	for n := 0; n < len(data); n++ {
		if _, err := Read(bytes.NewReader(data[:n]), int64(n)); err == nil {
			t.Fatalf("truncated at %d of %d: no error", n, len(data))
		}
	}
}

func writeFile(t *testing.T, path string, ts []WriteTensor) {
	t.Helper()
	if err := os.WriteFile(path, encode(t, ts), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDir(t *testing.T) {
	ts := sample()
	t.Run("single", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, SingleName), ts)
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.Tensors) != 3 {
			t.Fatalf("%d tensors", len(s.Tensors))
		}
	})
	sharded := func(t *testing.T, index string) (*Set, error) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), ts[:2])
		writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), ts[2:])
		if err := os.WriteFile(filepath.Join(dir, IndexName), []byte(index), 0o644); err != nil {
			t.Fatal(err)
		}
		return OpenDir(dir)
	}
	t.Run("sharded", func(t *testing.T) {
		s, err := sharded(t, `{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.bias":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b, err := s.ReadData("c")
		if err != nil || !bytes.Equal(b, ts[2].Data) {
			t.Fatalf("ReadData(c) = %v, %v", b, err)
		}
	})
	bad := []struct{ name, index, want string }{
		{"escaping shard", `{"weight_map":{"a.weight":"../x.safetensors"}}`, "not a file in the model folder"},
		{"wrong shard", `{"weight_map":{"a.weight":"model-00002-of-00002.safetensors","b.bias":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`, "but found in"},
		{"missing tensor", `{"weight_map":{"zz":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`, "is in no shard"},
		{"unlisted tensor", `{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`, "the index lists 2"},
		{"empty", `{"weight_map":{}}`, "empty weight_map"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := sharded(t, c.index)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	t.Run("duplicate across shards", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "s1.safetensors"), ts[:1])
		writeFile(t, filepath.Join(dir, "s2.safetensors"), []WriteTensor{ts[0], ts[2]})
		os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":{"a.weight":"s1.safetensors","c":"s2.safetensors"}}`), 0o644)
		if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "appears in both") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty dir", func(t *testing.T) {
		if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzRead(f *testing.F) {
	valid := encode(f, sample())
	f.Add(valid)
	for _, n := range []int{0, 7, 8, 20, len(valid) / 2, len(valid) - 1} {
		f.Add(valid[:n])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for i := range file.Tensors {
			if _, err := file.ReadData(&file.Tensors[i]); err != nil {
				t.Fatalf("validated tensor %q unreadable: %v", file.Tensors[i].Name, err)
			}
		}
	})
}
