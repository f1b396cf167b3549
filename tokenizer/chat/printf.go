package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// printf is Python's "format % args" for the conversions templates use:
// %s, %r, %d, %i, %f (with optional width and precision) and %%, with
// positional arguments (a tuple or a single value) or, with %(key)s, a
// mapping.
func printf(format string, args any) (string, error) {
	var positional []any
	var mapping *dict
	// Like CPython: a tuple supplies positional arguments; any other
	// object with __getitem__ (except a string) may serve as a mapping,
	// and then unused arguments are not an error.
	lenient := false
	switch a := args.(type) {
	case tuple:
		positional = a
	case *dict:
		mapping, positional, lenient = a, []any{a}, true
	case []any, undefined:
		positional, lenient = []any{a}, true
	default:
		positional = []any{a}
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", errors.New("incomplete format")
		}
		var arg any
		haveArg := false
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 {
				return "", errors.New("incomplete format key")
			}
			if mapping == nil {
				return "", errors.New("format requires a mapping")
			}
			key := format[i+1 : i+end]
			v, ok := mapping.get(key)
			if !ok {
				return "", fmt.Errorf("KeyError: %s", pyRepr(key))
			}
			arg, haveArg = v, true
			i += end + 1
		}
		// flags, width and precision
		start := i
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		for i < len(format) && (isDec(format[i]) || format[i] == '.') {
			i++
		}
		if i >= len(format) {
			return "", errors.New("incomplete format")
		}
		spec := format[start:i]
		verb := format[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveArg {
			if next >= len(positional) {
				return "", errors.New("not enough arguments for format string")
			}
			arg = positional[next]
			next++
		}
		if u, ok := arg.(undefined); ok && verb != 's' {
			return "", u.err()
		}
		switch verb {
		case 's':
			fmt.Fprintf(&b, "%"+spec+"s", pyStr(arg))
		case 'r':
			fmt.Fprintf(&b, "%"+spec+"s", pyRepr(arg))
		case 'd', 'i':
			f, _, ok := toNumber(arg)
			if !ok {
				return "", fmt.Errorf("%%%c format: a real number is required, not %s", verb, typeName(arg))
			}
			fmt.Fprintf(&b, "%"+spec+"d", int64(f))
		case 'f':
			f, _, ok := toNumber(arg)
			if !ok {
				return "", fmt.Errorf("must be real number, not %s", typeName(arg))
			}
			if !strings.Contains(spec, ".") {
				spec += ".6"
			}
			fmt.Fprintf(&b, "%"+spec+"f", f)
		default:
			return "", fmt.Errorf("unsupported format character %s", strconv.QuoteRune(rune(verb)))
		}
	}
	if next < len(positional) && !lenient {
		return "", errors.New("not all arguments converted during string formatting")
	}
	return b.String(), nil
}
