package cpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/runtime/synth"
)

// BenchmarkModelMatMuls runs every matrix product of one forward pass of a synthetic model
// (the speed-target shapes) through MatMul: decode (n=1) and a 64-token prefill chunk whose
// logits are computed for the last token only, as llama-bench does. tok/s is an upper bound
// for sparkrun's tg/pp (everything but the matrix products is left out) and GB/s is weight
// bytes read per second, to hold against BenchmarkMemBandwidth. tok/cpu-s counts tokens per
// CPU-second of the process: on a shared, overloaded machine the wall-clock figures measure
// the neighbours, and Threads() x tok/cpu-s estimates the quiet-machine rate of compute-bound
// runs (prefill; decode is capped by memory bandwidth instead).
//
//	go test -run XXX -bench ModelMatMuls -benchtime 20x ./runtime/cpu
func BenchmarkModelMatMuls(b *testing.B) {
	cases := []struct {
		shape string
		typ   ggml.Type
	}{
		{"llama3.2-1b", ggml.TypeQ8_0}, {"llama3.2-1b", ggml.TypeQ4_0}, {"llama3.2-1b", ggml.TypeF16},
		{"qwen2.5-0.5b", ggml.TypeQ8_0},
	}
	for _, c := range cases {
		b.Run(c.shape+"/"+c.typ.String(), func(b *testing.B) {
			layers, output, err := modelMatrices(c.shape, c.typ)
			if err != nil {
				b.Fatal(err)
			}
			pool := NewPool(0)
			defer pool.Close()
			var bytes int
			maxRows, maxCols := output.Rows, output.Cols
			for _, m := range layers {
				bytes += len(m.Data)
				maxRows, maxCols = max(maxRows, m.Rows), max(maxCols, m.Cols)
			}
			bytes += len(output.Data)
			for _, n := range []int{1, 64} {
				b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
					x := make([]float32, n*maxCols)
					for i := range x {
						x[i] = float32(i%7) - 3
					}
					y := make([]float32, n*maxRows)
					cpu0, cpuOK := processCPU()
					b.ResetTimer()
					for range b.N {
						for _, m := range layers {
							pool.MatMul(y, m, x, n)
						}
						pool.MatMul(y, output, x, 1)
					}
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(n*b.N)/sec, "tok/s")
					b.ReportMetric(float64(bytes)*float64(b.N)/sec/1e9, "GB/s")
					if cpu1, ok := processCPU(); ok && cpuOK && cpu1 > cpu0 {
						b.ReportMetric(float64(n*b.N)/(cpu1-cpu0), "tok/cpu-s")
					}
				})
			}
		})
	}
}

// modelMatrices builds a synthetic model and returns its per-layer weight matrices and the
// output matrix (token_embd when tied).
func modelMatrices(shape string, typ ggml.Type) (layers []*Matrix, output *Matrix, err error) {
	f, err := synth.Build(shape, typ, 1)
	if err != nil {
		return nil, nil, err
	}
	outName := "output.weight"
	if _, ok := f.Tensor(outName); !ok {
		outName = "token_embd.weight"
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		isLayer := strings.HasPrefix(t.Name, "blk.") && strings.HasSuffix(t.Name, ".weight") && len(t.Dims) == 2
		if !isLayer && t.Name != outName {
			continue
		}
		data, err := f.TensorData(t)
		if err != nil {
			return nil, nil, err
		}
		m := &Matrix{Type: t.Type, Rows: int(t.Dims[1]), Cols: int(t.Dims[0]), Data: data}
		if err := m.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		if t.Name == outName {
			output = m
		} else {
			layers = append(layers, m)
		}
	}
	return layers, output, nil
}
