package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/hf"
)

func init() {
	register("convert", "convert a safetensors folder to GGUF", runConvert)
}

// convertTypes are the --type choices: the output type of 2-D weight matrices.
var convertTypes = map[string]ggml.Type{
	"f32": ggml.TypeF32, "f16": ggml.TypeF16, "bf16": ggml.TypeBF16,
	"q8_0": ggml.TypeQ8_0, "q4_0": ggml.TypeQ4_0, "q4_k": ggml.TypeQ4_K, "q6_k": ggml.TypeQ6_K,
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("convert", "DIR OUT.gguf", stderr)
	typ := fs.String("type", "f16", "type of the weight matrices: f32|f16|bf16|q8_0|q4_0|q4_k|q6_k (norms and biases stay f32)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("convert takes a safetensors folder and an output .gguf path")
	}
	target, ok := convertTypes[strings.ToLower(*typ)]
	if !ok {
		return usagef("--type %q: want one of f32, f16, bf16, q8_0, q4_0, q4_k, q6_k", *typ)
	}
	src, err := hf.Open(pos[0])
	if err != nil {
		return modelError{err}
	}
	defer src.Close()
	plan, err := convertPlan(src, target)
	if err != nil {
		return err
	}
	progress := func(done, total int) {
		if !*quiet {
			fmt.Fprintf(stderr, "\rconvert: %d/%d tensors", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	// Ctrl-C must not leave a partial OUT: gguf.WriteFile writes a temporary file and renames it
	// only when complete, and removes it when the write fails, so we just stop writing.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	defer signal.Stop(interrupted)
	done := 0
	err = gguf.WriteFile(pos[1], src.KV, plan, func(t *gguf.TensorInfo) ([]byte, error) {
		select {
		case <-interrupted:
			return nil, fmt.Errorf("interrupted")
		default:
		}
		b, err := convertTensor(src, t)
		done++
		progress(done, len(plan))
		return b, err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d tensors, weights %s)\n", pos[1], len(plan), target)
	return nil
}

// convertPlan returns the output tensor table: 2-D weights in the target type, everything else
// F32, as llama.cpp's converter does (norms, biases and rope factors lose nothing).
func convertPlan(src *gguf.File, target ggml.Type) ([]gguf.TensorInfo, error) {
	plan := make([]gguf.TensorInfo, len(src.Tensors))
	for i, t := range src.Tensors {
		typ := ggml.TypeF32
		if len(t.Dims) == 2 && t.Dims[0]%int64(target.BlockSize()) == 0 {
			typ = target
		} else if len(t.Dims) == 2 {
			return nil, fmt.Errorf("tensor %q: row length %d is not a multiple of the %s block size %d", t.Name, t.Dims[0], target, target.BlockSize())
		}
		size, err := ggml.RowBytes(typ, t.Elements())
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", t.Name, err)
		}
		plan[i] = gguf.TensorInfo{Name: t.Name, Dims: t.Dims, Type: typ, Size: size}
	}
	return plan, nil
}

// convertTensor reads one source tensor, widens it to F32 and quantizes it to the planned type.
func convertTensor(src *gguf.File, out *gguf.TensorInfo) ([]byte, error) {
	in, ok := src.Tensor(out.Name)
	if !ok {
		return nil, fmt.Errorf("tensor %q vanished from the source", out.Name)
	}
	raw, err := src.TensorData(in)
	if err != nil {
		return nil, err
	}
	if in.Type == out.Type {
		return raw, nil
	}
	f32 := make([]float32, in.Elements())
	if err := ggml.Dequantize(in.Type, raw, f32); err != nil {
		return nil, fmt.Errorf("tensor %q: %v", in.Name, err)
	}
	dst := make([]byte, out.Size)
	if err := ggml.Quantize(out.Type, f32, dst); err != nil {
		return nil, fmt.Errorf("tensor %q: %v", in.Name, err)
	}
	return dst, nil
}
