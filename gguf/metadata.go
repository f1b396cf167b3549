package gguf

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrKeyNotFound is returned (wrapped, with the key and file named) by the typed getters when a
// metadata key is absent. Test with errors.Is.
var ErrKeyNotFound = errors.New("gguf: key not found")

// get returns the value of key or an error wrapping ErrKeyNotFound.
func (f *File) get(key string) (any, error) {
	v, ok := f.Lookup(key)
	if !ok {
		if f.name != "" {
			return nil, fmt.Errorf("%w: %q in %s", ErrKeyNotFound, key, f.name)
		}
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, key)
	}
	return v, nil
}

// mismatch is the error for a key whose value has another type than the getter expects.
func (f *File) mismatch(key, want string, v any) error {
	return f.errorf("key %q: expected %s, found %s", key, want, describe(v))
}

// String returns the value of a string key.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", f.mismatch(key, "string", v)
	}
	return s, nil
}

// Int returns the value of a key of any integer type as an int64. A uint64 above MaxInt64 is an
// error.
func (f *File) Int(key string) (int64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, f.errorf("key %q: value %d does not fit in int64", key, x)
		}
		return int64(x), nil
	}
	return 0, f.mismatch(key, "integer", v)
}

// Float returns the value of a float32 or float64 key.
func (f *File) Float(key string) (float64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, f.mismatch(key, "float32 or float64", v)
}

// Bool returns the value of a bool key.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, f.mismatch(key, "bool", v)
	}
	return b, nil
}

// Strings returns a copy of the value of a string-array key.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, f.mismatch(key, "array of string", v)
	}
	return slices.Clone(s), nil
}

// Float32s returns a copy of the value of a float32-array key.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]float32)
	if !ok {
		return nil, f.mismatch(key, "array of float32", v)
	}
	return slices.Clone(s), nil
}

// Int32s returns the value of an int32-array key as a new slice. Arrays of uint32 (range
// checked) and of 8- and 16-bit integers are converted, since writers differ in the type they
// pick for token types and ids.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []int32:
		return slices.Clone(x), nil
	case []uint32:
		out := make([]int32, len(x))
		for i, e := range x {
			if e > math.MaxInt32 {
				return nil, f.errorf("key %q: element %d is %d, does not fit in int32", key, i, e)
			}
			out[i] = int32(e)
		}
		return out, nil
	case []int8:
		return widen(x), nil
	case []uint8:
		return widen(x), nil
	case []int16:
		return widen(x), nil
	case []uint16:
		return widen(x), nil
	}
	return nil, f.mismatch(key, "array of int32", v)
}

// widen converts a slice of small integers to int32, which holds every value exactly.
func widen[T int8 | uint8 | int16 | uint16](s []T) []int32 {
	out := make([]int32, len(s))
	for i, e := range s {
		out[i] = int32(e)
	}
	return out
}
