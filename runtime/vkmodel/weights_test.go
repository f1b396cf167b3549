//go:build cgo

package vkmodel

import (
	"path"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/ref"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// TestWeightTypes converts micro-llama3's matrices to each weight type ggml can quantize, in
// memory, and compares the Vulkan logits with the float64 reference forward pass on the same
// (dequantized) weights. The device dequantizes on the fly, bit-exactly as ggml does, and keeps
// activations in f32, so every type is exact float32 arithmetic and is held to f32Tol; a kernel
// reading the wrong layout moves logits by O(1). Q8_0 runs again with the word-read fallback of
// SPARKRUN_VK_NO_INT8.
func TestWeightTypes(t *testing.T) {
	src := openFile(t, "micro-llama3.f32.gguf")
	ids, _ := readLogits(t, "micro-llama3.f32.logits.txt")
	ids = ids[:6]
	noInt8 := func(o *vulkan.Options) { o.NoInt8 = true }
	cases := []struct {
		typ  ggml.Type
		mods []func(*vulkan.Options)
	}{
		{ggml.TypeQ4_K, nil}, {ggml.TypeQ8_0, nil}, {ggml.TypeQ6_K, nil},
		{ggml.TypeQ8_0, []func(*vulkan.Options){noInt8}},
		{ggml.TypeF16, nil}, {ggml.TypeBF16, nil}, {ggml.TypeQ4_0, nil}, {ggml.TypeQ4_1, nil}, {ggml.TypeQ5_0, nil},
		{ggml.TypeQ5_1, nil}, {ggml.TypeQ2_K, nil}, {ggml.TypeQ3_K, nil}, {ggml.TypeQ5_K, nil},
	}
	if testing.Short() {
		cases = cases[:3]
	}
	for _, c := range cases {
		name := c.typ.String()
		if c.mods != nil {
			name += "-noint8"
		}
		t.Run(name, func(t *testing.T) {
			f := convertMatrices(t, src, c.typ)
			m := loadVKFile(t, f, runtime.Options{KVType: runtime.KVF32, ContextSize: 32}, c.mods...)
			if got := m.w.Blocks[0].Gate.Type; got != c.typ {
				t.Fatalf("ffn_gate uploaded as %v, want %v (its own kernel)", got, c.typ)
			}
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
				t.Fatalf("vulkan vs float64 reference on %s weights: max |diff| %.3g > %.3g", c.typ, worst, f32Tol)
			}
			t.Logf("max |vulkan - ref| = %.3g", worst)
		})
	}
}

// localTestdata is this package's own test data (see testdata/README.md), as a prefix for the
// helpers, which join names to package runtime's folder.
const localTestdata = "../vkmodel/testdata/"

// TestQuantFiles runs micro-llama files written by llama-quantize in k-quant and codebook types
// on the device, through those types' kernels, and compares every prompt position's logits with
// llama.cpp on the same weights dequantized to F32 at f32Tol (exact arithmetic, see
// TestWeightTypes), and with llama.cpp on the file itself and the CPU path, which both quantize
// activations, at actQuantTol (see model_test.go): first for the prompt in one pass (matmul
// kernels), then decoded one token at a time (matvec kernels) against the exact reference.
func TestQuantFiles(t *testing.T) {
	files := []string{
		"micro-llama.Q4_K", localTestdata + "micro-llama.Q6_K", localTestdata + "micro-llama.IQ4_NL",
		localTestdata + "micro-llama.Q2_K", localTestdata + "micro-llama.Q3_K", localTestdata + "micro-llama.Q5_K",
	}
	if testing.Short() {
		files = files[:3]
	}
	for _, name := range files {
		t.Run(path.Base(name), func(t *testing.T) {
			ids, exact := readLogits(t, name+".dequant.f32.logits.txt")
			_, quant := readLogits(t, name+".logits.txt")
			opts := runtime.Options{KVType: runtime.KVF32, ContextSize: 64}
			m := loadVK(t, name+".gguf", opts)
			want, err := ggml.ParseType(strings.TrimPrefix(path.Ext(name), "."))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.w.Blocks[1].Down.Type; got != want {
				t.Fatalf("ffn_down uploaded as %v, want the file's %v", got, want)
			}
			got, err := runtime.NewSessionOn(m).PromptLogits(ids)
			if err != nil {
				t.Fatal(err)
			}
			cpu, err := loadCPU(t, name+".gguf", opts).NewSession().PromptLogits(ids)
			if err != nil {
				t.Fatal(err)
			}
			nv := m.Config().NVocab
			var worst [3]float64
			for i := range ids {
				row := got[i*nv : (i+1)*nv]
				for k, c := range []struct {
					what string
					ref  []float32
					tol  float64
				}{
					{"llama.cpp on dequantized weights", exact[i], f32Tol},
					{"llama.cpp", quant[i], actQuantTol},
					{"cpu", cpu[i*nv : (i+1)*nv], actQuantTol},
				} {
					d, at := maxDiff(row, c.ref)
					if d > c.tol {
						t.Fatalf("position %d token %d: |vulkan - %s| %.3g > %.3g", i, at, c.what, d, c.tol)
					}
					worst[k] = max(worst[k], d)
				}
			}
			// The prompt went through the matmul kernels in one pass; decoding it token by token
			// runs the matvec kernels instead.
			s := runtime.NewSessionOn(m)
			for i, id := range ids {
				if err := s.Decode(id); err != nil {
					t.Fatal(err)
				}
				if d, at := maxDiff(s.Logits(), exact[i]); d > f32Tol {
					t.Fatalf("decode position %d token %d: |vulkan - llama.cpp on dequantized weights| %.3g > %.3g", i, at, d, f32Tol)
				}
			}
			t.Logf("%d positions: max |vulkan - dequant f32| %.3g, |vulkan - llama.cpp| %.3g, |vulkan - cpu| %.3g",
				len(ids), worst[0], worst[1], worst[2])
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
