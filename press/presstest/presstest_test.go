package presstest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLoadDirCases reads every case of the press's folder, maps its params and runs its press:
// each must compress, and a token press must keep expected.n_kept tokens per KV head.
func TestLoadDirCases(t *testing.T) {
	cases, err := LoadDir("../testdata/cases")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 21 {
		t.Fatalf("%d cases, the folder holds at least 21", len(cases))
	}
	for _, c := range cases {
		in, res, err := c.Compress()
		if err != nil {
			t.Fatal(err)
		}
		if in.KV.T != c.Shape.T || len(c.DecodeQuery(0)) != c.Shape.H*c.Shape.D {
			t.Errorf("%s: input of %d tokens, decode query of %d values", c.Name, in.KV.T, len(c.DecodeQuery(0)))
		}
		if c.Has("n_kept") {
			n, err := c.Floats("n_kept")
			if err != nil {
				t.Fatal(err)
			}
			if res.Layer.NTokens != int(n[0]) {
				t.Errorf("%s: %d tokens kept, expected.n_kept %v", c.Name, res.Layer.NTokens, n[0])
			}
		}
	}
}

// TestOptionsErrors checks that params the press cannot express are refused by name.
func TestOptionsErrors(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"press": "spark", "colour": 1.0}, `unknown press parameter "colour"`},
		{map[string]any{"press": "spark", "value_ratio": 0.5}, "value pruning"},
		{map[string]any{"press": "spark", "cumulative_p": 0.95}, "cumulative_p 0.95"},
		{map[string]any{"key_ratio": 0.5}, "name no press"},
	} {
		cs := &Case{Name: "x", Params: c.params}
		if _, _, _, _, err := cs.Options(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.params, err, c.want)
		}
	}
}

// TestFloats checks the readings of expected fields: arrays, a number, booleans, and a missing
// field's error.
func TestFloats(t *testing.T) {
	c := &Case{Name: "x", Expected: map[string]json.RawMessage{
		"a": json.RawMessage(`[1, 2.5]`), "n": json.RawMessage(`7`), "b": json.RawMessage(`true`), "f": json.RawMessage(`false`),
	}}
	for field, want := range map[string][]float64{"a": {1, 2.5}, "n": {7}, "b": {1}, "f": {0}} {
		got, err := c.Floats(field)
		if err != nil || len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
			t.Errorf("Floats(%s) = %v, %v; want %v", field, got, err, want)
		}
	}
	if _, err := c.Floats("missing"); err == nil || !strings.Contains(err.Error(), "expected.missing") {
		t.Errorf("missing field: error %v", err)
	}
}
