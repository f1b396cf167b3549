// Command sparkrun runs Llama and Qwen language models from GGUF files or Hugging Face
// safetensors folders on the CPU or a Vulkan GPU, with SparK KV-cache compression.
//
// Every flag can also be given as an environment variable: --key-ratio is SPARKRUN_KEY_RATIO.
// A flag on the command line wins over the environment.
//
// Exit codes: 0 success, 1 runtime failure, 2 bad usage, 3 bad or missing model.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Exit codes, distinct so that scripts can tell a typo from a broken model from a failure.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitBadModel = 3
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	os.Exit(mainArgs(os.Args[1:], os.Stdout, os.Stderr))
}

func mainArgs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sparkrun: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	err := cmd.run(args[1:], stdout, stderr)
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "sparkrun %s: %v\n", args[0], err)
	var ue usageError
	var me modelError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &me):
		return exitBadModel
	}
	return exitFailure
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sparkrun COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'sparkrun COMMAND -h' for a command's flags. Every flag --x-y can also be")
	fmt.Fprintln(w, "set with the environment variable SPARKRUN_X_Y.")
}

// usageError marks errors caused by how sparkrun was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// modelError marks errors caused by a missing, unreadable or malformed model (exit code 3).
type modelError struct{ err error }

func (e modelError) Error() string { return e.err.Error() }
func (e modelError) Unwrap() error { return e.err }
