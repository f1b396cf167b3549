package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writePrompts writes n greedy prompts for the embedded stories model.
func writePrompts(t *testing.T, path string, n, maxTokens int) {
	t.Helper()
	subjects := []string{"dog", "cat", "little girl", "boy", "bird", "tree", "ball", "fish"}
	var b strings.Builder
	for i := 0; i < n; i++ {
		line, _ := json.Marshal(map[string]any{
			"id": fmt.Sprintf("p%03d", i), "prompt": "Once upon a time, there was a " + subjects[i%len(subjects)],
			"max_tokens": maxTokens - i%7, "temperature": 0,
		})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	ID     any    `json:"id"` // string or number, as in the input
	Text   string `json:"text"`
	Tokens int    `json:"tokens"`
	Finish string `json:"finish_reason"`
	Error  string `json:"error"`
}

// readResults parses an output file, failing on a torn or invalid line.
func readResults(t *testing.T, path string) []result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s ends with a torn line", path)
	}
	var out []result
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func byID(t *testing.T, rs []result) map[string]result {
	t.Helper()
	m := map[string]result{}
	for _, r := range rs {
		key := fmt.Sprint(r.ID)
		if _, dup := m[key]; dup {
			t.Fatalf("id %s appears twice", key)
		}
		m[key] = r
	}
	return m
}

func runBatch(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"batch"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBatchParallelSameResults: at temperature 0 the results do not depend on how many
// sequences share a forward pass.
func TestBatchParallelSameResults(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writePrompts(t, in, 40, 48)
	var results []map[string]result
	for _, p := range []string{"1", "8"} {
		out := filepath.Join(dir, "out"+p+".jsonl")
		if msg, err := runBatch(t, "--in", in, "--out", out, "--parallel", p); err != nil {
			t.Fatalf("--parallel %s: %v\n%s", p, err, msg)
		}
		results = append(results, byID(t, readResults(t, out)))
	}
	if len(results[0]) != 40 {
		t.Fatalf("%d results, want 40", len(results[0]))
	}
	for id, r := range results[0] {
		if r.Tokens == 0 || r.Text == "" || r.Finish == "" {
			t.Errorf("%s: empty result %+v", id, r)
		}
		if results[1][id] != r {
			t.Errorf("%s: --parallel 1 gives %+v, --parallel 8 gives %+v", id, r, results[1][id])
		}
	}
}

// TestBatchSurvivesKill kills the batch with SIGKILL at random moments, resumes it each time,
// and checks that every id ends up exactly once, no line is torn, and the results equal an
// uninterrupted run.
func TestBatchSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	n := 80
	if testing.Short() {
		n = 40
	}
	writePrompts(t, in, n, 100)
	clean := filepath.Join(dir, "clean.jsonl")
	if msg, err := runBatch(t, "--in", in, "--out", clean, "--parallel", "4"); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	want := byID(t, readResults(t, clean))

	out := filepath.Join(dir, "out.jsonl")
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	const maxKills = 5
	for {
		cmd := exec.Command(bin, "batch", "--in", in, "--out", out, "--parallel", "4")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		if kills == maxKills {
			deadline = nil // let this run finish
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("batch failed: %v", err)
			}
			got := byID(t, readResults(t, out))
			if len(got) != len(want) {
				t.Fatalf("%d results after resuming, want %d", len(got), len(want))
			}
			for id, r := range want {
				if got[id] != r {
					t.Errorf("%s: after kills %+v, uninterrupted %+v", id, got[id], r)
				}
			}
			if kills == 0 {
				t.Fatal("the batch finished before any kill: the test did not test anything")
			}
			t.Logf("%d SIGKILLs, then complete", kills)
			return
		case <-deadline:
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			kills++
			readResults(t, out) // no torn line, no duplicate at any point
			byID(t, readResults(t, out))
		}
	}
}

func TestBatchBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte(`{"id": 1, "prompt": "Once", "max_tokens": 3}
{not json
{"id": 2}
{"id": 3, "prompt": "x", "max_tokens": -1}
{"id": 4, "prompt": "Once", "max_tokens": 3, "temperature": 0}
`), 0o644)
	msg, err := runBatch(t, "--in", in, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	for _, want := range []string{"in.jsonl:2:", "in.jsonl:3: needs \"prompt\" or \"messages\"", "in.jsonl:4: max_tokens -1 is negative"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if got := readResults(t, out); len(got) != 2 {
		t.Errorf("%d results, want 2 (ids 1 and 4)", len(got))
	}
	// --strict stops at the first malformed line, before any work.
	os.Remove(out)
	if msg, err := runBatch(t, "--in", in, "--out", out, "--strict"); err == nil || !strings.Contains(msg, "in.jsonl:2:") {
		t.Errorf("--strict: err %v, %s", err, msg)
	}
	// Duplicate ids are an error before any work starts.
	os.WriteFile(in, []byte("{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"a\",\"prompt\":\"y\"}\n"), 0o644)
	msg, err = runBatch(t, "--in", in, "--out", out)
	if err == nil || !strings.Contains(msg, `duplicate id "a" (first on line 1)`) {
		t.Errorf("duplicates: err %v, %s", err, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an output file was written despite the duplicate ids")
	}
}

// TestBatchPress: batch compresses each prompt with the press at the end of its prefill, as run
// does: at temperature 0 every result equals `sparkrun run` with the same press on that prompt,
// whatever --parallel, and differs from the dense cache for some prompt (so the press really ran;
// the prompts are longer than SparK's 32-query window, which shorter prompts skip).
func TestBatchPress(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	subjects := []string{"dog", "cat", "little girl", "boy", "bird"}
	var prompts []string
	var b strings.Builder
	for i, s := range subjects {
		p := fmt.Sprintf("Once upon a time, there was a %s. The %s liked to play in the park with a big red ball. One day, the %s saw a", s, s, s)
		prompts = append(prompts, p)
		line, _ := json.Marshal(map[string]any{"id": i, "prompt": p, "max_tokens": 24, "temperature": 0})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	press := []string{"--press", "spark", "--key-ratio", "0.8"}
	var runs []map[string]result
	for _, p := range []string{"1", "3"} {
		out := filepath.Join(dir, "out"+p+".jsonl")
		if msg, err := runBatch(t, append([]string{"--in", in, "--out", out, "--parallel", p, "--quiet"}, press...)...); err != nil {
			t.Fatalf("--parallel %s: %v\n%s", p, err, msg)
		}
		runs = append(runs, byID(t, readResults(t, out)))
	}
	differ := 0
	for i, p := range prompts {
		id := fmt.Sprint(i)
		want, err := exec.Command(bin, append([]string{"run", p, "--temp", "0", "-n", "24"}, press...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		dense, err := exec.Command(bin, "run", p, "--temp", "0", "-n", "24").Output()
		if err != nil {
			t.Fatal(err)
		}
		want = bytes.TrimSuffix(want, []byte("\n")) // run ends its output with a newline
		dense = bytes.TrimSuffix(dense, []byte("\n"))
		for j, r := range runs {
			if r[id].Text != string(want) {
				t.Errorf("prompt %d, run %d: batch gives %q, run --press gives %q", i, j, r[id].Text, want)
			}
		}
		if string(dense) != string(want) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("SparK λ=0.8 gave the dense cache's text for every prompt: the press did not run")
	}
}
