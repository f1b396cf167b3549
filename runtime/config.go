// Package runtime runs Llama and Qwen transformers: the model configuration read from GGUF
// metadata, the architecture registry (llama, qwen2, qwen3), the binding of weights to the
// blocks, the forward pass (written once against a small Backend op set), the KV cache seam
// (dense f16/f32 today, compressed presses later), the sampler and generation sessions.
//
// Safetensors models reach this package as a gguf.File with GGUF tensor names and keys (the
// safetensors loader translates them), so there is exactly one loading path.
//
// Sessions drive an Engine (forward passes over a KV cache that the engine makes), not the CPU
// Model directly, so another backend runs whole models behind the same Session API by
// implementing Engine: package vkmodel's Vulkan model records its whole forward pass, KV-cache
// writes and attention included, into one device submission and hands NewSessionOn a cache that
// lives in device memory. The CPU forward pass stays written against Backend and KVCache.
package runtime

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// RopeStyle says which element pairs of a head RoPE rotates.
type RopeStyle int

const (
	// RopeNorm rotates pairs (2i, 2i+1): llama.cpp's "normal" layout, used by Llama.
	RopeNorm RopeStyle = iota
	// RopeNeox rotates pairs (i, i+d/2): the GPT-NeoX layout, used by Qwen.
	RopeNeox
)

// Arch describes what distinguishes one architecture's block from the Llama baseline.
type Arch struct {
	Name    string    // general.architecture value, also the prefix of its hyperparameter keys
	Rope    RopeStyle // RoPE pair layout
	QKVBias bool      // attn_q/k/v carry biases (required)
	QKNorm  bool      // per-head RMSNorm of q and k before RoPE (attn_q_norm, attn_k_norm; required)
}

// archs is the architecture registry, filled by RegisterArch.
var archs = map[string]Arch{}

// RegisterArch adds an architecture to the registry, replacing one of the same name.
func RegisterArch(a Arch) { archs[a.Name] = a }

func init() {
	RegisterArch(Arch{Name: "llama", Rope: RopeNorm})
	RegisterArch(Arch{Name: "qwen2", Rope: RopeNeox, QKVBias: true})
	RegisterArch(Arch{Name: "qwen3", Rope: RopeNeox, QKNorm: true})
}

// Archs returns the names of the registered architectures, sorted.
func Archs() []string {
	return slices.Sorted(maps.Keys(archs))
}

// Config holds a model's hyperparameters.
type Config struct {
	Arch          Arch
	NLayer        int     // transformer blocks ({arch}.block_count)
	NEmbd         int     // residual stream width ({arch}.embedding_length)
	NFF           int     // SwiGLU hidden width ({arch}.feed_forward_length)
	NHead         int     // query heads ({arch}.attention.head_count)
	NKVHead       int     // key/value heads, divides NHead ({arch}.attention.head_count_kv)
	HeadDim       int     // width of one head ({arch}.attention.key_length, default NEmbd/NHead)
	RopeDim       int     // leading head dimensions RoPE rotates ({arch}.rope.dimension_count, default HeadDim)
	RopeBase      float64 // RoPE theta ({arch}.rope.freq_base, default 10000)
	RopeScale     float64 // linear RoPE scaling: positions are divided by it (1 = none)
	RMSEps        float32 // RMSNorm epsilon ({arch}.attention.layer_norm_rms_epsilon)
	ContextLength int     // trained context ({arch}.context_length)
	NVocab        int     // vocabulary size: rows of token_embd.weight
}

// ConfigFromGGUF reads the configuration of f. Errors name the key or tensor at fault.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	var c Config
	name, err := f.String("general.architecture")
	if err != nil {
		return c, err
	}
	arch, ok := archs[name]
	if !ok {
		return c, fmt.Errorf("runtime: unsupported architecture %q (supported: %v)", name, Archs())
	}
	c.Arch = arch
	p := name + "."
	// Required integer keys, each a positive count.
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"block_count", &c.NLayer},
		{"embedding_length", &c.NEmbd},
		{"feed_forward_length", &c.NFF},
		{"attention.head_count", &c.NHead},
		{"context_length", &c.ContextLength},
	} {
		if *k.dst, err = positiveInt(f, p+k.key); err != nil {
			return c, err
		}
	}
	if c.NKVHead, err = optionalInt(f, p+"attention.head_count_kv", c.NHead); err != nil {
		return c, err
	}
	if c.NHead%c.NKVHead != 0 {
		return c, fmt.Errorf("runtime: %sattention.head_count %d is not a multiple of head_count_kv %d", p, c.NHead, c.NKVHead)
	}
	if c.HeadDim, err = optionalInt(f, p+"attention.key_length", c.NEmbd/c.NHead); err != nil {
		return c, err
	}
	if c.HeadDim > cpu.MaxHeadDim {
		return c, fmt.Errorf("runtime: head size %d exceeds the supported maximum %d", c.HeadDim, cpu.MaxHeadDim)
	}
	vlen, err := optionalInt(f, p+"attention.value_length", c.HeadDim)
	if err != nil {
		return c, err
	}
	if vlen != c.HeadDim {
		return c, fmt.Errorf("runtime: %sattention.value_length %d differs from key_length %d (not supported)", p, vlen, c.HeadDim)
	}
	if c.RopeDim, err = optionalInt(f, p+"rope.dimension_count", c.HeadDim); err != nil {
		return c, err
	}
	if c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return c, fmt.Errorf("runtime: %srope.dimension_count %d must be even and at most the head size %d", p, c.RopeDim, c.HeadDim)
	}
	if c.RopeBase, err = optionalFloat(f, p+"rope.freq_base", 10000); err != nil {
		return c, err
	}
	if c.RopeScale, err = ropeScale(f, p); err != nil {
		return c, err
	}
	eps, err := f.Float(p + "attention.layer_norm_rms_epsilon")
	if err != nil {
		return c, err
	}
	c.RMSEps = float32(eps)
	if !(c.RopeBase > 0) || !(eps > 0) {
		return c, fmt.Errorf("runtime: %srope.freq_base %g and layer_norm_rms_epsilon %g must be positive", p, c.RopeBase, eps)
	}
	embd, ok := f.Tensor("token_embd.weight")
	if !ok {
		return c, errors.New("runtime: missing tensor token_embd.weight")
	}
	if len(embd.Dims) != 2 || embd.Dims[0] != int64(c.NEmbd) || embd.Dims[1] < 1 {
		return c, fmt.Errorf("runtime: tensor token_embd.weight has shape %v, want [%d n_vocab]", embd.Dims, c.NEmbd)
	}
	c.NVocab = int(embd.Dims[1])
	return c, nil
}

// ropeScale reads {arch}.rope.scaling.type and .factor: none (the default) gives 1, linear its
// factor. Llama 3's scaling arrives as the rope_freqs tensor instead, so it needs no key; other
// schemes (yarn, longrope) are refused rather than silently computed wrong.
func ropeScale(f *gguf.File, p string) (float64, error) {
	typ := "none"
	if f.Has(p + "rope.scaling.type") {
		var err error
		if typ, err = f.String(p + "rope.scaling.type"); err != nil {
			return 0, err
		}
	}
	switch typ {
	case "none":
		return 1, nil
	case "linear":
		s, err := f.Float(p + "rope.scaling.factor")
		if err != nil {
			return 0, err
		}
		if !(s > 0) {
			return 0, fmt.Errorf("runtime: %srope.scaling.factor %g must be positive", p, s)
		}
		return s, nil
	}
	return 0, fmt.Errorf("runtime: %srope.scaling.type %q is not supported (none, linear)", p, typ)
}

// positiveInt reads a required integer key that must be at least 1.
func positiveInt(f *gguf.File, key string) (int, error) {
	v, err := f.Int(key)
	if err != nil {
		return 0, err
	}
	if v < 1 || v > 1<<30 {
		return 0, fmt.Errorf("runtime: %s = %d is out of range", key, v)
	}
	return int(v), nil
}

// optionalInt reads a positive integer key, or returns def when the key is absent.
func optionalInt(f *gguf.File, key string, def int) (int, error) {
	if !f.Has(key) {
		if def < 1 {
			return 0, fmt.Errorf("runtime: %s is absent and its default %d is not positive", key, def)
		}
		return def, nil
	}
	return positiveInt(f, key)
}

// optionalFloat reads a float key, or returns def when the key is absent.
func optionalFloat(f *gguf.File, key string, def float64) (float64, error) {
	if !f.Has(key) {
		return def, nil
	}
	return f.Float(key)
}
