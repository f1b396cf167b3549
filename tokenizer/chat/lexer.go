package chat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tData       tokKind = iota // literal template text
	tVarBegin                  // {{
	tVarEnd                    // }}
	tBlockBegin                // {%
	tBlockEnd                  // %}
	tName                      // identifier
	tString                    // string literal, val unescaped
	tInt                       // integer literal, ival
	tFloat                     // float literal, fval
	tOp                        // operator, val is its spelling
	tEOF
)

type token struct {
	kind tokKind
	val  string
	ival int64
	fval float64
	line int
}

func (t token) String() string {
	switch t.kind {
	case tData:
		return "template data"
	case tVarBegin:
		return "begin of print statement"
	case tVarEnd:
		return "end of print statement"
	case tBlockBegin:
		return "begin of statement block"
	case tBlockEnd:
		return "end of statement block"
	case tString:
		return "string " + pyRepr(t.val)
	case tInt, tFloat, tName, tOp:
		return "'" + t.val + "'"
	}
	return "end of template"
}

// operators in the order the lexer tries them: longest first, as jinja2's
// operator regex does.
var operators = []string{
	"//", "**", "==", "!=", ">=", "<=",
	"+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
	">", "<", "=", ".", ":", "|", ",", ";",
}

// SyntaxError is a template that cannot be lexed or parsed. Line is 1-based.
type SyntaxError struct {
	Line int
	Msg  string
}

// Error formats the failure with its line.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("chat template: syntax error at line %d: %s", e.Line, e.Msg)
}

// lexer splits a template into tokens with jinja2's rules under the settings
// Hugging Face uses (trim_blocks, lstrip_blocks, keep_trailing_newline off).
type lexer struct {
	src          string
	pos          int
	line         int
	toks         []token
	lineStarting bool   // the previous tag ended with a newline (lstrip_blocks applies)
	balance      []byte // open brackets inside a tag: their closers
}

// normalizeSource applies jinja2's source preprocessing: every \r\n or \r
// becomes \n, and one trailing newline is dropped.
func normalizeSource(src string) string {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	return strings.TrimSuffix(src, "\n")
}

func lex(src string) ([]token, error) {
	src = normalizeSource(src)
	// Chat templates run about one token per 4 bytes; sizing the slice
	// once avoids most of the lexer's allocation.
	lx := &lexer{src: src, line: 1, lineStarting: true, toks: make([]token, 0, len(src)/4+1)}
	if err := lx.run(); err != nil {
		return nil, err
	}
	lx.toks = append(lx.toks, token{kind: tEOF, line: lx.line})
	return lx.toks, nil
}

func (lx *lexer) errorf(format string, args ...any) error {
	return &SyntaxError{Line: lx.line, Msg: fmt.Sprintf(format, args...)}
}

func (lx *lexer) emit(kind tokKind, val string) {
	lx.toks = append(lx.toks, token{kind: kind, val: val, line: lx.line})
}

// run is the root state: template data up to the next tag opener.
func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		rest := lx.src[lx.pos:]
		idx := nextOpener(rest)
		if idx < 0 {
			lx.emit(tData, rest)
			lx.line += strings.Count(rest, "\n")
			lx.pos = len(lx.src)
			return nil
		}
		text := rest[:idx]
		open := rest[idx : idx+2]
		after := idx + 2
		sign := byte(0)
		if after < len(rest) && (rest[after] == '-' || rest[after] == '+') {
			sign = rest[after]
			after++
		}
		rawEnd := 0
		if open == "{%" {
			rawEnd = matchRawBegin(rest[after:])
		}
		newlines := strings.Count(text, "\n")
		switch {
		case sign == '-':
			text = strings.TrimRightFunc(text, isPySpace)
		case sign != '+' && open != "{{":
			text = lstripBlock(text, lx.lineStarting)
		}
		if text != "" {
			lx.emit(tData, text)
		}
		lx.line += newlines
		lx.pos += after
		var err error
		switch {
		case rawEnd > 0:
			lx.pos += rawEnd
			err = lx.raw()
		case open == "{#":
			err = lx.comment()
		case open == "{%":
			lx.emit(tBlockBegin, "")
			err = lx.tag(tBlockEnd)
		default:
			lx.emit(tVarBegin, "")
			err = lx.tag(tVarEnd)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextOpener finds the first "{{", "{%" or "{#".
func nextOpener(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

// lstripBlock implements lstrip_blocks: spaces and tabs between the start
// of the line and a block or comment tag are removed. At the very start of
// the data (no newline in it) this only applies when the previous tag ended
// a line.
func lstripBlock(text string, lineStarting bool) string {
	l := strings.LastIndexByte(text, '\n') + 1
	if l == 0 && !lineStarting {
		return text
	}
	tail := text[l:]
	if tail != "" && strings.TrimLeftFunc(tail, isPySpace) == "" {
		return text[:l]
	}
	return text
}

// matchRawBegin matches the rest of "{% raw %}" after the opener and sign;
// it returns the length matched or 0. No trim_blocks after a raw opener, as
// in jinja2.
func matchRawBegin(s string) int {
	i := skipSpace(s, 0)
	if !strings.HasPrefix(s[i:], "raw") {
		return 0
	}
	i = skipSpace(s, i+3)
	if strings.HasPrefix(s[i:], "-%}") {
		return skipSpace(s, i+3)
	}
	if strings.HasPrefix(s[i:], "%}") {
		return i + 2
	}
	return 0
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isPySpace(r) {
			break
		}
		i += n
	}
	return i
}

// blockEnd matches a block end ("+%}", "-%}" plus whitespace, or "%}" plus
// one newline under trim_blocks) at the start of s; it returns its length.
func blockEnd(s, close string) int {
	switch {
	case strings.HasPrefix(s, "+"+close):
		return 3
	case strings.HasPrefix(s, "-"+close):
		return skipSpace(s, 3)
	case strings.HasPrefix(s, close):
		if strings.HasPrefix(s[2:], "\n") {
			return 3
		}
		return 2
	}
	return 0
}

// comment skips to the end of a {# #} comment.
func (lx *lexer) comment() error {
	rest := lx.src[lx.pos:]
	for i := 0; i < len(rest); i++ {
		if n := blockEnd(rest[i:], "#}"); n > 0 {
			m := rest[:i+n]
			lx.line += strings.Count(m, "\n")
			lx.pos += i + n
			lx.lineStarting = strings.HasSuffix(m, "\n")
			return nil
		}
	}
	return lx.errorf("missing end of comment tag")
}

// raw copies text verbatim up to {% endraw %}.
func (lx *lexer) raw() error {
	rest := lx.src[lx.pos:]
	for i := 0; i+1 < len(rest); i++ {
		if rest[i] != '{' || rest[i+1] != '%' {
			continue
		}
		j := i + 2
		sign := byte(0)
		if j < len(rest) && (rest[j] == '-' || rest[j] == '+') {
			sign = rest[j]
			j++
		}
		j = skipSpace(rest, j)
		if !strings.HasPrefix(rest[j:], "endraw") {
			continue
		}
		j = skipSpace(rest, j+len("endraw"))
		n := blockEnd(rest[j:], "%}")
		if n == 0 {
			continue
		}
		text := rest[:i]
		newlines := strings.Count(text, "\n")
		switch sign {
		case '-':
			text = strings.TrimRightFunc(text, isPySpace)
		case 0:
			text = lstripBlock(text, lx.lineStarting)
		}
		if text != "" {
			lx.emit(tData, text)
		}
		m := rest[i : j+n]
		lx.line += newlines + strings.Count(m, "\n")
		lx.pos += j + n
		lx.lineStarting = strings.HasSuffix(m, "\n")
		return nil
	}
	return lx.errorf("missing end of raw directive")
}

// tag lexes the inside of {{ }} or {% %} up to its end token.
func (lx *lexer) tag(end tokKind) error {
	close := "}}"
	if end == tBlockEnd {
		close = "%}"
	}
	for lx.pos < len(lx.src) {
		rest := lx.src[lx.pos:]
		if len(lx.balance) == 0 {
			n := 0
			if end == tBlockEnd {
				n = blockEnd(rest, close)
			} else if strings.HasPrefix(rest, "-}}") {
				n = skipSpace(rest, 3)
			} else if strings.HasPrefix(rest, "}}") {
				n = 2
			}
			if n > 0 {
				m := rest[:n]
				lx.emit(end, "")
				lx.line += strings.Count(m, "\n")
				lx.pos += n
				lx.lineStarting = strings.HasSuffix(m, "\n")
				return nil
			}
		}
		if n := skipSpace(rest, 0); n > 0 {
			lx.line += strings.Count(rest[:n], "\n")
			lx.pos += n
			continue
		}
		if err := lx.tagToken(rest); err != nil {
			return err
		}
	}
	if end == tBlockEnd {
		return lx.errorf("unexpected end of template, expected end of statement block")
	}
	return lx.errorf("unexpected end of template, expected end of print statement")
}

// tagToken lexes one number, name, string or operator at the start of rest.
func (lx *lexer) tagToken(rest string) error {
	prevDot := lx.pos > 0 && lx.src[lx.pos-1] == '.'
	if n := scanFloat(rest); n > 0 && !prevDot {
		f, err := strconv.ParseFloat(strings.ReplaceAll(rest[:n], "_", ""), 64)
		if err != nil {
			return lx.errorf("bad float literal %q", rest[:n])
		}
		lx.toks = append(lx.toks, token{kind: tFloat, val: rest[:n], fval: f, line: lx.line})
		lx.pos += n
		return nil
	}
	if n := scanInt(rest); n > 0 {
		v, err := strconv.ParseInt(strings.ReplaceAll(rest[:n], "_", ""), 0, 64)
		if err != nil {
			return lx.errorf("integer literal %q out of range", rest[:n])
		}
		lx.toks = append(lx.toks, token{kind: tInt, val: rest[:n], ival: v, line: lx.line})
		lx.pos += n
		return nil
	}
	if n := scanName(rest); n > 0 {
		lx.emit(tName, rest[:n])
		lx.pos += n
		return nil
	}
	if rest[0] == '\'' || rest[0] == '"' {
		n := scanString(rest)
		if n > 0 {
			s, err := unescape(rest[1 : n-1])
			if err != nil {
				return lx.errorf("%v", err)
			}
			lx.emit(tString, s)
			lx.line += strings.Count(rest[:n], "\n")
			lx.pos += n
			return nil
		}
	}
	for _, op := range operators {
		if !strings.HasPrefix(rest, op) {
			continue
		}
		switch op {
		case "{":
			lx.balance = append(lx.balance, '}')
		case "(":
			lx.balance = append(lx.balance, ')')
		case "[":
			lx.balance = append(lx.balance, ']')
		case "}", ")", "]":
			if len(lx.balance) == 0 {
				return lx.errorf("unexpected '%s'", op)
			}
			want := lx.balance[len(lx.balance)-1]
			lx.balance = lx.balance[:len(lx.balance)-1]
			if want != op[0] {
				return lx.errorf("unexpected '%s', expected '%c'", op, want)
			}
		}
		lx.emit(tOp, op)
		lx.pos += len(op)
		return nil
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return lx.errorf("unexpected char %s", pyRepr(string(r)))
}

// scanDigits matches (\d+_)*\d+ (or with a custom digit set) and returns
// its length.
func scanDigits(s string, isDigit func(byte) bool) int {
	i := 0
	for {
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			if start == 0 {
				return 0
			}
			return start - 1 // drop a trailing '_'
		}
		if i < len(s) && s[i] == '_' && i+1 < len(s) && isDigit(s[i+1]) {
			i++
			continue
		}
		return i
	}
}

func isDec(c byte) bool { return c >= '0' && c <= '9' }

// scanFloat matches jinja2's float literal: digits then a fraction, an
// exponent or both.
func scanFloat(s string) int {
	i := scanDigits(s, isDec)
	if i == 0 {
		return 0
	}
	frac := 0
	if i < len(s) && s[i] == '.' {
		frac = scanDigits(s[i+1:], isDec)
		if frac > 0 {
			frac++
		}
	}
	j := i + frac
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if n := scanDigits(s[k:], isDec); n > 0 {
			return k + n
		}
	}
	if frac > 0 {
		return j
	}
	return 0
}

// scanInt matches jinja2's integer literal (decimal, 0b, 0o, 0x, with '_'
// separators).
func scanInt(s string) int {
	if len(s) == 0 || !isDec(s[0]) {
		return 0
	}
	if s[0] == '0' && len(s) > 2 {
		var isDigit func(byte) bool
		switch s[1] {
		case 'b', 'B':
			isDigit = func(c byte) bool { return c == '0' || c == '1' }
		case 'o', 'O':
			isDigit = func(c byte) bool { return c >= '0' && c <= '7' }
		case 'x', 'X':
			isDigit = func(c byte) bool {
				return isDec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
			}
		}
		if isDigit != nil {
			// (_?digit)+ after the prefix
			i := 2
			for {
				j := i
				if j < len(s) && s[j] == '_' {
					j++
				}
				if j < len(s) && isDigit(s[j]) {
					i = j + 1
					continue
				}
				break
			}
			if i > 2 {
				return i
			}
		}
	}
	if s[0] == '0' {
		// 0(_?0)*
		i := 1
		for {
			j := i
			if j < len(s) && s[j] == '_' {
				j++
			}
			if j < len(s) && s[j] == '0' {
				i = j + 1
				continue
			}
			return i
		}
	}
	return scanDigitsLoose(s)
}

// scanDigitsLoose matches [1-9](_?\d)*.
func scanDigitsLoose(s string) int {
	i := 1
	for {
		j := i
		if j < len(s) && s[j] == '_' {
			j++
		}
		if j < len(s) && isDec(s[j]) {
			i = j + 1
			continue
		}
		return i
	}
}

// scanName matches a Python identifier.
func scanName(s string) int {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		ok := r == '_' || unicode.IsLetter(r) || (i > 0 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)))
		if !ok {
			break
		}
		i += n
	}
	return i
}

// scanString returns the length of the quoted literal at the start of s,
// quotes included, or 0 when it is not terminated.
func scanString(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return 0
}

// unescape decodes backslash escapes as Python's "unicode-escape" codec
// does, which is what jinja2 applies to string literals. Unknown escapes
// are kept verbatim.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := 0
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				v = v*8 + int(s[j]-'0')
				j++
			}
			b.WriteRune(rune(v))
			i = j - 1
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+1+n > len(s) {
				return "", fmt.Errorf("truncated \\%cXX escape in string literal", e)
			}
			hex := s[i+1 : i+1+n]
			v, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || v > unicode.MaxRune {
				return "", fmt.Errorf("bad \\%c escape %q in string literal", e, hex)
			}
			b.WriteRune(rune(v))
			i += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}
