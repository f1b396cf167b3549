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
type Cache struct {
	m         *Model
	nSeq, ctx int
	k, v      [][]*vulkan.Buffer // [seq][layer]
	err       error              // the first failure: allocation, or a Store or Attend
	rows      [3]*vulkan.Buffer  // host-visible [n_head*head_dim] rows for Store and Attend: in, q, out; made on first use
}

// newCache allocates the device cache; a failure is kept as the cache's Err.
func (m *Model) newCache(nSeq int) *Cache {
	c := &Cache{m: m, nSeq: nSeq, ctx: m.opts.ContextSize}
	if nSeq < 1 {
		c.err = fmt.Errorf("vkmodel: a cache of %d sequences", nSeq)
		return c
	}
	elem := uint64(m.kvType.TypeSize())
	bytes := uint64(m.cfg.NKVHead*c.ctx*m.cfg.HeadDim) * elem
	for s := 0; s < nSeq && c.err == nil; s++ {
		c.k, c.v = append(c.k, nil), append(c.v, nil)
		for l := 0; l < m.cfg.NLayer && c.err == nil; l++ {
			for _, dst := range []*[]*vulkan.Buffer{&c.k[s], &c.v[s]} {
				b, err := m.ctx.NewBuffer(bytes)
				if err != nil {
					c.err = fmt.Errorf("vkmodel: KV cache of %d sequences x %d layers x 2 x %d bytes (%d positions, %v): %w",
						nSeq, m.cfg.NLayer, bytes, c.ctx, m.kvType, err)
					break
				}
				*dst = append(*dst, b)
			}
		}
	}
	return c
}

// Seqs returns the number of sequences.
func (c *Cache) Seqs() int { return c.nSeq }

// Context returns the number of positions per sequence.
func (c *Cache) Context() int { return c.ctx }

// Err returns the first failure of the cache: its allocation, or a Store or Attend (which have
// no error result). runtime.Model.Forward and Model.Forward return it.
func (c *Cache) Err() error { return c.err }

// Close frees the cache's device memory (Model.Close does it for every cache left open). The
// cache must not be used afterwards.
func (c *Cache) Close() {
	for s := range c.k {
		for _, b := range append(c.k[s], c.v[s]...) {
			b.Close()
		}
	}
	for _, b := range c.rows {
		if b != nil {
			b.Close()
		}
	}
	c.k, c.v, c.rows = nil, nil, [3]*vulkan.Buffer{}
	if c.err == nil {
		c.err = errors.New("vkmodel: KV cache used after Close")
	}
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
func (c *Cache) hostOp(layer int, e runtime.BatchEntry, op func(r *vulkan.Recorder, in, q, out *vulkan.Buffer) error, read func(out *vulkan.Buffer) error) {
	if c.err != nil {
		return
	}
	switch {
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
