package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a GGUF metadata value, as stored in the file.
type ValueType uint32

// The GGUF metadata value types. Ids are stored in files and never change.
const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var valueTypeNames = [...]string{
	Uint8: "uint8", Int8: "int8", Uint16: "uint16", Int16: "int16", Uint32: "uint32",
	Int32: "int32", Float32: "float32", Bool: "bool", String: "string", Array: "array",
	Uint64: "uint64", Int64: "int64", Float64: "float64",
}

// String returns the type's name ("uint32", "string", ...), or "type(N)" for an unknown id.
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// valid reports whether t is one of the defined value types.
func (t ValueType) valid() bool { return int(t) < len(valueTypeNames) }

// fixedSize is the encoded size of a scalar of type t, or 0 for strings and arrays, whose size
// depends on their contents.
func (t ValueType) fixedSize() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes a value of type t can occupy: a string is at least its 8-byte
// length, an array at least its 4-byte element type and 8-byte count. Counts read from a file
// are checked against the bytes left times minSize before anything is allocated.
func (t ValueType) minSize() int64 {
	switch t {
	case String:
		return 8
	case Array:
		return 4 + 8
	}
	return int64(t.fixedSize())
}

// maxArrayDepth bounds the nesting of arrays of arrays, so that a hostile file cannot drive the
// recursive decoder arbitrarily deep. Real files use at most one level.
const maxArrayDepth = 16

// typeOf returns the GGUF type of a metadata value and, for arrays, the element type. Values
// must be one of the Go types listed on [KV].
func typeOf(v any) (typ, elem ValueType, err error) {
	switch v.(type) {
	case uint8:
		return Uint8, 0, nil
	case int8:
		return Int8, 0, nil
	case uint16:
		return Uint16, 0, nil
	case int16:
		return Int16, 0, nil
	case uint32:
		return Uint32, 0, nil
	case int32:
		return Int32, 0, nil
	case float32:
		return Float32, 0, nil
	case bool:
		return Bool, 0, nil
	case string:
		return String, 0, nil
	case uint64:
		return Uint64, 0, nil
	case int64:
		return Int64, 0, nil
	case float64:
		return Float64, 0, nil
	case []uint8:
		return Array, Uint8, nil
	case []int8:
		return Array, Int8, nil
	case []uint16:
		return Array, Uint16, nil
	case []int16:
		return Array, Int16, nil
	case []uint32:
		return Array, Uint32, nil
	case []int32:
		return Array, Int32, nil
	case []float32:
		return Array, Float32, nil
	case []bool:
		return Array, Bool, nil
	case []string:
		return Array, String, nil
	case []uint64:
		return Array, Uint64, nil
	case []int64:
		return Array, Int64, nil
	case []float64:
		return Array, Float64, nil
	case []any:
		return Array, Array, nil
	}
	return 0, 0, fmt.Errorf("unsupported metadata value type %T", v)
}

// describe names the GGUF type of a value for error messages: "uint32", "array of string".
func describe(v any) string {
	typ, elem, err := typeOf(v)
	switch {
	case err != nil:
		return fmt.Sprintf("%T", v)
	case typ == Array:
		return "array of " + elem.String()
	}
	return typ.String()
}

// isPowerOfTwo reports whether a is a positive power of two, as GGUF alignments must be.
func isPowerOfTwo(a uint64) bool { return a != 0 && a&(a-1) == 0 }

// alignUp rounds off up to a multiple of align (a power of two). ok is false on overflow.
func alignUp(off, align int64) (aligned int64, ok bool) {
	if off > math.MaxInt64-(align-1) {
		return 0, false
	}
	return (off + align - 1) &^ (align - 1), true
}
