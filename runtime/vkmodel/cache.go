//go:build cgo

package vkmodel

import (
	"errors"
	"fmt"

	"github.com/sparkrun/sparkrun/runtime"
	"github.com/sparkrun/sparkrun/runtime/vulkan"
)

// Cache is a KV cache in device memory: for each sequence and layer, keys and values of
// [n_kv_head][ctx][head_dim] in the model's KV type, the layout vulkan.Recorder's KVStore and
// Attend use. Model.Forward records its stores and attention into the pass; Store and Attend
// serve the runtime.KVCache interface from host slices (see the package doc).
//
// With a press (runtime.Options.Press) the cache is a press cache like runtime.PressCache, all
// on the device: while a sequence's prompt is prefilled, its keys and values are dense and each
// layer keeps its last queries in a ring (and, for ObservedAttention and ExpectedAttention, its
// prefill statistics, vulkan.PrefillStats); EndPrefill compresses every layer on the device
// (vulkan.Recorder.CompressLayer, one submission per layer), frees the dense prompt and allocates
// a dense tail per layer for the positions left in the context; decode attends over the compressed
// layer plus the tail (AttendCompressed). Positions continue from the uncompressed prompt length
// (spec 2.3). Storing position 0 restarts a sequence; positions inside a compressed prompt
// cannot be rewritten.
type Cache struct {
	m         *Model
	nSeq, ctx int
	k, v      [][]*vulkan.Buffer // [seq][layer] dense caches; nil while a sequence is compressed
	seqs      []seqState         // [seq]
	err       error              // the first failure: allocation, or a Store or Attend
	rows      [3]*vulkan.Buffer  // host-visible [n_head*head_dim] rows for Store and Attend: in, q, out; made on first use
}

// seqMode is the state of one sequence of a press cache.
type seqMode int

const (
	// modePrefill: the prompt is being fed, dense, with its window queries kept.
	modePrefill seqMode = iota
	// modeDense: the prefill ended and the press changed nothing (see vulkan.DevicePress.Changes):
	// the sequence goes on dense.
	modeDense
	// modeCompressed: the prompt lives in compressed layers, later positions in dense tails.
	modeCompressed
)

// seqState is one sequence's press state (unused without a press).
type seqState struct {
	mode   seqMode
	filled int              // positions stored (prefill and dense modes)
	win    []*vulkan.Buffer // [layer] window rings [winCap][n_head*head_dim] f32 (prefill)
	// stats holds, for ObservedAttention and ExpectedAttention only, each layer's prefill
	// statistics (vulkan.PrefillStats: column sums, or query sums about a shift).
	stats []*vulkan.PrefillStats // [layer] (prefill)
	// In modeCompressed: the compressed prompt, its uncompressed length and the tails, one
	// buffer per layer holding K ([n_kv_head][tailCap][head_dim]) at offset 0 and V at tailV.
	layers    []*vulkan.CompressedLayer // [layer]
	promptLen int
	tails     []*vulkan.Buffer // [layer]
	tailCap   int
	tailV     uint64 // byte offset of V in a tail buffer
	tailLen   int    // positions stored in the tails
}

// newCache allocates the device cache; a failure is kept as the cache's Err.
func (m *Model) newCache(nSeq int) *Cache {
	c := &Cache{m: m, nSeq: nSeq, ctx: m.opts.ContextSize}
	if nSeq < 1 {
		c.err = fmt.Errorf("vkmodel: a cache of %d sequences", nSeq)
		return c
	}
	c.k, c.v, c.seqs = make([][]*vulkan.Buffer, nSeq), make([][]*vulkan.Buffer, nSeq), make([]seqState, nSeq)
	for s := 0; s < nSeq && c.err == nil; s++ {
		c.err = c.allocDense(s)
	}
	return c
}

// allocDense allocates sequence s's dense cache and, with a press, its window rings and any
// prefill statistics the press scores with.
func (c *Cache) allocDense(s int) error {
	m := c.m
	elem := uint64(m.kvType.TypeSize())
	bytes := uint64(m.cfg.NKVHead*c.ctx*m.cfg.HeadDim) * elem
	alloc := func(dst *[]*vulkan.Buffer, n uint64, what string) error {
		b, err := m.ctx.NewBuffer(n)
		if err != nil {
			return fmt.Errorf("vkmodel: %s of %d sequences x %d layers x %d bytes (%d positions, %v): %w",
				what, c.nSeq, m.cfg.NLayer, n, c.ctx, m.kvType, err)
		}
		*dst = append(*dst, b)
		return nil
	}
	for l := 0; l < m.cfg.NLayer; l++ {
		for _, dst := range []*[]*vulkan.Buffer{&c.k[s], &c.v[s]} {
			if err := alloc(dst, bytes, "KV cache"); err != nil {
				return err
			}
		}
		if m.press != nil {
			if err := alloc(&c.seqs[s].win, m.winBytes(), "press window ring"); err != nil {
				return err
			}
		}
		if m.press != nil && m.press.NeedsStats() {
			st, err := m.ctx.NewPrefillStats(m.press, m.statsShape(c.ctx))
			if err != nil {
				return fmt.Errorf("vkmodel: press %s statistics of %d sequences x %d layers: %w", m.press.Name(), c.nSeq, m.cfg.NLayer, err)
			}
			c.seqs[s].stats = append(c.seqs[s].stats, st)
		}
	}
	return nil
}

// closeStats frees prefill statistics.
func closeStats(stats []*vulkan.PrefillStats) {
	for _, st := range stats {
		if st != nil {
			st.Close()
		}
	}
}

// Seqs returns the number of sequences.
func (c *Cache) Seqs() int { return c.nSeq }

// Context returns the number of positions per sequence.
func (c *Cache) Context() int { return c.ctx }

// Err returns the first failure of the cache: its allocation, or a Store or Attend (which have
// no error result). runtime.Model.Forward and Model.Forward return it.
func (c *Cache) Err() error { return c.err }

// closeAll frees bufs.
func closeAll(bufs []*vulkan.Buffer) {
	for _, b := range bufs {
		if b != nil { // freed early (compress)
			b.Close()
		}
	}
}

// freeSeq frees everything sequence s holds on the device.
func (c *Cache) freeSeq(s int) {
	st := &c.seqs[s]
	closeAll(c.k[s])
	closeAll(c.v[s])
	closeAll(st.win)
	closeStats(st.stats)
	closeAll(st.tails)
	for _, l := range st.layers {
		l.Close()
	}
	c.k[s], c.v[s] = nil, nil
	*st = seqState{}
}

// Close frees the cache's device memory (Model.Close does it for every cache left open). The
// cache must not be used afterwards.
func (c *Cache) Close() {
	for s := range c.seqs {
		c.freeSeq(s)
	}
	for _, b := range c.rows {
		if b != nil {
			b.Close()
		}
	}
	c.k, c.v, c.seqs, c.rows = nil, nil, nil, [3]*vulkan.Buffer{}
	if c.err == nil {
		c.err = errors.New("vkmodel: KV cache used after Close")
	}
}

// restart empties sequence s for a new prompt at position 0: a compressed sequence gets its
// dense cache back.
func (c *Cache) restart(s int) error {
	if c.seqs[s].mode == modeCompressed {
		c.freeSeq(s)
		return c.allocDense(s)
	}
	c.seqs[s].mode, c.seqs[s].filled = modePrefill, 0
	return nil
}

// EndPrefill compresses sequence seq's prompt on the device, every layer with its own window
// queries (see compress), then frees the dense prompt and allocates the tails. It does
// nothing without a press or when the sequence is already past prefill; when the press changes
// no layer, the sequence stays dense. The session calls it after Prefill.
func (c *Cache) EndPrefill(seq int) error {
	if seq < 0 || seq >= c.nSeq {
		return fmt.Errorf("vkmodel: end prefill of sequence %d, the cache holds %d", seq, c.nSeq)
	}
	if c.err != nil {
		return c.err
	}
	m, st := c.m, &c.seqs[seq]
	if m.press == nil || st.mode != modePrefill {
		return nil
	}
	T, cfg := st.filled, &m.cfg
	if T == 0 {
		return fmt.Errorf("vkmodel: press cache, sequence %d: end of prefill with an empty prompt", seq)
	}
	changed := false
	for l := range cfg.NLayer {
		ch, err := m.press.Changes(T, l, cfg.NLayer, cfg.HeadDim)
		if err != nil {
			return err
		}
		changed = changed || ch
	}
	if !changed {
		st.mode = modeDense
		return nil
	}
	layers, err := c.compress(seq, T)
	if err != nil {
		return c.dropPrompt(seq, err)
	}
	// The dense prompt is gone by now (compress frees each layer's as soon as it is compressed),
	// so the tails take its place: the device never holds the dense prompt, the compressed one
	// and the tails at once.
	tailCap := max(c.ctx-T, 1)
	elem := uint64(m.kvType.TypeSize())
	half := uint64(cfg.NKVHead*tailCap*cfg.HeadDim) * elem
	tailV := (half + 255) &^ 255 // V's span must start at a storage-buffer offset alignment
	*st = seqState{mode: modeCompressed, layers: layers, promptLen: T, tailCap: tailCap, tailV: tailV}
	for range cfg.NLayer {
		b, err := m.ctx.NewBuffer(tailV + half)
		if err != nil {
			return c.dropPrompt(seq, fmt.Errorf("vkmodel: press cache tails of %d positions: %w", tailCap, err))
		}
		st.tails = append(st.tails, b)
	}
	return nil
}

// dropPrompt handles a failed end of prefill, after which the sequence's prompt, partly freed,
// cannot be used: it frees all the sequence holds and gives it a new empty dense cache (the
// slot works again for a prompt from position 0), and returns err saying so. If even that
// allocation fails, the cache is unusable and keeps the error.
func (c *Cache) dropPrompt(seq int, err error) error {
	c.freeSeq(seq)
	if aerr := c.allocDense(seq); aerr != nil {
		c.err = errors.Join(err, aerr)
		return c.err
	}
	return fmt.Errorf("%w (the prompt of sequence %d was dropped; start again from position 0)", err, seq)
}

// compress runs the compression of every layer of sequence seq's T-token prompt, one submission
// per layer (a long prompt's token scores take seconds per layer on a CPU Vulkan driver, and one
// submission for all layers could outlast the fence timeout), freeing each layer's dense prompt
// once it is compressed. On an error the sequence's prompt is partly freed (see dropPrompt).
func (c *Cache) compress(seq, T int) ([]*vulkan.CompressedLayer, error) {
	m, cfg := c.m, &c.m.cfg
	m.mu.Lock()
	defer m.mu.Unlock()
	var layers []*vulkan.CompressedLayer
	fail := func(err error) ([]*vulkan.CompressedLayer, error) {
		for _, l := range layers {
			l.Close()
		}
		return nil, fmt.Errorf("vkmodel: press %s, sequence %d: %w", m.press.Name(), seq, err)
	}
	for l := range cfg.NLayer {
		if err := m.rec.Begin(); err != nil {
			return fail(err)
		}
		cl, err := m.rec.CompressLayer(m.press, vulkan.LayerInput{
			K: c.k[seq][l].All(), V: c.v[seq][l].All(), KV: m.kvType, TMax: c.ctx,
			Window: c.seqs[seq].win[l].All(), WinCap: m.winCap, Stats: statsOf(c.seqs[seq].stats, l),
			T: T, NHeads: cfg.NHead, NKV: cfg.NKVHead, HeadDim: cfg.HeadDim,
			LayerIdx: l, NLayers: cfg.NLayer, Always: true,
		}, m.comp)
		if err != nil {
			return fail(errors.Join(err, m.rec.Discard()))
		}
		layers = append(layers, cl)
		if err := m.rec.Submit(); err != nil {
			return fail(err)
		}
		// The layer's dense prompt, window ring and statistics are no longer needed: freeing
		// them now keeps the device's peak at the dense prompt plus one compressed layer.
		st := &c.seqs[seq]
		c.k[seq][l].Close()
		c.v[seq][l].Close()
		st.win[l].Close()
		c.k[seq][l], c.v[seq][l], st.win[l] = nil, nil, nil
		if st.stats != nil {
			st.stats[l].Close()
			st.stats[l] = nil
		}
	}
	return layers, nil
}

// statsOf returns layer l's statistics, or nil for a press without them.
func statsOf(stats []*vulkan.PrefillStats, l int) *vulkan.PrefillStats {
	if stats == nil {
		return nil
	}
	return stats[l]
}

// Bytes returns the device storage of sequence seq's cache, in the terms of runtime.KVBytes
// (what runtime.PressCache.Bytes reports on the CPU): Dense is what a dense cache of the
// positions held takes in the KV type, Stored the compressed prompt layers' device bytes (spec
// 3.6 layout plus its header and tile checkpoints) plus the tail positions held, Resident the
// device memory the sequence's cache occupies (dense caches, window rings and press statistics,
// compressed layers, tails at their capacity).
func (c *Cache) Bytes(seq int) (runtime.KVBytes, error) {
	if seq < 0 || seq >= c.nSeq || c.seqs == nil {
		return runtime.KVBytes{}, fmt.Errorf("vkmodel: bytes of sequence %d, the cache holds %d", seq, c.nSeq)
	}
	cfg, st := &c.m.cfg, &c.seqs[seq]
	per := 2 * cfg.NKVHead * cfg.HeadDim * c.m.kvType.TypeSize()
	b := runtime.KVBytes{Compressed: st.mode == modeCompressed}
	for l := range cfg.NLayer {
		var lb runtime.LayerKVBytes
		if st.mode == modeCompressed {
			stored := int(st.layers[l].Bytes())
			lb = runtime.LayerKVBytes{Kept: st.layers[l].NTokens, Dense: (st.promptLen + st.tailLen) * per,
				Stored: stored + st.tailLen*per, Resident: stored + int(st.tails[l].Size())}
			b.Positions, b.PromptLen = st.promptLen+st.tailLen, st.promptLen
			b.PromptDense += st.promptLen * per
			b.PromptStored += stored
		} else {
			res := int(c.k[seq][l].Size() + c.v[seq][l].Size())
			if st.win != nil {
				res += int(st.win[l].Size())
			}
			if st.stats != nil {
				res += int(st.stats[l].Size())
			}
			lb = runtime.LayerKVBytes{Kept: st.filled, Dense: st.filled * per, Stored: st.filled * per, Resident: res}
			b.Positions, b.PromptLen = st.filled, st.filled
			b.PromptDense += st.filled * per
			b.PromptStored += st.filled * per
		}
		b.Layers = append(b.Layers, lb)
		b.Dense += lb.Dense
		b.Stored += lb.Stored
		b.Resident += lb.Resident
	}
	return b, nil
}

// Store saves the keys and values of every batch entry for one layer (k, v:
// [len(batch)][n_kv_head*head_dim], post-RoPE), one submission per entry.
func (c *Cache) Store(layer int, batch []runtime.BatchEntry, k, v []float32) {
	cfg := &c.m.cfg
	kvDim := cfg.NKVHead * cfg.HeadDim
	for i, e := range batch {
		for j, src := range [][]float32{k, v} {
			dst := c.k
			if j == 1 {
				dst = c.v
			}
			c.hostOp(layer, e, func(r *vulkan.Recorder, in, _, _ *vulkan.Buffer) error {
				if err := in.WriteF32(0, src[i*kvDim:(i+1)*kvDim]); err != nil {
					return err
				}
				return r.KVStore(in.All(), dst[e.Seq][layer].All(), vulkan.KVStore{
					NKV: cfg.NKVHead, HeadDim: cfg.HeadDim, TMax: c.ctx, Pos: e.Pos, Tokens: 1, KV: c.m.kvType})
			}, nil)
		}
	}
}

// Attend writes into out ([len(batch)][n_head*head_dim]) each entry's causal attention of q
// (same shape) over positions 0..Pos of its sequence, one submission per entry.
func (c *Cache) Attend(layer int, batch []runtime.BatchEntry, q, out []float32) {
	cfg := &c.m.cfg
	qDim := cfg.NHead * cfg.HeadDim
	for i, e := range batch {
		c.hostOp(layer, e, func(r *vulkan.Recorder, _, qb, ob *vulkan.Buffer) error {
			if err := qb.WriteF32(0, q[i*qDim:(i+1)*qDim]); err != nil {
				return err
			}
			return r.Attend(qb.All(), c.k[e.Seq][layer].All(), c.v[e.Seq][layer].All(), ob.All(), vulkan.Attention{
				NHeads: cfg.NHead, NKV: cfg.NKVHead, HeadDim: cfg.HeadDim, T: e.Pos + 1, TMax: c.ctx,
				Queries: 1, Scale: c.m.attnScale(), KV: c.m.kvType})
		}, func(ob *vulkan.Buffer) error { return ob.ReadF32(0, out[i*qDim:(i+1)*qDim]) })
	}
}

// hostOp checks entry e, records op (given the staging rows in, q and out) as one submission and
// then runs read, if set, on the out row; failures are kept in c.err, and after one nothing runs.
// A press cache refuses the host path: its window queries and compression live in Model.Forward.
func (c *Cache) hostOp(layer int, e runtime.BatchEntry, op func(r *vulkan.Recorder, in, q, out *vulkan.Buffer) error, read func(out *vulkan.Buffer) error) {
	if c.err != nil {
		return
	}
	switch {
	case c.m.press != nil:
		c.err = fmt.Errorf("vkmodel: a press cache (%s) runs through Model.Forward only, not the host Store/Attend path", c.m.press.Name())
	case e.Seq < 0 || e.Seq >= c.nSeq:
		c.err = fmt.Errorf("vkmodel: cache entry: sequence %d outside the cache's %d sequences", e.Seq, c.nSeq)
	case e.Pos < 0 || e.Pos >= c.ctx:
		c.err = fmt.Errorf("vkmodel: cache entry: position %d outside the context of %d", e.Pos, c.ctx)
	case layer < 0 || layer >= c.m.cfg.NLayer:
		c.err = fmt.Errorf("vkmodel: cache entry: layer %d outside the model's %d", layer, c.m.cfg.NLayer)
	}
	if c.err != nil {
		return
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range c.rows {
		if c.rows[i] == nil {
			if c.rows[i], c.err = m.ctx.NewHostBuffer(4 * uint64(m.cfg.NHead*m.cfg.HeadDim)); c.err != nil {
				return
			}
		}
	}
	if c.err = m.rec.Begin(); c.err != nil {
		return
	}
	if err := op(m.rec, c.rows[0], c.rows[1], c.rows[2]); err != nil {
		c.err = errors.Join(err, m.rec.Discard())
		return
	}
	if c.err = m.rec.Submit(); c.err == nil && read != nil {
		c.err = read(c.rows[2])
	}
}
