package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/tokenizer/chat"
)

func init() {
	register("chat", "talk with a model (interactive, or one message per line from a pipe)", runChat)
}

const chatHelp = `Commands:
  /set temp|top-k|top-p|min-p|repeat-penalty|seed|n VALUE   change a setting
  /set system TEXT   replace the system prompt (starts over)
  /show info         model and settings
  /clear             forget the conversation
  /bye               exit (Ctrl-D also exits)
  """                start and end a multi-line message
Ctrl-C stops the current reply.`

// errInterrupted stops a reply when Ctrl-C is pressed.
var errInterrupted = errors.New("interrupted")

// chatter holds one chat: the model, the conversation and the settings.
type chatter struct {
	m           *loaded
	tmpl        *chat.Template // nil: the model has no chat template; plain continuation
	system      string
	msgs        []chat.Message // the conversation, without the system prompt
	plain       string         // plain-continuation mode: all text so far
	sess        *runtime.Session
	sf          *sampleFlags
	maxTokens   int
	shift       bool
	verbose     bool
	interactive bool
	out, errw   io.Writer

	generating  atomic.Bool // a reply is being generated (Ctrl-C interrupts it)
	interrupted atomic.Bool // Ctrl-C arrived during this reply
}

func runChat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("chat", "[MODEL]", stderr)
	lf := addLoadFlags(fs)
	lf.device = addDeviceFlag(fs)
	sf := addSampleFlags(fs, 0.8)
	system := fs.String("system", "", "system prompt")
	n := fs.Int("n", 0, "tokens per reply at most (0: until the model ends it or the context is full)")
	noShift := fs.Bool("no-context-shift", false, "when the conversation fills the context, stop instead of dropping the oldest turns")
	verbose := fs.Bool("verbose", false, "print prompt and generation speed after each reply")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("chat takes at most one MODEL")
	}
	if _, err := sf.options(); err != nil {
		return err
	}
	if *n < 0 {
		return usagef("-n %d: must be >= 0", *n)
	}
	path := ""
	if len(pos) == 1 {
		path = pos[0]
	}
	m, err := withSpinner(stderr, "loading model", func() (*loaded, error) { return lf.load(path, true) })
	if err != nil {
		return err
	}
	defer m.Close()
	c := &chatter{
		m: m, system: *system, sf: sf, maxTokens: *n, shift: !*noShift, verbose: *verbose,
		interactive: isTerminal(os.Stdin), out: stdout, errw: stderr, sess: runtime.NewSessionOn(m.engine),
	}
	if src := m.tok.ChatTemplate(); src != "" {
		if c.tmpl, err = chat.Parse(src); err != nil {
			return modelError{fmt.Errorf("%s: chat template: %w", m.name, err)}
		}
	} else {
		fmt.Fprintf(stderr, "note: %s has no chat template; chatting as plain text continuation\n", m.name)
	}
	if c.interactive {
		fmt.Fprintf(stderr, "%s loaded. /? for help, Ctrl-D or /bye to exit.\n", m.name)
	}
	return c.loop(os.Stdin)
}

// loop reads messages until EOF or /bye.
func (c *chatter) loop(in io.Reader) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
			if c.generating.Load() {
				c.interrupted.Store(true)
			} else if c.interactive {
				fmt.Fprint(c.out, "\nUse Ctrl-D or /bye to exit.\n>>> ")
			}
		}
	}()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for {
		if c.interactive {
			fmt.Fprint(c.out, ">>> ")
		}
		msg, ok := readMessage(sc, c.interactive, c.out)
		if !ok {
			if c.interactive {
				fmt.Fprintln(c.out)
			}
			return sc.Err()
		}
		if strings.TrimSpace(msg) == "" {
			continue
		}
		if strings.HasPrefix(msg, "/") {
			if quit := c.command(msg); quit {
				return nil
			}
			continue
		}
		if err := c.reply(msg); err != nil {
			return err
		}
	}
}

// readMessage reads one line, or a multi-line message between lines of """.
func readMessage(sc *bufio.Scanner, interactive bool, out io.Writer) (string, bool) {
	if !sc.Scan() {
		return "", false
	}
	line := sc.Text()
	if !strings.HasPrefix(line, `"""`) {
		return line, true
	}
	var b strings.Builder
	rest := strings.TrimPrefix(line, `"""`)
	for {
		if strings.HasSuffix(rest, `"""`) {
			b.WriteString(strings.TrimSuffix(rest, `"""`))
			return b.String(), true
		}
		b.WriteString(rest)
		if interactive {
			fmt.Fprint(out, "... ")
		}
		if !sc.Scan() {
			return b.String(), b.Len() > 0
		}
		b.WriteString("\n")
		rest = sc.Text()
	}
}

// command runs a /command; it returns true to exit.
func (c *chatter) command(line string) bool {
	f := strings.Fields(line)
	switch f[0] {
	case "/bye", "/exit":
		return true
	case "/clear":
		c.msgs, c.plain = nil, ""
		c.sess.Reset()
		fmt.Fprintln(c.errw, "Cleared the conversation.")
	case "/?", "/help":
		fmt.Fprintln(c.errw, chatHelp)
	case "/show":
		if len(f) > 1 && f[1] == "info" {
			c.showInfo()
		} else {
			fmt.Fprintln(c.errw, "Usage: /show info")
		}
	case "/set":
		if err := c.set(f[1:], line); err != nil {
			fmt.Fprintf(c.errw, "/set: %v\n", err)
		}
	default:
		fmt.Fprintf(c.errw, "Unknown command %s; /? for help.\n", f[0])
	}
	return false
}

// set changes one setting: "/set temp 0.7".
func (c *chatter) set(args []string, line string) error {
	if len(args) < 2 {
		return errors.New("usage: /set NAME VALUE (temp, top-k, top-p, min-p, repeat-penalty, seed, n, system)")
	}
	if args[0] == "system" {
		c.system = strings.TrimSpace(strings.SplitN(line, "system", 2)[1])
		c.msgs, c.plain = nil, ""
		fmt.Fprintln(c.errw, "Set the system prompt; the conversation starts over.")
		return nil
	}
	old := *c.sf
	var err error
	switch args[0] {
	case "temp":
		c.sf.temp, err = strconv.ParseFloat(args[1], 64)
	case "top-k":
		c.sf.topK, err = strconv.Atoi(args[1])
	case "top-p":
		c.sf.topP, err = strconv.ParseFloat(args[1], 64)
	case "min-p":
		c.sf.minP, err = strconv.ParseFloat(args[1], 64)
	case "repeat-penalty":
		c.sf.repeat, err = strconv.ParseFloat(args[1], 64)
	case "seed":
		c.sf.seed, err = strconv.ParseInt(args[1], 10, 64)
	case "n":
		c.maxTokens, err = strconv.Atoi(args[1])
		if err == nil && c.maxTokens < 0 {
			err = errors.New("must be >= 0")
		}
	default:
		return fmt.Errorf("unknown setting %q (temp, top-k, top-p, min-p, repeat-penalty, seed, n, system)", args[0])
	}
	if err == nil {
		_, err = c.sf.options()
	}
	if err != nil {
		*c.sf = old
		return fmt.Errorf("%s %q: %v", args[0], args[1], err)
	}
	fmt.Fprintf(c.errw, "Set %s to %s.\n", args[0], args[1])
	return nil
}

func (c *chatter) showInfo() {
	cfg := c.m.engine.Config()
	fmt.Fprintf(c.errw, "model:        %s (%s, %d layers, n_embd %d, vocab %d)\n", c.m.name, cfg.Arch.Name, cfg.NLayer, cfg.NEmbd, cfg.NVocab)
	fmt.Fprintf(c.errw, "context:      %d tokens, %d used\n", c.m.engine.Options().ContextSize, c.sess.Pos())
	fmt.Fprintf(c.errw, "template:     %s\n", map[bool]string{true: "the model's chat template", false: "none (plain continuation)"}[c.tmpl != nil])
	fmt.Fprintf(c.errw, "sampling:     temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, seed %d, n %d\n",
		c.sf.temp, c.sf.topK, c.sf.topP, c.sf.minP, c.sf.repeat, c.sf.seed, c.maxTokens)
	if c.system != "" {
		fmt.Fprintf(c.errw, "system:       %q\n", c.system)
	}
}

// prompt returns the token ids of the whole conversation, ready for the assistant's reply.
func (c *chatter) prompt(msgs []chat.Message, plain string) ([]int32, error) {
	tok := c.m.tok
	if c.tmpl == nil {
		return tok.Encode(plain, true, false)
	}
	all := msgs
	if c.system != "" {
		all = append([]chat.Message{{Role: "system", Content: c.system}}, msgs...)
	}
	var bos, eos string
	if tok.BOS() >= 0 {
		bos = tok.Piece(tok.BOS())
	}
	if tok.EOS() >= 0 {
		eos = tok.Piece(tok.EOS())
	}
	text, err := c.tmpl.Render(all, chat.Options{AddGenerationPrompt: true, BOSToken: bos, EOSToken: eos})
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	ids, err := tok.Encode(text, true, true)
	if err != nil {
		return nil, err
	}
	// Templates that write the BOS token themselves would get a second one from Encode.
	if len(ids) > 1 && ids[0] == tok.BOS() && ids[1] == tok.BOS() {
		ids = ids[1:]
	}
	return ids, nil
}

// reply adds the user's message, generates the assistant's answer and streams it.
func (c *chatter) reply(user string) error {
	msgs := append(c.msgs, chat.Message{Role: "user", Content: user})
	plain := c.plain
	if plain != "" && !strings.HasSuffix(plain, " ") && !strings.HasSuffix(plain, "\n") {
		plain += " " // the next message continues the text as a new word
	}
	plain += user
	ids, err := c.prompt(msgs, plain)
	if err != nil {
		return err
	}
	ctx := c.m.engine.Options().ContextSize
	// Keep room for a reply of a useful length: a quarter of the context, at most 512 tokens.
	reserve := min(ctx/4, 512)
	for len(ids)+reserve > ctx {
		if !c.shift || len(msgs) <= 1 {
			if c.tmpl == nil && c.shift && len(ids) > reserve {
				// Plain text: keep the most recent part of the text.
				plain = c.m.tok.Decode(ids[len(ids)-(ctx-reserve)+1:])
				ids, err = c.prompt(nil, plain)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.errw, "note: the text fills the context; keeping only its most recent part")
				continue
			}
			fmt.Fprintf(c.errw, "The conversation (%d tokens) no longer fits the context of %d tokens. /clear to start over.\n", len(ids), ctx)
			return nil
		}
		// Drop the oldest turn (a user message and the reply to it); the system prompt stays.
		drop := 1
		if len(msgs) > 2 && msgs[1].Role == "assistant" {
			drop = 2
		}
		msgs = msgs[drop:]
		if ids, err = c.prompt(msgs, plain); err != nil {
			return err
		}
		fmt.Fprintln(c.errw, "note: the conversation is near the context limit; dropped the oldest turn")
	}
	// Reuse the cached prefix the new prompt shares with what the session already holds.
	p := commonPrefix(c.sess.Tokens(), ids)
	if p == len(ids) {
		p-- // at least one token must be fed to get fresh logits
	}
	if pc, ok := c.sess.Cache().(*runtime.PressCache); ok && p < pc.RollbackFloor(0) {
		p = 0 // a compressed prompt cannot be cut: prefill (and compress) the conversation again
	}
	if err := c.sess.Truncate(p); err != nil {
		return err
	}
	so, _ := c.sf.options()
	maxTok := ctx - len(ids)
	if c.maxTokens > 0 {
		maxTok = min(maxTok, c.maxTokens)
	}
	var text strings.Builder
	start := time.Now()
	var first time.Time
	c.interrupted.Store(false)
	c.generating.Store(true)
	res, err := c.sess.Generate(ids[p:], runtime.GenerateOptions{
		MaxTokens:  maxTok,
		Sampler:    runtime.NewSampler(so),
		IsEOG:      c.m.tok.IsEOG,
		Detokenize: continuation(c.m.tok, ids),
		OnToken: func(int32) error {
			if first.IsZero() {
				first = time.Now()
			}
			if c.interrupted.Load() {
				return errInterrupted
			}
			return nil
		},
		OnText: func(s string) error {
			text.WriteString(s)
			_, err := io.WriteString(c.out, s)
			return err
		},
	})
	c.generating.Store(false)
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(c.out)
		fmt.Fprintln(c.errw, "(reply stopped)")
		res.Text = text.String()
	case err != nil:
		return err
	default:
		fmt.Fprintln(c.out)
		if res.Finish == runtime.FinishLength && c.sess.Pos() >= ctx-1 {
			fmt.Fprintln(c.errw, "note: the reply filled the context")
		}
	}
	if c.verbose {
		end := time.Now()
		promptN, genN := len(ids)-p, len(res.Tokens)
		if !first.IsZero() {
			fmt.Fprintf(c.errw, "prompt: %d tokens, %.1f tok/s; generation: %d tokens, %.1f tok/s\n",
				promptN, float64(promptN)/first.Sub(start).Seconds(), genN, float64(genN)/end.Sub(first).Seconds())
		}
	}
	c.msgs = append(msgs, chat.Message{Role: "assistant", Content: res.Text})
	c.plain = plain + res.Text
	return nil
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// isTerminal reports whether f is a character device (a terminal), without a dependency.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// withSpinner runs fn, showing a spinner with the elapsed time on w if it takes more than a
// moment and w is a terminal.
func withSpinner[T any](w io.Writer, what string, fn func() (T, error)) (T, error) {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return fn()
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		frames := `|/-\`
		for i := 0; ; i++ {
			select {
			case <-done:
				if time.Since(start) > 300*time.Millisecond {
					fmt.Fprintf(w, "\r%s: done in %.1fs   \n", what, time.Since(start).Seconds())
				}
				close(done)
				return
			case <-t.C:
				if time.Since(start) > 300*time.Millisecond {
					fmt.Fprintf(w, "\r%s %c %.1fs", what, frames[i%4], time.Since(start).Seconds())
				}
			}
		}
	}()
	v, err := fn()
	done <- struct{}{}
	<-done
	return v, err
}
