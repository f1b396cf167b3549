//go:build cgo

package vkmodel

import (
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/ref"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// TestWeightTypes converts micro-llama3's matrices to each weight type in memory and compares
// the Vulkan logits with the float64 reference forward pass on the same (dequantized) weights.
// The device dequantizes on the fly and keeps activations in f32, so every type, with a kernel
// (F16, Q8_0, Q4_0) or dequantized at load (Q6_K, BF16), is exact float32 arithmetic and is held
// to f32Tol; a kernel reading the wrong layout moves logits by O(1).
func TestWeightTypes(t *testing.T) {
	src := openFile(t, "micro-llama3.f32.gguf")
	ids, _ := readLogits(t, "micro-llama3.f32.logits.txt")
	ids = ids[:6]
	types := []ggml.Type{ggml.TypeF16, ggml.TypeQ8_0, ggml.TypeQ4_0, ggml.TypeQ6_K, ggml.TypeBF16}
	if testing.Short() {
		types = types[:3]
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			f := convertMatrices(t, src, typ)
			m := loadVKFile(t, f, runtime.Options{KVType: runtime.KVF32, ContextSize: 32})
			got, err := runtime.NewSessionOn(m).PromptLogits(ids)
			if err != nil {
				t.Fatal(err)
			}
			r := refModel(t, f, m.Config())
			worst := 0.0
			nv := m.Config().NVocab
			for i, id := range ids {
				want, err := r.Forward(int(id))
				if err != nil {
					t.Fatal(err)
				}
				for j, w := range want {
					worst = max(worst, abs(float64(got[i*nv+j])-w))
				}
			}
			if !(worst <= f32Tol) {
				t.Fatalf("vulkan vs float64 reference on %s weights: max |diff| %.3g > %.3g", typ, worst, f32Tol)
			}
			t.Logf("max |vulkan - ref| = %.3g", worst)
		})
	}
}

// TestLoadErrors checks that a missing tensor fails the load with an error naming it, and that
// the failed load frees what it had uploaded (the validation layer reports leaked objects when
// the device closes, which would join the error).
func TestLoadErrors(t *testing.T) {
	src := openFile(t, "micro-qwen2.f32.gguf")
	for _, name := range []string{"blk.1.attn_k.bias", "output_norm.weight", "blk.0.ffn_down.weight"} {
		t.Run(name, func(t *testing.T) {
			var kept []gguf.TensorInfo
			for _, ti := range src.Tensors {
				if ti.Name != name {
					kept = append(kept, ti)
				}
			}
			f := gguf.NewFile(src.KV, kept, func(ti *gguf.TensorInfo) ([]byte, error) {
				orig, _ := src.Tensor(ti.Name)
				return src.TensorData(orig)
			})
			_, err := Load(f, runtime.Options{}, validated(t))
			if err == nil || !strings.Contains(err.Error(), "missing tensor "+name) || strings.Contains(err.Error(), "validation") {
				t.Fatalf("error %v, want only a missing tensor %s", err, name)
			}
		})
	}
}

// validated returns the environment's Vulkan options with the validation layer on.
func validated(t testing.TB) vulkan.Options {
	t.Helper()
	vo, err := vulkan.OptionsFromEnv("auto")
	if err != nil {
		t.Fatal(err)
	}
	vo.Validate = true
	return vo
}

// convertMatrices returns a virtual copy of f whose 2-D tensors are stored as typ.
func convertMatrices(t *testing.T, f *gguf.File, typ ggml.Type) *gguf.File {
	t.Helper()
	data := map[string][]byte{}
	tensors := append([]gguf.TensorInfo(nil), f.Tensors...)
	for i := range tensors {
		ti := &tensors[i]
		raw, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		if len(ti.Dims) != 2 {
			data[ti.Name] = raw
			continue
		}
		vals := make([]float32, ti.Elements())
		if err := ggml.Dequantize(ti.Type, raw, vals); err != nil {
			t.Fatal(err)
		}
		n, err := ggml.RowBytes(typ, ti.Elements())
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, n)
		if err := ggml.Quantize(typ, vals, out); err != nil {
			t.Fatal(err)
		}
		ti.Type, ti.Size, data[ti.Name] = typ, n, out
	}
	return gguf.NewFile(f.KV, tensors, func(ti *gguf.TensorInfo) ([]byte, error) { return data[ti.Name], nil })
}

// refModel loads the float64 reference forward pass of f with configuration c.
func refModel(t testing.TB, f *gguf.File, c runtime.Config) *ref.Model {
	t.Helper()
	r, err := ref.Load(f, ref.Config{
		NLayer: c.NLayer, NEmbd: c.NEmbd, NFF: c.NFF, NHead: c.NHead, NKVHead: c.NKVHead,
		HeadDim: c.HeadDim, RopeDim: c.RopeDim, NVocab: c.NVocab, RopeBase: c.RopeBase, RopeScale: c.RopeScale,
		Eps: float64(c.RMSEps), Neox: c.Arch.Rope == runtime.RopeNeox,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// abs is |x|.
func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestLinearRopeScaling adds linear RoPE scaling (factor 4) to the metadata of a model without
// rope_freqs (qwen2) and one with them (llama3), whose angle divisors the device then multiplies,
// and compares the Vulkan logits with the float64 reference under the same scaling (f32Tol);
// the scaling must move the logits, so that the key is known to be read.
func TestLinearRopeScaling(t *testing.T) {
	for _, c := range []struct{ model, arch, ref string }{
		{"micro-qwen2.f32.gguf", "qwen2", "micro-qwen2.f32.logits.txt"},
		{"micro-llama3.f32.gguf", "llama", "micro-llama3.f32.logits.txt"},
	} {
		t.Run(c.arch, func(t *testing.T) {
			src := openFile(t, c.model)
			kv := append(append([]gguf.KV(nil), src.KV...),
				gguf.KV{Key: c.arch + ".rope.scaling.type", Value: "linear"},
				gguf.KV{Key: c.arch + ".rope.scaling.factor", Value: float32(4)})
			f := gguf.NewFile(kv, src.Tensors, func(ti *gguf.TensorInfo) ([]byte, error) {
				orig, _ := src.Tensor(ti.Name)
				return src.TensorData(orig)
			})
			ids, plain := readLogits(t, c.ref)
			m := loadVKFile(t, f, runtime.Options{KVType: runtime.KVF32, ContextSize: 32})
			if m.Config().RopeScale != 4 {
				t.Fatalf("RopeScale = %g, want 4", m.Config().RopeScale)
			}
			got, err := runtime.NewSessionOn(m).PromptLogits(ids)
			if err != nil {
				t.Fatal(err)
			}
			r := refModel(t, f, m.Config())
			nv := m.Config().NVocab
			moved := 0.0
			for i, id := range ids {
				want, err := r.Forward(int(id))
				if err != nil {
					t.Fatal(err)
				}
				for j, w := range want {
					if d := abs(float64(got[i*nv+j]) - w); !(d <= f32Tol) {
						t.Fatalf("position %d token %d: |vulkan - ref| %.3g > %.3g", i, j, d, f32Tol)
					}
					moved = max(moved, abs(float64(got[i*nv+j]-plain[i][j])))
				}
			}
			if moved < 1e-2 {
				t.Fatalf("scaling moved the logits by only %.3g", moved)
			}
		})
	}
}
