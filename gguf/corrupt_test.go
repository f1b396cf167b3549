package gguf

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// corruptCase is a hand-built file and the error it must produce.
type corruptCase struct {
	name string
	file []byte
	err  string // substring of the error; "" for a valid file
}

// corruptCases builds small valid and invalid files field by field. They also seed the fuzzer.
func corruptCases() []corruptCase {
	kv := func(key string, typ ValueType) *raw { return new(raw).header(3, 0, 1).str(key).u32(uint32(typ)) }
	oneTensor := func(typ ggml.Type, off uint64, dims ...uint64) *raw {
		return new(raw).header(3, 1, 0).tensor("w", typ, off, dims...)
	}
	// nested returns a file whose one KV is an array of arrays nested levels deep.
	nested := func(levels int) []byte {
		r := kv("k", Array)
		for range levels - 1 {
			r.u32(uint32(Array)).u64(1)
		}
		return r.u32(uint32(Uint8)).u64(0).b
	}

	return []corruptCase{
		{"valid", new(raw).header(3, 2, 1).kvU32("k", 7).
			tensor("a", ggml.TypeF32, 0, 4, 2).tensor("b", ggml.TypeQ8_0, 32, 32).data(32 + 34).b, ""},
		{"valid v2", new(raw).header(2, 0, 1).kvU32("k", 7).b, ""},
		{"valid nesting at the limit", nested(maxArrayDepth), ""},
		{"empty", nil, "file is 0 bytes, shorter than the 24-byte GGUF header"},
		{"short header", []byte("GGUF\x03\x00\x00\x00"), "file is 8 bytes, shorter than the 24-byte GGUF header"},
		{"bad magic", append([]byte("GGML"), new(raw).u32(3).u64(0).u64(0).b...), `bad magic "GGML", want "GGUF"`},
		{"version 1", new(raw).header(1, 0, 0).b, "GGUF version 1 is not supported"},
		{"big-endian", append([]byte("GGUF\x00\x00\x00\x03"), make([]byte, 16)...), "big-endian GGUF file (version field 0x03000000) is not supported"},
		{"version 4", new(raw).header(4, 0, 0).b, "unsupported GGUF version 4"},
		{"tensor count 2^60", new(raw).header(3, 1<<60, 0).b, "tensor count 1152921504606846976 at offset 8 exceeds what the 8 bytes left in the file can hold (at least 32 bytes each)"},
		{"tensor count beyond the metadata", new(raw).header(3, 1, 1).str("k").u32(uint32(String)).str(strings.Repeat("x", 40)).b,
			"tensor count 1 exceeds what the 0 bytes left after the metadata can hold"},
		{"10^9 keys", new(raw).header(3, 0, 1e9).kvU32("k", 1).b, "metadata key count 1000000000 at offset 16 exceeds"},
		{"key length 2^40", new(raw).header(3, 0, 1).u64(1 << 40).u32(0).bytes(0).b, "metadata key 0 of 1: string length 1099511627776 at offset 24 exceeds"},
		{"string value length 2^40", kv("name", String).u64(1 << 40).b, `key "name": string length 1099511627776`},
		{"string value truncated", kv("name", String).u64(10).bytes('a', 'b').b, `key "name": string length 10 at offset 40 exceeds the 2 bytes left in the file`},
		{"array count 2^50", kv("a", Array).u32(uint32(Uint8)).u64(1 << 50).b, `key "a": array count 1125899906842624`},
		{"string array count 2^50", kv("a", Array).u32(uint32(String)).u64(1 << 50).u64(0).b, `key "a": array count 1125899906842624`},
		{"nested array count 2^50", kv("a", Array).u32(uint32(Array)).u64(1 << 50).b, `key "a": array count 1125899906842624`},
		{"uint64 array past end", kv("a", Array).u32(uint32(Uint64)).u64(3).u64(1).u64(2).b, `key "a": array count 3`},
		{"unknown value type", kv("k", 13).u32(0).b, `key "k": unknown value type id 13`},
		{"unknown element type", kv("k", Array).u32(99).u64(0).b, `key "k": unknown array element type id 99`},
		{"bool 2", kv("k", Bool).bytes(2).b, `key "k": bool value 2 at offset 37 is not 0 or 1`},
		{"bool array element 7", kv("k", Array).u32(uint32(Bool)).u64(3).bytes(1, 0, 7).b, `key "k": bool value 7 at offset 51`},
		{"nested too deep", nested(maxArrayDepth + 1), `key "k": arrays nested deeper than 16`},
		{"duplicate key", new(raw).header(3, 0, 2).kvU32("k", 1).kvU32("k", 2).b, `duplicate metadata key "k"`},
		{"alignment 0", new(raw).header(3, 0, 1).kvU32(alignmentKey, 0).b, "alignment 0 is not a power of two"},
		{"alignment 48", new(raw).header(3, 0, 1).kvU32(alignmentKey, 48).b, "alignment 48 is not a power of two"},
		{"alignment as string", kv(alignmentKey, String).str("32").b, `key "general.alignment": expected uint32, found string`},
		{"5 dims", oneTensor(ggml.TypeF32, 0, 1, 1, 1, 1, 1).data(4).b, `tensor "w": 5 dims, must be 1 to 4`},
		{"0 dims", oneTensor(ggml.TypeF32, 0).data(4).b, `tensor "w": 0 dims, must be 1 to 4`},
		{"n_dims 2^31", new(raw).header(3, 1, 0).str("w").u32(1 << 31).data(32).b, `tensor "w": 2147483648 dims`},
		{"dim 0", oneTensor(ggml.TypeF32, 0, 4, 0).data(16).b, `tensor "w": dim 1 is 0, must be positive`},
		{"dim above int64", oneTensor(ggml.TypeF32, 0, 1<<63).data(4).b, `tensor "w": dim 0 is 9223372036854775808, larger than int64`},
		{"2^60 elements", oneTensor(ggml.TypeF32, 0, 1<<30, 1<<30).data(64).b, `tensor "w": data [offset 96, size 4611686018427387904] past end of file (160 bytes)`},
		{"element count overflow", oneTensor(ggml.TypeF32, 0, 1<<40, 1<<40).data(64).b, `tensor "w": element count of dims [1099511627776 1099511627776] overflows int64`},
		{"byte size overflow", oneTensor(ggml.TypeF32, 0, 1<<62).data(64).b, `tensor "w": ggml: 4611686018427387904 elements of F32 overflow`},
		{"unknown type id 4", oneTensor(ggml.Type(4), 0, 32).data(64).b, `tensor "w": unknown type id 4`},
		{"unknown type id 1000", oneTensor(ggml.Type(1000), 0, 32).data(64).b, `tensor "w": unknown type id 1000`},
		{"partial block", oneTensor(ggml.TypeQ4_0, 0, 16, 2).data(64).b, `tensor "w": row length 16 is not a multiple of the Q4_0 block size 32`},
		{"misaligned offset", oneTensor(ggml.TypeF32, 4, 4).data(64).b, `tensor "w": offset 4 is not a multiple of the alignment 32`},
		{"misaligned for alignment 64", new(raw).header(3, 1, 1).kvU32(alignmentKey, 64).tensor("w", ggml.TypeF32, 32, 4).data(128).b, "offset 32 is not a multiple of the alignment 64"},
		{"offset above int64", oneTensor(ggml.TypeF32, 1<<63, 4).data(64).b, `tensor "w": offset 9223372036854775808 larger than int64`},
		{"data past end", oneTensor(ggml.TypeF32, 32, 8).data(60).b, `tensor "w": data [offset 96, size 32] past end of file (124 bytes)`},
		{"data section past end", oneTensor(ggml.TypeF32, 0, 1).b, "data section at offset 64 (aligned to 32) is past the end of the file (57 bytes)"},
		{"overlap", new(raw).header(3, 2, 0).tensor("a", ggml.TypeF32, 0, 16).tensor("b", ggml.TypeF32, 32, 8).data(64).b,
			`tensor "b": data [offset 32, size 32] overlaps tensor "a" [offset 0, size 64]`},
		{"same offset", new(raw).header(3, 2, 0).tensor("a", ggml.TypeF32, 0, 8).tensor("b", ggml.TypeF32, 0, 8).data(64).b,
			`tensor "b": data [offset 0, size 32] overlaps tensor "a"`},
		{"duplicate tensor", new(raw).header(3, 2, 0).tensor("a", ggml.TypeF32, 0, 8).tensor("a", ggml.TypeF32, 32, 8).data(64).b, `duplicate tensor name "a"`},
		{"tensor name too long", new(raw).header(3, 1, 0).tensor(strings.Repeat("x", 64), ggml.TypeF32, 0, 8).data(32).b, "name is 64 bytes, limit 63"},
		{"tensor info truncated", new(raw).header(3, 1, 0).str("w").u32(4).u64(4).u64(4).bytes(0, 0, 0).b, `tensor "w": unexpected end of file at offset 53: need 8 bytes, 3 left (file is 56 bytes)`},
	}
}

// TestCorrupt feeds hand-built bad files to Read. Each must fail with an error naming the
// problem, and hostile counts must fail without allocating memory in proportion to them.
func TestCorrupt(t *testing.T) {
	tests := corruptCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := readBytes(tt.file)
			runtime.ReadMemStats(&after)
			// A few small buffers at most: far below any count these files claim.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("parsing a %d-byte file allocated %d bytes", len(tt.file), alloc)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("valid file rejected: %v", err)
				}
				if _, err := readBytes(rewrite(t, f)); err != nil {
					t.Fatalf("rewritten file rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Fatalf("err = %v\nwant \"gguf: ...%s...\"", err, tt.err)
			}
		})
	}
}

// rewrite writes a parsed file back to bytes.
func rewrite(t testing.TB, f *File) []byte {
	t.Helper()
	var buf writeBuffer
	if err := writeAll(NewWriter(&buf), f.KV, f.Tensors, f.TensorData); err != nil {
		t.Fatal(err)
	}
	return buf.b
}

// writeBuffer is a minimal io.Writer into a slice.
type writeBuffer struct{ b []byte }

func (w *writeBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// TestTruncated cuts files at many points: every cut that loses metadata, tensor infos or tensor
// data must fail with an error, and cuts that keep everything (only trailing padding lost)
// must still parse.
func TestTruncated(t *testing.T) {
	files := map[string][]byte{"synthetic": writeSynth(t, allTypesKV())}
	for _, name := range []string{"stories260K.gguf", "ggml-vocab-bert-bge.gguf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, full := range files {
		f, err := readBytes(full)
		if err != nil {
			t.Fatal(err)
		}
		need := int64(len(full)) // vocab-only files end with their last KV
		if len(f.Tensors) > 0 {
			need = 0
			for _, ti := range f.Tensors {
				need = max(need, f.DataOffset+ti.Offset+ti.Size)
			}
		}
		cuts := truncationPoints(len(full), testing.Short())
		for _, n := range cuts {
			_, err := readBytes(full[:n])
			switch {
			case int64(n) < need && err == nil:
				t.Fatalf("%s cut to %d of %d bytes: no error", name, n, len(full))
			case int64(n) < need && !strings.HasPrefix(err.Error(), "gguf: "):
				t.Fatalf("%s cut to %d bytes: error %q lacks the gguf prefix", name, n, err)
			case int64(n) >= need && err != nil:
				t.Fatalf("%s cut to %d bytes (only padding lost): %v", name, n, err)
			}
		}
		t.Logf("%s: %d cuts", name, len(cuts))
	}
}

// truncationPoints returns the lengths to cut a file of size bytes to: every length in the
// first 4 KiB (the header and the first KVs), every length in the last 256 bytes, and evenly
// spaced lengths in between (fewer with -short).
func truncationPoints(size int, short bool) []int {
	steps := 500
	if short {
		steps = 100
	}
	var cuts []int
	for n := 0; n < size; n++ {
		if n < 4096 || n >= size-256 || n%max(1, size/steps) == 0 {
			cuts = append(cuts, n)
		}
	}
	return cuts
}
