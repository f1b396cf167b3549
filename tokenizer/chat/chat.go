// Package chat renders chat conversations with the Jinja templates that
// models ship in tokenizer.chat_template (GGUF metadata or Hugging Face
// tokenizer_config.json).
//
// It contains a small Jinja interpreter (lexer, parser, tree-walking
// evaluator) covering the subset chat templates use, and renders them byte
// for byte like Python jinja2 as Hugging Face's apply_chat_template sets it
// up: trim_blocks and lstrip_blocks on, no trailing newline kept, the
// immutable sandbox (no list.append and friends), the loopcontrols
// extension (break, continue), and Hugging Face's globals raise_exception
// and strftime_now and its tojson filter (json.dumps with ensure_ascii off).
//
// Values behave like the Python objects jinja2 sees: str() of a float or a
// list, dict key order, Python slicing and string methods, and jinja2's
// default Undefined (empty when printed, false when tested, an error when
// an attribute of it is read).
package chat

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user", "assistant", "tool", ...
	Content string
}

// Options are the variables a render sees besides the messages.
type Options struct {
	// AddGenerationPrompt asks the template to end with the header of an
	// assistant turn, so the model continues as the assistant.
	AddGenerationPrompt bool
	// BOSToken and EOSToken are the tokenizer's special token texts
	// (bos_token, eos_token). Templates that print bos_token produce text
	// that already starts with BOS: do not add it again when tokenizing.
	BOSToken, EOSToken string
	// Extra holds further template variables, such as tools,
	// date_string or enable_thinking. Values may be nil, bool, string,
	// any Go integer or float, slices, maps with string keys (their keys
	// are taken in sorted order, since Go maps have none), and
	// json.RawMessage (decoded keeping the JSON key order, which tojson
	// then reproduces). Extra may not redefine messages,
	// add_generation_prompt, bos_token or eos_token. As in Hugging Face,
	// tools and documents are None unless Extra sets them.
	Extra map[string]any
}

// Template is a parsed chat template, safe for concurrent Render calls.
type Template struct {
	body  []stmt
	undef []string         // names undefined at the start (see analyzeFrame)
	now   func() time.Time // clock for strftime_now; tests fix it
}

// Parse parses a Jinja chat template. Syntax errors are *SyntaxError and
// give the template line.
func Parse(src string) (*Template, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	body, err := parseTemplate(toks)
	if err != nil {
		return nil, err
	}
	return &Template{body: body, undef: analyzeFrame(body, nil), now: time.Now}, nil
}

// Render renders the conversation. Failures while rendering, including the
// template's own raise_exception, are *RenderError and give the line; an
// Extra value of an unsupported type is a plain error naming its key.
func (t *Template) Render(msgs []Message, opt Options) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		d := newDict()
		d.set("role", m.Role)
		d.set("content", m.Content)
		list[i] = d
	}
	vars := map[string]any{
		"messages":              list,
		"add_generation_prompt": opt.AddGenerationPrompt,
		"bos_token":             opt.BOSToken,
		"eos_token":             opt.EOSToken,
		// Hugging Face always passes these two, as None when absent.
		"tools":     nil,
		"documents": nil,
	}
	for _, k := range sortedKeys(opt.Extra) {
		switch k {
		case "messages", "add_generation_prompt", "bos_token", "eos_token":
			return "", fmt.Errorf("chat template: Options.Extra may not set %q; use the Render arguments", k)
		}
		v, err := fromGo(opt.Extra[k], 0)
		if err != nil {
			return "", fmt.Errorf("chat template: Options.Extra[%q]: %v", k, err)
		}
		vars[k] = v
	}
	return t.execute(vars)
}

// execute renders the template with the given top-level variables.
func (t *Template) execute(vars map[string]any) (string, error) {
	root := newScope(nil)
	for k, v := range globals(t.now) {
		root.set(k, v)
	}
	for k, v := range vars {
		root.set(k, v)
	}
	r := &renderer{out: &strings.Builder{}}
	if err := r.execBody(frameScope(root, t.undef), t.body); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

// fromGo converts a caller's Go value into a template value.
func fromGo(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("value nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, string, int64, float64:
		return x, nil
	case json.RawMessage:
		return fromJSON(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := fromGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		d := newDict()
		for _, k := range sortedKeys(x) {
			c, err := fromGo(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			d.set(k, c)
		}
		return d, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > 1<<63-1 {
			return nil, fmt.Errorf("integer %d out of range", u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			c, err := fromGo(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map keys must be strings, not %s", rv.Type().Key())
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return fromGo(m, depth)
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}
