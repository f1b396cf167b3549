package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sparkrun/sparkrun/defaultmodel"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/hf"
)

// openModel opens a .gguf file, a Hugging Face safetensors folder, or, for an empty path, the
// embedded default model. The returned name is for messages. With inMemory, a .gguf file is
// copied into huge-page-backed memory (gguf.Load: faster token generation) instead of mapped;
// commands that only read metadata or a few tensors pass false.
func openModel(path string, inMemory bool) (*gguf.File, string, error) {
	if path == "" {
		f, err := defaultmodel.Open()
		if err != nil {
			return nil, "", modelError{err}
		}
		return f, defaultmodel.Name, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", modelError{fmt.Errorf("model %s: %w", path, err)}
	}
	var f *gguf.File
	if st.IsDir() {
		f, err = hf.Open(path)
	} else if inMemory {
		f, err = gguf.Load(path)
	} else {
		f, err = gguf.Open(path)
	}
	if err != nil {
		return nil, "", modelError{err}
	}
	return f, path, nil
}

// looksLikeModel says whether a positional argument names a model rather than being a prompt:
// an existing file or folder, or anything ending in .gguf (so a typo gives "no such file", not a
// story about it).
func looksLikeModel(arg string) bool {
	if strings.HasSuffix(arg, ".gguf") {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// modelAndArg splits the positional arguments of a command called as `cmd [MODEL] ARG`: one
// argument is ARG on the embedded model, two are MODEL and ARG; anything else is the usage
// error given.
func modelAndArg(pos []string, usage string) (model, arg string, err error) {
	switch len(pos) {
	case 1:
		return "", pos[0], nil
	case 2:
		return pos[0], pos[1], nil
	}
	return "", "", usagef("%s", usage)
}
