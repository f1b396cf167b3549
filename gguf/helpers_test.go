package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// allTypesKV has a value of every GGUF metadata type, arrays of every element type, empty
// strings and arrays, and nested arrays.
func allTypesKV() []KV {
	return []KV{
		{"general.architecture", "llama"},
		{"t.uint8", uint8(200)},
		{"t.int8", int8(-100)},
		{"t.uint16", uint16(60000)},
		{"t.int16", int16(-30000)},
		{"t.uint32", uint32(4_000_000_000)},
		{"t.int32", int32(-2_000_000_000)},
		{"t.float32", float32(1.5)},
		{"t.true", true},
		{"t.false", false},
		{"t.string", "héllo ▁wörld"},
		{"t.empty_string", ""},
		{"", "empty key"},
		{"t.uint64", uint64(math.MaxUint64)},
		{"t.int64", int64(math.MinInt64)},
		{"t.float64", math.Pi},
		{"t.a.uint8", []uint8{0, 1, 255}},
		{"t.a.int8", []int8{-128, 0, 127}},
		{"t.a.uint16", []uint16{0, 65535}},
		{"t.a.int16", []int16{-32768, 32767}},
		{"t.a.uint32", []uint32{1, 2, math.MaxUint32}},
		{"t.a.int32", []int32{-1, 0, 111, 211}},
		{"t.a.float32", []float32{-0.5, 0, float32(math.Inf(1))}},
		{"t.a.bool", []bool{true, false, true}},
		{"t.a.string", []string{"a", "", "ü", "<0x0A>"}},
		{"t.a.uint64", []uint64{math.MaxUint64, 0}},
		{"t.a.int64", []int64{math.MinInt64, math.MaxInt64}},
		{"t.a.float64", []float64{1e-300, -2.5}},
		{"t.a.empty_uint8", []uint8{}},
		{"t.a.empty_string", []string{}},
		{"t.a.empty_nested", []any{}},
		{"t.a.nested", []any{[]int32{1, 2}, []string{"x", ""}, []any{[]uint8{}, []float64{7}}, []bool{}}},
	}
}

// synthTensor declares one tensor of a synthetic file.
type synthTensor struct {
	name string
	typ  ggml.Type
	dims []int64
}

// synthTensors has several ggml types, 1 to 4 dims and sizes that are not multiples of the
// alignment, so padding between tensors is exercised.
var synthTensors = []synthTensor{
	{"token_embd.weight", ggml.TypeF32, []int64{8, 3}},
	{"blk.0.attn_q.weight", ggml.TypeF16, []int64{16, 2}},
	{"blk.0.attn_k.weight", ggml.TypeQ4_0, []int64{64, 2}},
	{"blk.0.ffn_up.weight", ggml.TypeQ4_K, []int64{256}},
	{"blk.0.ffn_down.weight", ggml.TypeQ8_0, []int64{32, 3}},
	{"blk.0.ids", ggml.TypeI32, []int64{5}},
	{"blk.0.four_d", ggml.TypeBF16, []int64{3, 1, 2, 1}},
}

// tensorBytes returns deterministic, tensor-specific bytes of the given size.
func tensorBytes(name string, size int64) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(int(name[len(name)/2]) + i*7)
	}
	return b
}

// writeSynth writes a file with kv and synthTensors through a Writer and returns its bytes.
func writeSynth(t testing.TB, kv []KV) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range kv {
		if err := w.AddKV(e.Key, e.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range synthTensors {
		if err := w.AddTensor(s.name, s.typ, s.dims); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, s := range synthTensors {
		n, err := tensorSize(s.name, s.typ, s.dims)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTensorData(s.name, tensorBytes(s.name, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBytes parses a file held in memory.
func readBytes(b []byte) (*File, error) {
	return Read(bytes.NewReader(b), int64(len(b)))
}

// raw builds GGUF bytes field by field, for files the Writer refuses to produce.
type raw struct{ b []byte }

func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) bytes(p ...byte) *raw {
	r.b = append(r.b, p...)
	return r
}
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }

// header starts a little-endian GGUF file.
func (r *raw) header(version uint32, nTensors, nKV uint64) *raw {
	r.b = append(r.b, magic...)
	return r.u32(version).u64(nTensors).u64(nKV)
}

// kvU32 appends a uint32 KV.
func (r *raw) kvU32(key string, v uint32) *raw { return r.str(key).u32(uint32(Uint32)).u32(v) }

// tensor appends a tensor info.
func (r *raw) tensor(name string, typ ggml.Type, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// data pads to 32 bytes and appends n zero bytes of tensor data.
func (r *raw) data(n int) *raw {
	r.b = pad(r.b, int64(len(r.b)), defaultAlignment)
	r.b = append(r.b, make([]byte, n)...)
	return r
}
