package synth

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/tokenizer"
)

// tiny is a small Qwen2-like shape with every optional tensor (biases, rope_freqs) and an
// untied output, and a width that is a whole number of K-quant blocks.
var tiny = Shape{
	Arch: "qwen2", Name: "tiny", Embd: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FF: 512,
	Vocab: 100, Context: 128, RopeTheta: 10000, NormEps: 1e-6, QKVBias: true, Llama3Rope: true,
}

func TestBuildTinyConsistent(t *testing.T) {
	for _, typ := range []ggml.Type{ggml.TypeQ8_0, ggml.TypeQ4_0, ggml.TypeQ4_K, ggml.TypeQ6_K, ggml.TypeF16, ggml.TypeF32} {
		t.Run(typ.String(), func(t *testing.T) {
			f, err := BuildShape(tiny, typ, 7)
			if err != nil {
				t.Fatal(err)
			}
			// 1 embedding + rope_freqs + 12 per layer + output norm + output.
			if want := 1 + 1 + 12*tiny.Layers + 2; len(f.Tensors) != want {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), want)
			}
			var end int64
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				if ti.Offset%32 != 0 || ti.Offset < end {
					t.Fatalf("%s: offset %d misaligned or overlapping (previous end %d)", ti.Name, ti.Offset, end)
				}
				end = ti.Offset + ti.Size
				want, err := ggml.RowBytes(ti.Type, ti.Elements())
				if err != nil || want != ti.Size {
					t.Fatalf("%s: size %d, %s x %d needs %d (%v)", ti.Name, ti.Size, ti.Type, ti.Elements(), want, err)
				}
				if len(ti.Dims) == 2 && ti.Type != typ {
					t.Fatalf("%s: type %s, want %s", ti.Name, ti.Type, typ)
				}
				data, err := f.TensorData(ti)
				if err != nil || int64(len(data)) != ti.Size {
					t.Fatalf("%s: %d bytes of data, want %d (%v)", ti.Name, len(data), ti.Size, err)
				}
				checkValues(t, ti, data)
			}
			if n, err := f.Int("qwen2.embedding_length"); err != nil || n != 256 {
				t.Fatalf("embedding_length = %d, %v", n, err)
			}
			if a, err := f.String("general.architecture"); err != nil || a != "qwen2" {
				t.Fatalf("architecture = %q, %v", a, err)
			}
		})
	}
}

// checkValues dequantizes a tensor and checks its statistics: matrices and biases ~N(0, 0.02)
// (sample std within 20% over thousands of values, far outside what a wrong layout or scale
// would give), norms ~1, rope factors in [1, 32], and matrix rows not all equal.
func checkValues(t *testing.T, ti *gguf.TensorInfo, data []byte) {
	t.Helper()
	v := make([]float32, ti.Elements())
	if err := ggml.Dequantize(ti.Type, data, v); err != nil {
		t.Fatal(err)
	}
	var mean, sq float64
	for _, x := range v {
		mean += float64(x)
		sq += float64(x) * float64(x)
	}
	mean /= float64(len(v))
	std := math.Sqrt(sq/float64(len(v)) - mean*mean)
	switch {
	case ti.Name == "rope_freqs.weight":
		if v[0] != 1 || v[len(v)-1] != 32 {
			t.Fatalf("rope factors run from %g to %g, want 1 to 32", v[0], v[len(v)-1])
		}
	case bytes.HasSuffix([]byte(ti.Name), []byte("norm.weight")):
		if math.Abs(mean-1) > 0.01 {
			t.Fatalf("%s: mean %g, want about 1", ti.Name, mean)
		}
	case len(v) >= 4096:
		if math.Abs(std-0.02) > 0.004 || math.Abs(mean) > 0.002 {
			t.Fatalf("%s: mean %g std %g, want 0 and 0.02", ti.Name, mean, std)
		}
	}
	if len(ti.Dims) == 2 {
		rb := len(data) / int(ti.Dims[1])
		if bytes.Equal(data[:rb], data[rb:2*rb]) && bytes.Equal(data[:rb], data[len(data)-rb:]) {
			t.Fatalf("%s: rows are identical", ti.Name)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	a, _ := BuildShape(tiny, ggml.TypeQ8_0, 1)
	b, _ := BuildShape(tiny, ggml.TypeQ8_0, 1)
	c, _ := BuildShape(tiny, ggml.TypeQ8_0, 2)
	name := "blk.1.ffn_down.weight"
	ta, _ := a.Tensor(name)
	da, _ := a.TensorData(ta)
	db, _ := b.TensorData(ta)
	dc, _ := c.TensorData(ta)
	if !bytes.Equal(da, db) {
		t.Fatal("same seed gave different weights")
	}
	if bytes.Equal(da, dc) {
		t.Fatal("different seeds gave the same weights")
	}
}

// TestNamedShapes checks the tensor tables of the real shapes against the published parameter
// counts, without building their data.
func TestNamedShapes(t *testing.T) {
	cases := []struct {
		name    string
		typ     ggml.Type
		tensors int
		params  int64
	}{
		// Llama 3.2 1B: 1,235,814,400 parameters (tied output) plus the 32 rope factors.
		{"llama3.2-1b", ggml.TypeQ8_0, 1 + 1 + 9*16 + 1, 1235814400 + 32},
		// Qwen2.5 0.5B: 494,032,768 parameters (tied output).
		{"qwen2.5-0.5b", ggml.TypeQ4_K, 1 + 12*24 + 1, 494032768},
		// Llama 3 8B: 8,030,261,248 parameters.
		{"llama3-8b", ggml.TypeQ4_0, 1 + 9*32 + 2, 8030261248},
	}
	for _, c := range cases {
		f, err := Build(c.name, c.typ, 1)
		if err != nil {
			t.Fatal(err)
		}
		var params int64
		for i := range f.Tensors {
			params += f.Tensors[i].Elements()
		}
		if len(f.Tensors) != c.tensors || params != c.params {
			t.Errorf("%s: %d tensors with %d parameters, want %d and %d", c.name, len(f.Tensors), params, c.tensors, c.params)
		}
	}
	// Qwen's 896-wide rows are not whole Q4_K blocks: llama-quantize falls back to Q5_0.
	f, _ := Build("qwen2.5-0.5b", ggml.TypeQ4_K, 1)
	if ti, _ := f.Tensor("blk.0.attn_q.weight"); ti.Type != ggml.TypeQ5_0 {
		t.Errorf("qwen attn_q is %s, want the Q5_0 fallback", ti.Type)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build("gpt-5", ggml.TypeQ8_0, 1); err == nil {
		t.Error("unknown shape accepted")
	}
	if _, err := BuildShape(tiny, ggml.TypeIQ2_XXS, 1); err == nil {
		t.Error("unquantizable type accepted")
	}
	bad := tiny
	bad.KVHeads = 3
	if _, err := BuildShape(bad, ggml.TypeQ8_0, 1); err == nil {
		t.Error("heads not a multiple of KV heads accepted")
	}
	odd := tiny
	odd.Embd = 100 // not a whole number of Q8_0 blocks, and Q8_0 has no fallback
	if _, err := BuildShape(odd, ggml.TypeQ8_0, 1); err == nil {
		t.Error("row length that is not a whole number of blocks accepted")
	}
}

// BenchmarkBuildData measures producing every tensor of the Llama 3.2 1B shape in Q8_0
// (about 1.3 GB), the cost of `sparkrun bench --synthetic llama3.2-1b:Q8_0`.
func BenchmarkBuildData(b *testing.B) {
	for range b.N {
		f, err := Build("llama3.2-1b", ggml.TypeQ8_0, 1)
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for i := range f.Tensors {
			d, err := f.TensorData(&f.Tensors[i])
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(d))
		}
		b.SetBytes(total)
	}
}

// TestVocabulary: the placeholder vocabulary loads as a byte-level BPE tokenizer (so llama.cpp
// and sparkrun both accept the saved file): text tokenizes byte by byte, BOS and EOS are the
// last two ids, and every piece is distinct.
func TestVocabulary(t *testing.T) {
	s := tiny
	s.Vocab = 300
	f, err := BuildShape(s, ggml.TypeQ8_0, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("Hi é\n", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{'H', 'i', ' ', 0xC3, 0xA9, '\n'}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want the bytes %v", ids, want)
	}
	if tok.BOS() != 298 || tok.EOS() != 299 || tok.VocabSize() != 300 {
		t.Errorf("BOS %d EOS %d vocabulary %d, want 298, 299, 300", tok.BOS(), tok.EOS(), tok.VocabSize())
	}
	pieces, _ := s.vocabulary()
	seen := map[string]bool{}
	for _, p := range pieces {
		if seen[p] {
			t.Errorf("piece %q appears twice", p)
		}
		seen[p] = true
	}
}
