package tokenizer

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
)

// readGz returns the gunzipped contents of a testdata file.
func readGz(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// openGGUF parses a gzip-compressed GGUF file from testdata.
func openGGUF(t testing.TB, path string) *gguf.File {
	t.Helper()
	b := readGz(t, path)
	f, err := gguf.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// Loading a vocabulary costs up to a second; tests and benchmarks share them.
var (
	cacheMu sync.Mutex
	cache   = map[string]*Tokenizer{}
)

// vocabTokenizer returns the tokenizer of testdata/vocab/ggml-vocab-NAME.gguf.gz.
func vocabTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	return cached(t, "vocab/"+name, func() (*Tokenizer, error) {
		return FromGGUF(openGGUF(t, filepath.Join("testdata", "vocab", "ggml-vocab-"+name+".gguf.gz")))
	})
}

// hfVocab returns the tokenizer of testdata/hf/NAME.
func hfVocab(t testing.TB, name string) *Tokenizer {
	t.Helper()
	return cached(t, "hf/"+name, func() (*Tokenizer, error) {
		dir := filepath.Join("testdata", "hf", name)
		cfg, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
		if err != nil {
			return nil, err
		}
		return FromHF(readGz(t, filepath.Join(dir, "tokenizer.json.gz")), cfg)
	})
}

func cached(t testing.TB, key string, load func() (*Tokenizer, error)) *Tokenizer {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if tk, ok := cache[key]; ok {
		return tk
	}
	tk, err := load()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	cache[key] = tk
	return tk
}

// vocabCase is one llama.cpp test-tokenizer-0 vector.
type vocabCase struct {
	text string
	ids  []int32
}

// readVocabCases reads testdata/vocab/ggml-vocab-NAME.gguf.inp/.out: the .inp strings are
// separated by "\n__ggml_vocab_test__\n" and line i of .out holds the ids of string i.
func readVocabCases(t testing.TB, name string) []vocabCase {
	t.Helper()
	base := filepath.Join("testdata", "vocab", "ggml-vocab-"+name+".gguf")
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	// The text after the last separator is empty and has no line.
	if len(texts) != len(lines)+1 || texts[len(texts)-1] != "" {
		t.Fatalf("%s: %d texts for %d lines", base, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(lines))
	for i, line := range lines {
		cases[i].text = texts[i]
		for _, f := range strings.Fields(line) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", base, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, int32(id))
		}
	}
	return cases
}
