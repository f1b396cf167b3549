package chat

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

type filterFunc func(x any, args []any, kw []kwarg) (any, error)

type testFunc func(x any, args []any, kw []kwarg) (bool, error)

var filters map[string]filterFunc

var tests map[string]testFunc

func init() {
	// Built in init because map/select call back into these tables.
	filters = map[string]filterFunc{
		"abs":        fAbs,
		"attr":       fAttr,
		"capitalize": strFilter(pyCapitalize),
		"count":      fLength,
		"d":          fDefault,
		"default":    fDefault,
		"dictsort":   fDictsort,
		"e":          strFilter(htmlEscape),
		"escape":     strFilter(htmlEscape),
		"first":      fFirst,
		"float":      fFloat,
		"indent":     fIndent,
		"int":        fInt,
		"items":      lazy("generator", fItems),
		"join":       fJoin,
		"last":       fLast,
		"length":     fLength,
		"list":       fList,
		"lower":      strFilter(strings.ToLower),
		"map":        lazy("generator", fMap),
		"max":        fMinMax(1),
		"min":        fMinMax(-1),
		"reject":     lazy("generator", fSelect(false, false)),
		"rejectattr": lazy("generator", fSelect(false, true)),
		"replace":    fReplace,
		"reverse":    fReverse,
		"round":      fRound,
		"safe":       fSafe,
		"select":     lazy("generator", fSelect(true, false)),
		"selectattr": lazy("generator", fSelect(true, true)),
		"sort":       fSort,
		"string":     strFilter(func(s string) string { return s }),
		"sum":        fSum,
		"title":      strFilter(jinjaTitle),
		"tojson":     fToJSON,
		"trim":       fTrim,
		"unique":     lazy("generator", fUnique),
		"upper":      strFilter(strings.ToUpper),
		"wordcount":  fWordcount,
	}
	tests = map[string]testFunc{
		"boolean":     noArgTest(func(x any) bool { _, ok := x.(bool); return ok }),
		"callable":    noArgTest(isCallable),
		"defined":     noArgTest(func(x any) bool { _, ok := x.(undefined); return !ok }),
		"divisibleby": tDivisibleBy,
		"eq":          cmpTest("=="),
		"equalto":     cmpTest("=="),
		"==":          cmpTest("=="),
		"even":        modTest(0),
		"false":       noArgTest(func(x any) bool { b, ok := x.(bool); return ok && !b }),
		"float":       noArgTest(func(x any) bool { _, ok := x.(float64); return ok }),
		"ge":          cmpTest(">="),
		">=":          cmpTest(">="),
		"gt":          cmpTest(">"),
		">":           cmpTest(">"),
		"greaterthan": cmpTest(">"),
		"in":          tIn,
		"integer":     noArgTest(func(x any) bool { _, ok := x.(int64); return ok }),
		"iterable":    noArgTest(isIterable),
		"le":          cmpTest("<="),
		"<=":          cmpTest("<="),
		"lessthan":    cmpTest("<"),
		"lower":       noArgTest(func(x any) bool { s, ok := x.(string); return ok && strings.ToLower(s) == s }),
		"lt":          cmpTest("<"),
		"<":           cmpTest("<"),
		"mapping":     noArgTest(func(x any) bool { _, ok := x.(*dict); return ok }),
		"ne":          cmpTest("!="),
		"!=":          cmpTest("!="),
		"none":        noArgTest(func(x any) bool { return x == nil }),
		"number":      noArgTest(func(x any) bool { _, _, ok := toNumber(x); return ok }),
		"odd":         modTest(1),
		"sameas":      tSameAs,
		"sequence":    noArgTest(isSequence),
		"string":      noArgTest(func(x any) bool { _, ok := x.(string); return ok }),
		"true":        noArgTest(func(x any) bool { b, ok := x.(bool); return ok && b }),
		"undefined":   noArgTest(func(x any) bool { _, ok := x.(undefined); return ok }),
		"upper":       noArgTest(func(x any) bool { s, ok := x.(string); return ok && strings.ToUpper(s) == s }),
	}
}

// lazy wraps a filter that jinja2 implements as a generator: the list it
// computes is handed out as a one-shot iterator, so that truth tests,
// len() and reuse behave as in Python, and its errors surface only when
// the iterator is consumed.
func lazy(kind string, f filterFunc) filterFunc {
	return func(x any, args []any, kw []kwarg) (any, error) {
		v, err := f(x, args, kw)
		if err != nil {
			return &iterator{kind: kind, err: err}, nil
		}
		if l, ok := v.([]any); ok {
			return &iterator{kind: kind, items: l}, nil
		}
		return v, nil
	}
}

func runFilter(name string, x any, args []any, kw []kwarg) (any, error) {
	f, ok := filters[name]
	if !ok {
		return nil, fmt.Errorf("no filter named '%s'", name)
	}
	return f(x, args, kw)
}

func runTest(name string, x any, args []any, kw []kwarg) (bool, error) {
	t, ok := tests[name]
	if !ok {
		return false, fmt.Errorf("no test named '%s'", name)
	}
	return t(x, args, kw)
}

// strFilter makes a filter that converts its input with str() (jinja2's
// soft_str) and transforms it.
func strFilter(f func(string) string) filterFunc {
	return func(x any, args []any, kw []kwarg) (any, error) {
		if len(args)+len(kw) > 0 {
			return nil, errors.New("filter takes no arguments")
		}
		return f(pyStr(x)), nil
	}
}

func noArgTest(f func(any) bool) testFunc {
	return func(x any, args []any, kw []kwarg) (bool, error) {
		if len(args)+len(kw) > 0 {
			return false, errors.New("test takes no arguments")
		}
		return f(x), nil
	}
}

func cmpTest(op string) testFunc {
	return func(x any, args []any, kw []kwarg) (bool, error) {
		a, err := bindArgs(op, args, kw, "other")
		if err != nil {
			return false, err
		}
		if _, ok := a[0].(absent); ok {
			return false, errors.New("comparison test needs an argument")
		}
		return compareOp(op, x, a[0])
	}
}

// modTest is jinja2's odd (x % 2 == 1) and even (x % 2 == 0).
func modTest(want int64) testFunc {
	return func(x any, args []any, kw []kwarg) (bool, error) {
		if len(args)+len(kw) > 0 {
			return false, errors.New("test takes no arguments")
		}
		m, err := arith("%", x, int64(2))
		if err != nil {
			return false, err
		}
		return equal(m, want), nil
	}
}

// isCallable is Python's callable(); Undefined counts, as it defines
// __call__ (which fails).
func isCallable(x any) bool {
	switch x.(type) {
	case callable, undefined:
		return true
	}
	return false
}

func tDivisibleBy(x any, args []any, kw []kwarg) (bool, error) {
	a, err := bindArgs("divisibleby", args, kw, "num")
	if err != nil {
		return false, err
	}
	m, err := arith("%", x, a[0])
	if err != nil {
		return false, err
	}
	return equal(m, int64(0)), nil
}

func tIn(x any, args []any, kw []kwarg) (bool, error) {
	a, err := bindArgs("in", args, kw, "seq")
	if err != nil {
		return false, err
	}
	return contains(a[0], x)
}

// tSameAs approximates Python's "is": None and booleans are singletons,
// containers compare by identity.
func tSameAs(x any, args []any, kw []kwarg) (bool, error) {
	a, err := bindArgs("sameas", args, kw, "other")
	if err != nil {
		return false, err
	}
	o := a[0]
	switch xv := x.(type) {
	case nil:
		return o == nil, nil
	case bool:
		ob, ok := o.(bool)
		return ok && ob == xv, nil
	case *dict, *namespace:
		return x == o, nil
	case []any:
		ol, ok := o.([]any)
		return ok && len(xv) == len(ol) && (len(xv) == 0 || &xv[0] == &ol[0]), nil
	case int64, string, float64:
		return x == o, nil
	}
	return false, nil
}

// isIterable is Python's "iter(x) works"; Undefined iterates as empty.
func isIterable(x any) bool {
	switch x.(type) {
	case string, []any, tuple, *dict, undefined:
		return true
	}
	return false
}

// isSequence is jinja2's sequence test: len() and [] both exist.
func isSequence(x any) bool {
	switch x.(type) {
	case string, []any, tuple, *dict, undefined:
		return true
	}
	return false
}

func fAbs(x any, args []any, kw []kwarg) (any, error) {
	if i, ok := x.(int64); ok {
		return abs64(i), nil
	}
	if f, ok := x.(float64); ok {
		return math.Abs(f), nil
	}
	if b, ok := x.(bool); ok {
		i, _ := toInt64(b)
		return i, nil
	}
	return nil, fmt.Errorf("bad operand type for abs(): '%s'", typeName(x))
}

func fAttr(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("attr", args, kw, "name")
	if err != nil {
		return nil, err
	}
	name, err := requireString("attr", a[0])
	if err != nil {
		return nil, err
	}
	if d, ok := x.(*dict); ok {
		// attr() skips items: only the dict's methods are attributes.
		if m, ok := dictMethod(d, name); ok {
			return m, nil
		}
		return undefinedAttr(x, name), nil
	}
	return getAttr(x, name)
}

func fLength(x any, args []any, kw []kwarg) (any, error) {
	switch v := x.(type) {
	case string:
		return int64(runeLen(v)), nil
	case []any:
		return int64(len(v)), nil
	case tuple:
		return int64(len(v)), nil
	case *dict:
		return int64(len(v.keys)), nil
	case undefined:
		return int64(0), nil
	}
	return nil, fmt.Errorf("object of type '%s' has no len()", typeName(x))
}

func fDefault(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("default", args, kw, "default_value", "boolean")
	if err != nil {
		return nil, err
	}
	_, isUndef := x.(undefined)
	if isUndef || (truthy(or(a[1], false)) && !truthy(x)) {
		return or(a[0], ""), nil
	}
	return x, nil
}

func fDictsort(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("dictsort", args, kw, "case_sensitive", "by", "reverse")
	if err != nil {
		return nil, err
	}
	d, ok := x.(*dict)
	if !ok {
		return nil, fmt.Errorf("dictsort expects a mapping, not %s", typeName(x))
	}
	pos := 0
	switch or(a[1], "key") {
	case "key":
	case "value":
		pos = 1
	default:
		return nil, errors.New("you can only sort by either 'key' or 'value'")
	}
	cs := truthy(or(a[0], false))
	return sortValues(dictItems(d), func(v any) (any, error) {
		return sortKey(v.(tuple)[pos], cs), nil
	}, truthy(or(a[2], false)))
}

func fFirst(x any, args []any, kw []kwarg) (any, error) {
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return undefined{msg: "No first item, sequence was empty."}, nil
	}
	if it, ok := x.(*iterator); ok {
		it.items = items[1:] // next() takes only the first item
	}
	return items[0], nil
}

func fLast(x any, args []any, kw []kwarg) (any, error) {
	if _, ok := x.(*iterator); ok {
		return nil, fmt.Errorf("'%s' object is not reversible", typeName(x))
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return undefined{msg: "No last item, sequence was empty."}, nil
	}
	return items[len(items)-1], nil
}

func fFloat(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("float", args, kw, "default")
	if err != nil {
		return nil, err
	}
	def := or(a[0], 0.0)
	if u, ok := x.(undefined); ok {
		return nil, u.err()
	}
	if f, _, ok := toNumber(x); ok {
		return f, nil
	}
	if s, ok := x.(string); ok {
		if f, err := strconv.ParseFloat(strings.TrimFunc(s, isPySpace), 64); err == nil {
			return f, nil
		}
	}
	return def, nil
}

func fInt(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("int", args, kw, "default", "base")
	if err != nil {
		return nil, err
	}
	def := or(a[0], int64(0))
	base, ok := toInt64(or(a[1], int64(10)))
	if !ok {
		return nil, errors.New("int() base must be an integer")
	}
	switch v := x.(type) {
	case undefined:
		return nil, v.err()
	case bool, int64:
		i, _ := toInt64(v)
		return i, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return def, nil
		}
		return int64(v), nil
	case string:
		s := strings.ReplaceAll(strings.TrimFunc(v, isPySpace), "_", "")
		if i, err := strconv.ParseInt(s, int(base), 64); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return int64(f), nil
		}
	}
	return def, nil
}

func fIndent(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("indent", args, kw, "width", "first", "blank")
	if err != nil {
		return nil, err
	}
	ind := "    "
	switch w := or(a[0], int64(4)).(type) {
	case string:
		ind = w
	default:
		n, ok := toInt64(w)
		if !ok {
			return nil, errors.New("indent width must be an int or a string")
		}
		if n > 1000 {
			return nil, errors.New("indent width larger than 1000")
		}
		ind = strings.Repeat(" ", int(max(n, 0)))
	}
	// jinja2 appends a newline so splitlines keeps a trailing empty line.
	lines := pySplitlines(pyStr(x) + "\n")
	var out string
	if truthy(or(a[2], false)) {
		out = strings.Join(lines, "\n"+ind)
	} else {
		out = lines[0]
		for _, l := range lines[1:] {
			if l != "" {
				l = ind + l
			}
			out += "\n" + l
		}
	}
	if truthy(or(a[1], false)) {
		out = ind + out
	}
	return out, nil
}

func fItems(x any, args []any, kw []kwarg) (any, error) {
	switch v := x.(type) {
	case *dict:
		return dictItems(v), nil
	case undefined:
		return []any{}, nil
	}
	return nil, fmt.Errorf("can only get item pairs from a mapping, not %s", typeName(x))
}

func fJoin(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("join", args, kw, "d", "attribute")
	if err != nil {
		return nil, err
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	if _, ok := a[1].(absent); !ok {
		if items, err = mapAttr(items, a[1], absent{}); err != nil {
			return nil, err
		}
	}
	parts := make([]string, len(items))
	total := 0
	for i, it := range items {
		parts[i] = pyStr(it)
		total += len(parts[i])
	}
	sep := pyStr(or(a[0], ""))
	if total+len(sep)*len(parts) > maxOutput {
		return nil, fmt.Errorf("string longer than %d bytes", maxOutput)
	}
	return strings.Join(parts, sep), nil
}

func fList(x any, args []any, kw []kwarg) (any, error) {
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	return append([]any{}, items...), nil
}

// mapAttr replaces each item by its attribute path, or by def when that is
// undefined and def was given.
func mapAttr(items []any, path any, def any) ([]any, error) {
	get, err := makeAttrGetter(path)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		v, err := get(it)
		if err != nil {
			return nil, err
		}
		if _, undef := v.(undefined); undef {
			if _, none := def.(absent); !none {
				v = def
			}
		}
		out[i] = v
	}
	return out, nil
}

func fMap(x any, args []any, kw []kwarg) (any, error) {
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		a, err := bindArgs("map", args, kw, "attribute", "default")
		if err != nil {
			return nil, err
		}
		if _, ok := a[0].(absent); ok {
			return nil, errors.New("map() needs a filter name or attribute=")
		}
		return mapAttr(items, a[0], a[1])
	}
	name, err := requireString("map", args[0])
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		if out[i], err = runFilter(name, it, args[1:], kw); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fMinMax(sign int) filterFunc {
	return func(x any, args []any, kw []kwarg) (any, error) {
		a, err := bindArgs("min/max", args, kw, "case_sensitive", "attribute")
		if err != nil {
			return nil, err
		}
		items, err := iterate(x)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return undefined{msg: "No aggregated item, sequence was empty."}, nil
		}
		keys := items
		if _, ok := a[1].(absent); !ok {
			if keys, err = mapAttr(items, a[1], absent{}); err != nil {
				return nil, err
			}
		}
		cs := truthy(or(a[0], false))
		best := 0
		for i := 1; i < len(items); i++ {
			c, err := compare(sortKey(keys[i], cs), sortKey(keys[best], cs))
			if err != nil {
				return nil, err
			}
			if c*sign > 0 {
				best = i
			}
		}
		return items[best], nil
	}
}

// fSelect builds select/reject (test on the item) and selectattr/rejectattr
// (test on an attribute of the item).
func fSelect(keep, byAttr bool) filterFunc {
	return func(x any, args []any, kw []kwarg) (any, error) {
		items, err := iterate(x)
		if err != nil {
			return nil, err
		}
		get := func(v any) (any, error) { return v, nil }
		if byAttr {
			if len(args) == 0 {
				return nil, errors.New("missing parameter for attribute name")
			}
			if get, err = makeAttrGetter(args[0]); err != nil {
				return nil, err
			}
			args = args[1:]
		}
		test := func(v any) (bool, error) { return truthy(v), nil }
		if len(args) > 0 {
			name, err := requireString("select", args[0])
			if err != nil {
				return nil, err
			}
			targs := args[1:]
			test = func(v any) (bool, error) { return runTest(name, v, targs, kw) }
		}
		out := []any{}
		for _, it := range items {
			v, err := get(it)
			if err != nil {
				return nil, err
			}
			ok, err := test(v)
			if err != nil {
				return nil, err
			}
			if ok == keep {
				out = append(out, it)
			}
		}
		return out, nil
	}
}

func fReplace(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("replace", args, kw, "old", "new", "count")
	if err != nil {
		return nil, err
	}
	if _, ok := a[1].(absent); ok {
		return nil, errors.New("replace() needs old and new")
	}
	return replace(pyStr(x), pyStr(a[0]), pyStr(a[1]), a[2])
}

func fReverse(x any, args []any, kw []kwarg) (any, error) {
	if s, ok := x.(string); ok {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[len(items)-1-i] = it
	}
	if _, ok := x.(*iterator); ok {
		// reversed() of a generator fails; jinja2 then reverses a list copy.
		return out, nil
	}
	return &iterator{kind: "list_reverseiterator", items: out}, nil
}

func fRound(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("round", args, kw, "precision", "method")
	if err != nil {
		return nil, err
	}
	f, _, ok := toNumber(x)
	if !ok {
		return nil, fmt.Errorf("round() needs a number, not %s", typeName(x))
	}
	prec, ok := toInt64(or(a[0], int64(0)))
	if !ok {
		return nil, errors.New("round() precision must be an integer")
	}
	p := math.Pow(10, float64(prec))
	switch or(a[1], "common") {
	case "common":
		if i, isInt := toInt64(x); isInt {
			// Python's round() of an int stays an int.
			if prec >= 0 {
				return i, nil
			}
			return int64(roundHalfEven(float64(i), prec)), nil
		}
		return roundHalfEven(f, prec), nil
	case "floor":
		return math.Floor(f*p) / p, nil
	case "ceil":
		return math.Ceil(f*p) / p, nil
	}
	return nil, errors.New("method must be 'common', 'ceil' or 'floor'")
}

// fSafe marks HTML as safe; with autoescape off (as Hugging Face renders)
// that changes nothing but strings it.
func fSafe(x any, args []any, kw []kwarg) (any, error) { return pyStr(x), nil }

func fSort(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("sort", args, kw, "reverse", "case_sensitive", "attribute")
	if err != nil {
		return nil, err
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	get := func(v any) (any, error) { return v, nil }
	if _, ok := a[2].(absent); !ok {
		if get, err = makeAttrGetter(a[2]); err != nil {
			return nil, err
		}
	}
	cs := truthy(or(a[1], false))
	return sortValues(items, func(v any) (any, error) {
		k, err := get(v)
		return sortKey(k, cs), err
	}, truthy(or(a[0], false)))
}

func fSum(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("sum", args, kw, "attribute", "start")
	if err != nil {
		return nil, err
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	if _, ok := a[0].(absent); !ok {
		if items, err = mapAttr(items, a[0], absent{}); err != nil {
			return nil, err
		}
	}
	total := or(a[1], int64(0))
	for _, it := range items {
		if total, err = arith("+", total, it); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func fToJSON(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("tojson", args, kw, "ensure_ascii", "indent", "separators", "sort_keys")
	if err != nil {
		return nil, err
	}
	o := jsonOptions{ensureASCII: truthy(or(a[0], false)), sortKeys: truthy(or(a[3], false))}
	switch ind := or(a[1], nil).(type) {
	case nil:
	case string:
		o.indent, o.pretty = ind, true
	default:
		n, ok := toInt64(ind)
		if !ok {
			return nil, fmt.Errorf("tojson indent must be an int or a string, not %s", typeName(ind))
		}
		if n > 1000 {
			return nil, errors.New("tojson indent larger than 1000")
		}
		o.indent, o.pretty = strings.Repeat(" ", int(max(n, 0))), true
	}
	o.itemSep, o.keySep = ", ", ": "
	if o.pretty {
		o.itemSep = ","
	}
	switch sep := or(a[2], nil).(type) {
	case nil:
	default:
		pair, ok := asList(sep)
		if !ok || len(pair) != 2 {
			return nil, errors.New("tojson separators must be an (item, key) pair")
		}
		is, ok1 := pair[0].(string)
		ks, ok2 := pair[1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("tojson separators must be strings")
		}
		o.itemSep, o.keySep = is, ks
	}
	return toJSON(x, o)
}

func fTrim(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("trim", args, kw, "chars")
	if err != nil {
		return nil, err
	}
	return pyStrip(pyStr(x), a[0], true, true)
}

func fUnique(x any, args []any, kw []kwarg) (any, error) {
	a, err := bindArgs("unique", args, kw, "case_sensitive", "attribute")
	if err != nil {
		return nil, err
	}
	items, err := iterate(x)
	if err != nil {
		return nil, err
	}
	keys := items
	if _, ok := a[1].(absent); !ok {
		if keys, err = mapAttr(items, a[1], absent{}); err != nil {
			return nil, err
		}
	}
	cs := truthy(or(a[0], false))
	var seen []any
	out := []any{}
	for i, it := range items {
		k := sortKey(keys[i], cs)
		dup := false
		for _, s := range seen {
			if equal(s, k) {
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, k)
			out = append(out, it)
		}
	}
	return out, nil
}

func fWordcount(x any, args []any, kw []kwarg) (any, error) {
	n := 0
	inWord := false
	for _, r := range pyStr(x) {
		w := r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
		if w && !inWord {
			n++
		}
		inWord = w
	}
	return int64(n), nil
}

// jinjaTitle is jinja2's title filter: words start after whitespace or one
// of -({[<, and each word is upper-cased first letter, lower-cased rest.
func jinjaTitle(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		if isPySpace(r) || strings.ContainsRune("-({[<", r) {
			b.WriteRune(r)
			start = true
			continue
		}
		if start {
			b.WriteRune(unicode.ToUpper(r))
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
		start = false
	}
	return b.String()
}

// htmlEscape is markupsafe's escape.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
