package runtime

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime/ref"
)

// openModel opens testdata/name and loads it with opts; both are closed when the test ends.
func openModel(t testing.TB, name string, opts Options) (*gguf.File, *Model) {
	t.Helper()
	f, err := gguf.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	m, err := Load(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return f, m
}

// refModel loads the float64 reference forward pass of f with m's configuration.
func refModel(t testing.TB, f *gguf.File, c Config) *ref.Model {
	t.Helper()
	r, err := ref.Load(f, ref.Config{
		NLayer: c.NLayer, NEmbd: c.NEmbd, NFF: c.NFF, NHead: c.NHead, NKVHead: c.NKVHead,
		HeadDim: c.HeadDim, RopeDim: c.RopeDim, NVocab: c.NVocab, RopeBase: c.RopeBase, RopeScale: c.RopeScale,
		Eps: float64(c.RMSEps), Neox: c.Arch.Rope == RopeNeox,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// parseInts parses space- or comma-separated integers.
func parseInts(t testing.TB, s string) []int32 {
	t.Helper()
	var ids []int32
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' }) {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad id %q: %v", f, err)
		}
		ids = append(ids, int32(v))
	}
	return ids
}

// readIDs reads a file of ids (the .greedy.txt format).
func readIDs(t testing.TB, name string) []int32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return parseInts(t, string(b))
}

// readLogits reads a .logits.txt file: the prompt ids, then one row of logits per position.
func readLogits(t testing.TB, name string) (ids []int32, rows [][]float32) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if ids == nil {
			ids = parseInts(t, sc.Text())
			continue
		}
		var row []float32
		for _, s := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			row = append(row, float32(v))
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ids) {
		t.Fatalf("%s: %d logit rows for %d ids", name, len(rows), len(ids))
	}
	return ids, rows
}

// readMargins reads greedy-margins.tsv: file name -> top1-top2 margin at each greedy step.
func readMargins(t testing.TB) map[string][]float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "greedy-margins.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, vals, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		for _, s := range strings.Split(vals, ",") {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("greedy-margins.tsv: %v", err)
			}
			m[name] = append(m[name], v)
		}
	}
	return m
}

// maxDiff returns the largest |got[i] - want[i]| and its index.
func maxDiff[T float32 | float64](got []float32, want []T) (float64, int) {
	worst, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= worst) { // NaN counts as the worst
			worst, at = d, i
			if math.IsNaN(d) {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

// checkRows fails when any row of got ([n][vocab]) differs from want[i] by more than tol, and
// returns the largest difference seen.
func checkRows(t *testing.T, what string, got []float32, want [][]float32, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for i, w := range want {
		d, at := maxDiff(got[i*len(w):(i+1)*len(w)], w)
		if d > tol {
			t.Errorf("%s: position %d token %d: |diff| %.3g > %.3g", what, i, at, d, tol)
			return d
		}
		worst = max(worst, d)
	}
	return worst
}

// incrementalLogits feeds ids one at a time into a fresh session: [len(ids)][vocab].
func incrementalLogits(t *testing.T, m *Model, ids []int32) []float32 {
	t.Helper()
	s := m.NewSession()
	var out []float32
	for _, id := range ids {
		if err := s.Decode(id); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Logits()...)
	}
	return out
}

// batchLogits feeds ids in one batch into a fresh session: [len(ids)][vocab].
func batchLogits(t *testing.T, m *Model, ids []int32) []float32 {
	t.Helper()
	out, err := m.NewSession().PromptLogits(ids)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
