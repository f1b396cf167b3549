package chat

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// RenderError is a failure while rendering: a type error, a use of an
// undefined value, a limit, or the template's own raise_exception. Line is
// the 1-based template line of the expression or statement that failed.
type RenderError struct {
	Line int
	Msg  string
}

// Error formats the failure with its line.
func (e *RenderError) Error() string {
	return fmt.Sprintf("chat template: line %d: %s", e.Line, e.Msg)
}

// Limits that keep a hostile template from exhausting memory or time.
const (
	maxOutput    = 64 << 20  // bytes of rendered text
	maxSteps     = 1_000_000 // loop iterations plus macro calls in one render
	maxRange     = 100_000   // items range() may produce, as jinja2's sandbox
	maxCallDepth = 100       // nested macro calls
	maxAlloc     = 1 << 30   // bytes of strings computed in one render
)

// errBreak and errContinue unwind a loop body for {% break %} and
// {% continue %}.
var (
	errBreak    = errors.New("break outside a loop")
	errContinue = errors.New("continue outside a loop")
)

// scope is one level of variables: the render context, the template body,
// one loop iteration or one macro call. Scopes hold a handful of names, so
// a slice searched linearly beats a map (one is made per loop iteration).
type scope struct {
	names  []string
	vals   []any // aligned with names
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{parent: parent} }

// frameScope starts a frame's scope with its undefined-at-start names
// bound to Undefined, so lookups stop there (see analyzeFrame).
func frameScope(parent *scope, undef []string) *scope {
	s := newScope(parent)
	for _, name := range undef {
		s.set(name, undefinedName(name))
	}
	return s
}

// set assigns name in this scope.
func (s *scope) set(name string, v any) {
	for i, n := range s.names {
		if n == name {
			s.vals[i] = v
			return
		}
	}
	s.names = append(s.names, name)
	s.vals = append(s.vals, v)
}

// local looks name up in this scope only.
func (s *scope) local(name string) (any, bool) {
	for i, n := range s.names {
		if n == name {
			return s.vals[i], true
		}
	}
	return nil, false
}

// lookup finds name in this scope or the nearest enclosing one.
func (s *scope) lookup(name string) (any, bool) {
	for ; s != nil; s = s.parent {
		if v, ok := s.local(name); ok {
			return v, true
		}
	}
	return nil, false
}

// loopInfo is the "loop" variable of a for block.
type loopInfo struct {
	items  []any // the (filtered) items iterated
	index0 int   // position of the current item
}

// renderer holds the state of one Render call.
type renderer struct {
	out   *strings.Builder // where text goes; swapped while capturing
	steps int              // loop iterations and macro calls so far
	alloc int              // bytes of strings computed so far
	depth int              // macro call depth
}

// capture renders body into a string instead of the output, for block set
// and macro calls.
func (r *renderer) capture(sc *scope, body []stmt) (string, error) {
	saved := r.out
	r.out = &strings.Builder{}
	err := r.execBody(sc, body)
	s := r.out.String()
	r.out = saved
	return s, err
}

// fail wraps err with the line of the node that failed, keeping the
// innermost line when errors propagate outwards.
func fail(line int, err error) error {
	var re *RenderError
	if err == nil || errors.As(err, &re) || err == errBreak || err == errContinue {
		return err
	}
	return &RenderError{Line: line, Msg: err.Error()}
}

func (r *renderer) step(line int) error {
	r.steps++
	if r.steps > maxSteps {
		return &RenderError{Line: line, Msg: fmt.Sprintf("template exceeded %d loop iterations", maxSteps)}
	}
	return nil
}

func (r *renderer) write(line int, s string) error {
	if r.out.Len()+len(s) > maxOutput {
		return &RenderError{Line: line, Msg: fmt.Sprintf("rendered text exceeds %d bytes", maxOutput)}
	}
	r.out.WriteString(s)
	return nil
}

func (r *renderer) execBody(sc *scope, body []stmt) error {
	for _, s := range body {
		if err := r.exec(sc, s); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) exec(sc *scope, s stmt) error {
	switch s := s.(type) {
	case *textStmt:
		return r.write(s.line, s.text)
	case *outputStmt:
		v, err := r.eval(sc, s.x)
		if err != nil {
			return err
		}
		return r.write(s.line, pyStr(v))
	case *ifStmt:
		for i, c := range s.conds {
			v, err := r.eval(sc, c)
			if err != nil {
				return err
			}
			if truthy(v) {
				return r.execBody(sc, s.bodies[i])
			}
		}
		return r.execBody(sc, s.els)
	case *forStmt:
		return r.execFor(sc, s)
	case *setStmt:
		return r.execSet(sc, s)
	case *blockSetStmt:
		return r.execBlockSet(sc, s)
	case *loopCtlStmt:
		if s.brk {
			return errBreak
		}
		return errContinue
	case *macroStmt:
		sc.set(s.name, r.macro(sc, s))
		return nil
	}
	return fmt.Errorf("internal error: unknown statement %T", s)
}

// bind assigns v to targets, unpacking it when there are several.
func bind(sc *scope, targets []string, unpack bool, v any) error {
	if !unpack {
		sc.set(targets[0], v)
		return nil
	}
	items, err := iterate(v)
	if err != nil {
		return fmt.Errorf("cannot unpack: %v", err)
	}
	if len(items) != len(targets) {
		return fmt.Errorf("cannot unpack %d values into %d names", len(items), len(targets))
	}
	for i, t := range targets {
		sc.set(t, items[i])
	}
	return nil
}

func (r *renderer) execFor(sc *scope, s *forStmt) error {
	seq, err := r.eval(sc, s.iter)
	if err != nil {
		return err
	}
	all, err := iterate(seq)
	if err != nil {
		return fail(s.line, err)
	}
	items := all
	if s.filter != nil {
		items = nil
		for _, it := range all {
			fs := newScope(sc)
			if err := bind(fs, s.targets, s.unpack, it); err != nil {
				return fail(s.line, err)
			}
			ok, err := r.eval(fs, s.filter)
			if err != nil {
				return err
			}
			if truthy(ok) {
				items = append(items, it)
			}
		}
	}
	if len(items) == 0 {
		return r.execBody(frameScope(sc, s.elseUndef), s.els)
	}
	for i, it := range items {
		if err := r.step(s.line); err != nil {
			return err
		}
		// Each iteration gets a fresh scope: jinja2 does not carry
		// assignments from one iteration to the next or out of the loop.
		is := frameScope(sc, s.bodyUndef)
		if err := bind(is, s.targets, s.unpack, it); err != nil {
			return fail(s.line, err)
		}
		is.set("loop", &loopInfo{items: items, index0: i})
		err := r.execBody(is, s.body)
		if err == errBreak {
			break
		}
		if err != nil && err != errContinue {
			return err
		}
	}
	return nil
}

func (r *renderer) execSet(sc *scope, s *setStmt) error {
	v, err := r.eval(sc, s.x)
	if err != nil {
		return err
	}
	if s.nsName != "" {
		obj, _ := sc.lookup(s.nsName)
		ns, ok := obj.(*namespace)
		if !ok {
			return &RenderError{Line: s.line, Msg: fmt.Sprintf("cannot assign attribute on non-namespace object '%s'", s.nsName)}
		}
		ns.attrs.set(s.nsAttr, v)
		return nil
	}
	return fail(s.line, bind(sc, s.targets, s.unpack, v))
}

func (r *renderer) execBlockSet(sc *scope, s *blockSetStmt) error {
	text, err := r.capture(frameScope(sc, s.undef), s.body)
	if err != nil {
		return err
	}
	var v any = text
	for _, f := range s.filters {
		if v, err = r.applyFilter(sc, f, v); err != nil {
			return err
		}
	}
	sc.set(s.name, v)
	return nil
}

// macro makes the callable a {% macro %} defines. The body runs in a new
// scope over the defining one, so it sees later assignments there, like
// jinja2's.
func (r *renderer) macro(def *scope, m *macroStmt) callable {
	return callable{name: m.name, fn: func(args []any, kw []kwarg) (any, error) {
		if len(args) > len(m.params) {
			return nil, fmt.Errorf("macro '%s' takes not more than %d argument(s)", m.name, len(m.params))
		}
		if r.depth >= maxCallDepth {
			return nil, fmt.Errorf("macro calls nested deeper than %d", maxCallDepth)
		}
		if err := r.step(m.line); err != nil {
			return nil, err
		}
		ms := frameScope(def, m.undef)
		for i, a := range args {
			ms.set(m.params[i], a)
		}
		for _, k := range kw {
			found := false
			for _, p := range m.params {
				found = found || p == k.name
			}
			if !found {
				return nil, fmt.Errorf("macro '%s' has no parameter '%s'", m.name, k.name)
			}
			ms.set(k.name, k.val)
		}
		firstDefault := len(m.params) - len(m.defaults)
		for i, p := range m.params {
			if _, ok := ms.local(p); ok {
				continue
			}
			if i >= firstDefault {
				v, err := r.eval(ms, m.defaults[i-firstDefault])
				if err != nil {
					return nil, err
				}
				ms.set(p, v)
				continue
			}
			ms.set(p, undefined{msg: fmt.Sprintf("parameter '%s' was not provided", p)})
		}
		r.depth++
		text, err := r.capture(ms, m.body)
		r.depth--
		if err != nil {
			return nil, err
		}
		return text, nil
	}}
}

func (r *renderer) eval(sc *scope, e expr) (any, error) {
	v, err := r.evalRaw(sc, e)
	if err != nil {
		return nil, fail(e.lineNo(), err)
	}
	// Charge computed strings to a budget: each fits maxOutput, but a
	// loop could build them a million times.
	if s, ok := v.(string); ok {
		switch e.(type) {
		case *binExpr, *filterExpr, *callExpr:
			r.alloc += len(s)
			if r.alloc > maxAlloc {
				return nil, &RenderError{Line: e.lineNo(), Msg: fmt.Sprintf("template computed more than %d bytes of strings", maxAlloc)}
			}
		}
	}
	return v, nil
}

func (r *renderer) evalList(sc *scope, es []expr) ([]any, error) {
	out := make([]any, len(es))
	for i, e := range es {
		v, err := r.eval(sc, e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (r *renderer) evalKw(sc *scope, kws []kwExpr) ([]kwarg, error) {
	out := make([]kwarg, len(kws))
	for i, k := range kws {
		v, err := r.eval(sc, k.val)
		if err != nil {
			return nil, err
		}
		out[i] = kwarg{name: k.name, val: v}
	}
	return out, nil
}

func (r *renderer) evalRaw(sc *scope, e expr) (any, error) {
	switch e := e.(type) {
	case *constExpr:
		return e.val, nil
	case *nameExpr:
		if v, ok := sc.lookup(e.name); ok {
			return v, nil
		}
		return undefinedName(e.name), nil
	case *listExpr:
		items, err := r.evalList(sc, e.items)
		if err != nil {
			return nil, err
		}
		if e.tuple {
			return tuple(items), nil
		}
		return items, nil
	case *dictExpr:
		d := newDict()
		for i := range e.keys {
			k, err := r.eval(sc, e.keys[i])
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict keys must be strings, got %s", typeName(k))
			}
			v, err := r.eval(sc, e.vals[i])
			if err != nil {
				return nil, err
			}
			d.set(ks, v)
		}
		return d, nil
	case *attrExpr:
		obj, err := r.eval(sc, e.obj)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, e.name)
	case *itemExpr:
		obj, err := r.eval(sc, e.obj)
		if err != nil {
			return nil, err
		}
		key, err := r.eval(sc, e.key)
		if err != nil {
			return nil, err
		}
		return getItem(obj, key)
	case *sliceExpr:
		return r.evalSlice(sc, e)
	case *callExpr:
		fn, err := r.eval(sc, e.fn)
		if err != nil {
			return nil, err
		}
		args, err := r.evalList(sc, e.args)
		if err != nil {
			return nil, err
		}
		kw, err := r.evalKw(sc, e.kw)
		if err != nil {
			return nil, err
		}
		return call(fn, args, kw)
	case *filterExpr:
		x, err := r.eval(sc, e.x)
		if err != nil {
			return nil, err
		}
		return r.applyFilter(sc, e, x)
	case *testExpr:
		return r.evalTest(sc, e)
	case *binExpr:
		return r.evalBinary(sc, e)
	case *compareExpr:
		return r.evalCompare(sc, e)
	case *unaryExpr:
		x, err := r.eval(sc, e.x)
		if err != nil {
			return nil, err
		}
		return unary(e.op, x)
	case *condExpr:
		c, err := r.eval(sc, e.cond)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return r.eval(sc, e.a)
		}
		if e.b == nil {
			return undefined{msg: "the inline if-expression evaluated to false and no else section was defined"}, nil
		}
		return r.eval(sc, e.b)
	}
	return nil, fmt.Errorf("internal error: unknown expression %T", e)
}

func call(fn any, args []any, kw []kwarg) (any, error) {
	switch f := fn.(type) {
	case callable:
		return f.fn(args, kw)
	case undefined:
		return nil, f.err()
	}
	return nil, fmt.Errorf("'%s' object is not callable", typeName(fn))
}

func (r *renderer) applyFilter(sc *scope, f *filterExpr, x any) (any, error) {
	args, err := r.evalList(sc, f.args)
	if err != nil {
		return nil, err
	}
	kw, err := r.evalKw(sc, f.kw)
	if err != nil {
		return nil, err
	}
	v, err := runFilter(f.name, x, args, kw)
	if err != nil {
		return nil, fail(f.line, err)
	}
	return v, nil
}

func (r *renderer) evalTest(sc *scope, e *testExpr) (any, error) {
	x, err := r.eval(sc, e.x)
	if err != nil {
		return nil, err
	}
	args, err := r.evalList(sc, e.args)
	if err != nil {
		return nil, err
	}
	kw, err := r.evalKw(sc, e.kw)
	if err != nil {
		return nil, err
	}
	ok, err := runTest(e.name, x, args, kw)
	if err != nil {
		return nil, err
	}
	return ok != e.neg, nil
}

func (r *renderer) evalBinary(sc *scope, e *binExpr) (any, error) {
	l, err := r.eval(sc, e.l)
	if err != nil {
		return nil, err
	}
	// and/or short-circuit and return an operand, as in Python.
	switch e.op {
	case "and":
		if !truthy(l) {
			return l, nil
		}
		return r.eval(sc, e.r)
	case "or":
		if truthy(l) {
			return l, nil
		}
		return r.eval(sc, e.r)
	}
	rv, err := r.eval(sc, e.r)
	if err != nil {
		return nil, err
	}
	if e.op == "~" {
		s := pyStr(l) + pyStr(rv)
		if len(s) > maxOutput {
			return nil, fmt.Errorf("string longer than %d bytes", maxOutput)
		}
		return s, nil
	}
	return arith(e.op, l, rv)
}

func (r *renderer) evalCompare(sc *scope, e *compareExpr) (any, error) {
	l, err := r.eval(sc, e.first)
	if err != nil {
		return nil, err
	}
	for i, op := range e.ops {
		rv, err := r.eval(sc, e.rest[i])
		if err != nil {
			return nil, err
		}
		ok, err := compareOp(op, l, rv)
		if err != nil {
			return nil, err
		}
		if !ok {
			return false, nil
		}
		l = rv
	}
	return true, nil
}

func compareOp(op string, l, r any) (bool, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in":
		return contains(r, l)
	case "notin":
		ok, err := contains(r, l)
		return !ok, err
	}
	if u, ok := l.(undefined); ok {
		return false, u.err()
	}
	if u, ok := r.(undefined); ok {
		return false, u.err()
	}
	c, err := compare(l, r)
	if err != nil {
		return false, errors.New(strings.Replace(err.Error(), "'<'", "'"+op+"'", 1))
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func unary(op string, x any) (any, error) {
	if op == "not" {
		return !truthy(x), nil
	}
	if u, ok := x.(undefined); ok {
		return nil, u.err()
	}
	if i, ok := toInt64(x); ok {
		if op == "-" {
			return -i, nil
		}
		return i, nil
	}
	if f, ok := x.(float64); ok {
		if op == "-" {
			return -f, nil
		}
		return f, nil
	}
	return nil, fmt.Errorf("bad operand type for unary %s: '%s'", op, typeName(x))
}

// arith is Python's + - * / // % ** on template values.
func arith(op string, l, r any) (any, error) {
	if u, ok := l.(undefined); ok {
		return nil, u.err()
	}
	if u, ok := r.(undefined); ok {
		return nil, u.err()
	}
	li, lInt := toInt64(l)
	ri, rInt := toInt64(r)
	lf, _, lNum := toNumber(l)
	rf, _, rNum := toNumber(r)
	if lNum && rNum {
		if lInt && rInt {
			return intArith(op, li, ri)
		}
		return floatArith(op, lf, rf)
	}
	switch op {
	case "+":
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				if len(ls)+len(rs) > maxOutput {
					return nil, fmt.Errorf("string longer than %d bytes", maxOutput)
				}
				return ls + rs, nil
			}
		}
		if ll, ok := asList(l); ok && sameKind(l, r) {
			if rl, ok := asList(r); ok {
				if len(ll)+len(rl) > maxRange {
					return nil, fmt.Errorf("list longer than %d items", maxRange)
				}
				out := append(append([]any{}, ll...), rl...)
				if _, ok := l.(tuple); ok {
					return tuple(out), nil
				}
				return out, nil
			}
		}
	case "*":
		if s, n, ok := repeatOperands(l, r); ok {
			return repeat(s, n)
		}
	case "%":
		if f, ok := l.(string); ok {
			return printf(f, r)
		}
	}
	return nil, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(r))
}

func repeatOperands(l, r any) (any, int64, bool) {
	if n, ok := toInt64(r); ok {
		switch l.(type) {
		case string, []any, tuple:
			return l, n, true
		}
	}
	if n, ok := toInt64(l); ok {
		switch r.(type) {
		case string, []any, tuple:
			return r, n, true
		}
	}
	return nil, 0, false
}

func repeat(v any, n int64) (any, error) {
	if n < 0 {
		n = 0
	}
	switch x := v.(type) {
	case string:
		if n > 0 && int64(len(x)) > maxOutput/n {
			return nil, fmt.Errorf("string longer than %d bytes", maxOutput)
		}
		return strings.Repeat(x, int(n)), nil
	default:
		l, _ := asList(x)
		if n > 0 && int64(len(l)) > maxRange/n {
			return nil, fmt.Errorf("list longer than %d items", maxRange)
		}
		out := make([]any, 0, int(n)*len(l))
		for i := int64(0); i < n; i++ {
			out = append(out, l...)
		}
		if _, ok := x.(tuple); ok {
			return tuple(out), nil
		}
		return out, nil
	}
}

func intArith(op string, a, b int64) (any, error) {
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, errors.New("division by zero")
		}
		return float64(a) / float64(b), nil
	case "//", "%":
		if b == 0 {
			return nil, errors.New("integer division or modulo by zero")
		}
		q, m := a/b, a%b
		// Python rounds the quotient towards negative infinity.
		if m != 0 && (m < 0) != (b < 0) {
			q--
			m += b
		}
		if op == "//" {
			return q, nil
		}
		return m, nil
	case "**":
		return intPow(a, b)
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

// intPow is Python's a ** b for ints; a negative exponent gives a float.
func intPow(a, b int64) (any, error) {
	switch {
	case b < 0:
		return math.Pow(float64(a), float64(b)), nil
	case b == 0 || a == 1:
		return int64(1), nil
	case a == 0:
		return int64(0), nil
	case a == -1:
		if b%2 == 0 {
			return int64(1), nil
		}
		return int64(-1), nil
	case b > 63:
		return nil, errors.New("integer power overflows int64")
	}
	res := int64(1)
	for i := int64(0); i < b; i++ {
		hi, lo := bits.Mul64(uint64(abs64(res)), uint64(abs64(a)))
		if hi != 0 || lo > math.MaxInt64 {
			return nil, errors.New("integer power overflows int64")
		}
		res *= a
	}
	return res, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// floatDivmod is Python's divmod for floats (float_divmod in CPython),
// which derives the quotient from the exact fmod remainder: 3 // 0.1 is 29.
func floatDivmod(a, b float64) (float64, float64) {
	mod := math.Mod(a, b)
	div := (a - mod) / b
	if mod != 0 {
		if (b < 0) != (mod < 0) {
			mod += b
			div--
		}
	} else {
		mod = math.Copysign(0, b)
	}
	if div == 0 {
		return math.Copysign(0, a/b), mod
	}
	floor := math.Floor(div)
	if div-floor > 0.5 {
		floor++
	}
	return floor, mod
}

func floatArith(op string, a, b float64) (any, error) {
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, errors.New("float division by zero")
		}
		return a / b, nil
	case "//", "%":
		if b == 0 {
			return nil, errors.New("float floor division or modulo by zero")
		}
		div, mod := floatDivmod(a, b)
		if op == "//" {
			return div, nil
		}
		return mod, nil
	case "**":
		return math.Pow(a, b), nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

func (r *renderer) evalSlice(sc *scope, e *sliceExpr) (any, error) {
	obj, err := r.eval(sc, e.obj)
	if err != nil {
		return nil, err
	}
	var bounds [3]*int64
	for i, x := range []expr{e.lo, e.hi, e.stride} {
		if x == nil {
			continue
		}
		v, err := r.eval(sc, x)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		n, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("slice indices must be integers or None, not %s", typeName(v))
		}
		bounds[i] = &n
	}
	return slice(obj, bounds[0], bounds[1], bounds[2])
}

// slice is Python's obj[lo:hi:step] for strings, lists and tuples.
func slice(obj any, lo, hi, stride *int64) (any, error) {
	var n int
	var runes []rune
	var list []any
	switch x := obj.(type) {
	case string:
		runes = []rune(x)
		n = len(runes)
	case []any:
		list, n = x, len(x)
	case tuple:
		list, n = x, len(x)
	case undefined:
		return nil, x.err()
	default:
		return nil, fmt.Errorf("'%s' object is not subscriptable", typeName(obj))
	}
	step := int64(1)
	if stride != nil {
		step = *stride
	}
	if step == 0 {
		return nil, errors.New("slice step cannot be zero")
	}
	// Python's PySlice_AdjustIndices.
	clamp := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += int64(n)
			if v < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		} else if v >= int64(n) {
			if step < 0 {
				return int64(n) - 1
			}
			return int64(n)
		}
		return v
	}
	var start, stop int64
	if step > 0 {
		start, stop = clamp(lo, 0), clamp(hi, int64(n))
	} else {
		start, stop = clamp(lo, int64(n)-1), clamp(hi, -1)
	}
	var idx []int
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		idx = append(idx, int(i))
	}
	if runes != nil || n == 0 {
		if _, ok := obj.(string); ok {
			out := make([]rune, len(idx))
			for i, j := range idx {
				out[i] = runes[j]
			}
			return string(out), nil
		}
	}
	out := make([]any, len(idx))
	for i, j := range idx {
		out[i] = list[j]
	}
	if _, ok := obj.(tuple); ok {
		return tuple(out), nil
	}
	return out, nil
}
