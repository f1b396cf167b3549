package gguf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzRead parses arbitrary bytes. Read must never panic; every error must carry the gguf
// prefix; every file it accepts must have readable tensors and survive a write/read round trip
// that is stable (writing the re-read file gives the same bytes again).
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := readBytes(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Fatalf("error without the gguf prefix: %v", err)
			}
			return
		}
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			d, err := g.TensorData(ti)
			if err != nil || int64(len(d)) != ti.Size {
				t.Fatalf("accepted file, but tensor %q: %d bytes, %v", ti.Name, len(d), err)
			}
		}
		b1 := rewrite(t, g)
		g2, err := readBytes(b1)
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		if len(g2.KV) != len(g.KV) || len(g2.Tensors) != len(g.Tensors) {
			t.Fatalf("round trip changed counts: %d/%d KV, %d/%d tensors", len(g2.KV), len(g.KV), len(g2.Tensors), len(g.Tensors))
		}
		if b2 := rewrite(t, g2); !bytes.Equal(b1, b2) {
			t.Fatal("writing the re-read file gave different bytes")
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead from corpusSeeds")

const corpusDir = "testdata/fuzz/FuzzRead"

// corpusSeeds returns the committed seed corpus of FuzzRead, by file name: a small synthetic
// model with every value type and several tensor types, a small vocab-only file (no final
// padding), the hand-built corrupt files, and truncations of the synthetic file and of the
// beginning of the bert-bge vocab file at many points. Sizes stay small so that the fuzzer
// mutates headers rather than tensor bytes.
func corpusSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	synth := writeSynth(t, allTypesKV())
	seeds["synthetic"] = synth
	for i, n := range spread(len(synth), 40) {
		seeds[fmt.Sprintf("synthetic-cut-%02d", i)] = synth[:n]
	}
	vocab, err := os.ReadFile(filepath.Join("testdata", "ggml-vocab-bert-bge.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range spread(2048, 24) {
		seeds[fmt.Sprintf("vocab-cut-%02d", i)] = vocab[:n]
	}
	seeds["vocab-small"] = smallVocab(t, vocab)
	for _, c := range corruptCases() {
		seeds["case-"+strings.ReplaceAll(c.name, " ", "-")] = c.file
	}
	return seeds
}

// spread returns count lengths spread evenly over [0, size).
func spread(size, count int) []int {
	out := make([]int, count)
	for i := range out {
		out[i] = i * size / count
	}
	return out
}

// smallVocab rewrites a vocab-only file with every array cut to its first 16 elements.
func smallVocab(t testing.TB, vocab []byte) []byte {
	f, err := readBytes(vocab)
	if err != nil {
		t.Fatal(err)
	}
	kv := slices.Clone(f.KV)
	for i, e := range kv {
		switch v := e.Value.(type) {
		case []string:
			kv[i].Value = v[:min(len(v), 16)]
		case []int32:
			kv[i].Value = v[:min(len(v), 16)]
		case []float32:
			kv[i].Value = v[:min(len(v), 16)]
		}
	}
	var buf bytes.Buffer
	if err := writeAll(NewWriter(&buf), kv, nil, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corpusFile encodes one seed in Go's fuzz corpus format.
func corpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzCorpus checks that the committed seed corpus is exactly corpusSeeds, so that it stays
// in sync with the format; -update-corpus rewrites it.
func TestFuzzCorpus(t *testing.T) {
	seeds := corpusSeeds(t)
	if *updateCorpus {
		if err := os.RemoveAll(corpusDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(corpusDir, name), corpusFile(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, e := range entries {
		got, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		total += len(got)
		data, ok := seeds[e.Name()]
		if !ok {
			t.Errorf("stale corpus file %s (run with -update-corpus)", e.Name())
			continue
		}
		if !bytes.Equal(got, corpusFile(data)) {
			t.Errorf("corpus file %s is out of date (run with -update-corpus)", e.Name())
		}
	}
	if len(entries) != len(seeds) {
		t.Errorf("%d corpus files, want %d (run with -update-corpus)", len(entries), len(seeds))
	}
	t.Logf("%d seeds, %d bytes", len(entries), total)
}
