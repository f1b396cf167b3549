//go:build cgo

package vkmodel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// planned sums the unrounded bytes of plan.
func planned(plan []vulkan.Alloc) uint64 {
	var n uint64
	for _, a := range plan {
		n += a.Bytes * uint64(a.Count)
	}
	return n
}

// buffersBytes sums the sizes of bufs.
func buffersBytes(bufs ...*vulkan.Buffer) uint64 {
	var n uint64
	for _, b := range bufs {
		n += b.Size()
	}
	return n
}

// TestFitPlan checks the fit check's plan against what Load and NewCache actually allocate, on a
// model with k-quant, f32 and tied weights (qwen3 Q4_K_M, with per-head norms) and on one with
// f32 weights, an output matrix and rope_freqs (llama3), for both KV types, and with presses
// (window rings; the statistics of ObservedAttention and ExpectedAttention).
func TestFitPlan(t *testing.T) {
	for _, c := range []struct {
		model string
		kv    runtime.KVType
		press string
	}{
		{"micro-qwen3.Q4_K_M.gguf", runtime.KVF16, ""}, {"micro-llama3.f32.gguf", runtime.KVF32, ""},
		{"micro-qwen3.Q4_K_M.gguf", runtime.KVF16, "spark"},
		{"micro-llama3.f32.gguf", runtime.KVF32, "observed_attention"},
		{"micro-llama3.f32.gguf", runtime.KVF16, "expected_attention"},
	} {
		t.Run(c.model+"/"+c.press, func(t *testing.T) {
			opts := runtime.Options{KVType: c.kv, ContextSize: 48, BatchSize: 24}
			if c.press != "" {
				opts.Press = &runtime.PressConfig{Name: c.press}
			}
			m := loadVK(t, c.model, opts)
			w, kv, act, err := m.fitPlan(openFile(t, c.model))
			if err != nil {
				t.Fatal(err)
			}
			var up uint64
			for _, mat := range m.u.mats {
				up += mat.Bytes()
			}
			up += buffersBytes(m.u.bufs...)
			if got := planned(w); got != up || up == 0 {
				t.Errorf("weights: planned %d bytes, uploaded %d", got, up)
			}
			if got, want := planned(act), buffersBytes(m.act.all...); got != want {
				t.Errorf("activations: planned %d bytes, allocated %d", got, want)
			}
			cache := m.NewCache(1).(*Cache)
			if err := cache.Err(); err != nil {
				t.Fatal(err)
			}
			want := buffersBytes(append(append(cache.k[0], cache.v[0]...), cache.seqs[0].win...)...)
			for _, st := range cache.seqs[0].stats {
				want += st.Size()
			}
			stats := c.press == "observed_attention" || c.press == "expected_attention"
			if (c.press != "") != (len(cache.seqs[0].win) > 0) || stats != (cache.seqs[0].stats != nil) {
				t.Fatalf("press %q: %d window rings, %d statistics", c.press, len(cache.seqs[0].win), len(cache.seqs[0].stats))
			}
			if got := planned(kv); got != want {
				t.Errorf("KV cache: planned %d bytes, allocated %d", got, want)
			}
		})
	}
}

// TestFitRefused lowers the device memory the fit check allows (vulkan.Options.MaxDeviceBytes)
// to just below and exactly at what the model needs: below, checkFit fails with an error giving
// the needed and available bytes; at the limit it passes.
func TestFitRefused(t *testing.T) {
	const model = "micro-qwen3.Q4_K_M.gguf"
	m := loadVK(t, model, runtime.Options{ContextSize: 64})
	w, kv, act, err := m.fitPlan(openFile(t, model))
	if err != nil {
		t.Fatal(err)
	}
	need := vulkan.PlanBytes(w) + vulkan.PlanBytes(kv) + vulkan.PlanBytes(act)
	for _, limit := range []uint64{need - 16, need} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			vo := validated(t)
			vo.MaxDeviceBytes = limit
			ctx, err := vulkan.Open(vo)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := ctx.Close(); err != nil {
					t.Error(err)
				}
			})
			small := &Model{cfg: m.cfg, opts: m.opts, kvType: m.kvType, outCap: m.outCap, ctx: ctx}
			err = small.checkFit(openFile(t, model))
			if limit >= need {
				if err != nil {
					t.Fatalf("a model of %d bytes in %d: %v", need, limit, err)
				}
				return
			}
			if !errors.Is(err, vulkan.ErrNoFit) || !strings.Contains(err.Error(), fmt.Sprintf("needs %d bytes", need)) ||
				!strings.Contains(err.Error(), fmt.Sprintf("has %d bytes", limit)) {
				t.Fatalf("error %v, want one stating %d bytes needed and %d available", err, need, limit)
			}
			t.Log(err)
		})
	}
}
