package press

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Press compresses one layer's cache at the end of prefill. Implementations are safe for
// concurrent use by several layers.
type Press interface {
	// Name returns the registry name ("snap_spark", ...).
	Name() string
	// Compress returns the compressed layer and the kept positions. The input is not modified.
	Compress(in *Input) (*Result, error)
}

// tokenStage selects the tokens each KV head keeps: kept [n_kv_heads][n] ascending, or nil to
// keep every token (the press is a no-op for this input).
type tokenStage func(in *Input, o *Options) (kept []int32, n int, err error)

// channelStage builds the key storage of an (already gathered) cache.
type channelStage func(kv LayerKV, win *Queries, o *Options) (KeyStore, error)

// composed is every press: an optional token stage followed by an optional channel stage (spec 2.6,
// 3.9); a single press has one of them.
type composed struct {
	name    string
	opts    Options
	tokens  tokenStage
	channel channelStage
}

// registry lists the presses by name; descriptions feed the CLI help.
var registry = map[string]struct {
	doc     string
	tokens  tokenStage
	channel channelStage
}{
	"none":               {"no compression (dense cache)", nil, nil},
	"spark":              {"SparK: per-token key-channel pruning with recovery (key ratio, recovery, mode)", nil, sparkStage},
	"think":              {"ThinK: per-head key-channel pruning, zero fill (key ratio)", nil, thinkStage},
	"snapkv":             {"SnapKV: window-attention token eviction (budget or token ratio)", snapStage, nil},
	"pyramidkv":          {"PyramidKV: SnapKV with per-layer budgets (budget or token ratio, layer)", pyramidStage, nil},
	"streaming_llm":      {"StreamingLLM: sink tokens + recent tokens (budget or token ratio)", streamingStage, nil},
	"tova":               {"TOVA: last-query attention token eviction (budget or token ratio)", tovaStage, nil},
	"observed_attention": {"ObservedAttention (H2O): accumulated prefill attention (needs column sums)", observedStage, nil},
	"expected_attention": {"ExpectedAttention: expected future attention (needs pre-RoPE queries)", expectedStage, nil},
	"snap_spark":         {"SnapKV then SparK on the kept tokens", snapStage, sparkStage},
	"pyramid_spark":      {"PyramidKV then SparK on the kept tokens", pyramidStage, sparkStage},
	"snap_think":         {"SnapKV then ThinK on the kept tokens", snapStage, thinkStage},
	"pyramid_think":      {"PyramidKV then ThinK on the kept tokens", pyramidStage, thinkStage},
}

// Names returns the registered press names, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(registry))
}

// Describe returns a one-line description of a registered press for CLI help ("" if unknown).
func Describe(name string) string { return registry[name].doc }

// New returns the press registered under name with options opts (zero fields take the spec
// defaults). Unknown names and invalid options are errors.
func New(name string, opts Options) (Press, error) {
	r, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("press: unknown press %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("press %s: %w", name, err)
	}
	return &composed{name: name, opts: o, tokens: r.tokens, channel: r.channel}, nil
}

// Name implements Press.
func (p *composed) Name() string { return p.name }

// Compress implements Press: the token stage on the full cache, gather of the kept tokens in
// ascending position order, then the channel stage on the gathered keys with the unchanged window
// queries (spec 3.9).
func (p *composed) Compress(in *Input) (*Result, error) {
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("press %s: %w", p.name, err)
	}
	kv := in.KV
	var kept []int32
	if p.tokens != nil {
		k, n, err := p.tokens(in, &p.opts)
		if err != nil {
			return nil, fmt.Errorf("press %s: %w", p.name, err)
		}
		if k != nil {
			kept, kv = k, gather(in.KV, k, n)
		}
	}
	if kept == nil {
		kept = allPositions(kv.NKVHeads, kv.T)
	}
	var keys KeyStore
	if p.channel != nil {
		var err error
		if keys, err = p.channel(kv, &in.Window, &p.opts); err != nil {
			return nil, fmt.Errorf("press %s: %w", p.name, err)
		}
	} else {
		k := exactCopy(kv.K)
		keys = &DenseKeys{K: k}
	}
	v := exactCopy(kv.V)
	layer := &CompressedLayer{NKVHeads: kv.NKVHeads, NTokens: kv.T, HeadDim: kv.HeadDim,
		DType: p.opts.DType, Keys: keys, V: v, checked: true}
	layer.pack() // the numbers move to the DType's storage, rounded on the way
	return &Result{Kept: kept, Layer: layer}, nil
}

func sparkStage(kv LayerKV, win *Queries, o *Options) (KeyStore, error) {
	return sparkKeys(kv, win, o, nil)
}

func thinkStage(kv LayerKV, win *Queries, o *Options) (KeyStore, error) {
	return thinkKeys(kv, win, o)
}

// scoredStage is ScorerPress (spec 4.1): keep the n highest scores per KV head. It skips eviction
// when nothing would be removed.
func scoredStage(in *Input, n int, score func() ([]float64, error)) ([]int32, int, error) {
	T := in.KV.T
	if n >= T {
		return nil, T, nil
	}
	if n < 1 {
		return nil, 0, fmt.Errorf("keeps %d of %d tokens: the budget or token ratio leaves no token", n, T)
	}
	scores, err := score()
	if err != nil {
		return nil, 0, err
	}
	return topTokens(scores, in.KV.NKVHeads, T, n), n, nil
}

func snapStage(in *Input, o *Options) ([]int32, int, error) {
	n, ok := nKeptTokens(in.KV.T, o)
	if !ok || in.KV.T <= o.SnapWindow {
		// Too short for the window: the fork asserts; the spec says skip eviction (4.2).
		return nil, in.KV.T, nil
	}
	return scoredStage(in, n, func() ([]float64, error) { return snapScores(in, o.SnapWindow, o.KernelSize) })
}

func pyramidStage(in *Input, o *Options) ([]int32, int, error) {
	if in.NLayers < 2 || in.LayerIdx < 0 || in.LayerIdx >= in.NLayers {
		return nil, 0, fmt.Errorf("pyramidkv: layer %d of %d layers: need 0 <= layer < n_layers and n_layers >= 2", in.LayerIdx, in.NLayers)
	}
	if (o.TokenRatio == 0 && (o.Budget == 0 || !o.PyramidSaneFallback)) || in.KV.T <= o.SnapWindow {
		// The fork returns early when compression_ratio is 0, even with a budget (spec 4.3).
		return nil, in.KV.T, nil
	}
	n, _ := pyramidBudget(in.KV.T, o, in.LayerIdx, in.NLayers)
	return scoredStage(in, n, func() ([]float64, error) { return snapScores(in, o.SnapWindow, o.KernelSize) })
}

func streamingStage(in *Input, o *Options) ([]int32, int, error) {
	n, ok := nKeptTokens(in.KV.T, o)
	if !ok || n >= in.KV.T {
		return nil, in.KV.T, nil
	}
	kept, err := streamingKept(in.KV.NKVHeads, in.KV.T, n, o.NSink)
	return kept, n, err
}

func tovaStage(in *Input, o *Options) ([]int32, int, error) {
	n, ok := nKeptTokens(in.KV.T, o)
	if !ok {
		return nil, in.KV.T, nil
	}
	return scoredStage(in, n, func() ([]float64, error) { return tovaScores(in) })
}

func observedStage(in *Input, o *Options) ([]int32, int, error) {
	n, ok := nKeptTokens(in.KV.T, o)
	if !ok {
		return nil, in.KV.T, nil
	}
	return scoredStage(in, n, func() ([]float64, error) { return observedScores(in) })
}

func expectedStage(in *Input, o *Options) ([]int32, int, error) {
	n, ok := nKeptTokens(in.KV.T, o)
	if !ok {
		return nil, in.KV.T, nil
	}
	return scoredStage(in, n, func() ([]float64, error) { return expectedScores(in, o) })
}
