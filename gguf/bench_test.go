package gguf

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
)

// benchModel is the tensor table of a TinyLlama-1.1B-shaped model in Q8_0 (22 layers, n_embd
// 2048, 4 KV heads of 64, n_ff 5632, 32000-token vocab): 201 tensors, 1.17 GB (1.09 GiB).
func benchModel() (kv []KV, tensors []TensorInfo) {
	const nEmbd, nKV, nFF, nVocab, nLayer = 2048, 256, 5632, 32000, 22
	tokens := make([]string, nVocab)
	scores := make([]float32, nVocab)
	types := make([]int32, nVocab)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("▁tok%05d", i)
		scores[i] = -float32(i)
		types[i] = 1
	}
	kv = []KV{
		{"general.architecture", "llama"},
		{"general.name", "bench-1GiB"},
		{"llama.block_count", uint32(nLayer)},
		{"llama.embedding_length", uint32(nEmbd)},
		{"llama.feed_forward_length", uint32(nFF)},
		{"llama.attention.head_count", uint32(32)},
		{"llama.attention.head_count_kv", uint32(4)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
	}
	add := func(name string, typ ggml.Type, dims ...int64) {
		tensors = append(tensors, TensorInfo{Name: name, Type: typ, Dims: dims})
	}
	add("token_embd.weight", ggml.TypeQ8_0, nEmbd, nVocab)
	for l := range nLayer {
		p := "blk." + strconv.Itoa(l) + "."
		add(p+"attn_norm.weight", ggml.TypeF32, nEmbd)
		add(p+"attn_q.weight", ggml.TypeQ8_0, nEmbd, nEmbd)
		add(p+"attn_k.weight", ggml.TypeQ8_0, nEmbd, nKV)
		add(p+"attn_v.weight", ggml.TypeQ8_0, nEmbd, nKV)
		add(p+"attn_output.weight", ggml.TypeQ8_0, nEmbd, nEmbd)
		add(p+"ffn_norm.weight", ggml.TypeF32, nEmbd)
		add(p+"ffn_gate.weight", ggml.TypeQ8_0, nEmbd, nFF)
		add(p+"ffn_up.weight", ggml.TypeQ8_0, nEmbd, nFF)
		add(p+"ffn_down.weight", ggml.TypeQ8_0, nFF, nEmbd)
	}
	add("output_norm.weight", ggml.TypeF32, nEmbd)
	add("output.weight", ggml.TypeQ8_0, nEmbd, nVocab)
	return kv, tensors
}

// benchFile returns the path of the benchmark model, writing it (zero tensor data) once into
// the system temporary directory and reusing it in later runs while it still parses.
func benchFile(b *testing.B) string {
	kv, tensors := benchModel()
	path := filepath.Join(os.TempDir(), "sparkrun-gguf-bench-1GiB-v1.gguf")
	if f, err := Open(path); err == nil {
		n := len(f.Tensors)
		f.Close()
		if n == len(tensors) {
			return path
		}
	}
	var largest int64
	for _, t := range tensors {
		n, err := tensorSize(t.Name, t.Type, t.Dims)
		if err != nil {
			b.Fatal(err)
		}
		largest = max(largest, n)
	}
	zeros := make([]byte, largest)
	err := WriteFile(path, kv, tensors, func(t *TensorInfo) ([]byte, error) {
		n, err := tensorSize(t.Name, t.Type, t.Dims)
		return zeros[:n], err
	})
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpen1GiB times Open (map, parse and validate every KV and tensor info) of a 1 GiB
// model file and reports the resident memory that one open file adds. The tensor data is mapped,
// not read, so the figure should stay near the size of the parsed metadata.
func BenchmarkOpen1GiB(b *testing.B) {
	path := benchFile(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.StopTimer()
	before, ok := vmRSS()
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	after, _ := vmRSS()
	f.Close()
	b.ReportMetric(float64(st.Size())/(1<<30), "file-GiB")
	if ok {
		b.ReportMetric(float64(after-before)/(1<<20), "RSS-MiB/open")
		b.ReportMetric(float64(after)/(1<<20), "RSS-MiB")
	}
}

// vmRSS returns the process's resident set size in bytes from /proc/self/status; ok is false
// where that file does not exist (non-Linux systems).
func vmRSS() (rss int64, ok bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10, true
		}
	}
	return 0, false
}
