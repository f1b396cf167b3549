package gguf

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/sparkrun/sparkrun/ggml"
)

// TestOpenTestdata opens every test file through the mapping (Open) and through an io.ReaderAt
// (Read), and checks the counts, the layout and that both give the same tensor bytes.
func TestOpenTestdata(t *testing.T) {
	tests := []struct {
		file       string
		kv         int
		tensors    int
		types      map[ggml.Type]int
		dataOffset int64
	}{
		{"stories260K.gguf", 19, 48, map[ggml.Type]int{ggml.TypeF32: 48}, 14176},
		{"ggml-vocab-bert-bge.gguf", 20, 0, map[ggml.Type]int{}, 627552},
		{"micro-qwen3.f32.gguf", 24, 24, map[ggml.Type]int{ggml.TypeF32: 24}, 13024},
		{"micro-llama.Q4_K.gguf", 24, 21, map[ggml.Type]int{ggml.TypeF32: 5, ggml.TypeQ4_K: 16}, 12832},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != 3 || len(f.KV) != tt.kv || len(f.Tensors) != tt.tensors || f.Alignment != 32 || f.DataOffset != tt.dataOffset {
				t.Fatalf("version %d, %d KV, %d tensors, alignment %d, data offset %d; want 3, %d, %d, 32, %d",
					f.Version, len(f.KV), len(f.Tensors), f.Alignment, f.DataOffset, tt.kv, tt.tensors, tt.dataOffset)
			}
			types := map[ggml.Type]int{}
			for _, ti := range f.Tensors {
				types[ti.Type]++
			}
			if !reflect.DeepEqual(types, tt.types) {
				t.Errorf("tensor types %v, want %v", types, tt.types)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			g, err := readBytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.KV, g.KV) || !reflect.DeepEqual(f.Tensors, g.Tensors) {
				t.Fatal("Open and Read disagree on the metadata or tensor infos")
			}
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				a, err := f.TensorData(ti)
				if err != nil {
					t.Fatal(err)
				}
				b, err := g.TensorData(ti)
				if err != nil {
					t.Fatal(err)
				}
				want := raw[f.DataOffset+ti.Offset:][:ti.Size]
				if !bytes.Equal(a, want) || !bytes.Equal(b, want) {
					t.Fatalf("tensor %q: data differs from the file bytes", ti.Name)
				}
			}
		})
	}
}

// TestStories260KFacts checks parsed values against the facts documented for the model.
func TestStories260KFacts(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	arch, err := f.String("general.architecture")
	if err != nil || arch != "llama" {
		t.Fatalf("general.architecture = %q, %v; want llama", arch, err)
	}
	for key, want := range map[string]int64{
		"llama.block_count":               5,
		"llama.embedding_length":          64,
		"llama.attention.head_count":      8,
		"llama.attention.head_count_kv":   4,
		"llama.feed_forward_length":       172,
		"llama.rope.dimension_count":      8,
		"llama.context_length":            2048,
		"tokenizer.ggml.bos_token_id":     1,
		"tokenizer.ggml.eos_token_id":     2,
		"tokenizer.ggml.unknown_token_id": 0,
	} {
		if got, err := f.Int(key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	// rms eps is stored as float32 1e-5; compare with the float32 rounding of 1e-5.
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || eps != float64(float32(1e-5)) {
		t.Errorf("rms eps = %g, %v", eps, err)
	}
	if f.Has("llama.rope.freq_base") {
		t.Error("llama.rope.freq_base present; the model card says it is absent")
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != 512 {
		t.Fatalf("%d tokens, %v; want 512", len(tokens), err)
	}
	if tokens[1] != "<s>" || tokens[2] != "</s>" {
		t.Errorf("tokens 1, 2 = %q, %q; want <s>, </s>", tokens[1], tokens[2])
	}
	if scores, err := f.Float32s("tokenizer.ggml.scores"); err != nil || len(scores) != 512 {
		t.Errorf("%d scores, %v", len(scores), err)
	}
	if types, err := f.Int32s("tokenizer.ggml.token_type"); err != nil || len(types) != 512 {
		t.Errorf("%d token types, %v", len(types), err)
	}
	if len(f.Tensors) != 48 {
		t.Fatalf("%d tensors, want 48", len(f.Tensors))
	}
	for _, ti := range f.Tensors {
		if ti.Type != ggml.TypeF32 {
			t.Errorf("tensor %q is %s, want F32", ti.Name, ti.Type)
		}
	}
	for name, dims := range map[string][]int64{
		"token_embd.weight":      {64, 512},
		"output.weight":          {64, 512},
		"blk.0.attn_q.weight":    {64, 64},
		"blk.4.attn_k.weight":    {64, 32}, // 4 KV heads of head_dim 8
		"blk.2.ffn_gate.weight":  {64, 172},
		"blk.2.ffn_down.weight":  {172, 64},
		"output_norm.weight":     {64},
		"blk.3.attn_norm.weight": {64},
	} {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if !reflect.DeepEqual(ti.Dims, dims) || ti.Size != 4*ti.Elements() {
			t.Errorf("tensor %q: dims %v size %d, want dims %v size %d", name, ti.Dims, ti.Size, dims, 4*ti.Elements())
		}
	}
	// The README says output.weight equals token_embd.weight in this model.
	a, _ := f.Tensor("output.weight")
	b, _ := f.Tensor("token_embd.weight")
	da, err := f.TensorData(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := f.TensorData(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Error("output.weight differs from token_embd.weight")
	}
}

// TestGetters checks the typed getters, including conversions, range checks and the errors that
// name the key and the types.
func TestGetters(t *testing.T) {
	f, err := readBytes(writeSynth(t, allTypesKV()))
	if err != nil {
		t.Fatal(err)
	}
	get := map[string]func(string) (any, error){
		"String":   func(k string) (any, error) { return f.String(k) },
		"Int":      func(k string) (any, error) { return f.Int(k) },
		"Float":    func(k string) (any, error) { return f.Float(k) },
		"Bool":     func(k string) (any, error) { return f.Bool(k) },
		"Strings":  func(k string) (any, error) { return f.Strings(k) },
		"Float32s": func(k string) (any, error) { return f.Float32s(k) },
		"Int32s":   func(k string) (any, error) { return f.Int32s(k) },
	}
	tests := []struct {
		getter, key string
		want        any
		err         string // substring of the error; "" for success
	}{
		{"String", "t.string", "héllo ▁wörld", ""},
		{"String", "t.empty_string", "", ""},
		{"String", "t.uint32", nil, `key "t.uint32": expected string, found uint32`},
		{"Int", "t.uint8", int64(200), ""},
		{"Int", "t.int8", int64(-100), ""},
		{"Int", "t.uint16", int64(60000), ""},
		{"Int", "t.int16", int64(-30000), ""},
		{"Int", "t.uint32", int64(4_000_000_000), ""},
		{"Int", "t.int32", int64(-2_000_000_000), ""},
		{"Int", "t.int64", int64(-1 << 63), ""},
		{"Int", "t.uint64", nil, `key "t.uint64": value 18446744073709551615 does not fit in int64`},
		{"Int", "t.float32", nil, `key "t.float32": expected integer, found float32`},
		{"Float", "t.float32", 1.5, ""},
		{"Float", "t.float64", 3.141592653589793, ""},
		{"Float", "t.int32", nil, `expected float32 or float64, found int32`},
		{"Bool", "t.true", true, ""},
		{"Bool", "t.false", false, ""},
		{"Bool", "t.string", nil, `key "t.string": expected bool, found string`},
		{"Strings", "t.a.string", []string{"a", "", "ü", "<0x0A>"}, ""},
		{"Strings", "t.a.empty_string", []string{}, ""},
		{"Strings", "t.a.int32", nil, `expected array of string, found array of int32`},
		{"Float32s", "t.a.float32", []float32{-0.5, 0, float32(math.Inf(1))}, ""},
		{"Float32s", "t.a.float64", nil, `expected array of float32, found array of float64`},
		{"Int32s", "t.a.int32", []int32{-1, 0, 111, 211}, ""},
		{"Int32s", "t.a.int8", []int32{-128, 0, 127}, ""},
		{"Int32s", "t.a.uint8", []int32{0, 1, 255}, ""},
		{"Int32s", "t.a.int16", []int32{-32768, 32767}, ""},
		{"Int32s", "t.a.uint16", []int32{0, 65535}, ""},
		{"Int32s", "t.a.uint32", nil, `key "t.a.uint32": element 2 is 4294967295, does not fit in int32`},
		{"Int32s", "t.a.nested", nil, `expected array of int32, found array of array`},
		{"Int32s", "t.a.uint64", nil, `found array of uint64`},
	}
	for _, tt := range tests {
		t.Run(tt.getter+"/"+tt.key, func(t *testing.T) {
			got, err := get[tt.getter](tt.key)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				if errors.Is(err, ErrKeyNotFound) {
					t.Fatalf("type error %v wraps ErrKeyNotFound", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
	for name, g := range get {
		_, err := g("no.such.key")
		if !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), `"no.such.key"`) {
			t.Errorf("%s of a missing key: err = %v, want ErrKeyNotFound naming the key", name, err)
		}
	}
	if v, ok := f.Lookup("t.a.nested"); !ok || !reflect.DeepEqual(v, allTypesKV()[len(allTypesKV())-1].Value) {
		t.Errorf("Lookup(t.a.nested) = %#v, %v", v, ok)
	}
	if f.Has("no.such.key") || !f.Has("") {
		t.Error("Has is wrong for a missing key or the empty key")
	}
	// The getters copy: changing a result must not change the file.
	s, _ := f.Strings("t.a.string")
	s[0] = "changed"
	if s2, _ := f.Strings("t.a.string"); s2[0] != "a" {
		t.Error("Strings returned the file's own slice")
	}
}

// TestFileNameInErrors checks that errors of files from Open name the file.
func TestFileNameInErrors(t *testing.T) {
	path := filepath.Join("testdata", "stories260K.gguf")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.String("llama.block_count"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("type error %v does not name %s", err, path)
	}
	if _, err := f.Int("llama.rope.freq_base"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("not-found error %v does not name %s", err, path)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	if err := os.WriteFile(bad, []byte("GGUF\x01\x00\x00\x00"+strings.Repeat("\x00", 16)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "gguf: "+bad+": GGUF version 1") {
		t.Errorf("Open(v1 file) = %v, want an error naming the file and the version", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

// TestClose checks that Close is idempotent and that TensorData fails afterwards instead of
// touching the released mapping.
func TestClose(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	ti := &f.Tensors[0]
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.TensorData(ti); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("TensorData after Close: %v, want a closed-file error", err)
	}
}

// TestTensorDataChecksInfo checks that TensorData rejects an info whose range is not inside the
// file (for example one taken from another, larger file).
func TestTensorDataChecksInfo(t *testing.T) {
	f, err := readBytes(writeSynth(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	ti := f.Tensors[0]
	ti.Offset = 1 << 40
	if _, err := f.TensorData(&ti); err == nil || !strings.Contains(err.Error(), "outside the file") {
		t.Fatalf("TensorData(out-of-range info) = %v", err)
	}
}

// TestNewFile checks virtual files: metadata access, sizes filled in, and data from the
// callback.
func TestNewFile(t *testing.T) {
	calls := 0
	f := NewFile(
		[]KV{{"general.architecture", "qwen3"}, {"qwen3.block_count", uint32(2)}, {alignmentKey, uint32(64)}},
		[]TensorInfo{{Name: "a", Type: ggml.TypeQ8_0, Dims: []int64{32, 2}}, {Name: "b", Type: ggml.TypeF16, Dims: []int64{3}, Size: 6}},
		func(ti *TensorInfo) ([]byte, error) {
			calls++
			return tensorBytes(ti.Name, ti.Size), nil
		})
	if n, err := f.Int("qwen3.block_count"); err != nil || n != 2 {
		t.Fatalf("block_count = %d, %v", n, err)
	}
	if f.Alignment != 64 {
		t.Errorf("alignment %d, want 64 from %s", f.Alignment, alignmentKey)
	}
	a, ok := f.Tensor("a")
	if !ok || a.Size != 2*34 {
		t.Fatalf("tensor a: %+v, %v; want size 68 (two Q8_0 blocks of 34 bytes)", a, ok)
	}
	d, err := f.TensorData(a)
	if err != nil || !bytes.Equal(d, tensorBytes("a", 68)) || calls != 1 {
		t.Fatalf("TensorData(a) = %d bytes, %v, %d calls", len(d), err, calls)
	}
	if _, ok := f.Tensor("c"); ok {
		t.Error("Tensor(c) found a tensor that does not exist")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Without a data function there is no data, and asking for it is an error, not a panic.
	empty := NewFile(nil, []TensorInfo{{Name: "z", Type: ggml.TypeF32, Dims: []int64{0}}}, nil)
	if _, err := empty.TensorData(&empty.Tensors[0]); err == nil || !strings.Contains(err.Error(), `tensor "z": the file has no data source`) {
		t.Fatalf("TensorData without a data function: %v", err)
	}
}

// eofAtEnd is an io.ReaderAt that reports io.EOF with a complete read ending at the end of the
// data, as the io.ReaderAt contract allows.
type eofAtEnd struct{ *bytes.Reader }

func (r eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.Reader.ReadAt(p, off)
	if err == nil && off+int64(n) == r.Size() {
		err = io.EOF
	}
	return n, err
}

// TestReaderAtEOF checks that the last tensor of a file can be read through such a ReaderAt.
func TestReaderAtEOF(t *testing.T) {
	// Alignment 1: no padding after the last tensor, so its read ends at the end of the file.
	b := writeSynth(t, []KV{{alignmentKey, uint32(1)}})
	f, err := Read(eofAtEnd{bytes.NewReader(b)}, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	last := &f.Tensors[len(f.Tensors)-1]
	if f.DataOffset+last.Offset+last.Size != int64(len(b)) {
		t.Fatalf("last tensor ends at %d, file is %d bytes", f.DataOffset+last.Offset+last.Size, len(b))
	}
	d, err := f.TensorData(last)
	if err != nil || !bytes.Equal(d, tensorBytes(last.Name, last.Size)) {
		t.Fatalf("TensorData(%q) = %d bytes, %v", last.Name, len(d), err)
	}
}

// TestLoadMatchesOpen: Load gives the same tensors, byte for byte, as Open; on Linux they are
// copied out of the file mapping (so Close frees the copy), elsewhere Load is Open.
func TestLoadMatchesOpen(t *testing.T) {
	path := filepath.Join("testdata", "micro-llama.Q4_K.gguf")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && mappingOf(t, &b.mapped[0]) == mappingOf(t, &a.mapped[0]) {
		t.Errorf("Load kept the file mapping on Linux: %s", mappingOf(t, &b.mapped[0]))
	}
	for i := range a.Tensors {
		da, err1 := a.TensorData(&a.Tensors[i])
		db, err2 := b.TensorData(&b.Tensors[i])
		if err1 != nil || err2 != nil || !bytes.Equal(da, db) {
			t.Fatalf("tensor %s differs after Load (%v, %v)", a.Tensors[i].Name, err1, err2)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join("testdata", "no-such.gguf")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// mappingOf returns what /proc/self/maps says backs the address of p: a file path, or "" for
// anonymous memory.
func mappingOf(t *testing.T, p *byte) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	addr := uint64(uintptr(unsafe.Pointer(p)))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && l <= addr && addr < h {
			if len(f) >= 6 {
				return f[5]
			}
			return ""
		}
	}
	t.Fatalf("address %#x is in no mapping", addr)
	return ""
}
