package chat

import (
	"fmt"
	"strings"
)

// Expression nodes. Each carries the template line it starts on, for errors.
type (
	constExpr struct {
		line int
		val  any
	}
	nameExpr struct {
		line int
		name string
	}
	listExpr struct {
		line  int
		items []expr
		tuple bool // (a, b) rather than [a, b]
	}
	dictExpr struct {
		line int
		keys []expr
		vals []expr
	}
	attrExpr struct { // obj.name
		line int
		obj  expr
		name string
	}
	itemExpr struct { // obj[key]
		line int
		obj  expr
		key  expr
	}
	sliceExpr struct { // obj[lo:hi:step], nil parts omitted
		line           int
		obj            expr
		lo, hi, stride expr
	}
	callExpr struct {
		line int
		fn   expr
		args []expr
		kw   []kwExpr
	}
	filterExpr struct { // x | name(args)
		line int
		x    expr
		name string
		args []expr
		kw   []kwExpr
	}
	testExpr struct { // x is [not] name(args)
		line int
		x    expr
		name string
		args []expr
		kw   []kwExpr
		neg  bool
	}
	binExpr struct { // arithmetic, ~, and, or
		line int
		op   string
		l, r expr
	}
	compareExpr struct { // a < b == c ..., chained like Python
		line  int
		first expr
		ops   []string // "==", "!=", "<", "<=", ">", ">=", "in", "notin"
		rest  []expr
	}
	unaryExpr struct { // not, -, +
		line int
		op   string
		x    expr
	}
	condExpr struct { // a if cond else b; b nil means Undefined
		line int
		cond expr
		a, b expr
	}
)

type kwExpr struct {
	name string
	val  expr
}

type expr interface{ lineNo() int }

func (e *constExpr) lineNo() int   { return e.line }
func (e *nameExpr) lineNo() int    { return e.line }
func (e *listExpr) lineNo() int    { return e.line }
func (e *dictExpr) lineNo() int    { return e.line }
func (e *attrExpr) lineNo() int    { return e.line }
func (e *itemExpr) lineNo() int    { return e.line }
func (e *sliceExpr) lineNo() int   { return e.line }
func (e *callExpr) lineNo() int    { return e.line }
func (e *filterExpr) lineNo() int  { return e.line }
func (e *testExpr) lineNo() int    { return e.line }
func (e *binExpr) lineNo() int     { return e.line }
func (e *compareExpr) lineNo() int { return e.line }
func (e *unaryExpr) lineNo() int   { return e.line }
func (e *condExpr) lineNo() int    { return e.line }

// Statement nodes.
type (
	textStmt struct {
		line int
		text string
	}
	outputStmt struct {
		line int
		x    expr
	}
	ifStmt struct {
		line   int
		conds  []expr   // if, elif, elif...
		bodies [][]stmt // one per cond
		els    []stmt
	}
	forStmt struct {
		line    int
		targets []string // loop variable names; several unpack each item
		unpack  bool     // target was written as a tuple
		iter    expr
		filter  expr // inline "if" condition, or nil
		body    []stmt
		els     []stmt // runs when no item passed the filter

		bodyUndef, elseUndef []string // see analyzeFrame
	}
	setStmt struct {
		line    int
		targets []string // names assigned; several unpack the value
		unpack  bool
		nsName  string // set ns.attr = ...: the namespace variable
		nsAttr  string
		x       expr
	}
	blockSetStmt struct { // {% set name %}body{% endset %}
		line    int
		name    string
		filters []*filterExpr // applied in order; x of each is nil
		body    []stmt
		undef   []string // see analyzeFrame
	}
	loopCtlStmt struct { // break or continue
		line int
		brk  bool
	}
	macroStmt struct {
		line     int
		name     string
		params   []string
		defaults []expr // aligned with the last len(defaults) params
		body     []stmt
		undef    []string // see analyzeFrame
	}
)

type stmt interface{}

// maxDepth bounds the nesting of expressions and blocks so hostile input
// cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	toks  []token
	pos   int
	depth int
	loops int // enclosing for bodies, for break/continue
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.val == op
}

func (p *parser) isName(name string) bool {
	t := p.peek()
	return t.kind == tName && t.val == name
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &SyntaxError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expectOp(op string) error {
	t := p.next()
	if t.kind != tOp || t.val != op {
		return p.errorf(t.line, "expected '%s', got %s", op, t)
	}
	return nil
}

func (p *parser) expectKind(k tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.errorf(t.line, "expected %s, got %s", what, t)
	}
	return t, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(p.peek().line, "nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseTemplate parses a whole template.
func parseTemplate(toks []token) ([]stmt, error) {
	p := &parser{toks: toks}
	body, end, err := p.parseBody()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, p.errorf(p.toks[p.pos-1].line, "unexpected '%s'", end)
	}
	return body, nil
}

// parseBody parses statements up to a block tag it does not own (an end or
// else tag, returned by name with the tag name consumed) or the end of the
// template ("").
func (p *parser) parseBody(ends ...string) ([]stmt, string, error) {
	if err := p.enter(); err != nil {
		return nil, "", err
	}
	defer p.leave()
	var body []stmt
	for {
		t := p.next()
		switch t.kind {
		case tEOF:
			if len(ends) > 0 {
				return nil, "", p.errorf(t.line, "unexpected end of template, expected '%s'", strings.Join(ends, "' or '"))
			}
			return body, "", nil
		case tData:
			body = append(body, &textStmt{line: t.line, text: t.val})
		case tVarBegin:
			x, err := p.parseTuple(true)
			if err != nil {
				return nil, "", err
			}
			if _, err := p.expectKind(tVarEnd, "end of print statement"); err != nil {
				return nil, "", err
			}
			body = append(body, &outputStmt{line: t.line, x: x})
		case tBlockBegin:
			name, err := p.expectKind(tName, "statement name")
			if err != nil {
				return nil, "", err
			}
			for _, e := range ends {
				if name.val == e {
					return body, e, nil
				}
			}
			s, err := p.parseStatement(name)
			if err != nil {
				return nil, "", err
			}
			if s != nil {
				body = append(body, s...)
			}
		default:
			return nil, "", p.errorf(t.line, "unexpected %s", t)
		}
	}
}

func (p *parser) endBlock() error {
	_, err := p.expectKind(tBlockEnd, "end of statement block")
	return err
}

// parseStatement parses the tag after "{% name"; it returns the statements
// it stands for (a generation block is just its body).
func (p *parser) parseStatement(name token) ([]stmt, error) {
	switch name.val {
	case "if":
		s, err := p.parseIf(name.line)
		return []stmt{s}, err
	case "for":
		s, err := p.parseFor(name.line)
		return []stmt{s}, err
	case "set":
		s, err := p.parseSet(name.line)
		return []stmt{s}, err
	case "macro":
		s, err := p.parseMacro(name.line)
		return []stmt{s}, err
	case "break", "continue":
		if p.loops == 0 {
			// jinja2 compiles to Python, which rejects this.
			return nil, p.errorf(name.line, "'%s' outside a loop", name.val)
		}
		if err := p.endBlock(); err != nil {
			return nil, err
		}
		return []stmt{&loopCtlStmt{line: name.line, brk: name.val == "break"}}, nil
	case "generation":
		// Hugging Face's AssistantTracker extension marks assistant text
		// for masks; for rendering the block is transparent.
		if err := p.endBlock(); err != nil {
			return nil, err
		}
		body, _, err := p.parseBody("endgeneration")
		if err != nil {
			return nil, err
		}
		return body, p.endBlock()
	}
	return nil, p.errorf(name.line, "unknown tag '%s'", name.val)
}

func (p *parser) parseIf(line int) (stmt, error) {
	s := &ifStmt{line: line}
	for {
		cond, err := p.parseExpr(false)
		if err != nil {
			return nil, err
		}
		if err := p.endBlock(); err != nil {
			return nil, err
		}
		body, end, err := p.parseBody("elif", "else", "endif")
		if err != nil {
			return nil, err
		}
		s.conds = append(s.conds, cond)
		s.bodies = append(s.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.endBlock(); err != nil {
				return nil, err
			}
			s.els, _, err = p.parseBody("endif")
			if err != nil {
				return nil, err
			}
		}
		return s, p.endBlock()
	}
}

// parseTargets parses assignment targets: a name or a tuple of names.
func (p *parser) parseTargets() ([]string, bool, error) {
	paren := false
	if p.isOp("(") {
		p.next()
		paren = true
	}
	var names []string
	unpack := paren
	for {
		t, err := p.expectKind(tName, "assignment target name")
		if err != nil {
			return nil, false, err
		}
		names = append(names, t.val)
		if !p.isOp(",") {
			break
		}
		p.next()
		unpack = true
		if paren && p.isOp(")") {
			break
		}
		if !paren && p.peek().kind != tName {
			break
		}
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return nil, false, err
		}
	}
	return names, unpack, nil
}

func (p *parser) parseFor(line int) (stmt, error) {
	s := &forStmt{line: line}
	var err error
	if s.targets, s.unpack, err = p.parseTargets(); err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tName || t.val != "in" {
		return nil, p.errorf(t.line, "expected 'in', got %s", t)
	}
	if s.iter, err = p.parseTuple(false); err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		if s.filter, err = p.parseTuple(true); err != nil {
			return nil, err
		}
	}
	if p.isName("recursive") {
		return nil, p.errorf(p.peek().line, "recursive for loops are not supported")
	}
	if err := p.endBlock(); err != nil {
		return nil, err
	}
	p.loops++
	body, end, err := p.parseBody("else", "endfor")
	p.loops--
	if err != nil {
		return nil, err
	}
	s.body = body
	if end == "else" {
		if err := p.endBlock(); err != nil {
			return nil, err
		}
		if s.els, _, err = p.parseBody("endfor"); err != nil {
			return nil, err
		}
	}
	return s, p.endBlock()
}

func (p *parser) parseSet(line int) (stmt, error) {
	// namespace attribute: set ns.attr = value
	if p.peek().kind == tName && p.toks[p.pos+1].kind == tOp && p.toks[p.pos+1].val == "." {
		ns := p.next()
		p.next()
		attr, err := p.expectKind(tName, "attribute name")
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		x, err := p.parseTuple(true)
		if err != nil {
			return nil, err
		}
		return &setStmt{line: line, nsName: ns.val, nsAttr: attr.val, x: x}, p.endBlock()
	}
	targets, unpack, err := p.parseTargets()
	if err != nil {
		return nil, err
	}
	if p.isOp("=") {
		p.next()
		x, err := p.parseTuple(true)
		if err != nil {
			return nil, err
		}
		return &setStmt{line: line, targets: targets, unpack: unpack, x: x}, p.endBlock()
	}
	if len(targets) != 1 || unpack {
		return nil, p.errorf(line, "block set takes exactly one name")
	}
	s := &blockSetStmt{line: line, name: targets[0]}
	for p.isOp("|") {
		p.next()
		f, err := p.parseFilter(nil)
		if err != nil {
			return nil, err
		}
		s.filters = append(s.filters, f)
	}
	if err := p.endBlock(); err != nil {
		return nil, err
	}
	if s.body, _, err = p.parseBody("endset"); err != nil {
		return nil, err
	}
	return s, p.endBlock()
}

func (p *parser) parseMacro(line int) (stmt, error) {
	name, err := p.expectKind(tName, "macro name")
	if err != nil {
		return nil, err
	}
	s := &macroStmt{line: line, name: name.val}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	for !p.isOp(")") {
		if len(s.params) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		arg, err := p.expectKind(tName, "macro parameter name")
		if err != nil {
			return nil, err
		}
		s.params = append(s.params, arg.val)
		if p.isOp("=") {
			p.next()
			d, err := p.parseExpr(true)
			if err != nil {
				return nil, err
			}
			s.defaults = append(s.defaults, d)
		} else if len(s.defaults) > 0 {
			return nil, p.errorf(arg.line, "non-default argument '%s' follows default argument", arg.val)
		}
	}
	p.next()
	if err := p.endBlock(); err != nil {
		return nil, err
	}
	// A macro is its own Python function: loops around it do not count.
	loops := p.loops
	p.loops = 0
	s.body, _, err = p.parseBody("endmacro")
	p.loops = loops
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tName && p.peek().val == s.name {
		p.next()
	}
	return s, p.endBlock()
}

// parseTuple parses an expression, or a tuple when commas separate several
// (jinja2's parse_tuple). withCond allows a top-level "x if c else y".
func (p *parser) parseTuple(withCond bool) (expr, error) {
	line := p.peek().line
	first, err := p.parseExpr(withCond)
	if err != nil {
		return nil, err
	}
	if !p.isOp(",") {
		return first, nil
	}
	items := []expr{first}
	for p.isOp(",") {
		p.next()
		if !p.startsExpr() {
			break
		}
		x, err := p.parseExpr(withCond)
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	return &listExpr{line: line, items: items, tuple: true}, nil
}

// startsExpr reports whether the next token can begin an expression.
func (p *parser) startsExpr() bool {
	t := p.peek()
	switch t.kind {
	case tName, tString, tInt, tFloat:
		return true
	case tOp:
		switch t.val {
		case "(", "[", "{", "-", "+":
			return true
		}
	}
	return false
}

// parseExpr parses a full expression (jinja2's parse_expression).
func (p *parser) parseExpr(withCond bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if !withCond {
		return p.parseOr()
	}
	line := p.peek().line
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		p.next()
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		c := &condExpr{line: line, cond: cond, a: x}
		if p.isName("else") {
			p.next()
			if c.b, err = p.parseExpr(true); err != nil {
				return nil, err
			}
		}
		x = c
	}
	return x, nil
}

func (p *parser) parseOr() (expr, error) {
	x, err := p.parseAnd()
	for err == nil && p.isName("or") {
		line := p.next().line
		var r expr
		if r, err = p.parseAnd(); err == nil {
			x = &binExpr{line: line, op: "or", l: x, r: r}
		}
	}
	return x, err
}

func (p *parser) parseAnd() (expr, error) {
	x, err := p.parseNot()
	for err == nil && p.isName("and") {
		line := p.next().line
		var r expr
		if r, err = p.parseNot(); err == nil {
			x = &binExpr{line: line, op: "and", l: x, r: r}
		}
	}
	return x, err
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		line := p.next().line
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{line: line, op: "not", x: x}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.peek().line
	first, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	c := &compareExpr{line: line, first: first}
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == "<=" || t.val == ">" || t.val == ">="):
			op = t.val
			p.next()
		case p.isName("in"):
			op = "in"
			p.next()
		case p.isName("not") && p.toks[p.pos+1].kind == tName && p.toks[p.pos+1].val == "in":
			op = "notin"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		c.ops = append(c.ops, op)
		c.rest = append(c.rest, r)
	}
	if len(c.ops) == 0 {
		return first, nil
	}
	return c, nil
}

// parseBinary parses a left-associative chain of the given operators over
// operands parsed by sub.
func (p *parser) parseBinary(sub func() (expr, error), ops ...string) (expr, error) {
	x, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, op := range ops {
			if t.kind == tOp && t.val == op {
				found = true
			}
		}
		if !found {
			return x, nil
		}
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		x = &binExpr{line: t.line, op: t.val, l: x, r: r}
	}
}

// jinja2's precedence, loosest first: + -, then ~, then * / // %, then **.
func (p *parser) parseMath1() (expr, error)  { return p.parseBinary(p.parseConcat, "+", "-") }
func (p *parser) parseConcat() (expr, error) { return p.parseBinary(p.parseMath2, "~") }
func (p *parser) parseMath2() (expr, error) {
	return p.parseBinary(p.parsePow, "*", "/", "//", "%")
}
func (p *parser) parsePow() (expr, error) {
	return p.parseBinary(func() (expr, error) { return p.parseUnary(true) }, "**")
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	var x expr
	var err error
	if t.kind == tOp && (t.val == "-" || t.val == "+") {
		p.next()
		var operand expr
		if operand, err = p.parseUnary(false); err != nil {
			return nil, err
		}
		x = &unaryExpr{line: t.line, op: t.val, x: operand}
	} else if x, err = p.parsePrimary(); err != nil {
		return nil, err
	}
	if x, err = p.parsePostfix(x); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(x)
	}
	return x, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tName:
		switch t.val {
		case "true", "True":
			return &constExpr{line: t.line, val: true}, nil
		case "false", "False":
			return &constExpr{line: t.line, val: false}, nil
		case "none", "None":
			return &constExpr{line: t.line, val: nil}, nil
		}
		return &nameExpr{line: t.line, name: t.val}, nil
	case tString:
		s := t.val
		for p.peek().kind == tString {
			s += p.next().val
		}
		return &constExpr{line: t.line, val: s}, nil
	case tInt:
		return &constExpr{line: t.line, val: t.ival}, nil
	case tFloat:
		return &constExpr{line: t.line, val: t.fval}, nil
	case tOp:
		switch t.val {
		case "(":
			return p.parseParen(t.line)
		case "[":
			items, err := p.parseItems("]")
			if err != nil {
				return nil, err
			}
			return &listExpr{line: t.line, items: items}, nil
		case "{":
			return p.parseDict(t.line)
		}
	}
	return nil, p.errorf(t.line, "unexpected %s", t)
}

// parseParen parses after "(": a parenthesized expression or a tuple.
func (p *parser) parseParen(line int) (expr, error) {
	if p.isOp(")") {
		p.next()
		return &listExpr{line: line, tuple: true}, nil
	}
	x, err := p.parseExpr(true)
	if err != nil {
		return nil, err
	}
	if p.isOp(")") {
		p.next()
		return x, nil
	}
	if err := p.expectOp(","); err != nil {
		return nil, err
	}
	items := []expr{x}
	more, err := p.parseItems(")")
	if err != nil {
		return nil, err
	}
	return &listExpr{line: line, items: append(items, more...), tuple: true}, nil
}

// parseItems parses comma-separated expressions up to the closing token,
// allowing a trailing comma.
func (p *parser) parseItems(closing string) ([]expr, error) {
	var items []expr
	for !p.isOp(closing) {
		if len(items) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			if p.isOp(closing) {
				break
			}
		}
		x, err := p.parseExpr(true)
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	p.next()
	return items, nil
}

func (p *parser) parseDict(line int) (expr, error) {
	d := &dictExpr{line: line}
	for !p.isOp("}") {
		if len(d.keys) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			if p.isOp("}") {
				break
			}
		}
		k, err := p.parseExpr(true)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(":"); err != nil {
			return nil, err
		}
		v, err := p.parseExpr(true)
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
	}
	p.next()
	return d, nil
}

// parsePostfix parses attribute access, subscripts and calls.
func (p *parser) parsePostfix(x expr) (expr, error) {
	for {
		t := p.peek()
		if t.kind != tOp {
			return x, nil
		}
		var err error
		switch t.val {
		case ".":
			p.next()
			a := p.next()
			switch a.kind {
			case tName:
				x = &attrExpr{line: t.line, obj: x, name: a.val}
			case tInt:
				x = &itemExpr{line: t.line, obj: x, key: &constExpr{line: a.line, val: a.ival}}
			default:
				return nil, p.errorf(a.line, "expected name or number after '.', got %s", a)
			}
		case "[":
			p.next()
			if x, err = p.parseSubscript(t.line, x); err != nil {
				return nil, err
			}
		case "(":
			p.next()
			args, kw, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{line: t.line, fn: x, args: args, kw: kw}
		default:
			return x, nil
		}
	}
}

// parseSubscript parses after "[": an index or a slice.
func (p *parser) parseSubscript(line int, obj expr) (expr, error) {
	var parts [3]expr
	n := 0 // colons seen
	for !p.isOp("]") {
		if p.isOp(":") {
			p.next()
			n++
			if n > 2 {
				return nil, p.errorf(line, "too many ':' in subscript")
			}
			continue
		}
		if parts[n] != nil {
			return nil, p.errorf(p.peek().line, "expected ':' or ']' in subscript, got %s", p.peek())
		}
		x, err := p.parseExpr(true)
		if err != nil {
			return nil, err
		}
		parts[n] = x
	}
	p.next()
	if n == 0 {
		if parts[0] == nil {
			return nil, p.errorf(line, "empty subscript")
		}
		return &itemExpr{line: line, obj: obj, key: parts[0]}, nil
	}
	return &sliceExpr{line: line, obj: obj, lo: parts[0], hi: parts[1], stride: parts[2]}, nil
}

// parseCallArgs parses after "(": positional then keyword arguments.
func (p *parser) parseCallArgs() ([]expr, []kwExpr, error) {
	var args []expr
	var kw []kwExpr
	for !p.isOp(")") {
		if len(args)+len(kw) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, nil, err
			}
			if p.isOp(")") {
				break
			}
		}
		t := p.peek()
		if t.kind == tName && p.toks[p.pos+1].kind == tOp && p.toks[p.pos+1].val == "=" {
			p.next()
			p.next()
			v, err := p.parseExpr(true)
			if err != nil {
				return nil, nil, err
			}
			kw = append(kw, kwExpr{name: t.val, val: v})
			continue
		}
		if len(kw) > 0 {
			return nil, nil, p.errorf(t.line, "positional argument follows keyword argument")
		}
		v, err := p.parseExpr(true)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	p.next()
	return args, kw, nil
}

// parseFilterExpr parses the "| filter" and "is test" chain after a unary
// expression.
func (p *parser) parseFilterExpr(x expr) (expr, error) {
	for {
		switch {
		case p.isOp("|"):
			p.next()
			f, err := p.parseFilter(x)
			if err != nil {
				return nil, err
			}
			x = f
		case p.isName("is"):
			p.next()
			t, err := p.parseTest(x)
			if err != nil {
				return nil, err
			}
			x = t
		case p.isOp("("):
			p.next()
			args, kw, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{line: p.peek().line, fn: x, args: args, kw: kw}
		default:
			return x, nil
		}
	}
}

// parseDottedName parses name(.name)*, the spelling of filters and tests.
func (p *parser) parseDottedName() (token, error) {
	t, err := p.expectKind(tName, "filter or test name")
	if err != nil {
		return t, err
	}
	for p.isOp(".") {
		p.next()
		n, err := p.expectKind(tName, "name after '.'")
		if err != nil {
			return t, err
		}
		t.val += "." + n.val
	}
	return t, nil
}

func (p *parser) parseFilter(x expr) (*filterExpr, error) {
	name, err := p.parseDottedName()
	if err != nil {
		return nil, err
	}
	if _, ok := filters[name.val]; !ok {
		return nil, p.errorf(name.line, "no filter named '%s'", name.val)
	}
	f := &filterExpr{line: name.line, x: x, name: name.val}
	if p.isOp("(") {
		p.next()
		if f.args, f.kw, err = p.parseCallArgs(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseTest(x expr) (expr, error) {
	neg := false
	if p.isName("not") {
		p.next()
		neg = true
	}
	name, err := p.parseDottedName()
	if err != nil {
		return nil, err
	}
	if _, ok := tests[name.val]; !ok {
		return nil, p.errorf(name.line, "no test named '%s'", name.val)
	}
	t := &testExpr{line: name.line, x: x, name: name.val, neg: neg}
	next := p.peek()
	switch {
	case p.isOp("("):
		p.next()
		if t.args, t.kw, err = p.parseCallArgs(); err != nil {
			return nil, err
		}
	case next.kind == tName || next.kind == tString || next.kind == tInt || next.kind == tFloat ||
		(next.kind == tOp && (next.val == "[" || next.val == "{")):
		// a single argument without parentheses: "is divisibleby 3"
		if next.kind == tName && (next.val == "else" || next.val == "or" || next.val == "and") {
			break
		}
		if next.kind == tName && next.val == "is" {
			return nil, p.errorf(next.line, "you cannot chain multiple tests with is")
		}
		arg, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		if arg, err = p.parsePostfix(arg); err != nil {
			return nil, err
		}
		t.args = []expr{arg}
	}
	return t, nil
}
