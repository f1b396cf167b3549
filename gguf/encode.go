package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// appendString appends a GGUF string: 64-bit length, then the bytes.
func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue appends the encoding of a metadata value without its type tag; depth counts the
// enclosing arrays.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		return append(b, x), nil
	case int8:
		return append(b, uint8(x)), nil
	case uint16:
		return le.AppendUint16(b, x), nil
	case int16:
		return le.AppendUint16(b, uint16(x)), nil
	case uint32:
		return le.AppendUint32(b, x), nil
	case int32:
		return le.AppendUint32(b, uint32(x)), nil
	case float32:
		return le.AppendUint32(b, math.Float32bits(x)), nil
	case bool:
		return append(b, boolByte(x)), nil
	case string:
		return appendString(b, x), nil
	case uint64:
		return le.AppendUint64(b, x), nil
	case int64:
		return le.AppendUint64(b, uint64(x)), nil
	case float64:
		return le.AppendUint64(b, math.Float64bits(x)), nil
	case []uint8:
		return appendArray(b, Uint8, x, func(b []byte, e uint8) []byte { return append(b, e) }), nil
	case []int8:
		return appendArray(b, Int8, x, func(b []byte, e int8) []byte { return append(b, uint8(e)) }), nil
	case []uint16:
		return appendArray(b, Uint16, x, le.AppendUint16), nil
	case []int16:
		return appendArray(b, Int16, x, func(b []byte, e int16) []byte { return le.AppendUint16(b, uint16(e)) }), nil
	case []uint32:
		return appendArray(b, Uint32, x, le.AppendUint32), nil
	case []int32:
		return appendArray(b, Int32, x, func(b []byte, e int32) []byte { return le.AppendUint32(b, uint32(e)) }), nil
	case []float32:
		return appendArray(b, Float32, x, func(b []byte, e float32) []byte { return le.AppendUint32(b, math.Float32bits(e)) }), nil
	case []bool:
		return appendArray(b, Bool, x, func(b []byte, e bool) []byte { return append(b, boolByte(e)) }), nil
	case []string:
		return appendArray(b, String, x, appendString), nil
	case []uint64:
		return appendArray(b, Uint64, x, le.AppendUint64), nil
	case []int64:
		return appendArray(b, Int64, x, func(b []byte, e int64) []byte { return le.AppendUint64(b, uint64(e)) }), nil
	case []float64:
		return appendArray(b, Float64, x, func(b []byte, e float64) []byte { return le.AppendUint64(b, math.Float64bits(e)) }), nil
	case []any:
		// This array is depth+1 arrays deep; its elements one more.
		if depth+2 > maxArrayDepth {
			return nil, fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
		}
		b = le.AppendUint32(b, uint32(Array))
		b = le.AppendUint64(b, uint64(len(x)))
		for i, e := range x {
			if typ, _, err := typeOf(e); err != nil || typ != Array {
				return nil, fmt.Errorf("element %d of an array of arrays is %s, not an array", i, describe(e))
			}
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported metadata value type %T", v)
}

// appendArray appends an array of scalars or strings: element type, count, elements.
func appendArray[T any](b []byte, elem ValueType, s []T, put func([]byte, T) []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(elem))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	for _, e := range s {
		b = put(b, e)
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
