package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock generate.py gives strftime_now.
var fixedNow = time.Date(2025, 3, 7, 14, 5, 9, 0, time.UTC)

func readTestdata(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseFile(t testing.TB, name string) *Template {
	t.Helper()
	tmpl, err := Parse(readTestdata(t, filepath.Join("templates", name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tmpl.now = func() time.Time { return fixedNow }
	return tmpl
}

// Messages of the goldens in testdata/expected (see testdata/README.md).
var (
	msgSystem = Message{"system", "You are a helpful assistant."}
	msgU1     = Message{"user", "Hello, how are you?"}
	msgA1     = Message{"assistant", "I'm doing great. How can I help you today?"}
	msgU2     = Message{"user", "I'd like to show off how chat templating works!"}
)

// TestGoldens renders every golden in testdata/expected from the templates
// jinja2 was verified to reproduce them with.
func TestGoldens(t *testing.T) {
	convs := map[string][]Message{
		"user":                       {msgU1},
		"user-assistant-user":        {msgU1, msgA1, msgU2},
		"system-user-assistant-user": {msgSystem, msgU1, msgA1, msgU2},
	}
	cases := []struct {
		golden   string // prefix of the files in testdata/expected
		template string
		bos      string
		convs    []string
	}{
		// The llama3 goldens omit <|begin_of_text|>: render with an empty
		// bos_token, and check the BOS variant below.
		{"llama3-instruct", "llama3-8b-instruct.jinja", "", []string{"user", "user-assistant-user", "system-user-assistant-user"}},
		{"chatml", "Qwen-Qwen3-0.6B.jinja", "", []string{"user", "user-assistant-user", "system-user-assistant-user"}},
		// Qwen2.5 adds its default system prompt unless there is one.
		{"chatml", "Qwen-Qwen2.5-7B-Instruct.jinja", "", []string{"system-user-assistant-user"}},
	}
	for _, c := range cases {
		tmpl := parseFile(t, c.template)
		for _, conv := range c.convs {
			name := c.golden + "." + conv
			t.Run(c.template+"/"+conv, func(t *testing.T) {
				want := readTestdata(t, filepath.Join("expected", name+".txt"))
				got, err := tmpl.Render(convs[conv], Options{AddGenerationPrompt: true, BOSToken: c.bos})
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("mismatch with %s\n got: %q\nwant: %q", name, got, want)
				}
			})
		}
	}
	t.Run("llama3-with-bos", func(t *testing.T) {
		tmpl := parseFile(t, "llama3-8b-instruct.jinja")
		got, err := tmpl.Render(convs["user"], Options{AddGenerationPrompt: true, BOSToken: "<|begin_of_text|>"})
		if err != nil {
			t.Fatal(err)
		}
		want := "<|begin_of_text|>" + readTestdata(t, "expected/llama3-instruct.user.txt")
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// jsonCase is one entry of renders.json or constructs.json, written by
// testdata/generate.py with Python jinja2.
type jsonCase struct {
	Name                string                     `json:"name"`
	Template            string                     `json:"template"`
	Messages            json.RawMessage            `json:"messages"`
	AddGenerationPrompt bool                       `json:"add_generation_prompt"`
	BOSToken            string                     `json:"bos_token"`
	EOSToken            string                     `json:"eos_token"`
	Extra               map[string]json.RawMessage `json:"extra"`
	Vars                json.RawMessage            `json:"vars"`
	Expected            *string                    `json:"expected"`
	Error               string                     `json:"error"`
}

func loadCases(t *testing.T, name string) []jsonCase {
	t.Helper()
	var f struct{ Cases []jsonCase }
	if err := json.Unmarshal([]byte(readTestdata(t, name)), &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return f.Cases
}

// checkResult compares a render with what jinja2 produced: the same text,
// or an error (of our own types, with a line) where jinja2 raised one.
func checkResult(t *testing.T, c jsonCase, got string, err error) {
	t.Helper()
	if c.Expected == nil {
		var se *SyntaxError
		var re *RenderError
		switch {
		case err == nil:
			t.Fatalf("no error; jinja2 raised %s; got %q", c.Error, got)
		case errors.As(err, &se):
			if se.Line < 1 {
				t.Errorf("syntax error without line: %v", err)
			}
		case errors.As(err, &re):
			if re.Line < 1 {
				t.Errorf("render error without line: %v", err)
			}
		default:
			t.Errorf("error of unexpected type %T: %v", err, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("error %v; jinja2 rendered %q", err, *c.Expected)
	}
	if got != *c.Expected {
		t.Errorf("mismatch\n got: %q\nwant: %q", got, *c.Expected)
	}
}

// TestRenders renders real model templates (Llama 3, 3.1, 3.2, Qwen2.5,
// Qwen3, Phi-3) over multi-turn, tool-calling and thinking conversations
// and compares with Python jinja2's output.
func TestRenders(t *testing.T) {
	for _, c := range loadCases(t, "renders.json") {
		t.Run(c.Name, func(t *testing.T) {
			tmpl := parseFile(t, c.Template)
			msgs, err := fromJSON(c.Messages)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if onlyRoleContent(msgs) {
				var plain []Message
				if err := json.Unmarshal(c.Messages, &plain); err != nil {
					t.Fatal(err)
				}
				// The public API path.
				opt := Options{AddGenerationPrompt: c.AddGenerationPrompt, BOSToken: c.BOSToken, EOSToken: c.EOSToken,
					Extra: map[string]any{}}
				for k, v := range c.Extra {
					opt.Extra[k] = v
				}
				got, err = tmpl.Render(plain, opt)
			} else {
				// Tool calls need richer messages than Message holds.
				vars := map[string]any{"messages": msgs, "add_generation_prompt": c.AddGenerationPrompt,
					"bos_token": c.BOSToken, "eos_token": c.EOSToken, "tools": nil, "documents": nil}
				for k, v := range c.Extra {
					if vars[k], err = fromJSON(v); err != nil {
						t.Fatal(err)
					}
				}
				got, err = tmpl.execute(vars)
			}
			checkResult(t, c, got, err)
		})
	}
}

// onlyRoleContent reports whether every message is {role, content} with
// string values, i.e. representable as []Message.
func onlyRoleContent(msgs any) bool {
	list, _ := msgs.([]any)
	for _, m := range list {
		d, ok := m.(*dict)
		if !ok || len(d.keys) != 2 {
			return false
		}
		_, r := d.m["role"].(string)
		_, c := d.m["content"].(string)
		if !r || !c {
			return false
		}
	}
	return true
}

// TestConstructs checks each Jinja construct (whitespace control, literals,
// operators, slicing, string methods, filters, tests, loops, set,
// namespace, macros, globals, errors) against Python jinja2's output.
func TestConstructs(t *testing.T) { checkTemplateCases(t, "constructs.json") }

// TestRandomDifferential checks 1000 randomly generated templates
// (whitespace control, frame scoping, expressions) against jinja2.
func TestRandomDifferential(t *testing.T) { checkTemplateCases(t, "random.json") }

func checkTemplateCases(t *testing.T, file string) {
	for _, c := range loadCases(t, file) {
		t.Run(c.Name, func(t *testing.T) {
			vars := map[string]any{}
			v, err := fromJSON(c.Vars)
			if err != nil {
				t.Fatal(err)
			}
			d := v.(*dict)
			for _, k := range d.keys {
				vars[k] = d.m[k]
			}
			tmpl, err := Parse(c.Template)
			var got string
			if err == nil {
				tmpl.now = func() time.Time { return fixedNow }
				got, err = tmpl.execute(vars)
			}
			checkResult(t, c, got, err)
		})
	}
}

func TestErrorLines(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		msg       string // substring of the error
		syntax    bool
	}{
		{"raise", "a\n{% if true %}\n{{ raise_exception('bad role') }}\n{% endif %}", 3, "raise_exception: bad role", false},
		{"undefined-attr", "x\n\n{{ nope.attr }}", 3, "'nope' is undefined", false},
		{"type", "{{ 1 }}\n{{ 'a' + 2 }}", 2, "unsupported operand", false},
		{"unclosed", "{% for x in y %}\n\n\n", 3, "expected 'else' or 'endfor'", true},
		{"bad-char", "\n{{ 1 ? 2 }}", 2, "unexpected char", true},
		{"unknown-filter", "\n\n{{ x | frob }}", 3, "no filter named 'frob'", true},
		{"unknown-test", "{{ x is frob }}", 1, "no test named 'frob'", true},
		{"string-escape", "{{ '\\x4' }}", 1, "escape", true},
		{"break-outside-loop", "\n{% break %}", 2, "'break' outside a loop", true},
		{"continue-in-macro-in-loop", "{% for x in y %}{% macro m() %}\n{% continue %}{% endmacro %}{% endfor %}", 2, "'continue' outside a loop", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl, err := Parse(c.src)
			if err == nil {
				_, err = tmpl.Render(nil, Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			var se *SyntaxError
			var re *RenderError
			switch {
			case errors.As(err, &se):
				if !c.syntax || se.Line != c.line {
					t.Errorf("got syntax error at line %d, want syntax=%v line %d: %v", se.Line, c.syntax, c.line, err)
				}
			case errors.As(err, &re):
				if c.syntax || re.Line != c.line {
					t.Errorf("got render error at line %d, want syntax=%v line %d: %v", re.Line, c.syntax, c.line, err)
				}
			default:
				t.Errorf("unexpected error type %T", err)
			}
		})
	}
}

func TestExtra(t *testing.T) {
	tmpl, err := Parse("{{ tools | tojson }}|{{ n + 1 }}|{{ f }}|{{ flag }}|{{ m | tojson }}|{{ list }}|{{ none_val is none }}|{{ documents is none }}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(nil, Options{Extra: map[string]any{
		"tools":    json.RawMessage(`[{"z": 1, "a": {"y": [true, null, 1.5]}}]`),
		"n":        int32(41),
		"f":        float32(0.5),
		"flag":     true,
		"m":        map[string]int{"b": 2, "a": 1},
		"list":     []string{"x", "y"},
		"none_val": nil,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"z": 1, "a": {"y": [true, null, 1.5]}}]|42|0.5|True|{"a": 1, "b": 2}|['x', 'y']|True|True`
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	for _, bad := range []map[string]any{
		{"messages": []any{}},
		{"bos_token": "x"},
		{"ch": make(chan int)},
		{"bad_json": json.RawMessage(`{"a": `)},
		{"uint": uint64(1 << 63)},
		{"intkeys": map[int]string{1: "a"}},
	} {
		if _, err := tmpl.Render(nil, Options{Extra: bad}); err == nil {
			t.Errorf("Extra %v: no error", bad)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, src := range []string{
		"{{ range(1000000) | length }}",
		"{{ 'x' * 100000000 }}",
		"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
		"{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
		"{{ 2 ** 100 }}",
		"{% set ns = namespace(s='x' * 1000000) %}{% for i in range(100000) %}{% set ns.s = ns.s ~ 'y' %}{% endfor %}",
		"{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
	} {
		tmpl, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := tmpl.Render(nil, Options{}); err == nil {
			t.Errorf("%s: no error", src)
		}
	}
	deep := strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)
	if _, err := Parse("{{ " + deep + " }}"); err == nil {
		t.Error("1000 nested parentheses: no error")
	}
}

func TestFormatFloat(t *testing.T) {
	// Python's repr(float) for each.
	cases := map[float64]string{
		0: "0.0", 1: "1.0", -2.5: "-2.5", 0.1: "0.1", 1e16: "1e+16", 1.5e16: "1.5e+16",
		123456789012345678: "1.2345678901234568e+17", 1e15: "1000000000000000.0",
		0.0001: "0.0001", 0.00001: "1e-05", 1.25e-7: "1.25e-07", 1e100: "1e+100",
	}
	for f, want := range cases {
		if got := formatFloat(f, false); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

// TestConcurrentRender checks a Template can serve several goroutines.
func TestConcurrentRender(t *testing.T) {
	tmpl := parseFile(t, "Qwen-Qwen3-0.6B.jinja")
	want, err := tmpl.Render([]Message{msgU1, msgA1, msgU2}, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			got, err := tmpl.Render([]Message{msgU1, msgA1, msgU2}, Options{AddGenerationPrompt: true})
			if err == nil && got != want {
				err = errors.New("concurrent render differs")
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkRenderQwen3(b *testing.B) {
	tmpl := parseFile(b, "Qwen-Qwen3-0.6B.jinja")
	msgs := []Message{msgSystem, msgU1, msgA1, msgU2, msgA1, msgU2}
	for b.Loop() {
		if _, err := tmpl.Render(msgs, Options{AddGenerationPrompt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLlama31(b *testing.B) {
	src := readTestdata(b, "templates/meta-llama-Llama-3.1-8B-Instruct.jinja")
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLlama3Layouts spells out, as read from the templates, the prompt
// layout of Llama 3.1 and 3.2 for a short conversation: the system header
// always carries the knowledge cutoff and today's date (3.1: date_string,
// default "26 Jul 2024"; 3.2: strftime_now("%d %b %Y")), content is
// trimmed, and add_generation_prompt opens an assistant header. jinja2
// agrees (see renders.json).
func TestLlama3Layouts(t *testing.T) {
	msgs := []Message{{"system", "  Be brief.\n"}, {"user", "Hi!"}, {"assistant", "Hello."}, {"user", "Bye"}}
	body := "Be brief.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\n"
	head := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: "
	cases := []struct {
		template string
		extra    map[string]any
		date     string
	}{
		{"meta-llama-Llama-3.1-8B-Instruct.jinja", nil, "26 Jul 2024"},
		{"meta-llama-Llama-3.1-8B-Instruct.jinja", map[string]any{"date_string": "01 Feb 2026"}, "01 Feb 2026"},
		{"meta-llama-Llama-3.2-3B-Instruct.jinja", nil, "07 Mar 2025"}, // fixedNow
		{"meta-llama-Llama-3.2-3B-Instruct.jinja", map[string]any{"date_string": "01 Feb 2026"}, "01 Feb 2026"},
	}
	for _, c := range cases {
		got, err := parseFile(t, c.template).Render(msgs, Options{AddGenerationPrompt: true, BOSToken: "<|begin_of_text|>",
			EOSToken: "<|eot_id|>", Extra: c.extra})
		if err != nil {
			t.Fatal(err)
		}
		if want := head + c.date + "\n\n" + body; got != want {
			t.Errorf("%s %v:\n got: %q\nwant: %q", c.template, c.extra, got, want)
		}
	}
}
