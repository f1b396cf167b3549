package tests

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkrun/sparkrun/defaultmodel"
	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/tokenizer"
)

// slowModel writes a Llama model big enough that a reply streams for tens of seconds on this
// machine, with the stories260K vocabulary and a simple chat template. Its output layer is
// built so that greedy decoding never ends: all logits are 0 except two tokens, " the" and
// " and", whose logits are +h and -h for the first coordinate h of the final normalized state;
// the larger of them always beats EOS (logit 0).
func slowModel(t *testing.T) string {
	t.Helper()
	base, err := defaultmodel.Open()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(base)
	if err != nil {
		t.Fatal(err)
	}
	the, _ := tok.Encode("the", false, false)
	and, _ := tok.Encode("and", false, false)
	if len(the) != 1 || len(and) != 1 {
		t.Fatalf("\"the\" is %v and \"and\" is %v, want single tokens", the, and)
	}
	const (
		embd, layers, ff, heads, vocab = 512, 8, 1536, 8, 512
	)
	kv := []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "general.name", Value: "slow test model"},
		{Key: "llama.block_count", Value: uint32(layers)},
		{Key: "llama.context_length", Value: uint32(4096)},
		{Key: "llama.embedding_length", Value: uint32(embd)},
		{Key: "llama.feed_forward_length", Value: uint32(ff)},
		{Key: "llama.attention.head_count", Value: uint32(heads)},
		{Key: "llama.attention.head_count_kv", Value: uint32(heads)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
		{Key: "tokenizer.chat_template", Value: "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"},
	}
	for _, e := range base.KV {
		if strings.HasPrefix(e.Key, "tokenizer.ggml.") {
			kv = append(kv, e)
		}
	}
	var tensors []gguf.TensorInfo
	add := func(name string, dims ...int64) {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		tensors = append(tensors, gguf.TensorInfo{Name: name, Type: ggml.TypeF32, Dims: dims, Size: 4 * n})
	}
	add("token_embd.weight", embd, vocab)
	add("output_norm.weight", embd)
	add("output.weight", embd, vocab)
	for l := 0; l < layers; l++ {
		p := "blk." + string(rune('0'+l)) + "."
		add(p+"attn_norm.weight", embd)
		add(p+"attn_q.weight", embd, embd)
		add(p+"attn_k.weight", embd, embd)
		add(p+"attn_v.weight", embd, embd)
		add(p+"attn_output.weight", embd, embd)
		add(p+"ffn_norm.weight", embd)
		add(p+"ffn_gate.weight", embd, ff)
		add(p+"ffn_up.weight", embd, ff)
		add(p+"ffn_down.weight", ff, embd)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	path := filepath.Join(t.TempDir(), "slow.gguf")
	err = gguf.WriteFile(path, kv, tensors, func(ti *gguf.TensorInfo) ([]byte, error) {
		v := make([]float32, ti.Size/4)
		switch {
		case ti.Name == "output_norm.weight":
			v[0] = 1
		case ti.Name == "output.weight":
			v[int(the[0])*embd] = 1
			v[int(and[0])*embd] = -1
		case strings.HasSuffix(ti.Name, "norm.weight"):
			for i := range v {
				v[i] = 1
			}
		default:
			for i := range v {
				v[i] = float32(rng.NormFloat64() * 0.02)
			}
		}
		b := make([]byte, ti.Size)
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// tmux drives a program in a detached terminal. Each test gets its own tmux server (its own
// socket), so one test's server shutting down cannot race with the next test's start.
type tmux struct {
	t       *testing.T
	socket  string
	session string
}

// run runs a tmux command on this test's server.
func (tm *tmux) run(args ...string) ([]byte, error) {
	return exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
}

func startTmux(t *testing.T, command string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for the chat tests (make setup installs it)")
	}
	name := fmt.Sprintf("sparkrun-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	tm := &tmux{t: t, socket: name, session: name}
	// remain-on-exit is set before the program starts, so its exit is always visible.
	if out, err := tm.run("new-session", "-d", "-s", tm.session, "-x", "160", "-y", "50", "sleep 3600"); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { tm.run("kill-server") })
	if out, err := tm.run("set-option", "-t", tm.session, "remain-on-exit", "on"); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	// exec: the program replaces tmux's sh -c, so Ctrl-C (SIGINT to the terminal's foreground
	// process group) reaches only the program, as it does when a user runs it from a shell.
	if out, err := tm.run("respawn-pane", "-k", "-t", tm.session, "exec "+command); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	return tm
}

func (tm *tmux) send(keys ...string) {
	if out, err := tm.run(append([]string{"send-keys", "-t", tm.session}, keys...)...); err != nil {
		tm.t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
}

func (tm *tmux) screen() string {
	out, err := exec.Command("tmux", "-L", tm.socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", tm.session).Output()
	if err != nil {
		tm.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// waitFor waits until cond holds for the screen, failing after timeout.
func (tm *tmux) waitFor(what string, timeout time.Duration, cond func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waiting for %s; screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExit waits until the program in the pane has exited, and fails on a non-zero status.
func (tm *tmux) waitExit(timeout time.Duration) {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := tm.run("list-panes", "-t", tm.session, "-F", "#{pane_dead} #{pane_dead_status}")
		if err != nil {
			tm.t.Fatalf("tmux list-panes: %v: %s", err, out)
		}
		// tmux 3.3 leaves the status empty for some exits, so a dead pane with no status counts
		// as a clean exit; a non-zero status fails (exit codes are also tested without tmux).
		switch f := strings.Fields(string(out)); {
		case len(f) == 1 && f[0] == "1", len(f) == 2 && f[0] == "1" && f[1] == "0":
			return
		case len(f) == 2 && f[0] == "1":
			tm.t.Fatalf("the program exited with status %s; screen:\n%s", f[1], tm.screen())
		}
		if time.Now().After(deadline) {
			// Ask for a goroutine dump (Ctrl-\ sends SIGQUIT) so a hang can be diagnosed.
			tm.run("send-keys", "-t", tm.session, "C-\\")
			time.Sleep(time.Second)
			tm.t.Fatalf("the program did not exit; screen after SIGQUIT:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

func TestChatTerminal(t *testing.T) {
	model := slowModel(t)
	tm := startTmux(t, bin+" chat "+model+" --temp 0")
	tm.waitFor("the prompt", 60*time.Second, func(s string) bool { return strings.Count(s, ">>> ") == 1 })
	tm.send("Hello there", "Enter")
	// The reply streams: it keeps growing while we watch.
	first := tm.waitFor("the reply to start", 60*time.Second, contains("the"))
	time.Sleep(1500 * time.Millisecond)
	second := tm.screen()
	if len(second) <= len(first) || strings.Count(second, "the")+strings.Count(second, "and") <= strings.Count(first, "the")+strings.Count(first, "and") {
		t.Fatalf("the reply did not stream:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	// Ctrl-C stops the reply, not the program; the prompt returns.
	tm.send("C-c")
	tm.waitFor("the reply to stop", 20*time.Second, func(s string) bool {
		i := strings.Index(s, "(reply stopped)")
		return i >= 0 && strings.Contains(s[i:], ">>> ")
	})
	tm.send("/set temp 0.5", "Enter")
	tm.waitFor("/set", 10*time.Second, contains("Set temp to 0.5."))
	tm.send("/show info", "Enter")
	tm.waitFor("/show info", 10*time.Second, contains("temp 0.5, top-k 40"))
	tm.send("/clear", "Enter")
	tm.waitFor("/clear", 10*time.Second, contains("Cleared the conversation."))
	tm.send("/bye", "Enter")
	tm.waitExit(30 * time.Second)
}

// TestChatPlainContinuation: a model without a chat template (the embedded TinyStories one)
// chats as plain continuation and says so; Ctrl-D exits.
func TestChatPlainContinuation(t *testing.T) {
	tm := startTmux(t, bin+" chat --temp 0 -n 20")
	tm.waitFor("the notice", 30*time.Second, contains("has no chat template; chatting as plain text continuation"))
	tm.waitFor("the prompt", 10*time.Second, contains(">>> "))
	tm.send("Once upon a time", "Enter")
	tm.waitFor("the story", 30*time.Second, contains(", there was a little girl named Lily"))
	tm.send(`"""The dog`, "Enter")
	tm.waitFor("the continuation prompt", 10*time.Second, contains("... "))
	tm.send(`and the cat"""`, "Enter")
	tm.waitFor("a second reply", 30*time.Second, func(s string) bool { return strings.Count(s, ">>> ") >= 3 })
	time.Sleep(300 * time.Millisecond) // let the program get back to reading its input
	tm.send("C-d")
	tm.waitExit(30 * time.Second)
}

// TestChatPipe: with stdin not a terminal each line is a message and replies go to stdout.
func TestChatPipe(t *testing.T) {
	cmd := exec.Command(bin, "chat", "--temp", "0", "-n", "12")
	cmd.Stdin = strings.NewReader("Once upon a time\n/set n 5\nThe dog\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], ", there was a little girl") || strings.Contains(string(out), ">>>") {
		t.Fatalf("stdout = %q, want two replies and no prompts", out)
	}
}

// TestChatPress: chat with a press compresses the first message's prompt (longer than SparK's
// 32-query window) at the end of its prefill, as run does, so the first reply equals run's with
// the same press and differs from the dense cache's; the next turn continues over the compressed
// prompt and answers.
func TestChatPress(t *testing.T) {
	const prompt = "Once upon a time, there was a little dog. The dog liked to play in the park with a big red ball. One day, the dog saw a"
	press := []string{"--temp", "0", "-n", "12", "--press", "spark", "--key-ratio", "0.8"}
	cmd := exec.Command(bin, append([]string{"chat"}, press...)...)
	cmd.Stdin = strings.NewReader(prompt + "\nThe cat\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	replies := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(replies) != 2 || strings.TrimSpace(replies[1]) == "" {
		t.Fatalf("stdout = %q, want two one-line replies", out)
	}
	run := func(args ...string) string {
		out, err := exec.Command(bin, append([]string{"run", prompt}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	withPress, dense := run(press...), run("--temp", "0", "-n", "12")
	if replies[0] != withPress {
		t.Errorf("first reply %q, run with the press gives %q", replies[0], withPress)
	}
	if withPress == dense {
		t.Errorf("the press did not change the text (%q): the prompt was not compressed", dense)
	}
}
