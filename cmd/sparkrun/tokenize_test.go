package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/internal/hftest"
	"github.com/sparkrun/sparkrun/safetensors"
)

// TestTokenizeGGUF: the embedded stories260K SPM vocabulary, with and without BOS.
func TestTokenizeGGUF(t *testing.T) {
	if got := mustRun(t, "tokenize", "--ids-only", "Hello world"); got != "1,346,306,414,263,304,341\n" {
		t.Errorf("ids = %q", got)
	}
	if got := mustRun(t, "tokenize", "--ids-only", "--no-special", "Hello world"); got != "346,306,414,263,304,341\n" {
		t.Errorf("ids without BOS = %q", got)
	}
	if got := mustRun(t, "tokenize", "Hello"); !strings.Contains(got, `346 -> "▁He"`) {
		t.Errorf("pieces = %q", got)
	}
}

// TestTokenizeHFFolder: a safetensors folder carries its tokenizer.json (here Qwen3's, from
// the tokenizer package's test data), which `tokenize` uses; `convert` carries it into the
// GGUF, which tokenizes the same.
func TestTokenizeHFFolder(t *testing.T) {
	gz, err := os.ReadFile("../../tokenizer/testdata/hf/qwen3/tokenizer.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tj, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := os.ReadFile("../../tokenizer/testdata/hf/qwen3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	src, err := gguf.Open("testdata/micro-qwen3.f32.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	if err := hftest.WriteFolder(dir, src, safetensors.F32, map[string][]byte{"tokenizer.json": tj, "tokenizer_config.json": tc}); err != nil {
		t.Fatal(err)
	}
	// Qwen's vocabulary: "Hello" 9707, " world" 1879, "<|im_start|>" 151644 (parsed as special).
	const want = "151644,9707,1879\n"
	if got := mustRun(t, "tokenize", "--ids-only", dir, "<|im_start|>Hello world"); got != want {
		t.Errorf("folder: ids = %q, want %q", got, want)
	}
	out := filepath.Join(t.TempDir(), "q.gguf")
	mustRun(t, "convert", dir, out, "--quiet")
	if got := mustRun(t, "tokenize", "--ids-only", out, "<|im_start|>Hello world"); got != want {
		t.Errorf("converted GGUF: ids = %q, want %q", got, want)
	}
	if info := mustRun(t, "info", out); !strings.Contains(info, "chat template: yes") || !strings.Contains(info, "tokenizer:     bpe (pre qwen2)") {
		t.Errorf("converted GGUF info:\n%s", info)
	}
}
