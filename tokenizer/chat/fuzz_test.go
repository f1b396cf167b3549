package chat

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no template text makes Parse or Render panic or
// hang: each either succeeds or returns an error. The seed corpus is the
// real model templates plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "templates", "*.jinja"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed templates: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	msgs := []Message{{"system", "sys"}, {"user", "hi"}, {"assistant", "<think>\nr\n</think>\n\nok"}, {"user", "again"}}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse(src)
		if err != nil {
			return
		}
		// Errors are fine; panics and runaway renders are not.
		_, _ = tmpl.Render(msgs, Options{AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "</s>",
			Extra: map[string]any{"tools": []any{map[string]any{"name": "f"}}}})
	})
}
