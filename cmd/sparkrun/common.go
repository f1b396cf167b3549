package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/tokenizer"
)

// loadFlags are the flags of every command that runs a model.
type loadFlags struct {
	threads int
	ctx     int
	kvType  string
	press   *pressFlags
	device  *deviceFlag // nil: the CPU runtime (commands without --device)
	mmap    bool        // map the file instead of copying it into memory (see openModel)
}

// addLoadFlags adds the model flags and the KV press flags.
func addLoadFlags(fs *flag.FlagSet) *loadFlags {
	l := addModelFlags(fs)
	l.press = addPressFlags(fs)
	return l
}

// addModelFlags adds the model flags without the press flags (for presseval, which takes lists
// of presses).
func addModelFlags(fs *flag.FlagSet) *loadFlags {
	l := &loadFlags{}
	fs.IntVar(&l.threads, "threads", 0, "CPU threads (0: the number of physical cores)")
	fs.IntVar(&l.ctx, "ctx", 0, fmt.Sprintf("context size in tokens (0: the model's, at most %d)", runtime.DefaultContext))
	fs.StringVar(&l.kvType, "kv-type", "f16", "KV cache element type: f16 or f32")
	fs.BoolVar(&l.mmap, "mmap", false, "map the model file instead of copying it into memory: less memory, slower token generation (4 KiB pages)")
	return l
}

// options checks the flags and returns the runtime options they ask for.
func (l *loadFlags) options() (runtime.Options, error) {
	kv, err := runtime.ParseKVType(l.kvType)
	if err != nil {
		return runtime.Options{}, usagef("--kv-type: %v", err)
	}
	if l.threads < 0 {
		return runtime.Options{}, usagef("--threads %d: must be 0 (auto) or positive", l.threads)
	}
	if l.ctx < 0 {
		return runtime.Options{}, usagef("--ctx %d: must be 0 (the model's) or positive", l.ctx)
	}
	var pc *runtime.PressConfig
	if l.press != nil {
		if pc, err = l.press.config(); err != nil {
			return runtime.Options{}, err
		}
	}
	return runtime.Options{Threads: l.threads, ContextSize: l.ctx, KVType: kv, Press: pc}, nil
}

// loaded is an open model with its tokenizer.
type loaded struct {
	file   *gguf.File
	name   string
	engine runtime.Engine       // the model on the device --device selected
	model  *runtime.Model       // the same model on the CPU runtime; nil on Vulkan
	close  func()               // frees the engine
	tok    *tokenizer.Tokenizer // nil when loaded without one
}

func (l *loaded) Close() {
	l.close()
	l.file.Close()
}

// load opens the model at path ("" for the embedded default) with its tokenizer. Commands
// that only handle token ids pass needTokenizer false, so a model folder without
// tokenizer.json still runs.
func (l *loadFlags) load(path string, needTokenizer bool) (*loaded, error) {
	opts, err := l.options()
	if err != nil {
		return nil, err
	}
	f, name, err := openModel(path, !l.mmap)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil && !needTokenizer {
		tok = nil
	} else if err != nil {
		f.Close()
		return nil, modelError{fmt.Errorf("%s: %w", name, err)}
	}
	e, m, closeFn, err := l.device.load(f, opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &loaded{file: f, name: name, engine: e, model: m, close: closeFn, tok: tok}, nil
}

// loadWithText reads the text file textPath, then loads the model at path and tokenizes the
// text with it (addSpecial as in tokenizer.Encode), for the commands that score a text.
func (l *loadFlags) loadWithText(path, textPath string, addSpecial bool) (*loaded, []int32, error) {
	text, err := os.ReadFile(textPath)
	if err != nil {
		return nil, nil, err
	}
	m, err := l.load(path, true)
	if err != nil {
		return nil, nil, err
	}
	ids, err := m.tok.Encode(string(text), addSpecial, false)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, ids, nil
}

// sampleFlags are the sampling flags shared by run, chat and batch.
type sampleFlags struct {
	temp, topP, minP, repeat, freq, presence float64
	topK, window                             int
	seed                                     int64
}

func addSampleFlags(fs *flag.FlagSet, defaultTemp float64) *sampleFlags {
	s := &sampleFlags{}
	fs.Float64Var(&s.temp, "temp", defaultTemp, "temperature (0: greedy)")
	fs.IntVar(&s.topK, "top-k", 40, "keep the K most likely tokens (0: off)")
	fs.Float64Var(&s.topP, "top-p", 0.95, "nucleus sampling threshold (1: off)")
	fs.Float64Var(&s.minP, "min-p", 0.05, "drop tokens less likely than this times the best (0: off)")
	fs.Float64Var(&s.repeat, "repeat-penalty", 1.0, "penalty for recently seen tokens (1: off)")
	fs.Float64Var(&s.freq, "frequency-penalty", 0, "subtracted per occurrence in the penalty window")
	fs.Float64Var(&s.presence, "presence-penalty", 0, "subtracted once if present in the penalty window")
	fs.IntVar(&s.window, "penalty-window", 64, "how many recent tokens the penalties consider")
	fs.Int64Var(&s.seed, "seed", -1, "random seed (-1: random); the same seed gives the same output")
	return s
}

// options checks the sampling flags.
func (s *sampleFlags) options() (runtime.SamplerOptions, error) {
	switch {
	case s.temp < 0:
		return runtime.SamplerOptions{}, usagef("--temp %g: must be >= 0", s.temp)
	case s.topK < 0:
		return runtime.SamplerOptions{}, usagef("--top-k %d: must be >= 0", s.topK)
	case s.topP < 0 || s.topP > 1:
		return runtime.SamplerOptions{}, usagef("--top-p %g: must be in [0, 1]", s.topP)
	case s.minP < 0 || s.minP > 1:
		return runtime.SamplerOptions{}, usagef("--min-p %g: must be in [0, 1]", s.minP)
	case s.repeat < 0:
		return runtime.SamplerOptions{}, usagef("--repeat-penalty %g: must be >= 0", s.repeat)
	case s.window < 0:
		return runtime.SamplerOptions{}, usagef("--penalty-window %d: must be >= 0", s.window)
	}
	seed := uint64(s.seed)
	if s.seed < 0 {
		seed = rand.Uint64()
	}
	return runtime.SamplerOptions{
		Temperature: float32(s.temp), TopK: s.topK, TopP: float32(s.topP), MinP: float32(s.minP),
		RepeatPenalty: float32(s.repeat), FrequencyPenalty: float32(s.freq), PresencePenalty: float32(s.presence),
		PenaltyWindow: s.window, Seed: seed,
	}, nil
}

// parseIDs parses "1,2,3" (spaces allowed) into token ids below nVocab.
func parseIDs(s string, nVocab int) ([]int32, error) {
	var ids []int32
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil || v < 0 || int(v) >= nVocab {
			return nil, usagef("token id %q: want an integer in [0, %d)", f, nVocab)
		}
		ids = append(ids, int32(v))
	}
	if len(ids) == 0 {
		return nil, usagef("no token ids in %q", s)
	}
	return ids, nil
}

// continuation returns the text that generated ids add after prompt: the bytes of each token,
// except that after a prompt with no text (only BOS) the tokenizer's leading-space rule applies,
// as in llama.cpp and llama2.c.
func continuation(tok *tokenizer.Tokenizer, prompt []int32) func(ids []int32) string {
	hasText := false
	for _, id := range prompt {
		if len(tok.TokenBytes(id)) > 0 {
			hasText = true
			break
		}
	}
	if !hasText {
		return tok.Decode
	}
	return func(ids []int32) string {
		var b []byte
		for _, id := range ids {
			b = append(b, tok.TokenBytes(id)...)
		}
		return string(b)
	}
}
