package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime"
)

// pressFlags are the KV press flags of every command that loads a model (spec 3.10, section 4).
type pressFlags struct {
	fs                   *flag.FlagSet // to tell which flags were given
	name                 string
	keyRatio, tokenRatio float64
	budget               int
	window, snapWindow   int
	nSink                int
	recovery, mode       string
	pyramidFallback      bool
}

// pressFlagNames are the flags that only mean something with --press.
var pressFlagNames = []string{"key-ratio", "budget", "token-ratio", "window", "snap-window", "n-sink", "recovery", "spark-mode", "pyramid-fallback"}

func addPressFlags(fs *flag.FlagSet) *pressFlags {
	p := addPressParamFlags(fs)
	fs.StringVar(&p.name, "press", "", "KV press applied at the end of the prompt: "+strings.Join(press.Names(), ", ")+" (empty or none: dense cache)")
	fs.Float64Var(&p.keyRatio, "key-ratio", 0, "SparK/ThinK λ: fraction of key channels pruned, in [0, 1]")
	fs.StringVar(&p.recovery, "recovery", "", "SparK recovery of pruned key entries: avg (default), avg_bottom or zero")
	return p
}

// addPressParamFlags adds the press parameters other than the press, λ and the recovery, which
// presseval takes as lists.
func addPressParamFlags(fs *flag.FlagSet) *pressFlags {
	p := &pressFlags{fs: fs}
	fs.IntVar(&p.budget, "budget", 0, "token presses: tokens kept per KV head and layer (0: use --token-ratio)")
	fs.Float64Var(&p.tokenRatio, "token-ratio", 0, "token presses: fraction of prompt tokens evicted, in [0, 1)")
	fs.IntVar(&p.window, "window", 0, "SparK/ThinK observation window in prompt positions (0: 32)")
	fs.IntVar(&p.snapWindow, "snap-window", 0, "SnapKV/PyramidKV observation window (0: 64)")
	fs.IntVar(&p.nSink, "n-sink", 0, "StreamingLLM attention-sink tokens always kept (0: 4)")
	fs.StringVar(&p.mode, "spark-mode", "", "SparK channel selection: fixed (default), group or topp")
	fs.BoolVar(&p.pyramidFallback, "pyramid-fallback", false, "PyramidKV: honour --budget without --token-ratio and keep the budget when the pyramid does not fit (spec A11; default: the fork's rule)")
	return p
}

// config returns the press configuration the flags ask for, nil for the dense cache.
func (p *pressFlags) config() (*runtime.PressConfig, error) {
	set := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if p.name == "" || p.name == "none" {
		for _, n := range pressFlagNames {
			if set[n] {
				return nil, usagef("--%s needs --press", n)
			}
		}
		return nil, nil
	}
	if p.window < 0 || p.snapWindow < 0 || p.nSink < 0 || p.budget < 0 {
		return nil, usagef("--window, --snap-window, --n-sink and --budget must be >= 0")
	}
	return p.configFor(p.name, p.keyRatio)
}

// configFor returns the flags' configuration for press name with key ratio λ, checked.
func (p *pressFlags) configFor(name string, keyRatio float64) (*runtime.PressConfig, error) {
	cfg := &runtime.PressConfig{Name: name, Opts: press.Options{
		KeyRatio: keyRatio, Budget: p.budget, TokenRatio: p.tokenRatio,
		SparKWindow: p.window, ThinKWindow: p.window, SnapWindow: p.snapWindow, NSink: p.nSink,
		Recovery: p.recovery, Mode: p.mode, PyramidSaneFallback: p.pyramidFallback,
	}}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("--press: %v", err)
	}
	return cfg, nil
}

// describePress is a one-line summary of a press configuration for reports.
func describePress(c *runtime.PressConfig) string {
	if c == nil {
		return "none (dense)"
	}
	var parts []string
	o := c.Opts
	if o.KeyRatio != 0 {
		parts = append(parts, fmt.Sprintf("λ=%g", o.KeyRatio))
	}
	if o.Budget != 0 {
		parts = append(parts, fmt.Sprintf("budget=%d", o.Budget))
	}
	if o.TokenRatio != 0 {
		parts = append(parts, fmt.Sprintf("token-ratio=%g", o.TokenRatio))
	}
	if o.Recovery != "" {
		parts = append(parts, "recovery="+o.Recovery)
	}
	if len(parts) == 0 {
		return c.Name
	}
	return c.Name + " " + strings.Join(parts, " ")
}
