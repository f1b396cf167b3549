package chat

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Template values are plain Go values modelled on the Python objects jinja2
// works with, because the goldens come from Python and every observable
// detail (str() of a float, repr() of a list, dict order) must match:
//
//	nil        Python None
//	bool       bool
//	int64      int (templates never leave the int64 range in practice)
//	float64    float
//	string     str (indexing and length count code points, like Python)
//	[]any      list
//	tuple      tuple (only differs from list in how it prints)
//	*dict      dict with string keys, insertion-ordered like Python's
//	*namespace the mutable object namespace() returns
//	undefined  jinja2's default Undefined
//	*loopInfo  the loop variable inside a for block
//	callable   functions and bound methods
//	*iterator  a one-shot Python iterator (what map, select, reverse... return)

// tuple is a Python tuple; it behaves as a read-only list.
type tuple []any

// dict is an insertion-ordered map with string keys, like a Python dict built
// from JSON: tojson must reproduce the caller's key order.
type dict struct {
	keys []string       // insertion order
	m    map[string]any // key -> value
}

func newDict() *dict { return &dict{m: map[string]any{}} }

func (d *dict) get(k string) (any, bool) {
	v, ok := d.m[k]
	return v, ok
}

func (d *dict) set(k string, v any) {
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

// namespace is the object returned by namespace(): the only value a template
// may mutate ({% set ns.attr = ... %}), which is how templates carry state
// out of a for loop.
type namespace struct{ attrs *dict }

// undefined is jinja2's default Undefined: it renders as "", is falsy,
// iterates as empty, and fails when used in arithmetic or when an attribute
// or item of it is looked up. msg says what was missing, for that error.
type undefined struct{ msg string }

// iterator is a Python generator or iterator, as jinja2's map, select,
// reject, selectattr, rejectattr, unique, items and reverse filters return
// them. Unlike a list it is always true (even when empty), has no len(),
// cannot be indexed or serialized, and is used up by iterating it once.
type iterator struct {
	kind  string // Python type name, for messages and printing
	items []any  // items not yet consumed
	err   error  // raised when iterated: Python generators fail lazily
}

// callable is a function value: a global like namespace() or a bound method
// like "abc".startswith.
type callable struct {
	name string
	fn   func(args []any, kw []kwarg) (any, error)
}

// kwarg is a keyword argument of a call, filter or test.
type kwarg struct {
	name string
	val  any
}

// undefinedName is the Undefined of a variable that does not exist.
func undefinedName(name string) undefined {
	return undefined{msg: fmt.Sprintf("'%s' is undefined", name)}
}

// undefinedAttr is the Undefined of a missing attribute or item of obj.
func undefinedAttr(obj any, key any) undefined {
	if s, ok := key.(string); ok {
		return undefined{msg: fmt.Sprintf("'%s object' has no attribute %s", typeName(obj), pyRepr(s))}
	}
	return undefined{msg: fmt.Sprintf("'%s object' has no element %s", typeName(obj), pyRepr(key))}
}

func (u undefined) err() error { return fmt.Errorf("%s", u.msg) }

// typeName is the Python type name of v, used in error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case tuple:
		return "tuple"
	case *dict:
		return "dict"
	case *namespace:
		return "Namespace"
	case undefined:
		return "Undefined"
	case *loopInfo:
		return "LoopContext"
	case callable:
		return "function"
	case *iterator:
		return x.kind
	}
	return fmt.Sprintf("%T", v)
}

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case tuple:
		return len(x) > 0
	case *dict:
		return len(x.keys) > 0
	case undefined:
		return false
	}
	return true
}

// asList returns the elements of a list or tuple.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case tuple:
		return x, true
	}
	return nil, false
}

// iterate is Python's iter(v) as jinja2's for loop sees it: lists, tuples,
// dict keys, string characters; Undefined iterates as empty.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case tuple:
		return x, nil
	case *dict:
		out := make([]any, len(x.keys))
		for i, k := range x.keys {
			out[i] = k
		}
		return out, nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case *iterator:
		items := x.items
		x.items = nil
		return items, x.err
	case undefined:
		return nil, nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", typeName(v))
}

// toNumber reports v as a float64 and whether it is an int (bools count as
// ints, as in Python).
func toNumber(v any) (f float64, isInt bool, ok bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true, true
		}
		return 0, true, true
	case int64:
		return float64(x), true, true
	case float64:
		return x, false, true
	}
	return 0, false, false
}

// toInt64 returns an int or bool as int64.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return x, true
	}
	return 0, false
}

// equal is Python's ==.
func equal(a, b any) bool {
	if fa, _, ok := toNumber(a); ok {
		if fb, _, ok := toNumber(b); ok {
			ia, aInt := toInt64(a)
			ib, bInt := toInt64(b)
			if aInt && bInt {
				return ia == ib
			}
			return fa == fb
		}
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		return ok && equalSeq(x, y)
	case tuple:
		y, ok := b.(tuple)
		return ok && equalSeq(x, y)
	case *dict:
		y, ok := b.(*dict)
		if !ok || len(x.keys) != len(y.keys) {
			return false
		}
		for _, k := range x.keys {
			yv, ok := y.m[k]
			if !ok || !equal(x.m[k], yv) {
				return false
			}
		}
		return true
	case undefined:
		_, ok := b.(undefined)
		return ok
	case *namespace, *iterator:
		return a == b
	}
	return false
}

func equalSeq(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// compare is Python's ordering for numbers, strings and sequences; it
// returns -1, 0 or 1, or an error for unorderable types.
func compare(a, b any) (int, error) {
	if fa, _, ok := toNumber(a); ok {
		if fb, _, ok := toNumber(b); ok {
			ia, aInt := toInt64(a)
			ib, bInt := toInt64(b)
			switch {
			case aInt && bInt && ia < ib, !(aInt && bInt) && fa < fb:
				return -1, nil
			case aInt && bInt && ia > ib, !(aInt && bInt) && fa > fb:
				return 1, nil
			}
			return 0, nil
		}
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			// Go compares strings bytewise, which for valid UTF-8 is code
			// point order, Python's order.
			return strings.Compare(sa, sb), nil
		}
	}
	if la, ok := asList(a); ok {
		if lb, ok := asList(b); ok && sameKind(a, b) {
			for i := 0; i < len(la) && i < len(lb); i++ {
				if equal(la[i], lb[i]) {
					continue
				}
				return compare(la[i], lb[i])
			}
			switch {
			case len(la) < len(lb):
				return -1, nil
			case len(la) > len(lb):
				return 1, nil
			}
			return 0, nil
		}
	}
	return 0, fmt.Errorf("'<' not supported between instances of '%s' and '%s'", typeName(a), typeName(b))
}

func sameKind(a, b any) bool {
	_, al := a.([]any)
	_, bl := b.([]any)
	return al == bl
}

// contains is Python's "needle in haystack".
func contains(haystack, needle any) (bool, error) {
	switch h := haystack.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case []any, tuple:
		l, _ := asList(h)
		for _, x := range l {
			if equal(x, needle) {
				return true, nil
			}
		}
		return false, nil
	case *dict:
		k, ok := needle.(string)
		if !ok {
			return false, nil
		}
		_, found := h.m[k]
		return found, nil
	case *namespace:
		k, ok := needle.(string)
		if !ok {
			return false, nil
		}
		_, found := h.attrs.m[k]
		return found, nil
	case *iterator:
		if h.err != nil {
			return false, h.err
		}
		// Python consumes the iterator up to the first match.
		for i, x := range h.items {
			if equal(x, needle) {
				h.items = h.items[i+1:]
				return true, nil
			}
		}
		h.items = nil
		return false, nil
	case undefined:
		return false, nil
	}
	return false, fmt.Errorf("argument of type '%s' is not iterable", typeName(haystack))
}

// pyStr is Python's str(v), which is what {{ v }} prints (Undefined prints
// as nothing).
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case undefined:
		return ""
	}
	return pyRepr(v)
}

// pyRepr is Python's repr(v).
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatFloat(x, false))
	case string:
		writeStrRepr(b, x)
	case []any:
		b.WriteByte('[')
		writeItems(b, x)
		b.WriteByte(']')
	case tuple:
		b.WriteByte('(')
		writeItems(b, x)
		if len(x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *dict:
		writeDictRepr(b, x)
	case *namespace:
		b.WriteString("<Namespace ")
		writeDictRepr(b, x.attrs)
		b.WriteByte('>')
	case undefined:
		b.WriteString("Undefined")
	case *loopInfo:
		fmt.Fprintf(b, "<LoopContext %d/%d>", x.index0+1, len(x.items))
	case callable:
		fmt.Fprintf(b, "<function %s>", x.name)
	case *iterator:
		fmt.Fprintf(b, "<%s object>", x.kind)
	default:
		fmt.Fprintf(b, "%v", x)
	}
}

func writeItems(b *strings.Builder, items []any) {
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(b, it)
	}
}

func writeDictRepr(b *strings.Builder, d *dict) {
	b.WriteByte('{')
	for i, k := range d.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		writeStrRepr(b, k)
		b.WriteString(": ")
		writeRepr(b, d.m[k])
	}
	b.WriteByte('}')
}

// writeStrRepr quotes s the way Python's repr does: single quotes unless
// the string holds a single quote and no double quote.
func writeStrRepr(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(b, `\x%02x`, r)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
}

// formatFloat is Python's repr(float): the shortest digits that round-trip,
// in positional notation when the decimal exponent is in [-4, 16) and in
// scientific notation otherwise. json selects JSON's spelling of the
// non-finite values.
func formatFloat(f float64, json bool) string {
	switch {
	case math.IsNaN(f):
		if json {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if json {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if json {
			return "-Infinity"
		}
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	digits := strings.Replace(s[:epos], ".", "", 1)
	exp, _ := strconv.Atoi(s[epos+1:]) // FormatFloat always writes a valid exponent
	var out string
	switch {
	case exp >= 16 || exp < -4:
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		out += fmt.Sprintf("e%s%02d", sign, exp)
	case exp < 0:
		out = "0." + strings.Repeat("0", -exp-1) + digits
	case exp+1 >= len(digits):
		out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	default:
		out = digits[:exp+1] + "." + digits[exp+1:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

// isPySpace is Python's str.isspace for one character; Go's unicode.IsSpace
// lacks the information separators U+001C..U+001F that Python counts.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// runeLen is len(s) in Python: code points, not bytes.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// sortedKeys returns the keys of a Go map in sorted order: Go maps have no
// order, so values converted from them get a deterministic one.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
