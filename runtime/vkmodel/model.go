//go:build cgo

package vkmodel

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/cpu"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// logitBytes caps the logits buffer: a pass returns at most this many bytes of logits, so a
// batch that wants every row's logits (PromptLogits, perplexity) runs in chunks of
// logitBytes/(4·n_vocab) rows (at least one), keeping the buffer under lavapipe's 128 MiB binding
// limit even for 150k-token vocabularies.
const logitBytes = 64 << 20

// Model is a transformer loaded on a Vulkan device: configuration, weights in device memory and
// the device buffers of one forward pass. It implements runtime.Engine. Forward passes on one
// Model are serialized.
type Model struct {
	cfg    runtime.Config
	opts   runtime.Options
	ctx    *vulkan.Context
	w      *weights
	u      *uploader // owns the weights' device memory
	kvType ggml.Type // element type of the device KV cache
	outCap int       // most logit rows per pass
	// press, when Options.Press is set, compresses each prompt at the end of its prefill on the
	// device (see Cache); comp is its scratch and winCap the window queries each layer keeps.
	press  *vulkan.DevicePress
	comp   *vulkan.Compressor
	winCap int
	// invFreq, for expected_attention only, holds the RoPE inverse frequencies ([rope_dim/2],
	// frequency factors and scaling applied, as the CPU runtime's) its mean rotation averages.
	invFreq []float64

	mu     sync.Mutex // guards rec, act and caches, and serializes forward passes
	rec    *vulkan.Recorder
	act    activations
	caches []*Cache // made by NewCache, freed by Close
}

// activations are the device buffers of one pass over up to Options.BatchSize tokens. ids, sel
// and logits live in host-visible memory, so that writing a step's inputs and reading its logits
// need no submission of their own.
type activations struct {
	ids      *vulkan.Buffer   // [n] uint32 token ids (host-visible)
	sel      *vulkan.Buffer   // [outCap] uint32 rows whose logits are wanted (host-visible)
	logits   *vulkan.Buffer   // [outCap][n_vocab] f32 (host-visible)
	x        *vulkan.Buffer   // [n][dim] residual stream
	xn       *vulkan.Buffer   // [n][dim] normalized input of a sublayer
	h        *vulkan.Buffer   // [n][dim] output of a sublayer before the residual add
	q, qn    *vulkan.Buffer   // [n][n_head*head_dim]: projection, then its per-head norm (qwen3)
	k, kn    *vulkan.Buffer   // [n][n_kv_head*head_dim]: likewise
	v        *vulkan.Buffer   // [n][n_kv_head*head_dim]
	att      *vulkan.Buffer   // [n][n_head*head_dim] attention output before Wo
	gate, up *vulkan.Buffer   // [n][n_ff]
	out      *vulkan.Buffer   // [outCap][dim] final states of the wanted rows
	outN     *vulkan.Buffer   // [outCap][dim] the same rows normalized
	all      []*vulkan.Buffer // every buffer above, once (qn and kn alias q and k without qk norm), for Close
}

// Open loads f on the Vulkan device vo selects, as an Engine (see Load).
func Open(f *gguf.File, opts runtime.Options, vo vulkan.Options) (Engine, error) {
	return Load(f, opts, vo)
}

// Load opens the Vulkan device vo selects and uploads the model in f to it: every tensor the CPU
// runtime binds, weights in their own type (every type the CPU multiplies has a shader), after
// checking that weights, KV cache and activations fit the device's memory. f may be closed once Load returns. opts.Threads is unused. With opts.Press,
// caches compress each prompt on the device at the end of its prefill (see Cache); the presses
// the device runs are vulkan.DevicePressNames (every SparK mode), others are an error naming
// them.
func Load(f *gguf.File, opts runtime.Options, vo vulkan.Options) (*Model, error) {
	cfg, err := runtime.ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize <= 0 {
		opts.ContextSize = min(cfg.ContextLength, runtime.DefaultContext)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	m := &Model{cfg: cfg, opts: opts, kvType: ggml.TypeF16}
	if opts.KVType == runtime.KVF32 {
		m.kvType = ggml.TypeF32
	}
	m.outCap = min(opts.BatchSize, max(1, logitBytes/(4*cfg.NVocab)))
	if opts.Press != nil && opts.Press.Name != "none" {
		o := opts.Press.Opts
		// The press stores its numbers in the KV type, as the CPU press cache does.
		o.DType = press.F16
		if m.kvType == ggml.TypeF32 {
			o.DType = press.F32
		}
		if m.press, err = vulkan.NewDevicePress(opts.Press.Name, o); err != nil {
			return nil, fmt.Errorf("vkmodel: %w", err)
		}
		if opts.Press.Name == "expected_attention" && cfg.RopeDim != cfg.HeadDim {
			// The press's rotation average assumes every channel pair rotates (spec 4.7).
			return nil, fmt.Errorf("vkmodel: press expected_attention needs full rotary embeddings; the model rotates %d of %d head dimensions", cfg.RopeDim, cfg.HeadDim)
		}
		m.winCap = m.press.Window()
	}
	if m.ctx, err = vulkan.Open(vo); err != nil {
		return nil, err
	}
	if m.press != nil {
		m.comp, err = m.ctx.NewCompressor(cfg.NLayer, opts.ContextSize, cfg.NHead, cfg.NKVHead, cfg.HeadDim, m.winCap)
		if err != nil {
			return nil, errors.Join(err, m.ctx.Close())
		}
	}
	m.u = &uploader{f: f, ctx: m.ctx}
	// Refuse a model that cannot fit before uploading any of it, naming needed and available bytes.
	if err = m.checkFit(f); err == nil {
		m.w = m.u.upload(&cfg)
		err = m.u.err
	}
	if err == nil && m.press != nil && opts.Press.Name == "expected_attention" {
		err = m.ropeFreqs(f)
	}
	if err == nil {
		err = m.allocate()
	}
	if err == nil {
		m.rec, err = m.ctx.NewRecorder()
	}
	if err != nil {
		return nil, errors.Join(err, m.Close())
	}
	return m, nil
}

// ropeFreqs sets m.invFreq from the model's RoPE base, scaling and optional rope_freqs.weight
// divisors, as the CPU runtime computes them (cpu.RopeFreqs).
func (m *Model) ropeFreqs(f *gguf.File) error {
	n := m.cfg.RopeDim / 2
	var ff []float32
	if t, data := m.u.lookup("rope_freqs.weight", true, n); t != nil {
		ff = m.u.floats("rope_freqs.weight", t.Type, data, n)
	}
	if m.u.err != nil {
		return m.u.err
	}
	m.invFreq = cpu.RopeFreqs(m.cfg.RopeDim, m.cfg.RopeBase, m.cfg.RopeScale, ff)
	return nil
}

// allocate creates the activation buffers.
func (m *Model) allocate() error {
	c, n, a := &m.cfg, m.opts.BatchSize, &m.act
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	var err error
	buf := func(host bool, elems int) *vulkan.Buffer {
		if err != nil {
			return nil
		}
		var b *vulkan.Buffer
		if host {
			b, err = m.ctx.NewHostBuffer(4 * uint64(elems))
		} else {
			b, err = m.ctx.NewBuffer(4 * uint64(elems))
		}
		if err == nil {
			a.all = append(a.all, b)
		}
		return b
	}
	a.ids, a.sel, a.logits = buf(true, n), buf(true, m.outCap), buf(true, m.outCap*c.NVocab)
	a.x, a.xn, a.h = buf(false, n*c.NEmbd), buf(false, n*c.NEmbd), buf(false, n*c.NEmbd)
	a.q, a.k, a.v, a.att = buf(false, n*qDim), buf(false, n*kvDim), buf(false, n*kvDim), buf(false, n*qDim)
	if c.Arch.QKNorm {
		a.qn, a.kn = buf(false, n*qDim), buf(false, n*kvDim)
	} else {
		a.qn, a.kn = a.q, a.k // no per-head norm: RoPE rotates the projections in place
	}
	a.gate, a.up = buf(false, n*c.NFF), buf(false, n*c.NFF)
	a.out, a.outN = buf(false, m.outCap*c.NEmbd), buf(false, m.outCap*c.NEmbd)
	if err != nil {
		return fmt.Errorf("vkmodel: activation buffers for %d tokens: %w", n, err)
	}
	return nil
}

// Config returns the model's hyperparameters.
func (m *Model) Config() runtime.Config { return m.cfg }

// Options returns the options in effect (defaults filled in).
func (m *Model) Options() runtime.Options { return m.opts }

// Device describes the device the model runs on.
func (m *Model) Device() vulkan.DeviceInfo { return m.ctx.Info }

// Context returns the model's Vulkan context (for its submission counter and validation
// messages).
func (m *Model) Context() *vulkan.Context { return m.ctx }

// Close frees the model's device memory, its caches included, and closes the device. The error
// lists any validation messages collected over the model's life.
func (m *Model) Close() error {
	for _, c := range m.caches {
		c.Close()
	}
	if m.rec != nil {
		m.rec.Close()
	}
	for _, b := range m.act.all {
		b.Close()
	}
	if m.u != nil {
		m.u.free()
	}
	if m.comp != nil {
		m.comp.Close()
	}
	return m.ctx.Close()
}

// NewCache returns a device KV cache of Options.KVType for nSeq sequences of
// Options.ContextSize positions. Allocation failures surface as the cache's Err, which Forward
// returns.
func (m *Model) NewCache(nSeq int) runtime.KVCache {
	c := m.newCache(nSeq)
	m.mu.Lock()
	m.caches = append(m.caches, c)
	m.mu.Unlock()
	return c
}

// Forward runs the batch, which must hold tokens of one sequence at consecutive positions,
// storing their keys and values in cache (from this model's NewCache), and writes the logits of
// the entries with Logits set, in batch order, into logits ([count][n_vocab]). Each chunk of at
// most Options.BatchSize tokens (fewer when many want logits) is one submission.
func (m *Model) Forward(batch []runtime.BatchEntry, cache runtime.KVCache, logits []float32) error {
	kc, ok := cache.(*Cache)
	if !ok || kc.m != m {
		return fmt.Errorf("vkmodel: Forward needs a cache from this model's NewCache, not %T", cache)
	}
	if kc.err != nil {
		return kc.err
	}
	if err := runtime.CheckBatch(batch, cache, m.cfg.NVocab, logits); err != nil {
		return err
	}
	for i, e := range batch {
		switch {
		case e.Seq != batch[0].Seq:
			return fmt.Errorf("vkmodel: batch entry %d: sequence %d, but a Vulkan pass runs one sequence (entry 0 has %d)", i, e.Seq, batch[0].Seq)
		case e.Pos != batch[0].Pos+i:
			return fmt.Errorf("vkmodel: batch entry %d: position %d, want %d (positions must be consecutive)", i, e.Pos, batch[0].Pos+i)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(batch) > 0 {
		n, out := 0, 0
		for n < len(batch) && n < m.opts.BatchSize && (out < m.outCap || !batch[n].Logits) {
			if batch[n].Logits {
				out++
			}
			n++
		}
		if err := m.forward(batch[:n], kc, logits[:out*m.cfg.NVocab]); err != nil {
			return err
		}
		batch, logits = batch[n:], logits[out*m.cfg.NVocab:]
	}
	return nil
}

// forward records one chunk (validated by Forward) into one command buffer, submits it and reads
// back the logits of its wanted rows.
func (m *Model) forward(batch []runtime.BatchEntry, kc *Cache, logits []float32) error {
	c, a, r := &m.cfg, &m.act, m.rec
	n, pos0, seq := len(batch), batch[0].Pos, batch[0].Seq
	ids := make([]uint32, n)
	var sel []uint32
	for i, e := range batch {
		ids[i] = uint32(e.Token)
		if e.Logits {
			sel = append(sel, uint32(i))
		}
	}
	if err := a.ids.WriteU32(0, ids); err != nil {
		return err
	}
	if len(sel) > 0 {
		if err := a.sel.WriteU32(0, sel); err != nil {
			return err
		}
	}
	st := &kc.seqs[seq]
	if pos0 == 0 && (st.mode != modePrefill || st.filled > 0) {
		if err := kc.restart(seq); err != nil {
			kc.err = err
			return err
		}
	}
	switch {
	case st.mode == modeCompressed && pos0 < st.promptLen:
		return fmt.Errorf("vkmodel: position %d is inside the compressed prompt of %d tokens, which cannot be rolled back (restart at position 0)", pos0, st.promptLen)
	case st.mode == modeCompressed && pos0-st.promptLen > st.tailLen:
		return fmt.Errorf("vkmodel: position %d after %d stored positions leaves a gap", pos0, st.promptLen+st.tailLen)
	case st.mode == modeCompressed && pos0+n-st.promptLen > st.tailCap:
		return fmt.Errorf("vkmodel: positions up to %d exceed the press cache's tail of %d after a prompt of %d", pos0+n, st.tailCap, st.promptLen)
	case st.mode == modePrefill && st.stats != nil && pos0 != st.filled:
		// The statistics are sums over the prompt's positions: each must be fed once, in order.
		return fmt.Errorf("vkmodel: press %s sums prefill statistics: position %d after %d stored positions (feed the prompt in order, or restart at position 0)", m.press.Name(), pos0, st.filled)
	}
	if err := r.Begin(); err != nil {
		return err
	}
	err := m.record(n, pos0, kc, seq, len(sel))
	if err != nil {
		// End the recording without running it, so that the recorder can begin again.
		return errors.Join(err, r.Discard())
	}
	if err := r.Submit(); err != nil {
		return err
	}
	if st.mode == modeCompressed {
		st.tailLen = pos0 + n - st.promptLen
	} else {
		st.filled = pos0 + n
	}
	if len(sel) == 0 {
		return nil
	}
	return a.logits.ReadF32(0, logits[:len(sel)*c.NVocab])
}

// record records the pass over n tokens at positions pos0.. of sequence seq of cache kc, ending
// with the logits of the nOut rows listed in act.sel.
func (m *Model) record(n, pos0 int, kc *Cache, seq, nOut int) error {
	c, a, r := &m.cfg, &m.act, m.rec
	if err := r.GetRows(m.w.Embd, a.ids.All(), a.x.All(), n); err != nil {
		return err
	}
	for l := range m.w.Blocks {
		if err := m.attention(l, n, pos0, kc, seq); err != nil {
			return fmt.Errorf("vkmodel: layer %d attention: %w", l, err)
		}
		if err := m.feedForward(&m.w.Blocks[l], n); err != nil {
			return fmt.Errorf("vkmodel: layer %d feed-forward: %w", l, err)
		}
	}
	if nOut == 0 {
		return nil
	}
	// Gather the rows whose logits are wanted, then norm and project only those.
	return first(
		func() error { return r.GatherRows(a.x.All(), n, c.NEmbd, a.sel.All(), a.out.All(), nOut) },
		func() error { return r.RMSNorm(a.out.All(), m.w.OutNorm.All(), a.outN.All(), nOut, c.NEmbd, c.RMSEps) },
		func() error { return r.MatVec(m.w.Output, a.outN.All(), a.logits.All(), nOut) },
	)
}

// attention records x += Wo · Attend(rope(qnorm(Wq·xn + bq)), rope(knorm(Wk·xn + bk)),
// Wv·xn + bv), xn = norm(x), storing the keys and values of the n tokens at positions pos0.. in
// layer l of sequence seq of kc: its dense caches ([n_kv_head][ctx][head_dim]), keeping the
// queries in the window ring (and the statistics of ObservedAttention or ExpectedAttention)
// while a press sequence is in prefill, or its tail when the prompt is compressed.
func (m *Model) attention(l, n, pos0 int, kc *Cache, seq int) error {
	c, a, r, bw := &m.cfg, &m.act, m.rec, &m.w.Blocks[l]
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	ops := []func() error{
		func() error { return r.RMSNorm(a.x.All(), bw.AttnNorm.All(), a.xn.All(), n, c.NEmbd, c.RMSEps) },
		func() error { return r.MatVec(bw.Wq, a.xn.All(), a.q.All(), n) },
		func() error { return r.MatVec(bw.Wk, a.xn.All(), a.k.All(), n) },
		func() error { return r.MatVec(bw.Wv, a.xn.All(), a.v.All(), n) },
	}
	for _, b := range [...]struct {
		y, bias *vulkan.Buffer
		width   int
	}{{a.q, bw.Bq, qDim}, {a.k, bw.Bk, kvDim}, {a.v, bw.Bv, kvDim}} {
		if b.bias != nil {
			ops = append(ops, func() error { return r.AddRows(b.y.All(), b.bias.All(), b.y.All(), n, b.width) })
		}
	}
	if bw.QNorm != nil {
		// Per-head norm: rows of head_dim.
		ops = append(ops,
			func() error { return r.RMSNorm(a.q.All(), bw.QNorm.All(), a.qn.All(), n*c.NHead, c.HeadDim, c.RMSEps) },
			func() error {
				return r.RMSNorm(a.k.All(), bw.KNorm.All(), a.kn.All(), n*c.NKVHead, c.HeadDim, c.RMSEps)
			})
	}
	var ff vulkan.Span
	if m.w.ropeFF != nil {
		ff = m.w.ropeFF.All()
	}
	rope := vulkan.RoPE{HeadDim: c.HeadDim, NRot: c.RopeDim, Rows: n, Pos0: pos0, Base: float32(c.RopeBase),
		NEOX: c.Arch.Rope == runtime.RopeNeox}
	ropeQ, ropeK := rope, rope
	ropeQ.NHeads, ropeK.NHeads = c.NHead, c.NKVHead
	st := &kc.seqs[seq]
	stats := st.mode == modePrefill && st.stats != nil
	expected := stats && m.press.Name() == "expected_attention"
	if expected {
		// ExpectedAttention counts the pre-RoPE queries (after any per-head norm, spec 4.7).
		ops = append(ops, func() error { return r.AccumulateExpected(st.stats[l], a.qn.All(), n, pos0) })
	}
	ops = append(ops,
		func() error { return r.RoPE(a.qn.All(), ff, ropeQ) },
		func() error { return r.RoPE(a.kn.All(), ff, ropeK) },
	)
	if st.mode == modeCompressed {
		ops = append(ops, m.attendCompressed(l, n, pos0, st)...)
	} else {
		kb, vb := kc.k[seq][l], kc.v[seq][l]
		store := vulkan.KVStore{NKV: c.NKVHead, HeadDim: c.HeadDim, TMax: m.opts.ContextSize, Pos: pos0, Tokens: n, KV: m.kvType}
		att := vulkan.Attention{NHeads: c.NHead, NKV: c.NKVHead, HeadDim: c.HeadDim, T: pos0 + n, TMax: m.opts.ContextSize,
			Queries: n, Scale: m.attnScale(), KV: m.kvType}
		ops = append(ops,
			func() error { return r.KVStore(a.kn.All(), kb.All(), store) },
			func() error { return r.KVStore(a.v.All(), vb.All(), store) },
			func() error { return r.Attend(a.qn.All(), kb.All(), vb.All(), a.att.All(), att) },
		)
		if st.mode == modePrefill && m.press != nil {
			ops = append(ops, func() error {
				return r.KeepWindow(a.qn.All(), st.win[l].All(), n, c.NHead*c.HeadDim, pos0, m.winCap)
			})
		}
		if stats && !expected {
			// ObservedAttention: the chunk's attention probabilities, from the stored keys.
			ops = append(ops, func() error { return r.AccumulateObserved(st.stats[l], a.qn.All(), kb.All(), m.kvType, n, pos0) })
		}
	}
	ops = append(ops,
		func() error { return r.MatVec(bw.Wo, a.att.All(), a.h.All(), n) },
		func() error { return r.Add(a.h.All(), a.x.All(), a.x.All(), n*c.NEmbd) },
	)
	return first(ops...)
}

// attendCompressed returns the ops of a compressed sequence's attention in layer l: the n new
// keys and values go to the tail (tail index = position - prompt length, spec 2.3), then each
// query row attends over the compressed prompt plus the tail up to its own position, which
// keeps a multi-token batch causal.
func (m *Model) attendCompressed(l, n, pos0 int, st *seqState) []func() error {
	c, a, r := &m.cfg, &m.act, m.rec
	qDim := c.NHead * c.HeadDim
	half := uint64(c.NKVHead*st.tailCap*c.HeadDim) * uint64(m.kvType.TypeSize())
	tb := st.tails[l]
	tail := vulkan.DenseTail{K: vulkan.Span{Buf: tb, Off: 0, Len: half}, V: vulkan.Span{Buf: tb, Off: st.tailV, Len: half},
		Cap: st.tailCap, KV: m.kvType}
	store := vulkan.KVStore{NKV: c.NKVHead, HeadDim: c.HeadDim, TMax: st.tailCap, Pos: pos0 - st.promptLen, Tokens: n, KV: m.kvType}
	ops := []func() error{
		func() error { return r.KVStore(a.kn.All(), tail.K, store) },
		func() error { return r.KVStore(a.v.All(), tail.V, store) },
	}
	for i := range n {
		ops = append(ops, func() error {
			t := tail
			t.Len = pos0 - st.promptLen + i + 1
			return r.AttendCompressed(a.qn.F32(i*qDim, qDim), st.layers[l], t, a.att.F32(i*qDim, qDim), c.NHead)
		})
	}
	return ops
}

// feedForward records the SwiGLU sublayer: x += Wdown · (silu(Wgate·xn) * Wup·xn), xn = norm(x).
func (m *Model) feedForward(bw *blockWeights, n int) error {
	c, a, r := &m.cfg, &m.act, m.rec
	return first(
		func() error { return r.RMSNorm(a.x.All(), bw.FFNNorm.All(), a.xn.All(), n, c.NEmbd, c.RMSEps) },
		func() error { return r.MatVec(bw.Gate, a.xn.All(), a.gate.All(), n) },
		func() error { return r.MatVec(bw.Up, a.xn.All(), a.up.All(), n) },
		func() error { return r.SwiGLU(a.gate.All(), a.up.All(), a.gate.All(), n*c.NFF) },
		func() error { return r.MatVec(bw.Down, a.gate.All(), a.h.All(), n) },
		func() error { return r.Add(a.h.All(), a.x.All(), a.x.All(), n*c.NEmbd) },
	)
}

// attnScale is the attention logit scale, 1/sqrt(head_dim).
func (m *Model) attnScale() float32 { return float32(1 / math.Sqrt(float64(m.cfg.HeadDim))) }

// first runs ops in order and returns the first error.
func first(ops ...func() error) error {
	for _, op := range ops {
		if err := op(); err != nil {
			return err
		}
	}
	return nil
}
