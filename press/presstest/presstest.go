// Package presstest reads the press golden cases (press/testdata/cases/*.json.gz; format in that
// folder's README and ../shared/testdata/press/README.md) for the tests of every package that
// checks a press implementation against them: the CPU press, the Vulkan decode kernel and the
// Vulkan compression shaders. It owns the case structs, the loader of a whole folder (every file
// matching *.json.gz, whatever its name, so new cases can be dropped in) and the mapping of a
// case's params to press.Options and a press.Input.
package presstest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sparkrun/sparkrun/press"
)

// Shape is a case's dimensions: H query heads, Hkv KV heads, T prompt tokens, D head dim, Wp
// window query rows, L decode queries.
type Shape struct {
	H, Hkv, T, D, Wp, L int
}

// Case is one golden case file.
type Case struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Shape       Shape  `json:"shape"`
	// Params holds "press" and every parameter of that press (see Options).
	Params map[string]any `json:"params"`
	// Inputs are flat row-major arrays (shapes in ArrayShapes): keys, values [Hkv][T][D],
	// q_prefill [H][Wp][D], q_decode [H][L][D], and the press-specific ones.
	Inputs map[string][]float64 `json:"inputs"`
	// Expected holds arrays, ints, floats and booleans; read them with Floats.
	Expected    map[string]json.RawMessage `json:"expected"`
	ArrayShapes map[string][]int           `json:"array_shapes"`
	// Path is the file the case was read from.
	Path string `json:"-"`
}

// Load reads one gzip-compressed JSON case.
func Load(path string) (*Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("presstest: %s: %w", path, err)
	}
	var c Case
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		return nil, fmt.Errorf("presstest: %s: %w", path, err)
	}
	c.Path = path
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), ".json.gz")
	}
	return &c, nil
}

// LoadDir reads every *.json.gz file of dir, sorted by file name. A folder without cases is an
// error, so a test cannot pass by finding nothing.
func LoadDir(dir string) ([]*Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json.gz"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("presstest: no *.json.gz cases in %s", dir)
	}
	slices.Sort(files)
	var cases []*Case
	for _, p := range files {
		c, err := Load(p)
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// Has reports whether the case expects field.
func (c *Case) Has(field string) bool { _, ok := c.Expected[field]; return ok }

// Floats returns expected field as float64s; ints, a single number and booleans (1 or 0) too.
func (c *Case) Floats(field string) ([]float64, error) {
	raw, ok := c.Expected[field]
	if !ok {
		return nil, fmt.Errorf("presstest: %s: expected.%s missing", c.Name, field)
	}
	var xs []float64
	if err := json.Unmarshal(raw, &xs); err == nil {
		return xs, nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err == nil {
		return []float64{x}, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("presstest: %s: expected.%s is not numbers or a boolean: %w", c.Name, field, err)
	}
	if b {
		return []float64{1}, nil
	}
	return []float64{0}, nil
}

// CumulativeP is the cumulative-saliency threshold the press hard-codes for SparK's group and
// top-p modes (spec 3.11); a case asking for another one cannot be expressed.
const CumulativeP = 0.99

// Options maps the case's params to the press name, its Options and the layer placement
// (PyramidKV). An unknown parameter, value pruning or another cumulative p is an error, so a
// case the press cannot express is never silently run with defaults.
func (c *Case) Options() (name string, o press.Options, layer, nLayers int, err error) {
	num := func(v any) float64 {
		if f, ok := v.(float64); ok {
			return f
		}
		return 0 // JSON null: unset
	}
	for k, v := range c.Params {
		switch k {
		case "press":
			name, _ = v.(string)
		case "key_ratio":
			o.KeyRatio = num(v)
		case "value_ratio":
			if num(v) != 0 {
				return "", o, 0, 0, fmt.Errorf("presstest: %s: value pruning (value_ratio %v) is not implemented", c.Name, v)
			}
		case "budget":
			o.Budget = int(num(v))
		case "token_ratio":
			o.TokenRatio = num(v)
		case "recovery":
			o.Recovery, _ = v.(string)
		case "mode":
			o.Mode, _ = v.(string)
		case "threshold_ratio":
			o.ThresholdRatio = num(v)
		case "cumulative_p":
			if num(v) != CumulativeP {
				return "", o, 0, 0, fmt.Errorf("presstest: %s: cumulative_p %v, the press hard-codes %v", c.Name, v, CumulativeP)
			}
		case "spark_window":
			o.SparKWindow = int(num(v))
		case "think_window":
			o.ThinKWindow = int(num(v))
		case "snap_window":
			o.SnapWindow = int(num(v))
		case "kernel_size":
			o.KernelSize = int(num(v))
		case "beta":
			o.Beta = num(v)
		case "layer_idx":
			layer = int(num(v))
		case "n_layers":
			nLayers = int(num(v))
		case "n_sink":
			o.NSink = int(num(v))
		case "n_future":
			o.NFuture = int(num(v))
		case "use_covariance":
			b, _ := v.(bool)
			o.NoCovariance = !b
		case "use_vnorm":
			b, _ := v.(bool)
			o.NoVNorm = !b
		case "epsilon":
			o.Epsilon = num(v)
		default:
			return "", o, 0, 0, fmt.Errorf("presstest: %s: unknown press parameter %q = %v", c.Name, k, v)
		}
	}
	if name == "" {
		return "", o, 0, 0, fmt.Errorf("presstest: %s: params name no press", c.Name)
	}
	return name, o, layer, nLayers, nil
}

// Input builds the press input of the case for layer layer of nLayers (from Options): keys,
// values and window queries converted to float32 (exact: the README guarantees bf16-representable
// inputs), and the ExpectedAttention and ObservedAttention extras when the case has them.
func (c *Case) Input(layer, nLayers int) *press.Input {
	s := c.Shape
	in := &press.Input{
		KV:       press.LayerKV{NKVHeads: s.Hkv, T: s.T, HeadDim: s.D, K: F32s(c.Inputs["keys"]), V: F32s(c.Inputs["values"])},
		Window:   press.Queries{NHeads: s.H, W: s.Wp, HeadDim: s.D, Q: F32s(c.Inputs["q_prefill"])},
		LayerIdx: layer, NLayers: nLayers,
		RoPEInvFreq: c.Inputs["rope_inv_freq"],
	}
	if q, ok := c.Inputs["q_prerope"]; ok {
		in.PreRoPE = press.Queries{NHeads: s.H, W: len(q) / (s.H * s.D), HeadDim: s.D, Q: F32s(q)}
	}
	if a, ok := c.Inputs["attention_probs"]; ok {
		in.ObservedColSums = ColumnSums(a, s.H, s.T)
	}
	return in
}

// Compress runs the case's press on its input and returns the input and the result.
func (c *Case) Compress() (*press.Input, *press.Result, error) {
	name, o, layer, nLayers, err := c.Options()
	if err != nil {
		return nil, nil, err
	}
	p, err := press.New(name, o)
	if err != nil {
		return nil, nil, fmt.Errorf("presstest: %s: %w", c.Name, err)
	}
	in := c.Input(layer, nLayers)
	res, err := p.Compress(in)
	if err != nil {
		return nil, nil, fmt.Errorf("presstest: %s: %w", c.Name, err)
	}
	return in, res, nil
}

// DecodeQuery returns decode query l of the case (q_decode is [H][L][D]) as [H][D].
func (c *Case) DecodeQuery(l int) []float32 {
	s := c.Shape
	q := make([]float32, s.H*s.D)
	for h := range s.H {
		for j := range s.D {
			q[h*s.D+j] = float32(c.Inputs["q_decode"][(h*s.L+l)*s.D+j])
		}
	}
	return q
}

// ColumnSums reduces a causal attention matrix [H][T][T] to Σ_r A[h,r,t] per head ([H][T]), the
// input ObservedAttention takes (spec 4.6).
func ColumnSums(a []float64, H, T int) []float64 {
	cs := make([]float64, H*T)
	for h := range H {
		for r := range T {
			for t := range T {
				cs[h*T+t] += a[(h*T+r)*T+t]
			}
		}
	}
	return cs
}

// F32s converts float64s to float32s.
func F32s(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}
