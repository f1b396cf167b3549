//go:build cgo

package vkmodel

import (
	"fmt"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// The up-front fit check: before anything is uploaded, Load sums the device memory the model will
// take (weights as uploaded, the KV cache of one sequence over the whole context, and the
// activation buffers of one pass) and compares it with the device's memory heap and its
// single-allocation limit (vulkan.Context.CheckFit), so that a model that cannot fit fails at once
// with the numbers instead of part-way through the upload with a driver error.

// fitPlan lists the device allocations of the model in f on m's device: a dry run of the upload
// (the same code path, so every tensor is counted in its uploaded type and chunking) plus
// activations and the KV cache of one sequence.
func (m *Model) fitPlan(f *gguf.File) (weights, cache, act []vulkan.Alloc, err error) {
	u := &uploader{f: f, ctx: m.ctx, plan: &weights}
	u.upload(&m.cfg)
	if u.err != nil {
		return nil, nil, nil, u.err
	}
	return weights, m.cacheAllocs(1), m.activationAllocs(), nil
}

// checkFit fails with the needed and available bytes when the model in f does not fit on m's
// device (see fitPlan).
func (m *Model) checkFit(f *gguf.File) error {
	w, kv, act, err := m.fitPlan(f)
	if err != nil {
		return err
	}
	plan := append(append(append([]vulkan.Alloc(nil), w...), kv...), act...)
	if err := m.ctx.CheckFit(plan); err != nil {
		return fmt.Errorf("vkmodel: model does not fit: %w (weights %d bytes, KV cache of %d positions in %v %d bytes, activations for %d tokens %d bytes; try a smaller --ctx or a smaller quantization)",
			err, vulkan.PlanBytes(w), m.opts.ContextSize, m.kvType, vulkan.PlanBytes(kv), m.opts.BatchSize, vulkan.PlanBytes(act))
	}
	return nil
}

// cacheAllocs returns the buffers of a KV cache of nSeq sequences (newCache): keys and values of
// [n_kv_head][ctx][head_dim] per sequence and layer and, with a press, each layer's window ring
// and prefill statistics. The small host-visible rows that Store and Attend make on first use
// are left out, and so are the compressed layers and tails of EndPrefill, which replace the
// dense prompt layer by layer (Cache.compress) and take less than it.
func (m *Model) cacheAllocs(nSeq int) []vulkan.Alloc {
	c := &m.cfg
	plan := []vulkan.Alloc{{
		What:  fmt.Sprintf("KV cache layer buffer (%d positions)", m.opts.ContextSize),
		Bytes: uint64(c.NKVHead*m.opts.ContextSize*c.HeadDim) * uint64(m.kvType.TypeSize()),
		Count: 2 * c.NLayer * nSeq,
	}}
	if m.press != nil {
		plan = append(plan, vulkan.Alloc{What: "press window ring", Bytes: m.winBytes(), Count: c.NLayer * nSeq})
		if n := vulkan.PrefillStatsBytes(m.press, m.statsShape(m.opts.ContextSize)); n > 0 {
			plan = append(plan, vulkan.Alloc{What: "press " + m.press.Name() + " statistics", Bytes: n, Count: c.NLayer * nSeq})
		}
	}
	return plan
}

// winBytes returns the bytes of one layer's press window ring, [winCap][n_head*head_dim] f32.
func (m *Model) winBytes() uint64 { return 4 * uint64(m.winCap*m.cfg.NHead*m.cfg.HeadDim) }

// statsShape returns the shape of one layer's prefill statistics in a cache of ctx positions.
func (m *Model) statsShape(ctx int) vulkan.StatsShape {
	c := &m.cfg
	return vulkan.StatsShape{NHeads: c.NHead, NKV: c.NKVHead, HeadDim: c.HeadDim, TMax: ctx,
		MaxRows: m.opts.BatchSize, InvFreq: m.invFreq, NeoX: c.Arch.Rope == runtime.RopeNeox}
}

// activationAllocs returns the buffers allocate makes for one pass over Options.BatchSize tokens
// (keep the two in step). The host-visible ones (ids, sel, logits) are counted as well: on
// unified-memory devices they share the heap, and elsewhere they are small.
func (m *Model) activationAllocs() []vulkan.Alloc {
	c, n := &m.cfg, m.opts.BatchSize
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	f32 := func(what string, elems, count int) vulkan.Alloc {
		return vulkan.Alloc{What: "activation buffer " + what, Bytes: 4 * uint64(elems), Count: count}
	}
	qkv := 1 // without per-head norms qn and kn alias q and k
	if c.Arch.QKNorm {
		qkv = 2
	}
	return []vulkan.Alloc{
		f32("ids", n, 1), f32("sel", m.outCap, 1), f32("logits", m.outCap*c.NVocab, 1),
		f32("x, xn, h", n*c.NEmbd, 3),
		f32("q, att", n*qDim, 2), f32("k, v", n*kvDim, 2), f32("qn", n*qDim, qkv-1), f32("kn", n*kvDim, qkv-1),
		f32("gate, up", n*c.NFF, 2),
		f32("out, outN", m.outCap*c.NEmbd, 2),
	}
}
