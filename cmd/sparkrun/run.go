package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sparkrun/sparkrun/runtime"
)

func init() {
	register("run", "generate a continuation of a prompt", runRun)
}

func runRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[MODEL] PROMPT", stderr)
	lf := addLoadFlags(fs)
	lf.device = addDeviceFlag(fs)
	sf := addSampleFlags(fs, 0.8)
	n := fs.Int("n", 128, "tokens to generate at most (0: until end of text or context)")
	ids := fs.Bool("ids", false, "print the generated token ids (comma separated) instead of the text")
	var stops stringList
	fs.Var(&stops, "stop", "stop when this string is generated (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	var path, prompt string
	switch {
	case len(pos) == 2:
		path, prompt = pos[0], pos[1]
	case len(pos) == 1 && looksLikeModel(pos[0]):
		path = pos[0]
	case len(pos) == 1:
		prompt = pos[0]
	case len(pos) > 2:
		return usagef("run takes [MODEL] PROMPT (quote the prompt)")
	}
	if *n < 0 {
		return usagef("-n %d: must be >= 0", *n)
	}
	so, err := sf.options()
	if err != nil {
		return err
	}
	m, err := lf.load(path, true)
	if err != nil {
		return err
	}
	defer m.Close()
	promptIDs, err := m.tok.Encode(prompt, true, false)
	if err != nil {
		return err
	}
	if len(promptIDs) == 0 {
		return usagef("the prompt is empty and the model adds no BOS token: give a prompt")
	}
	if ctx := m.engine.Options().ContextSize; len(promptIDs) >= ctx {
		return fmt.Errorf("prompt is %d tokens, the context holds %d (raise --ctx)", len(promptIDs), ctx)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	gen := runtime.GenerateOptions{
		MaxTokens:  *n,
		Sampler:    runtime.NewSampler(so),
		IsEOG:      m.tok.IsEOG,
		Detokenize: continuation(m.tok, promptIDs),
		Stop:       stops,
	}
	first := true
	if *ids {
		gen.OnToken = func(id int32) error {
			if m.tok.IsEOG(id) {
				return nil
			}
			if !first {
				out.WriteByte(',')
			}
			first = false
			out.WriteString(strconv.Itoa(int(id)))
			return out.Flush()
		}
	} else {
		gen.OnText = func(s string) error {
			out.WriteString(s)
			return out.Flush()
		}
	}
	sess := runtime.NewSessionOn(m.engine)
	if _, err := sess.Generate(promptIDs, gen); err != nil {
		return err
	}
	out.WriteString("\n")
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
