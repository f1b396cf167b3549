// Package ggml describes the ggml tensor element types that GGUF files store: their stable ids,
// block geometry, and (in the other files of this package) pure-Go dequantizers and quantizers
// that reproduce llama.cpp's reference C code bit for bit.
//
// Type ids are written into files, so they are never renumbered; ids that ggml has retired stay
// listed as comments so that nobody reuses them.
package ggml

import (
	"fmt"
	"math"
)

// Type is a ggml tensor element type id as stored in GGUF tensor infos.
type Type uint32

// The ggml type ids. Gaps are ids ggml retired; they must never be reused.
const (
	TypeF32  Type = 0
	TypeF16  Type = 1
	TypeQ4_0 Type = 2
	TypeQ4_1 Type = 3
	// 4 (Q4_2) and 5 (Q4_3) were removed from ggml.
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	// 31 (Q4_0_4_4), 32 (Q4_0_4_8) and 33 (Q4_0_8_8) were removed from ggml.
	TypeTQ1_0 Type = 34
	TypeTQ2_0 Type = 35
	// 36 (IQ4_NL_4_4), 37 (IQ4_NL_4_8) and 38 (IQ4_NL_8_8) were removed from ggml.
	TypeMXFP4 Type = 39
)

// traits is the block geometry of one type: blockSize elements are stored in typeSize bytes.
type traits struct {
	name      string
	blockSize int
	typeSize  int
}

// table holds every type id a GGUF file can contain. Indexed by Type; zero entries are retired ids.
var table = [...]traits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 2 + 16},
	TypeQ4_1:    {"Q4_1", 32, 2 + 2 + 16},
	TypeQ5_0:    {"Q5_0", 32, 2 + 4 + 16},
	TypeQ5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16},
	TypeQ8_0:    {"Q8_0", 32, 2 + 32},
	TypeQ8_1:    {"Q8_1", 32, 2 + 2 + 32},
	TypeQ2_K:    {"Q2_K", 256, 16 + 64 + 2 + 2},
	TypeQ3_K:    {"Q3_K", 256, 32 + 64 + 12 + 2},
	TypeQ4_K:    {"Q4_K", 256, 2 + 2 + 12 + 128},
	TypeQ5_K:    {"Q5_K", 256, 2 + 2 + 12 + 32 + 128},
	TypeQ6_K:    {"Q6_K", 256, 128 + 64 + 16 + 2},
	TypeQ8_K:    {"Q8_K", 256, 4 + 256 + 32},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 2 + 64},
	TypeIQ2_XS:  {"IQ2_XS", 256, 2 + 64 + 8},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 2 + 96},
	TypeIQ1_S:   {"IQ1_S", 256, 2 + 32 + 16},
	TypeIQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	TypeIQ3_S:   {"IQ3_S", 256, 2 + 64 + 8 + 32 + 4},
	TypeIQ2_S:   {"IQ2_S", 256, 2 + 64 + 8 + 8},
	TypeIQ4_XS:  {"IQ4_XS", 256, 2 + 2 + 4 + 128},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 32 + 16 + 8},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", 256, 48 + 4 + 2},
	TypeTQ2_0:   {"TQ2_0", 256, 64 + 2},
	TypeMXFP4:   {"MXFP4", 32, 1 + 16},
}

func (t Type) traits() (traits, bool) {
	if int(t) >= len(table) || table[t].blockSize == 0 {
		return traits{}, false
	}
	return table[t], true
}

// Known reports whether t is a type id that GGUF files can contain (retired ids are not).
func (t Type) Known() bool {
	_, ok := t.traits()
	return ok
}

// String returns ggml's name for the type, or "type(N)" for an unknown id.
func (t Type) String() string {
	if tr, ok := t.traits(); ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for plain scalar types). 0 if unknown.
func (t Type) BlockSize() int {
	tr, _ := t.traits()
	return tr.blockSize
}

// TypeSize is the number of bytes one block occupies. 0 if unknown.
func (t Type) TypeSize() int {
	tr, _ := t.traits()
	return tr.typeSize
}

// ParseType returns the type with ggml's name (case-insensitive match is not done: names are
// upper-case as ggml prints them, e.g. "Q4_K").
func ParseType(name string) (Type, error) {
	for i, tr := range table {
		if tr.blockSize != 0 && tr.name == name {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("ggml: unknown type name %q", name)
}

// RowBytes returns the bytes needed for n elements of type t. It fails when t is unknown, when n
// is negative or not a multiple of the block size, or when the size overflows int64.
func RowBytes(t Type, n int64) (int64, error) {
	tr, ok := t.traits()
	if !ok {
		return 0, fmt.Errorf("ggml: unknown type %s", t)
	}
	if n < 0 {
		return 0, fmt.Errorf("ggml: negative element count %d", n)
	}
	if n%int64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("ggml: %d elements of %s is not a whole number of %d-element blocks", n, t, tr.blockSize)
	}
	blocks := n / int64(tr.blockSize)
	if blocks > math.MaxInt64/int64(tr.typeSize) {
		return 0, fmt.Errorf("ggml: %d elements of %s overflow the byte size", n, t)
	}
	return blocks * int64(tr.typeSize), nil
}
