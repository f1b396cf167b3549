package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pre-tokenization splits text into words before byte-level BPE runs on each word. Models
// define it with regular expressions that use lookahead (`\s+(?!\S)`), which Go's RE2
// engine lacks, so each known expression is implemented here as a hand-written matcher
// with the exact semantics of a backtracking regex engine (ordered alternation, greedy
// quantifiers) over Unicode general categories. A pre-tokenizer is a list of expressions
// applied in turn, each splitting every fragment of the previous step; matches and the
// text between them both become fragments (Hugging Face's "Isolated" split behaviour,
// llama.cpp's unicode_regex_split).

// matcher reports the end of the match of one expression that starts at byte offset i
// of s, or -1 when the expression does not match at i. s is one fragment: $ and
// lookahead see its end as the end of text.
type matcher func(s string, i int) int

// Rune classes used by the matchers (bit set).
const (
	clsLetter  uint8 = 1 << iota // \p{L}
	clsNumber                    // \p{N}
	clsSpace                     // \s (Unicode White_Space)
	clsPunct                     // \p{P}
	clsNewline                   // \r or \n (also clsSpace)
)

// asciiClass caches the class of every ASCII byte: most text is ASCII and the
// unicode tables cost a binary search per rune.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = unicodeClass(r)
	}
	return t
}()

func unicodeClass(r rune) uint8 {
	switch {
	case r == '\r' || r == '\n':
		return clsSpace | clsNewline
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.IsPunct(r):
		return clsPunct
	}
	return 0
}

// classAt returns the class and byte length of the rune at s[i]. Invalid UTF-8 decodes as
// U+FFFD (a symbol: class 0) of length 1, so every byte is consumed exactly once.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return unicodeClass(r), n
}

// isOther is the class [^\s\p{L}\p{N}].
func isOther(c uint8) bool { return c&(clsLetter|clsNumber|clsSpace) == 0 }

// spanClass returns the end of the run starting at i of runes whose class intersects mask.
func spanClass(s string, i int, mask uint8) int {
	for i < len(s) {
		c, n := classAt(s, i)
		if c&mask == 0 {
			break
		}
		i += n
	}
	return i
}

// spanOther returns the end of the run of [^\s\p{L}\p{N}] starting at i.
func spanOther(s string, i int) int {
	for i < len(s) {
		c, n := classAt(s, i)
		if !isOther(c) {
			break
		}
		i += n
	}
	return i
}

// spanRunes returns the end of the run starting at i of runes for which in is true.
func spanRunes(s string, i int, in func(rune) bool) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !in(r) {
			break
		}
		i += n
	}
	return i
}

// whitespaceRun describes the maximal run of \s starting at i: its end, the offset of
// its last rune, and the offset just after its last \r or \n (-1 if it holds none).
func whitespaceRun(s string, i int) (end, last, afterNewline int) {
	end, last, afterNewline = i, i, -1
	for end < len(s) {
		c, n := classAt(s, end)
		if c&clsSpace == 0 {
			break
		}
		last = end
		end += n
		if c&clsNewline != 0 {
			afterNewline = end
		}
	}
	return end, last, afterNewline
}

// matchContraction matches 's|'t|'re|'ve|'m|'ll|'d, ASCII case-insensitively when fold
// is set ((?i:...) in the Llama 3 and Qwen2 expressions).
func matchContraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return -1
	}
	lower := func(c byte) byte {
		if fold && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return i + 3
		}
	}
	return -1
}

// matchGPT2 is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
// (GPT-2, and the second stage of several others).
func matchGPT2(s string, i int) int {
	if e := matchContraction(s, i, false); e > 0 {
		return e
	}
	// " ?X+" for the three classes X: the optional space is taken only when an X follows,
	// since with the space alone the rest cannot match (a space is none of them).
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j = i + 1
	}
	c, _ := classAt(s, j)
	switch {
	case c&clsLetter != 0:
		return spanClass(s, j, clsLetter)
	case c&clsNumber != 0:
		return spanClass(s, j, clsNumber)
	case isOther(c):
		return spanOther(s, j)
	}
	// \s+(?!\S): the whole run at the end of the text, else the run less its last rune,
	// which the next match takes as the optional space of " ?X+".
	if c0, _ := classAt(s, i); c0&clsSpace != 0 {
		end, last, _ := whitespaceRun(s, i)
		if end == len(s) {
			return end
		}
		if last > i {
			return last
		}
	}
	return -1
}

// llama3Matcher returns the matcher of
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// which is Llama 3's expression with maxDigits 3 and Qwen2's with maxDigits 1.
func llama3Matcher(maxDigits int) matcher {
	return func(s string, i int) int {
		if e := matchContraction(s, i, true); e > 0 {
			return e
		}
		c0, n0 := classAt(s, i)
		if c0&clsLetter != 0 {
			return spanClass(s, i, clsLetter)
		}
		if c0&(clsNewline|clsNumber) == 0 && i+n0 < len(s) {
			if c1, _ := classAt(s, i+n0); c1&clsLetter != 0 {
				return spanClass(s, i+n0, clsLetter)
			}
		}
		if c0&clsNumber != 0 {
			e := i
			for k := 0; k < maxDigits && e < len(s); k++ {
				c, n := classAt(s, e)
				if c&clsNumber == 0 {
					break
				}
				e += n
			}
			return e
		}
		j := i
		if s[i] == ' ' && i+1 < len(s) {
			j = i + 1
		}
		if c, _ := classAt(s, j); isOther(c) {
			return spanClass(s, spanOther(s, j), clsNewline)
		}
		if c0&clsSpace != 0 {
			end, last, afterNewline := whitespaceRun(s, i)
			switch {
			case afterNewline > 0: // \s*[\r\n]+ backtracks to the last newline of the run
				return afterNewline
			case end == len(s) || last == i: // \s+(?!\S) at the end, or \s+ for one rune
				return end
			default: // \s+(?!\S) leaves the last rune to the next word
				return last
			}
		}
		return -1
	}
}

// optSpaceRun returns the matcher of \s?X+ where X is the rune set in.
func optSpaceRun(in func(rune) bool) matcher {
	return func(s string, i int) int {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) && i+n < len(s) {
			if r2, _ := utf8.DecodeRuneInString(s[i+n:]); in(r2) {
				return spanRunes(s, i+n, in)
			}
		}
		if in(r) {
			return spanRunes(s, i, in)
		}
		return -1
	}
}

// runOf returns the matcher of X+ (X+ with max 1: X) for the rune set in.
func runOf(in func(rune) bool, single bool) matcher {
	return func(s string, i int) int {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !in(r):
			return -1
		case single:
			return i + n
		}
		return spanRunes(s, i, in)
	}
}

// matchTrailingSpace is \s+$: the whitespace run that reaches the end of the fragment.
func matchTrailingSpace(s string, i int) int {
	if c, _ := classAt(s, i); c&clsSpace == 0 {
		return -1
	}
	// A match would have started at the previous rune already if it were whitespace:
	// this keeps the scan linear on long runs that do not reach the end.
	if i > 0 {
		if r, _ := utf8.DecodeLastRuneInString(s[:i]); unicode.IsSpace(r) {
			return -1
		}
	}
	if end, _, _ := whitespaceRun(s, i); end == len(s) {
		return end
	}
	return -1
}

// matchThreeDigits is [0-9][0-9][0-9].
func matchThreeDigits(s string, i int) int {
	if i+3 <= len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
		return i + 3
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

// parseClass parses the body of a regex character class made only of literal runes and
// ranges "a-z" (no escapes), as in the DeepSeek expressions.
func parseClass(body string) []runeRange {
	rs := []rune(body)
	var out []runeRange
	for k := 0; k < len(rs); k++ {
		r := runeRange{rs[k], rs[k]}
		if k+2 < len(rs) && rs[k+1] == '-' {
			r.hi = rs[k+2]
			k += 2
		}
		out = append(out, r)
	}
	return out
}

// inClass returns a membership test for the ranges.
func inClass(ranges []runeRange) func(rune) bool {
	return func(r rune) bool {
		for _, rr := range ranges {
			if rr.lo <= r && r <= rr.hi {
				return true
			}
		}
		return false
	}
}

var (
	isLetterRune = unicode.IsLetter
	isNumberRune = unicode.IsNumber
	isPunctRune  = unicode.IsPunct
	isNewline    = func(r rune) bool { return r == '\r' || r == '\n' }
	// Falcon's [\p{P}\$\+<=>\^~\|`] and the default [\p{P}\$\+<=>\^~\|]: ASCII symbols
	// that are not in \p{P} join punctuation runs.
	isFalconPunct  = func(r rune) bool { return unicode.IsPunct(r) || strings.ContainsRune("$+<=>^~|`", r) }
	isDefaultPunct = func(r rune) bool { return unicode.IsPunct(r) || strings.ContainsRune("$+<=>^~|", r) }
	// [一-龥ࠀ-一가-퟿]: CJK ideographs, the blocks from Samaritan up to CJK, and Hangul.
	isCJKRune = inClass(parseClass("一-龥ࠀ-一가-퟿"))
	// DeepSeek LLM's explicit letter and punctuation sets.
	isDeepSeekLetter = inClass(parseClass(reDeepSeekLetters[4 : len(reDeepSeekLetters)-2]))
	isDeepSeekPunct  = inClass(parseClass("!-/:-~！-／：-～‘-‟　-。"))
)

// regexMatchers maps the source text of every supported expression to its matcher. The
// keys are the expressions exactly as llama.cpp spells them (tokenizer.json spellings are
// mapped to these by hfRegexAliases), so anything else is rejected.
var regexMatchers = map[string]matcher{
	reGPT2:            matchGPT2,
	reLlama3:          llama3Matcher(3),
	reQwen2:           llama3Matcher(1),
	"[\r\n]":          runOf(isNewline, true),
	`\s?\p{L}+`:       optSpaceRun(isLetterRune),
	`\s?\p{P}+`:       optSpaceRun(isPunctRune),
	reCJK:             runOf(isCJKRune, false),
	`\p{N}`:           runOf(isNumberRune, true),
	`\p{N}+`:          runOf(isNumberRune, false),
	reDeepSeekLetters: optSpaceRun(isDeepSeekLetter),
	`\s?[!-/:-~！-／：-～‘-‟　-。]+`: optSpaceRun(isDeepSeekPunct),
	`\s+$`:                            matchTrailingSpace,
	`[\p{P}\$\+<=>\^~\|` + "`" + `]+`: runOf(isFalconPunct, false),
	`[\p{P}\$\+<=>\^~\|]+`:            runOf(isDefaultPunct, false),
	`[0-9][0-9][0-9]`:                 matchThreeDigits,
}

// Expressions of the named pre-tokenizers, as llama.cpp's llm_tokenizer_bpe lists them.
const (
	reGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	reLlama3 = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reCJK    = "[一-龥ࠀ-一가-퟿]+"
	// DeepSeek LLM: \s? then a run of its explicit letter set.
	reDeepSeekLetters = `\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`
)

// preTokenizers maps the tokenizer.ggml.pre names that llama.cpp knows (with the aliases
// that share an expression list) to their expressions, applied in order.
var preTokenizers = map[string][]string{
	"gpt-2":          {reGPT2},
	"mpt":            {reGPT2},
	"olmo":           {reGPT2},
	"jais":           {reGPT2},
	"llama3":         {reLlama3},
	"llama-v3":       {reLlama3},
	"llama-bpe":      {reLlama3},
	"dbrx":           {reLlama3},
	"smaug-bpe":      {reLlama3},
	"qwen2":          {reQwen2},
	"stablelm2":      {reQwen2},
	"starcoder":      {`\p{N}`, reGPT2},
	"refact":         {`\p{N}`, reGPT2},
	"command-r":      {`\p{N}`, reGPT2},
	"smollm":         {`\p{N}`, reGPT2},
	"codeshell":      {`\p{N}`, reGPT2},
	"falcon":         {`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, reGPT2, `[0-9][0-9][0-9]`},
	"deepseek-coder": {"[\r\n]", `\s?\p{L}+`, `\s?\p{P}+`, reCJK, `\p{N}`},
	"deepseek-llm": {
		"[\r\n]",
		reDeepSeekLetters,
		`\s?[!-/:-~！-／：-～‘-‟　-。]+`,
		`\s+$`,
		reCJK,
		`\p{N}+`,
	},
	// llama.cpp's fallback for BPE vocabularies without a pre key (e.g. GPT-NeoX).
	"default": {`[\p{P}\$\+<=>\^~\|]+`, reGPT2, `\p{N}+`, `[0-9][0-9][0-9]`},
}

// splitter is a compiled pre-tokenizer.
type splitter []matcher

// compileSplitter resolves expressions to matchers; an expression without a hand-written
// matcher is an error naming it, never a silent approximation.
func compileSplitter(exprs []string) (splitter, error) {
	sp := make(splitter, len(exprs))
	for k, e := range exprs {
		m, ok := regexMatchers[e]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unsupported pre-tokenizer regex %q", e)
		}
		sp[k] = m
	}
	return sp, nil
}

// words calls fn with each word of text, in order. Each expression splits every fragment
// of the previous step; the text between matches is kept as fragments of its own. Words
// are streamed rather than collected because a megabyte of text has ~200K of them.
func (sp splitter) words(text string, fn func(word string) error) error {
	if len(sp) == 0 {
		return fn(text)
	}
	m, rest := sp[0], sp[1:]
	gap := 0
	for i := 0; i < len(text); {
		e := m(text, i)
		if e <= i {
			if text[i] < utf8.RuneSelf {
				i++
			} else {
				_, n := utf8.DecodeRuneInString(text[i:])
				i += n
			}
			continue
		}
		if gap < i {
			if err := rest.words(text[gap:i], fn); err != nil {
				return err
			}
		}
		if err := rest.words(text[i:e], fn); err != nil {
			return err
		}
		i, gap = e, e
	}
	if gap < len(text) {
		return rest.words(text[gap:], fn)
	}
	return nil
}
