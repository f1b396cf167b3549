package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/tokenizer"
)

func init() {
	register("info", "show a model's architecture, tokenizer and tensors", runInfo)
}

// infoReport is what `info --json` prints.
type infoReport struct {
	Model        string          `json:"model"`
	Architecture string          `json:"architecture"`
	Supported    bool            `json:"supported"`
	Problem      string          `json:"problem,omitempty"`
	Config       *runtime.Config `json:"config,omitempty"`
	Tokenizer    *tokInfo        `json:"tokenizer,omitempty"`
	ChatTemplate bool            `json:"chat_template"`
	Tensors      []tensorRow     `json:"tensors"`
	TotalBytes   int64           `json:"total_bytes"`
	TotalParams  int64           `json:"total_params"`
	TypeCounts   map[string]int  `json:"type_counts"`
}

type tokInfo struct {
	Kind  string `json:"kind"`
	Pre   string `json:"pre,omitempty"`
	Size  int    `json:"size"`
	BOS   int32  `json:"bos"`
	EOS   int32  `json:"eos"`
	Error string `json:"error,omitempty"`
}

type tensorRow struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", "[MODEL]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	kv := addKVInfoFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("info takes one MODEL (a .gguf file or a safetensors folder)")
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	f, name, err := openModel(path, false)
	if err != nil {
		return err
	}
	defer f.Close()
	if kv.show {
		return runInfoKV(stdout, f, name, kv, *asJSON)
	}
	if kv.press.name != "" {
		return usagef("--press needs --kv")
	}
	rep := buildInfo(f, name)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printInfo(stdout, rep)
	return nil
}

func buildInfo(f *gguf.File, name string) *infoReport {
	rep := &infoReport{Model: name, TypeCounts: map[string]int{}}
	rep.Architecture, _ = f.String("general.architecture")
	if cfg, err := runtime.ConfigFromGGUF(f); err != nil {
		rep.Problem = err.Error()
	} else {
		rep.Supported = true
		rep.Config = &cfg
	}
	if tok, err := tokenizer.FromGGUF(f); err != nil {
		rep.Tokenizer = &tokInfo{Error: err.Error()}
	} else {
		rep.Tokenizer = &tokInfo{Kind: tok.Kind(), Pre: tok.Pre(), Size: tok.VocabSize(), BOS: tok.BOS(), EOS: tok.EOS()}
		rep.ChatTemplate = tok.ChatTemplate() != ""
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		rep.Tensors = append(rep.Tensors, tensorRow{Name: t.Name, Type: t.Type.String(), Shape: t.Dims, Bytes: t.Size})
		rep.TotalBytes += t.Size
		rep.TotalParams += t.Elements()
		rep.TypeCounts[t.Type.String()]++
	}
	return rep
}

func printInfo(w io.Writer, r *infoReport) {
	fmt.Fprintf(w, "model:         %s\n", r.Model)
	fmt.Fprintf(w, "architecture:  %s", r.Architecture)
	if !r.Supported {
		fmt.Fprintf(w, " (not runnable: %s)", r.Problem)
	}
	fmt.Fprintln(w)
	if c := r.Config; c != nil {
		fmt.Fprintf(w, "layers:        %d\n", c.NLayer)
		fmt.Fprintf(w, "n_embd:        %d\n", c.NEmbd)
		fmt.Fprintf(w, "n_ff:          %d\n", c.NFF)
		fmt.Fprintf(w, "heads:         %d (kv heads %d, head_dim %d)\n", c.NHead, c.NKVHead, c.HeadDim)
		fmt.Fprintf(w, "rope:          theta %g, %d dims\n", c.RopeBase, c.RopeDim)
		fmt.Fprintf(w, "rms_eps:       %g\n", c.RMSEps)
		fmt.Fprintf(w, "context:       %d\n", c.ContextLength)
		fmt.Fprintf(w, "vocab:         %d\n", c.NVocab)
	}
	if t := r.Tokenizer; t != nil {
		if t.Error != "" {
			fmt.Fprintf(w, "tokenizer:     none usable (%s)\n", t.Error)
		} else {
			fmt.Fprintf(w, "tokenizer:     %s", t.Kind)
			if t.Pre != "" {
				fmt.Fprintf(w, " (pre %s)", t.Pre)
			}
			fmt.Fprintf(w, ", %d tokens, bos %d, eos %d\n", t.Size, t.BOS, t.EOS)
		}
	}
	fmt.Fprintf(w, "chat template: %v\n", yesNo(r.ChatTemplate))
	var types []string
	for _, t := range sortedKeys(r.TypeCounts) {
		types = append(types, fmt.Sprintf("%s:%d", t, r.TypeCounts[t]))
	}
	fmt.Fprintf(w, "tensors:       %d (%s), %d parameters, %s\n", len(r.Tensors), strings.Join(types, " "), r.TotalParams, humanBytes(r.TotalBytes))
	if len(r.Tensors) > 0 {
		fmt.Fprintf(w, "\n%-40s %-8s %-22s %12s\n", "name", "type", "shape", "bytes")
		for _, t := range r.Tensors {
			fmt.Fprintf(w, "%-40s %-8s %-22s %12d\n", t.Name, t.Type, fmt.Sprint(t.Shape), t.Bytes)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
