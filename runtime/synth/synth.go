// Package synth builds random-weight models with the exact tensor names, shapes and metadata of
// real ones (Llama 3.2 1B, Qwen2.5 0.5B, Llama 3 8B), so that speed can be measured without
// downloading weights, and the same file can be saved and given to other runtimes.
//
// Weights are ~N(0, 0.02) quantized with ggml.Quantize. Quantizing a billion values would take
// minutes, so each (type, row length) gets a small pool of quantized random rows once, and every
// tensor row is a copy of a pool row rotated by a random whole number of blocks: the bytes are
// valid blocks of the requested type, rows differ from each other, and building costs about a
// memory copy per weight byte. Tensor data is produced on first use and kept, so memory grows
// to the quantized size of what has been read.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
)

// Shape is the architecture of a synthetic model: the hyperparameters that decide its tensor
// table and metadata.
type Shape struct {
	Arch       string  // general.architecture: "llama" or "qwen2"
	Name       string  // general.name
	Embd       int     // n_embd, the residual width
	Layers     int     // number of transformer blocks
	Heads      int     // query heads
	KVHeads    int     // key/value heads (GQA)
	HeadDim    int     // dimension of one head
	FF         int     // feed-forward hidden width
	Vocab      int     // vocabulary size (rows of token_embd)
	Context    int     // training context length
	RopeTheta  float32 // RoPE frequency base
	NormEps    float32 // RMSNorm epsilon
	Tied       bool    // no output.weight: the output projection reuses token_embd
	QKVBias    bool    // attn_q/k/v biases (Qwen2)
	Llama3Rope bool    // a rope_freqs tensor with Llama 3.1-style scaling factors
}

// shapes are the named shapes Build knows, with the hyperparameters of the published models.
var shapes = map[string]Shape{
	"llama3.2-1b": {
		Arch: "llama", Name: "synthetic Llama-3.2-1B", Embd: 2048, Layers: 16, Heads: 32, KVHeads: 8,
		HeadDim: 64, FF: 8192, Vocab: 128256, Context: 131072, RopeTheta: 500000, NormEps: 1e-5,
		Tied: true, Llama3Rope: true,
	},
	"qwen2.5-0.5b": {
		Arch: "qwen2", Name: "synthetic Qwen2.5-0.5B", Embd: 896, Layers: 24, Heads: 14, KVHeads: 2,
		HeadDim: 64, FF: 4864, Vocab: 151936, Context: 32768, RopeTheta: 1000000, NormEps: 1e-6,
		Tied: true, QKVBias: true,
	},
	"llama3-8b": {
		Arch: "llama", Name: "synthetic Llama-3-8B", Embd: 4096, Layers: 32, Heads: 32, KVHeads: 8,
		HeadDim: 128, FF: 14336, Vocab: 128256, Context: 8192, RopeTheta: 500000, NormEps: 1e-5,
	},
}

// Names returns the names Build accepts, sorted.
func Names() []string {
	var out []string
	for n := range shapes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the named shape.
func Lookup(name string) (Shape, bool) {
	s, ok := shapes[name]
	return s, ok
}

// Build returns a virtual GGUF file with the tensors and metadata of the named shape (see
// Names), every matrix of type typ, norms and biases in F32, random weights from seed.
func Build(shape string, typ ggml.Type, seed int64) (*gguf.File, error) {
	s, ok := shapes[shape]
	if !ok {
		return nil, fmt.Errorf("synth: unknown shape %q (known: %v)", shape, Names())
	}
	return BuildShape(s, typ, seed)
}

// fileTypes maps a matrix type to llama.cpp's general.file_type (llama_ftype) for a model whose
// matrices are all of that type (the _S variant for K-quants).
var fileTypes = map[ggml.Type]uint32{
	ggml.TypeF32: 0, ggml.TypeF16: 1, ggml.TypeQ4_0: 2, ggml.TypeQ4_1: 3, ggml.TypeQ8_0: 7,
	ggml.TypeQ5_0: 8, ggml.TypeQ5_1: 9, ggml.TypeQ2_K: 10, ggml.TypeQ3_K: 11, ggml.TypeQ4_K: 14,
	ggml.TypeQ5_K: 16, ggml.TypeQ6_K: 18, ggml.TypeIQ4_NL: 25, ggml.TypeIQ4_XS: 30, ggml.TypeBF16: 32,
}

// fallback is the type llama-quantize uses instead of a 256-block K-quant for rows whose length
// is not a multiple of 256 (Qwen2.5-0.5B's 896, for example).
var fallback = map[ggml.Type]ggml.Type{
	ggml.TypeQ4_K: ggml.TypeQ5_0, ggml.TypeQ5_K: ggml.TypeQ5_1, ggml.TypeQ6_K: ggml.TypeQ8_0,
}

// matrixType returns the type a matrix with rows of cols elements gets in a typ model.
func matrixType(typ ggml.Type, cols int) (ggml.Type, error) {
	if cols%typ.BlockSize() != 0 {
		fb, ok := fallback[typ]
		if !ok {
			return 0, fmt.Errorf("synth: rows of %d elements cannot be stored as %s (block size %d)", cols, typ, typ.BlockSize())
		}
		typ = fb
	}
	if !ggml.CanQuantize(typ) {
		return 0, fmt.Errorf("synth: ggml cannot quantize to %s", typ)
	}
	return typ, nil
}

// tensorSpec is one tensor of the model and how its values are drawn.
type tensorSpec struct {
	name string
	dims []int64 // ne
	norm bool    // values ~ 1 + N(0, 0.02) (RMSNorm weights) instead of N(0, 0.02)
	rope bool    // rope_freqs: the Llama 3 scaling factors, not random
}

// tensors lists the model's tensors in llama.cpp's order.
func (s Shape) tensors() []tensorSpec {
	e, q, kv, ff, v := int64(s.Embd), int64(s.Heads*s.HeadDim), int64(s.KVHeads*s.HeadDim), int64(s.FF), int64(s.Vocab)
	out := []tensorSpec{{name: "token_embd.weight", dims: []int64{e, v}}}
	if s.Llama3Rope {
		out = append(out, tensorSpec{name: "rope_freqs.weight", dims: []int64{int64(s.HeadDim / 2)}, rope: true})
	}
	for l := range s.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		out = append(out,
			tensorSpec{name: p + "attn_norm.weight", dims: []int64{e}, norm: true},
			tensorSpec{name: p + "attn_q.weight", dims: []int64{e, q}},
			tensorSpec{name: p + "attn_k.weight", dims: []int64{e, kv}},
			tensorSpec{name: p + "attn_v.weight", dims: []int64{e, kv}})
		if s.QKVBias {
			out = append(out,
				tensorSpec{name: p + "attn_q.bias", dims: []int64{q}},
				tensorSpec{name: p + "attn_k.bias", dims: []int64{kv}},
				tensorSpec{name: p + "attn_v.bias", dims: []int64{kv}})
		}
		out = append(out,
			tensorSpec{name: p + "attn_output.weight", dims: []int64{q, e}},
			tensorSpec{name: p + "ffn_norm.weight", dims: []int64{e}, norm: true},
			tensorSpec{name: p + "ffn_gate.weight", dims: []int64{e, ff}},
			tensorSpec{name: p + "ffn_up.weight", dims: []int64{e, ff}},
			tensorSpec{name: p + "ffn_down.weight", dims: []int64{ff, e}})
	}
	out = append(out, tensorSpec{name: "output_norm.weight", dims: []int64{e}, norm: true})
	if !s.Tied {
		out = append(out, tensorSpec{name: "output.weight", dims: []int64{e, v}})
	}
	return out
}

// metadata returns the GGUF keys llama.cpp reads for this shape, with a placeholder byte-level
// BPE vocabulary (see vocabulary) so that other runtimes load the file too.
func (s Shape) metadata(ftype uint32) []gguf.KV {
	a := s.Arch + "."
	tokens, types := s.vocabulary()
	return []gguf.KV{
		{Key: "general.architecture", Value: s.Arch},
		{Key: "general.name", Value: s.Name},
		{Key: "general.file_type", Value: ftype},
		{Key: "general.quantization_version", Value: uint32(2)},
		{Key: a + "context_length", Value: uint32(s.Context)},
		{Key: a + "embedding_length", Value: uint32(s.Embd)},
		{Key: a + "block_count", Value: uint32(s.Layers)},
		{Key: a + "feed_forward_length", Value: uint32(s.FF)},
		{Key: a + "attention.head_count", Value: uint32(s.Heads)},
		{Key: a + "attention.head_count_kv", Value: uint32(s.KVHeads)},
		{Key: a + "attention.key_length", Value: uint32(s.HeadDim)},
		{Key: a + "attention.value_length", Value: uint32(s.HeadDim)},
		{Key: a + "rope.dimension_count", Value: uint32(s.HeadDim)},
		{Key: a + "rope.freq_base", Value: s.RopeTheta},
		{Key: a + "attention.layer_norm_rms_epsilon", Value: s.NormEps},
		{Key: a + "vocab_size", Value: uint32(s.Vocab)},
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "default"},
		{Key: "tokenizer.ggml.tokens", Value: tokens},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.merges", Value: []string{}},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(s.Vocab - 2)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(s.Vocab - 1)},
	}
}

// vocabulary is a placeholder vocabulary of s.Vocab tokens: llama.cpp (llama-bench) refuses a
// file without one, and these files exist to be measured by other runtimes too. The first 256
// tokens are GPT-2's byte-level characters (so any text tokenizes, byte by byte, with no
// merges), the last two are control tokens BOS and EOS, the rest "<synth N>" pieces.
func (s Shape) vocabulary() (tokens []string, types []int32) {
	const normal, control = 1, 3
	for i := range s.Vocab {
		switch {
		case i >= s.Vocab-2:
			tokens, types = append(tokens, fmt.Sprintf("<|synth_%s|>", []string{"bos", "eos"}[i-(s.Vocab-2)])), append(types, control)
		case i < 256:
			tokens, types = append(tokens, string(byteLevelRune(byte(i)))), append(types, normal)
		default:
			tokens, types = append(tokens, fmt.Sprintf("<synth %d>", i)), append(types, normal)
		}
	}
	return tokens, types
}

// byteLevelRune is GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves,
// the other 68 bytes map in order to U+0100 onwards.
func byteLevelRune(b byte) rune {
	printable := func(c byte) bool { return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE }
	if printable(b) {
		return rune(b)
	}
	n := 0
	for c := range b {
		if !printable(byte(c)) {
			n++
		}
	}
	return rune(256 + n)
}

// validate rejects shapes whose tensors could not exist.
func (s Shape) validate() error {
	switch {
	case s.Arch != "llama" && s.Arch != "qwen2":
		return fmt.Errorf("synth: shape %q: architecture %q is not llama or qwen2", s.Name, s.Arch)
	case s.Embd <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.HeadDim <= 0 || s.FF <= 0 || s.Vocab <= 0:
		return fmt.Errorf("synth: shape %q: every size must be positive", s.Name)
	case s.Heads%s.KVHeads != 0:
		return fmt.Errorf("synth: shape %q: %d heads are not a multiple of %d KV heads", s.Name, s.Heads, s.KVHeads)
	case s.HeadDim%2 != 0:
		return fmt.Errorf("synth: shape %q: head dimension %d is odd", s.Name, s.HeadDim)
	}
	return nil
}

// BuildShape is Build for a shape given in full (tests use tiny ones).
func BuildShape(s Shape, typ ggml.Type, seed int64) (*gguf.File, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	ftype, ok := fileTypes[typ]
	if !ok {
		return nil, fmt.Errorf("synth: no llama.cpp file type for %s models", typ)
	}
	specs := s.tensors()
	b := &builder{seed: uint64(seed), specs: map[string]tensorSpec{}, pools: map[poolKey][]byte{}, data: map[string][]byte{}, shape: s}
	infos := make([]gguf.TensorInfo, 0, len(specs))
	const align = 32 // GGUF's default general.alignment
	var off int64
	for _, sp := range specs {
		t := ggml.TypeF32
		if len(sp.dims) == 2 {
			var err error
			if t, err = matrixType(typ, int(sp.dims[0])); err != nil {
				return nil, fmt.Errorf("%w (tensor %s)", err, sp.name)
			}
		}
		n := int64(1)
		for _, d := range sp.dims {
			n *= d
		}
		size, err := ggml.RowBytes(t, n)
		if err != nil {
			return nil, fmt.Errorf("synth: tensor %s: %w", sp.name, err)
		}
		infos = append(infos, gguf.TensorInfo{Name: sp.name, Dims: sp.dims, Type: t, Offset: off, Size: size})
		off += (size + align - 1) / align * align
		b.specs[sp.name] = sp
	}
	return gguf.NewFile(s.metadata(ftype), infos, b.tensorData), nil
}

// poolKey identifies a pool of quantized random rows.
type poolKey struct {
	typ  ggml.Type
	cols int
}

// poolRows is the number of distinct random rows per pool; with rotations by any whole number
// of blocks, rows repeat rarely enough that no two outputs of a layer are equal.
const poolRows = 16

// builder produces tensor data on demand and keeps it, so that repeated TensorData calls return
// the same bytes and memory stays one copy of the model.
type builder struct {
	seed  uint64
	shape Shape
	mu    sync.Mutex
	specs map[string]tensorSpec
	pools map[poolKey][]byte // [poolRows][RowBytes(typ, cols)]
	data  map[string][]byte  // tensor name -> its bytes, once built
}

func (b *builder) tensorData(t *gguf.TensorInfo) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.data[t.Name]; ok {
		return d, nil
	}
	sp, ok := b.specs[t.Name]
	if !ok {
		return nil, fmt.Errorf("synth: no tensor %q in this model", t.Name)
	}
	rng := rand.New(rand.NewPCG(b.seed, hashName(t.Name)))
	var d []byte
	var err error
	switch {
	case sp.rope:
		d, err = floatData(llama3RopeFactors(b.shape))
	case len(sp.dims) == 1:
		v := make([]float32, sp.dims[0])
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.02)
			if sp.norm {
				v[i]++
			}
		}
		d, err = floatData(v)
	default:
		d, err = b.matrix(rng, t.Type, int(sp.dims[0]), int(sp.dims[1]))
	}
	if err != nil {
		return nil, fmt.Errorf("synth: tensor %s: %w", t.Name, err)
	}
	b.data[t.Name] = d
	return d, nil
}

// matrix assembles rows x cols values of type typ from the pool's rows, each rotated by a
// random number of blocks.
func (b *builder) matrix(rng *rand.Rand, typ ggml.Type, cols, rows int) ([]byte, error) {
	pool, err := b.pool(typ, cols)
	if err != nil {
		return nil, err
	}
	rb := len(pool) / poolRows
	ts := typ.TypeSize()
	blocks := rb / ts
	out := make([]byte, rb*rows)
	for r := range rows {
		src := pool[rng.IntN(poolRows)*rb:][:rb]
		k := rng.IntN(blocks) * ts
		dst := out[r*rb : (r+1)*rb]
		copy(dst, src[k:])
		copy(dst[rb-k:], src[:k])
	}
	return out, nil
}

// pool returns poolRows quantized rows of cols ~N(0, 0.02) values, building them once.
func (b *builder) pool(typ ggml.Type, cols int) ([]byte, error) {
	key := poolKey{typ, cols}
	if p, ok := b.pools[key]; ok {
		return p, nil
	}
	rng := rand.New(rand.NewPCG(b.seed, uint64(typ)<<32|uint64(cols)))
	v := make([]float32, poolRows*cols)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 0.02)
	}
	rb, err := ggml.RowBytes(typ, int64(cols))
	if err != nil {
		return nil, err
	}
	p := make([]byte, rb*poolRows)
	if err := ggml.Quantize(typ, v, p); err != nil {
		return nil, err
	}
	b.pools[key] = p
	return p, nil
}

// floatData encodes F32 values as GGUF stores them.
func floatData(v []float32) ([]byte, error) {
	out := make([]byte, 4*len(v))
	return out, ggml.Quantize(ggml.TypeF32, v, out)
}

// llama3RopeFactors are the per-frequency divisors Llama 3.1/3.2 apply to RoPE (factor 32, low
// and high frequency factors 1 and 4, original context 8192), computed as llama.cpp's
// converter writes them into rope_freqs.weight.
func llama3RopeFactors(s Shape) []float32 {
	const factor, lowFreq, highFreq, oldCtx = 32.0, 1.0, 4.0, 8192.0
	lowWavelen, highWavelen := oldCtx/lowFreq, oldCtx/highFreq
	out := make([]float32, s.HeadDim/2)
	for i := range out {
		freq := 1 / math.Pow(float64(s.RopeTheta), float64(2*i)/float64(s.HeadDim))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = factor
		default:
			smooth := (oldCtx/wavelen - lowFreq) / (highFreq - lowFreq)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// hashName is FNV-1a, giving every tensor its own random stream.
func hashName(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
