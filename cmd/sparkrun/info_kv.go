package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// kvInfoFlags are info's --kv flags: the context, the KV type and a press.
type kvInfoFlags struct {
	show   bool
	ctx    int
	kvType string
	press  *pressFlags
}

func addKVInfoFlags(fs *flag.FlagSet) *kvInfoFlags {
	k := &kvInfoFlags{}
	fs.BoolVar(&k.show, "kv", false, "print the KV cache bytes per token and in total, dense versus with --press")
	fs.IntVar(&k.ctx, "ctx", 0, fmt.Sprintf("with --kv: positions in the cache (0: the model's context, at most %d)", runtime.DefaultContext))
	fs.StringVar(&k.kvType, "kv-type", "f16", "with --kv: KV cache element type, f16 or f32")
	k.press = addPressFlags(fs)
	return k
}

// kvReport is what `info --kv --json` prints.
type kvReport struct {
	Model    string `json:"model"`
	Layers   int    `json:"layers"`
	KVHeads  int    `json:"kv_heads"`
	HeadDim  int    `json:"head_dim"`
	KVType   string `json:"kv_type"`
	Ctx      int    `json:"ctx"`
	Press    string `json:"press"`
	Dense    int    `json:"dense_bytes"`
	Stored   int    `json:"stored_bytes"`
	PerLayer []int  `json:"stored_bytes_per_layer"`
	// Device is the press's bytes in the Vulkan device layout (32-bit mask words, header and tile
	// checkpoints: what the device cache holds); absent in a build without Vulkan or for a
	// shape the device cannot run.
	Device int `json:"device_bytes,omitempty"`
	// Estimated is set when the stored bytes depend on the keys (SparK's group and top-p modes
	// keep a data-dependent number of channels): they are then measured on random keys.
	Estimated bool `json:"estimated"`
}

// runInfoKV prints the KV bytes of the model in f at k.ctx positions. The press's bytes come
// from compressing every layer of a random cache of that size: for SparK's fixed ratio, ThinK and
// the token presses the layout's size does not depend on the numbers, so the figure is exact.
func runInfoKV(w io.Writer, f *gguf.File, name string, k *kvInfoFlags, asJSON bool) error {
	cfg, err := runtime.ConfigFromGGUF(f)
	if err != nil {
		return modelError{fmt.Errorf("%s: %w", name, err)}
	}
	typ, err := runtime.ParseKVType(k.kvType)
	if err != nil {
		return usagef("--kv-type: %v", err)
	}
	pc, err := k.press.config()
	if err != nil {
		return err
	}
	T := k.ctx
	if T < 0 {
		return usagef("--ctx %d: must be 0 (the model's) or positive", T)
	}
	if T == 0 {
		T = min(cfg.ContextLength, runtime.DefaultContext)
	}
	dt, size := press.F16, 2
	if typ == runtime.KVF32 {
		dt, size = press.F32, 4
	}
	perLayerDense := 2 * cfg.NKVHead * cfg.HeadDim * size * T
	rep := kvReport{Model: name, Layers: cfg.NLayer, KVHeads: cfg.NKVHead, HeadDim: cfg.HeadDim, KVType: typ.String(),
		Ctx: T, Press: describePress(pc), Dense: cfg.NLayer * perLayerDense}
	if pc == nil {
		rep.Stored = rep.Dense
		for range cfg.NLayer {
			rep.PerLayer = append(rep.PerLayer, perLayerDense)
		}
	} else if err := pressedBytes(&rep, &cfg, *pc, dt, T); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "KV cache of %s: %d layers × %d KV heads × head_dim %d, %s, %d positions\n",
		name, rep.Layers, rep.KVHeads, rep.HeadDim, rep.KVType, rep.Ctx)
	fmt.Fprintf(w, "%-28s %10.1f B/token   total %s\n", "dense", float64(rep.Dense)/float64(T), humanBytes(int64(rep.Dense)))
	if pc != nil {
		note := ""
		if rep.Estimated {
			note = " (estimated on random keys: this mode's size depends on the keys)"
		}
		fmt.Fprintf(w, "%-28s %10.1f B/token   total %s, %.3f of dense%s\n", rep.Press, float64(rep.Stored)/float64(T),
			humanBytes(int64(rep.Stored)), float64(rep.Stored)/float64(rep.Dense), note)
		if rep.Device > 0 {
			fmt.Fprintf(w, "%-28s %10.1f B/token   total %s, %.3f of dense\n", "  in Vulkan's layout", float64(rep.Device)/float64(T),
				humanBytes(int64(rep.Device)), float64(rep.Device)/float64(rep.Dense))
		}
	}
	return nil
}

// pressedBytes fills rep's stored bytes by compressing each layer of a random cache of T
// positions with press cfg (window queries random too).
func pressedBytes(rep *kvReport, c *runtime.Config, cfg runtime.PressConfig, dt press.DType, T int) error {
	cfg.Opts.DType = dt
	p, err := press.New(cfg.Name, cfg.Opts)
	if err != nil {
		return usagef("--press: %v", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	W := min(T, 64) // the largest observation window of any press (SnapKV's)
	in := &press.Input{
		KV:      press.LayerKV{NKVHeads: c.NKVHead, T: T, HeadDim: c.HeadDim, K: randn(c.NKVHead * T * c.HeadDim), V: randn(c.NKVHead * T * c.HeadDim)},
		Window:  press.Queries{NHeads: c.NHead, W: W, HeadDim: c.HeadDim, Q: randn(c.NHead * W * c.HeadDim)},
		NLayers: c.NLayer,
	}
	for l := range c.NLayer {
		in.LayerIdx = l
		res, err := p.Compress(in)
		if err != nil {
			return fmt.Errorf("--press %s at %d positions: %w", cfg.Name, T, err)
		}
		rep.PerLayer = append(rep.PerLayer, res.Layer.Bytes())
		rep.Stored += res.Layer.Bytes()
		if n, err := vulkan.LayoutBytes(res.Layer); err == nil && (l == 0 || rep.Device > 0) {
			rep.Device += int(n)
		} else {
			rep.Device = 0 // no Vulkan in this build, or a layer the device cannot hold
		}
	}
	rep.Estimated = cfg.Opts.Mode == press.ModeGroup || cfg.Opts.Mode == press.ModeTopP
	return nil
}
