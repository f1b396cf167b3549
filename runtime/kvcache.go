package runtime

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// KVType is the element type of a dense KV cache.
type KVType int

const (
	// KVF16 stores keys and values in IEEE half precision (the default: half the memory, and
	// llama.cpp's default too).
	KVF16 KVType = iota
	// KVF32 stores them in float32 (exact arithmetic; what the reference logits were made with).
	KVF32
)

// String returns "f16" or "f32".
func (t KVType) String() string {
	if t == KVF32 {
		return "f32"
	}
	return "f16"
}

// ParseKVType parses "f16" or "f32".
func ParseKVType(s string) (KVType, error) {
	switch s {
	case "f16":
		return KVF16, nil
	case "f32":
		return KVF32, nil
	}
	return 0, fmt.Errorf("runtime: unknown KV cache type %q (want f16 or f32)", s)
}

// KVCache is the seam between the model and the keys and values it has seen. The model stores
// each layer's post-RoPE keys and values through it and asks it to attend; it never reads the
// layout. So a compressed cache (SparK records plus a dense tail, token-evicting presses) is
// another implementation of this interface, not a change to the model.
//
// A cache holds several sequences, identified by BatchEntry.Seq in [0, Seqs()), each with up
// to Context() positions.
//
// For the presses (issue 6): Attend receives the queries exactly as attention uses them
// (post-RoPE, after Qwen3's q norm), so a compressing cache can keep each layer's last-window
// queries while the prompt is prefilled with full keys, then compress when told that prefill
// has ended (an optional interface the session will discover by type assertion), and serve
// later Attend calls from its compressed records plus a dense tail.
type KVCache interface {
	// Seqs returns the number of sequences the cache holds.
	Seqs() int
	// Context returns the number of positions per sequence.
	Context() int
	// Store saves the keys and values of every batch entry for one layer.
	// k, v: [len(batch)][n_kv_head*head_dim], post-RoPE.
	Store(layer int, batch []BatchEntry, k, v []float32)
	// Attend writes into out ([len(batch)][n_head*head_dim]) the causal attention of each
	// entry's queries q ([len(batch)][n_head*head_dim]) over positions 0..Pos of its own
	// sequence, which Store has already filled for this layer.
	Attend(layer int, batch []BatchEntry, q, out []float32)
}

// denseCache is the plain KV cache: every position of every sequence in f16 or f32.
type denseCache struct {
	typ                           KVType
	nSeq, nLayer, nHead, nKV, ctx int
	headDim                       int
	scale                         float32   // 1/sqrt(head_dim)
	k32, v32                      []float32 // [seq][layer][kv_head][ctx][head_dim] when typ == KVF32
	k16, v16                      []uint16  // same layout when typ == KVF16
	pool                          *cpu.Pool
	job                           attendJob        // the Attend call in flight
	run                           func(lo, hi int) // d.attendRange, bound once so Attend does not allocate
	single                        []int            // batch indices taking the per-head path
	run1                          []int            // batch indices of one sequence
	pa                            promptAttention  // the matrix-product path for prompt chunks
}

// attendJob holds the arguments of the Attend call being run by the pool.
type attendJob struct {
	layer int
	batch []BatchEntry
	q     []float32
	out   []float32
}

// newDenseCache allocates a cache for nSeq sequences of ctx positions.
func newDenseCache(c *Config, typ KVType, nSeq, ctx int, pool *cpu.Pool) *denseCache {
	d := &denseCache{
		typ: typ, nSeq: nSeq, nLayer: c.NLayer, nHead: c.NHead, nKV: c.NKVHead, ctx: ctx,
		headDim: c.HeadDim, scale: float32(1 / math.Sqrt(float64(c.HeadDim))), pool: pool,
	}
	n := nSeq * c.NLayer * c.NKVHead * ctx * c.HeadDim
	if typ == KVF32 {
		d.k32, d.v32 = make([]float32, n), make([]float32, n)
	} else {
		d.k16, d.v16 = make([]uint16, n), make([]uint16, n)
	}
	d.run = d.attendRange
	d.pa = newPromptAttention(c, pool, d.scale)
	return d
}

func (d *denseCache) Seqs() int    { return d.nSeq }
func (d *denseCache) Context() int { return d.ctx }

// offset is the index of (seq, layer, kvHead, pos, 0) in the storage.
func (d *denseCache) offset(seq, layer, kvHead, pos int) int {
	return (((seq*d.nLayer+layer)*d.nKV+kvHead)*d.ctx + pos) * d.headDim
}

func (d *denseCache) Store(layer int, batch []BatchEntry, k, v []float32) {
	hd := d.headDim
	for i, e := range batch {
		for h := 0; h < d.nKV; h++ {
			src := (i*d.nKV + h) * hd
			dst := d.offset(e.Seq, layer, h, e.Pos)
			if d.typ == KVF32 {
				copy(d.k32[dst:dst+hd], k[src:src+hd])
				copy(d.v32[dst:dst+hd], v[src:src+hd])
			} else {
				cpu.ToF16(d.k16[dst:dst+hd], k[src:src+hd])
				cpu.ToF16(d.v16[dst:dst+hd], v[src:src+hd])
			}
		}
	}
}

// Attend sends each sequence with at least promptRun entries in the batch (a prompt chunk)
// through matrix products (promptAttention) and the other entries (decode steps) through the
// per-head kernels, in parallel over (entry, kv head).
func (d *denseCache) Attend(layer int, batch []BatchEntry, q, out []float32) {
	d.single = d.single[:0]
	for seq := 0; seq < d.nSeq; seq++ {
		d.run1 = d.run1[:0]
		for i, e := range batch {
			if e.Seq == seq {
				d.run1 = append(d.run1, i)
			}
		}
		if len(d.run1) >= promptRun {
			for kvh := 0; kvh < d.nKV; kvh++ {
				base := d.offset(seq, layer, kvh, 0)
				d.pa.attend(kvh, batch, d.run1, q, out, func(n int) denseRows {
					end := base + n*d.headDim
					if d.typ == KVF32 {
						return denseRows{k32: d.k32[base:end], v32: d.v32[base:end]}
					}
					return denseRows{k16: d.k16[base:end], v16: d.v16[base:end]}
				})
			}
		} else {
			d.single = append(d.single, d.run1...)
		}
	}
	d.job = attendJob{layer: layer, batch: batch, q: q, out: out}
	d.pool.Parallel(len(d.single)*d.nKV, d.run)
	d.job = attendJob{}
}

// attendRange computes the (entry, kv head) pairs lo..hi-1 of the current job; pair i is entry
// d.single[i/n_kv_head], kv head i%n_kv_head, with the group of query heads that share it.
func (d *denseCache) attendRange(lo, hi int) {
	j, hd := &d.job, d.headDim
	group := d.nHead / d.nKV // query heads per kv head
	for i := lo; i < hi; i++ {
		ei, kvh := d.single[i/d.nKV], i%d.nKV
		e := j.batch[ei]
		qo := (ei*d.nHead + kvh*group) * hd // first query head of the group
		qs, os := j.q[qo:qo+group*hd], j.out[qo:qo+group*hd]
		base := d.offset(e.Seq, j.layer, kvh, 0)
		end := base + (e.Pos+1)*hd
		if d.typ == KVF32 {
			cpu.AttendF32(os, qs, hd, d.k32[base:end], d.v32[base:end], d.scale)
		} else {
			cpu.AttendF16(os, qs, hd, d.k16[base:end], d.v16[base:end], d.scale)
		}
	}
}
