// Package hf opens Hugging Face model folders (config.json, safetensors weights, tokenizer.json)
// and presents them as a GGUF file: the same metadata keys and tensor names that llama.cpp's
// converter writes, including its Q/K row permutation for Llama attention. The runtime therefore
// has one loading path, and `sparkrun convert` is a plain GGUF write of this view.
package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/safetensors"
	"github.com/sparkrun/sparkrun/tokenizer"
)

// Config is the part of config.json sparkrun reads.
type Config struct {
	Architectures         []string     `json:"architectures"`
	HiddenSize            int64        `json:"hidden_size"`
	IntermediateSize      int64        `json:"intermediate_size"`
	NumHiddenLayers       int64        `json:"num_hidden_layers"`
	NumAttentionHeads     int64        `json:"num_attention_heads"`
	NumKeyValueHeads      int64        `json:"num_key_value_heads"`
	HeadDim               int64        `json:"head_dim"`
	MaxPositionEmbeddings int64        `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	VocabSize             int64        `json:"vocab_size"`
	AttentionBias         bool         `json:"attention_bias"`
}

// RopeScaling is config.json's rope_scaling object. Only type "llama3" is supported.
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	Type                          string  `json:"type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings float64 `json:"original_max_position_embeddings"`
}

// archOf maps the HF class name to the GGUF architecture name.
var archOf = map[string]string{
	"LlamaForCausalLM": "llama",
	"Qwen2ForCausalLM": "qwen2",
	"Qwen3ForCausalLM": "qwen3",
}

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (*Config, string, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("hf: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, "", fmt.Errorf("hf: %s: %v", path, err)
	}
	if len(c.Architectures) != 1 {
		return nil, "", fmt.Errorf("hf: %s: architectures must name exactly one class, got %v", path, c.Architectures)
	}
	arch, ok := archOf[c.Architectures[0]]
	if !ok {
		return nil, "", fmt.Errorf("hf: %s: unsupported architecture %q (supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)", path, c.Architectures[0])
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads}, {"vocab_size", c.VocabSize}} {
		if f.v <= 0 || f.v > 1<<24 {
			return nil, "", fmt.Errorf("hf: %s: %s = %d is out of range", path, f.name, f.v)
		}
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.NumKeyValueHeads < 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return nil, "", fmt.Errorf("hf: %s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim == 0 {
		if c.HiddenSize%c.NumAttentionHeads != 0 {
			return nil, "", fmt.Errorf("hf: %s: hidden_size %d is not a multiple of num_attention_heads %d", path, c.HiddenSize, c.NumAttentionHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return nil, "", fmt.Errorf("hf: %s: head_dim %d must be positive and even", path, c.HeadDim)
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.RMSNormEps <= 0 {
		return nil, "", fmt.Errorf("hf: %s: rms_norm_eps %g must be positive", path, c.RMSNormEps)
	}
	if rs := c.RopeScaling; rs != nil {
		kind := rs.RopeType
		if kind == "" {
			kind = rs.Type
		}
		if kind != "llama3" {
			return nil, "", fmt.Errorf("hf: %s: rope_scaling type %q is not supported (only llama3)", path, kind)
		}
	}
	return &c, arch, nil
}

// metadata returns the GGUF keys llama.cpp's converter writes for c.
func (c *Config) metadata(arch, name string) []gguf.KV {
	kv := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.name", Value: name},
		{Key: arch + ".block_count", Value: uint32(c.NumHiddenLayers)},
		{Key: arch + ".context_length", Value: uint32(c.MaxPositionEmbeddings)},
		{Key: arch + ".embedding_length", Value: uint32(c.HiddenSize)},
		{Key: arch + ".feed_forward_length", Value: uint32(c.IntermediateSize)},
		{Key: arch + ".attention.head_count", Value: uint32(c.NumAttentionHeads)},
		{Key: arch + ".attention.head_count_kv", Value: uint32(c.NumKeyValueHeads)},
		{Key: arch + ".rope.freq_base", Value: float32(c.RopeTheta)},
		{Key: arch + ".attention.layer_norm_rms_epsilon", Value: float32(c.RMSNormEps)},
		{Key: arch + ".vocab_size", Value: uint32(c.VocabSize)},
		{Key: arch + ".rope.dimension_count", Value: uint32(c.HeadDim)},
	}
	if c.HeadDim != c.HiddenSize/c.NumAttentionHeads {
		kv = append(kv,
			gguf.KV{Key: arch + ".attention.key_length", Value: uint32(c.HeadDim)},
			gguf.KV{Key: arch + ".attention.value_length", Value: uint32(c.HeadDim)})
	}
	return kv
}

// ropeFreqs computes the llama3 frequency factors (rope_freqs.weight) the way llama.cpp's
// converter does: per rotary pair, 1 for short wavelengths, factor for long ones, and a smooth
// interpolation between. The base frequencies are float32 (the converter's torch tensor); the
// interpolation is float64, rounded to float32 at the end. This reproduces the rope_freqs of the
// shared micro-llama3 reference model bit for bit (all-float32 arithmetic is off by one ulp).
func (c *Config) ropeFreqs() []float32 {
	rs := c.RopeScaling
	factor := orDefault(rs.Factor, 8)
	low := orDefault(rs.LowFreqFactor, 1)
	high := orDefault(rs.HighFreqFactor, 4)
	old := orDefault(rs.OriginalMaxPositionEmbeddings, 8192)
	lowWavelen, highWavelen := old/low, old/high
	dim := c.HeadDim
	out := make([]float32, dim/2)
	for i := range out {
		freq := float64(1 / float32(math.Pow(c.RopeTheta, float64(float32(2*i)/float32(dim)))))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(factor)
		default:
			smooth := (old/wavelen - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// tensorNames maps HF names to GGUF names. Layer-level names carry the layer number.
var (
	layerRe  = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)
	layerMap = map[string]string{
		"input_layernorm.weight":          "attn_norm.weight",
		"self_attn.q_proj.weight":         "attn_q.weight",
		"self_attn.q_proj.bias":           "attn_q.bias",
		"self_attn.k_proj.weight":         "attn_k.weight",
		"self_attn.k_proj.bias":           "attn_k.bias",
		"self_attn.v_proj.weight":         "attn_v.weight",
		"self_attn.v_proj.bias":           "attn_v.bias",
		"self_attn.o_proj.weight":         "attn_output.weight",
		"self_attn.q_norm.weight":         "attn_q_norm.weight",
		"self_attn.k_norm.weight":         "attn_k_norm.weight",
		"post_attention_layernorm.weight": "ffn_norm.weight",
		"mlp.gate_proj.weight":            "ffn_gate.weight",
		"mlp.up_proj.weight":              "ffn_up.weight",
		"mlp.down_proj.weight":            "ffn_down.weight",
	}
	globalMap = map[string]string{
		"model.embed_tokens.weight": "token_embd.weight",
		"model.norm.weight":         "output_norm.weight",
		"lm_head.weight":            "output.weight",
	}
)

// GGUFName returns the GGUF name of an HF tensor, or "" for tensors the runtime does not use
// (such as rotary inv_freq buffers).
func GGUFName(hfName string) (string, error) {
	if g, ok := globalMap[hfName]; ok {
		return g, nil
	}
	if m := layerRe.FindStringSubmatch(hfName); m != nil {
		if g, ok := layerMap[m[2]]; ok {
			return "blk." + m[1] + "." + g, nil
		}
		if m[2] == "self_attn.rotary_emb.inv_freq" {
			return "", nil
		}
	}
	return "", fmt.Errorf("hf: tensor %q has no GGUF equivalent", hfName)
}

var dtypeType = map[safetensors.DType]ggml.Type{
	safetensors.F32:  ggml.TypeF32,
	safetensors.F16:  ggml.TypeF16,
	safetensors.BF16: ggml.TypeBF16,
}

// source is one GGUF tensor backed by a safetensors tensor, or by computed bytes.
type source struct {
	hfName   string
	permute  int64  // for Llama attn_q/attn_k: number of heads whose rows are reordered; 0 = none
	rows     int    // HF outermost dimension (output features), for the permutation
	computed []byte // rope_freqs
}

// Open opens the Hugging Face model folder dir as a virtual GGUF file. Tensor data is read from
// the safetensors files when asked for. tokenizer.json (and tokenizer_config.json), when
// present, become the tokenizer.ggml.* keys.
func Open(dir string) (*gguf.File, error) {
	cfg, arch, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	kv := cfg.metadata(arch, filepath.Base(filepath.Clean(dir)))
	tokKV, err := tokenizerKV(dir)
	if err != nil {
		set.Close()
		return nil, err
	}
	kv = append(kv, tokKV...)

	sources := map[string]source{}
	var infos []gguf.TensorInfo
	for _, t := range set.Tensors {
		name, err := GGUFName(t.Name)
		if err != nil {
			set.Close()
			return nil, err
		}
		if name == "" {
			continue
		}
		typ, ok := dtypeType[t.DType]
		if !ok {
			set.Close()
			return nil, fmt.Errorf("hf: tensor %q: unsupported dtype %s", t.Name, t.DType)
		}
		dims := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			dims[len(dims)-1-i] = d // GGUF lists the fastest-varying dimension first
		}
		src := source{hfName: t.Name}
		if len(t.Shape) > 0 {
			src.rows = int(t.Shape[0])
		}
		if arch == "llama" {
			switch {
			case hasSuffix(name, ".attn_q.weight"), hasSuffix(name, ".attn_q.bias"):
				src.permute = cfg.NumAttentionHeads
			case hasSuffix(name, ".attn_k.weight"), hasSuffix(name, ".attn_k.bias"):
				src.permute = cfg.NumKeyValueHeads
			}
			if src.permute != 0 && (len(t.Shape) == 0 || t.Shape[0]%(2*src.permute) != 0) {
				set.Close()
				return nil, fmt.Errorf("hf: tensor %q: shape %v cannot be split into %d heads", t.Name, t.Shape, src.permute)
			}
		}
		sources[name] = src
		size, err := ggml.RowBytes(typ, t.Elements())
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("hf: tensor %q: %v", t.Name, err)
		}
		infos = append(infos, gguf.TensorInfo{Name: name, Dims: dims, Type: typ, Size: size})
	}
	if _, ok := sources["output.weight"]; ok && cfg.TieWordEmbeddings {
		// Tied models sometimes still ship lm_head; the runtime reads token_embd for both.
		delete(sources, "output.weight")
		infos = removeInfo(infos, "output.weight")
	}
	if cfg.RopeScaling != nil {
		freqs := cfg.ropeFreqs()
		b := make([]byte, 4*len(freqs))
		for i, v := range freqs {
			putF32(b[4*i:], v)
		}
		sources["rope_freqs.weight"] = source{computed: b}
		infos = append(infos, gguf.TensorInfo{Name: "rope_freqs.weight", Dims: []int64{int64(len(freqs))}, Type: ggml.TypeF32, Size: int64(len(b))})
	}
	sort.Slice(infos, func(i, j int) bool { return tensorOrder(infos[i].Name) < tensorOrder(infos[j].Name) })
	var off int64
	for i := range infos {
		infos[i].Offset = off
		off += (infos[i].Size + 31) &^ 31
	}
	data := func(ti *gguf.TensorInfo) ([]byte, error) {
		src, ok := sources[ti.Name]
		if !ok {
			return nil, fmt.Errorf("hf: no tensor %q", ti.Name)
		}
		if src.computed != nil {
			return src.computed, nil
		}
		b, err := set.ReadData(src.hfName)
		if err != nil {
			return nil, err
		}
		if src.permute != 0 {
			b = permuteRows(b, src.rows, src.permute)
		}
		return b, nil
	}
	return gguf.NewFile(kv, infos, data), nil
}

// permuteRows reorders the rows of a [rows][rowBytes] matrix the way llama.cpp's converter
// permutes Llama Q and K weights: HF stores each head's rotary pairs as two halves (NEOX order),
// GGUF interleaves them (x0, x(d/2), x1, x(d/2+1), ...), so the normal RoPE kernel applies.
// Row h*d + 2i + j of the result is row h*d + j*d/2 + i of the input.
func permuteRows(b []byte, rows int, heads int64) []byte {
	rowBytes := len(b) / rows
	d := rows / int(heads)
	out := make([]byte, len(b))
	for h := 0; h < int(heads); h++ {
		for i := 0; i < d/2; i++ {
			for j := 0; j < 2; j++ {
				dst := h*d + 2*i + j
				src := h*d + j*(d/2) + i
				copy(out[dst*rowBytes:(dst+1)*rowBytes], b[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	return out
}

// tokenizerKV loads tokenizer.json (+ tokenizer_config.json) from dir, if present.
func tokenizerKV(dir string) ([]gguf.KV, error) {
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	tc, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("hf: %w", err)
	}
	tok, err := tokenizer.FromHF(tj, tc)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	return tok.GGUFMetadata(), nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func removeInfo(infos []gguf.TensorInfo, name string) []gguf.TensorInfo {
	out := infos[:0]
	for _, ti := range infos {
		if ti.Name != name {
			out = append(out, ti)
		}
	}
	return out
}

// tensorOrder sorts tensors like llama.cpp's converter writes them: globals first, then
// layers in numeric order.
func tensorOrder(name string) string {
	var layer int
	var rest string
	if n, _ := fmt.Sscanf(name, "blk.%d.%s", &layer, &rest); n == 2 {
		return fmt.Sprintf("1%06d.%s", layer, rest)
	}
	return "0" + name
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}
