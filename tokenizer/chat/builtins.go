package chat

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// absent marks an optional argument the caller did not pass.
type absent struct{}

// bindArgs maps positional and keyword arguments onto the named parameters
// of fname; parameters not passed are absent{}.
func bindArgs(fname string, args []any, kw []kwarg, names ...string) ([]any, error) {
	if len(args) > len(names) {
		return nil, fmt.Errorf("%s() takes at most %d argument(s), %d given", fname, len(names), len(args))
	}
	out := make([]any, len(names))
	for i := range out {
		out[i] = absent{}
	}
	copy(out, args)
	for _, k := range kw {
		found := false
		for i, n := range names {
			if n == k.name {
				if _, ok := out[i].(absent); !ok {
					return nil, fmt.Errorf("%s() got multiple values for argument '%s'", fname, k.name)
				}
				out[i] = k.val
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s() got an unexpected keyword argument '%s'", fname, k.name)
		}
	}
	return out, nil
}

// or returns v, or def when v is absent.
func or(v, def any) any {
	if _, ok := v.(absent); ok {
		return def
	}
	return v
}

func requireString(fname string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s() argument must be str, not %s", fname, typeName(v))
	}
	return s, nil
}

// getAttr is jinja2's obj.name under the immutable sandbox: a Python
// attribute (a safe method) first, then an item.
func getAttr(obj any, name string) (any, error) {
	switch o := obj.(type) {
	case undefined:
		return nil, o.err()
	case *dict:
		if m, ok := dictMethod(o, name); ok {
			return m, nil
		}
		if v, ok := o.get(name); ok {
			return v, nil
		}
	case *namespace:
		if v, ok := o.attrs.get(name); ok {
			return v, nil
		}
	case string:
		if m, ok := strMethod(o, name); ok {
			return m, nil
		}
	case *loopInfo:
		if v, ok := o.attr(name); ok {
			return v, nil
		}
	}
	return undefinedAttr(obj, name), nil
}

// getItem is jinja2's obj[key]: an item first, then an attribute.
func getItem(obj any, key any) (any, error) {
	switch o := obj.(type) {
	case undefined:
		return nil, o.err()
	case *dict:
		if k, ok := key.(string); ok {
			if v, ok := o.get(k); ok {
				return v, nil
			}
			if m, ok := dictMethod(o, k); ok {
				return m, nil
			}
		}
		return undefinedAttr(obj, key), nil
	case []any, tuple, string:
		if i, ok := toInt64(key); ok {
			return index(o, i), nil
		}
	}
	if k, ok := key.(string); ok {
		return getAttr(obj, k)
	}
	return undefinedAttr(obj, key), nil
}

// index is seq[i] with Python's negative indices; out of range is Undefined.
func index(seq any, i int64) any {
	if s, ok := seq.(string); ok {
		r := []rune(s)
		if i < 0 {
			i += int64(len(r))
		}
		if i < 0 || i >= int64(len(r)) {
			return undefinedAttr(seq, i)
		}
		return string(r[i])
	}
	l, _ := asList(seq)
	if i < 0 {
		i += int64(len(l))
	}
	if i < 0 || i >= int64(len(l)) {
		return undefinedAttr(seq, i)
	}
	return l[i]
}

// attr returns the attributes of jinja2's LoopContext.
func (l *loopInfo) attr(name string) (any, bool) {
	n := int64(len(l.items))
	i := int64(l.index0)
	switch name {
	case "index":
		return i + 1, true
	case "index0":
		return i, true
	case "revindex":
		return n - i, true
	case "revindex0":
		return n - i - 1, true
	case "first":
		return i == 0, true
	case "last":
		return i == n-1, true
	case "length":
		return n, true
	case "depth":
		return int64(1), true
	case "depth0":
		return int64(0), true
	case "previtem":
		if i == 0 {
			return undefined{msg: "there is no previous item"}, true
		}
		return l.items[i-1], true
	case "nextitem":
		if i == n-1 {
			return undefined{msg: "there is no next item"}, true
		}
		return l.items[i+1], true
	case "cycle":
		return callable{name: "cycle", fn: func(args []any, kw []kwarg) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("no items for cycling given")
			}
			return args[l.index0%len(args)], nil
		}}, true
	}
	return nil, false
}

func method(name string, fn func(args []any, kw []kwarg) (any, error)) callable {
	return callable{name: name, fn: fn}
}

// dictMethod returns the read-only dict methods the sandbox allows.
func dictMethod(d *dict, name string) (any, bool) {
	switch name {
	case "get":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs("get", args, kw, "key", "default")
			if err != nil {
				return nil, err
			}
			if k, ok := a[0].(string); ok {
				if v, ok := d.get(k); ok {
					return v, nil
				}
			} else if _, ok := a[0].(absent); ok {
				return nil, errors.New("get() takes at least 1 argument")
			}
			return or(a[1], nil), nil
		}), true
	case "items":
		return method(name, func(args []any, kw []kwarg) (any, error) { return dictItems(d), nil }), true
	case "keys":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			out := make([]any, len(d.keys))
			for i, k := range d.keys {
				out[i] = k
			}
			return out, nil
		}), true
	case "values":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			out := make([]any, len(d.keys))
			for i, k := range d.keys {
				out[i] = d.m[k]
			}
			return out, nil
		}), true
	}
	return nil, false
}

// dictItems is d.items() as a list of (key, value) tuples.
func dictItems(d *dict) []any {
	out := make([]any, len(d.keys))
	for i, k := range d.keys {
		out[i] = tuple{k, d.m[k]}
	}
	return out
}

// pyStrip is Python's str.strip/lstrip/rstrip: whitespace, or any of chars.
func pyStrip(s string, chars any, left, right bool) (string, error) {
	cut := isPySpace
	switch c := chars.(type) {
	case absent, nil:
	case string:
		cut = func(r rune) bool { return strings.ContainsRune(c, r) }
	default:
		return "", fmt.Errorf("strip arg must be None or str, not %s", typeName(chars))
	}
	if left {
		s = strings.TrimLeftFunc(s, cut)
	}
	if right {
		s = strings.TrimRightFunc(s, cut)
	}
	return s, nil
}

// pySplit is Python's str.split / str.rsplit.
func pySplit(s string, sep any, maxsplit int64, fromRight bool) ([]any, error) {
	var parts []string
	switch sp := sep.(type) {
	case absent, nil:
		fields := strings.FieldsFunc(s, isPySpace)
		if maxsplit >= 0 && int64(len(fields)) > maxsplit+1 {
			// Re-split keeping the unsplit remainder verbatim.
			parts = splitWhitespaceN(s, int(maxsplit), fromRight)
		} else {
			parts = fields
		}
	case string:
		if sp == "" {
			return nil, errors.New("empty separator")
		}
		switch {
		case maxsplit < 0:
			parts = strings.Split(s, sp)
		case fromRight:
			parts = rsplitN(s, sp, int(maxsplit))
		default:
			parts = strings.SplitN(s, sp, int(maxsplit)+1)
		}
	default:
		return nil, fmt.Errorf("must be str or None, not %s", typeName(sep))
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func rsplitN(s, sep string, n int) []string {
	var rev []string
	for n > 0 {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		rev = append(rev, s[i+len(sep):])
		s = s[:i]
		n--
	}
	out := []string{s}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// splitWhitespaceN splits on whitespace runs at most n times, keeping the
// unsplit rest verbatim (inner and outer whitespace) as the last part (the
// first for rsplit), like Python.
func splitWhitespaceN(s string, n int, fromRight bool) []string {
	r := []rune(s)
	var out []string
	if !fromRight {
		i := 0
		for len(out) < n {
			for i < len(r) && isPySpace(r[i]) {
				i++
			}
			j := i
			for j < len(r) && !isPySpace(r[j]) {
				j++
			}
			out = append(out, string(r[i:j]))
			i = j
		}
		for i < len(r) && isPySpace(r[i]) {
			i++
		}
		if i < len(r) {
			out = append(out, string(r[i:])) // trailing whitespace kept
		}
		return out
	}
	j := len(r)
	var rev []string
	for len(rev) < n {
		for j > 0 && isPySpace(r[j-1]) {
			j--
		}
		i := j
		for i > 0 && !isPySpace(r[i-1]) {
			i--
		}
		rev = append(rev, string(r[i:j]))
		j = i
	}
	for j > 0 && isPySpace(r[j-1]) {
		j--
	}
	if j > 0 {
		out = append(out, string(r[:j])) // leading whitespace kept
	}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// affix handles startswith/endswith, whose argument may be a tuple.
func affix(s string, arg any, has func(string, string) bool) (bool, error) {
	if l, ok := arg.(tuple); ok {
		for _, x := range l {
			p, ok := x.(string)
			if !ok {
				return false, fmt.Errorf("tuple for startswith/endswith must only contain str, not %s", typeName(x))
			}
			if has(s, p) {
				return true, nil
			}
		}
		return false, nil
	}
	p, ok := arg.(string)
	if !ok {
		return false, fmt.Errorf("startswith/endswith first arg must be str or a tuple of str, not %s", typeName(arg))
	}
	return has(s, p), nil
}

// pyCapitalize is Python's str.capitalize.
func pyCapitalize(s string) string {
	r := []rune(strings.ToLower(s))
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// pyTitle is Python's str.title: upper-case the first letter of every run
// of cased letters, lower-case the rest.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		if prevCased {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(unicode.ToTitle(r))
		}
		prevCased = unicode.IsLetter(r)
	}
	return b.String()
}

// pySplitlines is Python's str.splitlines() without keepends.
func pySplitlines(s string) []string {
	var out []string
	r := []rune(s)
	start := 0
	for i := 0; i < len(r); i++ {
		switch r[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, string(r[start:i]))
			if r[i] == '\r' && i+1 < len(r) && r[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(r) {
		out = append(out, string(r[start:]))
	}
	return out
}

func strPredicate(s string, f func(rune) bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

// strMethod returns the Python str methods templates use.
func strMethod(s string, name string) (any, bool) {
	noArgs := func(f func() any) callable {
		return method(name, func(args []any, kw []kwarg) (any, error) {
			if len(args)+len(kw) > 0 {
				return nil, fmt.Errorf("str.%s() takes no arguments", name)
			}
			return f(), nil
		})
	}
	switch name {
	case "strip", "lstrip", "rstrip":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs(name, args, kw, "chars")
			if err != nil {
				return nil, err
			}
			return pyStrip(s, a[0], name != "rstrip", name != "lstrip")
		}), true
	case "startswith", "endswith":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			if len(args) != 1 || len(kw) > 0 {
				return nil, fmt.Errorf("str.%s() takes exactly one argument", name)
			}
			if name == "startswith" {
				return affix(s, args[0], strings.HasPrefix)
			}
			return affix(s, args[0], strings.HasSuffix)
		}), true
	case "split", "rsplit":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs(name, args, kw, "sep", "maxsplit")
			if err != nil {
				return nil, err
			}
			n, ok := toInt64(or(a[1], int64(-1)))
			if !ok {
				return nil, errors.New("maxsplit must be an integer")
			}
			return pySplit(s, a[0], n, name == "rsplit")
		}), true
	case "splitlines":
		return noArgs(func() any {
			lines := pySplitlines(s)
			out := make([]any, len(lines))
			for i, l := range lines {
				out[i] = l
			}
			return out
		}), true
	case "upper":
		return noArgs(func() any { return strings.ToUpper(s) }), true
	case "lower":
		return noArgs(func() any { return strings.ToLower(s) }), true
	case "title":
		return noArgs(func() any { return pyTitle(s) }), true
	case "capitalize":
		return noArgs(func() any { return pyCapitalize(s) }), true
	case "isdigit":
		return noArgs(func() any { return strPredicate(s, unicode.IsDigit) }), true
	case "isalpha":
		return noArgs(func() any { return strPredicate(s, unicode.IsLetter) }), true
	case "isspace":
		return noArgs(func() any { return strPredicate(s, isPySpace) }), true
	case "isupper":
		return noArgs(func() any { return strings.ToUpper(s) == s && strings.ToLower(s) != s }), true
	case "islower":
		return noArgs(func() any { return strings.ToLower(s) == s && strings.ToUpper(s) != s }), true
	case "replace":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs(name, args, kw, "old", "new", "count")
			if err != nil {
				return nil, err
			}
			return replace(s, a[0], a[1], a[2])
		}), true
	case "find", "rfind", "count":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			if len(args) != 1 || len(kw) > 0 {
				return nil, fmt.Errorf("str.%s() takes exactly one argument", name)
			}
			sub, err := requireString(name, args[0])
			if err != nil {
				return nil, err
			}
			var i int
			switch name {
			case "count":
				if sub == "" {
					return int64(runeLen(s) + 1), nil
				}
				return int64(strings.Count(s, sub)), nil
			case "find":
				i = strings.Index(s, sub)
			default:
				i = strings.LastIndex(s, sub)
			}
			if i < 0 {
				return int64(-1), nil
			}
			return int64(runeLen(s[:i])), nil
		}), true
	case "join":
		return method(name, func(args []any, kw []kwarg) (any, error) {
			if len(args) != 1 || len(kw) > 0 {
				return nil, errors.New("str.join() takes exactly one argument")
			}
			items, err := iterate(args[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, fmt.Errorf("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
			}
			return strings.Join(parts, s), nil
		}), true
	}
	return nil, false
}

func replace(s string, oldV, newV, countV any) (any, error) {
	old, err := requireString("replace", oldV)
	if err != nil {
		return nil, err
	}
	nw, err := requireString("replace", newV)
	if err != nil {
		return nil, err
	}
	n := int64(-1)
	switch c := countV.(type) {
	case absent, nil:
	default:
		var isInt bool
		if n, isInt = toInt64(c); !isInt {
			return nil, errors.New("replace() count must be an integer")
		}
	}
	if int64(len(nw)-len(old))*int64(len(s)+1) > maxOutput {
		return nil, fmt.Errorf("string longer than %d bytes", maxOutput)
	}
	return strings.Replace(s, old, nw, int(n)), nil
}

// globals returns the functions every render sees: Hugging Face's
// raise_exception and strftime_now, and jinja2's namespace, range and dict.
func globals(now func() time.Time) map[string]any {
	return map[string]any{
		"raise_exception": callable{name: "raise_exception", fn: func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs("raise_exception", args, kw, "message")
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("raise_exception: %s", pyStr(or(a[0], "")))
		}},
		"strftime_now": callable{name: "strftime_now", fn: func(args []any, kw []kwarg) (any, error) {
			a, err := bindArgs("strftime_now", args, kw, "format")
			if err != nil {
				return nil, err
			}
			f, err := requireString("strftime_now", a[0])
			if err != nil {
				return nil, err
			}
			return strftime(now(), f), nil
		}},
		"namespace": callable{name: "namespace", fn: func(args []any, kw []kwarg) (any, error) {
			d, err := dictFromArgs("namespace", args, kw)
			if err != nil {
				return nil, err
			}
			return &namespace{attrs: d}, nil
		}},
		"dict": callable{name: "dict", fn: func(args []any, kw []kwarg) (any, error) {
			return dictFromArgs("dict", args, kw)
		}},
		"range": callable{name: "range", fn: pyRange},
	}
}

// dictFromArgs is dict(mapping_or_pairs, **kw).
func dictFromArgs(fname string, args []any, kw []kwarg) (*dict, error) {
	d := newDict()
	if len(args) > 1 {
		return nil, fmt.Errorf("%s() takes at most 1 positional argument", fname)
	}
	if len(args) == 1 {
		switch a := args[0].(type) {
		case *dict:
			for _, k := range a.keys {
				d.set(k, a.m[k])
			}
		default:
			pairs, err := iterate(a)
			if err != nil {
				return nil, err
			}
			for _, p := range pairs {
				kv, ok := asList(p)
				if !ok || len(kv) != 2 {
					return nil, fmt.Errorf("%s() sequence elements must be pairs", fname)
				}
				k, ok := kv[0].(string)
				if !ok {
					return nil, fmt.Errorf("%s() keys must be strings", fname)
				}
				d.set(k, kv[1])
			}
		}
	}
	for _, k := range kw {
		d.set(k.name, k.val)
	}
	return d, nil
}

func pyRange(args []any, kw []kwarg) (any, error) {
	if len(kw) > 0 || len(args) == 0 || len(args) > 3 {
		return nil, errors.New("range() takes 1 to 3 integer arguments")
	}
	var n [3]int64
	for i, a := range args {
		v, ok := toInt64(a)
		if !ok {
			return nil, fmt.Errorf("range() argument must be int, not %s", typeName(a))
		}
		n[i] = v
	}
	start, stop, step := int64(0), n[0], int64(1)
	if len(args) >= 2 {
		start, stop = n[0], n[1]
	}
	if len(args) == 3 {
		step = n[2]
	}
	if step == 0 {
		return nil, errors.New("range() arg 3 must not be zero")
	}
	var out []any
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		if len(out) >= maxRange {
			return nil, fmt.Errorf("range too big, the sandbox allows %d items", maxRange)
		}
		out = append(out, i)
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

// strftime formats t with the C strftime conversions Python delegates to.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%02d", h)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// makeAttrGetter resolves a dotted attribute path ("a.b", "items.0") as
// jinja2's map/selectattr/sort attribute= arguments do.
func makeAttrGetter(path any) (func(any) (any, error), error) {
	switch p := path.(type) {
	case string:
		parts := strings.Split(p, ".")
		return func(v any) (any, error) {
			var err error
			for _, part := range parts {
				var key any = part
				if n, perr := strconv.ParseInt(part, 10, 64); perr == nil {
					key = n
				}
				if v, err = getItem(v, key); err != nil {
					return nil, err
				}
			}
			return v, nil
		}, nil
	case int64:
		return func(v any) (any, error) { return getItem(v, p) }, nil
	}
	return nil, fmt.Errorf("attribute must be a string or an integer, not %s", typeName(path))
}

// sortKey lower-cases strings for the case-insensitive comparisons that
// jinja2's sort, unique, min and max default to.
func sortKey(v any, caseSensitive bool) any {
	if s, ok := v.(string); ok && !caseSensitive {
		return strings.ToLower(s)
	}
	return v
}

// sortValues sorts items stably by key(item).
func sortValues(items []any, key func(any) (any, error), reverse bool) ([]any, error) {
	keys := make([]any, len(items))
	for i, it := range items {
		k, err := key(it)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var cmpErr error
	sort.SliceStable(idx, func(a, b int) bool {
		c, err := compare(keys[idx[a]], keys[idx[b]])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		if reverse {
			return c > 0
		}
		return c < 0
	})
	if cmpErr != nil {
		return nil, cmpErr
	}
	out := make([]any, len(items))
	for i, j := range idx {
		out[i] = items[j]
	}
	return out, nil
}

// roundHalfEven is Python's round(x, n): the exact binary value rounded to
// n decimals, ties to even (strconv rounds exactly that way).
func roundHalfEven(x float64, n int64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) || n > 300 {
		return x
	}
	if n < 0 {
		p := math.Pow(10, float64(-n))
		return math.RoundToEven(x/p) * p
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', int(n), 64), 64)
	return v
}
