package runtime

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// PressConfig selects the KV press that a model's caches apply to each sequence at the end of
// its prefill (spec section 2).
type PressConfig struct {
	Name string        // registry name, one of press.Names()
	Opts press.Options // zero fields take the spec defaults
}

// build returns the press the configuration names for a cache of KV type typ on a model of
// configuration mc (nil: any model), or an error naming what is wrong. The press stores its
// numbers in the KV type (Opts.DType is overridden), so compressed and dense tokens have the
// same precision and bytes are counted at its size.
func (c PressConfig) build(mc *Config, typ KVType) (press.Press, error) {
	if c.Name == "expected_attention" && mc != nil && mc.RopeDim != mc.HeadDim {
		// The press's rotation average assumes every channel pair rotates (spec 4.7).
		return nil, fmt.Errorf("runtime: press expected_attention needs full rotary embeddings; the model rotates %d of %d head dimensions", mc.RopeDim, mc.HeadDim)
	}
	c.Opts.DType = kvDType(typ)
	return press.New(c.Name, c.Opts)
}

// Validate returns an error naming what is wrong with the configuration (unknown press, bad
// option), nil if it is usable; a model can still refuse it (ExpectedAttention needs RoPE on
// every head dimension).
func (c PressConfig) Validate() error {
	_, err := c.build(nil, KVF32)
	return err
}

// kvDType is the press storage type of a KV type.
func kvDType(t KVType) press.DType {
	if t == KVF16 {
		return press.F16
	}
	return press.F32
}

// windows returns the window query rows the press needs for its channel stage (0 for a
// token-only press) and the most rows any of its stages reads (spec 2.8: SnapKV/PyramidKV 64,
// SparK/ThinK 32, TOVA 1), with the spec defaults for unset options.
func (c *PressConfig) windows() (channel, most int) {
	switch {
	case strings.Contains(c.Name, "spark"):
		channel = cmp.Or(c.Opts.SparKWindow, 32)
	case strings.Contains(c.Name, "think"):
		channel = cmp.Or(c.Opts.ThinKWindow, 32)
	}
	return channel, max(channel, cmp.Or(c.Opts.SnapWindow, 64), 1)
}

// prefillEnder is implemented by caches that must know when a sequence's prompt is complete:
// the session calls EndPrefill after Prefill and before the first Decode.
type prefillEnder interface {
	EndPrefill(seq int) error
}

// cacheErrer is implemented by caches whose Store or Attend can fail on a bad position (the
// KVCache methods return no error); Forward reports the error after the pass.
type cacheErrer interface {
	Err() error
}

// seqMode is the state of one sequence of a PressCache.
type seqMode int

const (
	// modePrefill: the prompt is being fed; keys and values are stored dense, window queries kept.
	modePrefill seqMode = iota
	// modeDense: prefill ended but the press kept every token and channel (λ = 0, budget >= T,
	// "none", or a prompt shorter than the press's window), so the sequence continues as a dense
	// cache with the same storage and kernels; its logits are those of the dense cache, bit for bit.
	modeDense
	// modeCompressed: the prompt lives in compressed layers, later tokens in dense tails.
	modeCompressed
)

// pressSeq is one sequence of a PressCache.
type pressSeq struct {
	mode seqMode
	// filled is, per layer, the number of dense positions stored (prefill and dense modes).
	filled []int // [n_layer]
	// Dense storage of the prompt (and of everything in modeDense), in the cache's KV type;
	// capacity per KV head is len/(n_kv_head*head_dim) and doubles on demand.
	k32, v32 [][]float32 // [n_layer][n_kv_head][cap][head_dim] when KVF32
	k16, v16 [][]uint16  // same layout when KVF16
	// win holds each layer's last queries, row p%win_cap for position p, as Attend receives
	// them: post-RoPE, and for Qwen3 after the per-head q norm (spec A14: the model's real
	// queries, not the fork's q_proj-only recomputation).
	win [][]float32 // [n_layer][win_cap][n_head*head_dim]
	// promptLen is T_orig, the uncompressed prompt length (set at the end of prefill); in
	// modeCompressed later positions p live at tail index p - promptLen (spec 2.3).
	promptLen int
	// colSums, for observed_attention only, holds per layer the attention each prompt position
	// has received, summed over the prompt's query rows (spec 4.6: the column sums of the
	// causal prefill attention, accumulated instead of keeping the matrix).
	colSums [][]float64 // [n_layer][pos][n_head]
	// preRoPE, for expected_attention only, holds per layer every prompt query with its RoPE
	// undone (the model's actual pre-RoPE queries, after Qwen3's q norm; spec 4.7), channels in
	// NeoX pair order (see neoxOrder).
	preRoPE [][]float32        // [n_layer][pos][n_head*head_dim]
	layers  []pressLayer       // [n_layer] in modeCompressed
	tails   []*press.DenseTail // [n_layer] post-prefill tokens, in modeCompressed
}

// pressLayer is one compressed layer, split into one-KV-head views so that decode attention can
// run (entry, KV head) pairs in parallel as the dense cache does.
type pressLayer struct {
	heads    []*press.CompressedLayer // [n_kv_head] each with NKVHeads = 1
	bytes    int                      // of the whole layer, as press accounts them (spec 3.6 layout in the KV type)
	resident int                      // what its arrays really occupy in this process (see LayerKVBytes.Resident)
	kept     int                      // tokens per KV head
}

// PressCache is a KVCache that compresses each sequence's prompt with a press at the end of its
// prefill (spec section 2): the prompt's own prefill attention uses the full keys and values;
// EndPrefill compresses every layer with its window queries, frees the dense prompt, and later
// tokens go to a dense tail per layer; decode attention runs directly on the compressed records
// (press.CompressedLayer.Attend, spec 3.7). Positions continue from the uncompressed prompt
// length. A sequence restarts (dense prefill again) when position 0 is stored; storing any
// other position inside a compressed prompt is an error, since that part cannot be rolled back.
type PressCache struct {
	cfg                         PressConfig
	p                           press.Press
	typ                         KVType
	dt                          press.DType // the KV type as the press's storage type
	nLayer, nHead, nKV, hd, ctx int
	winCap, chanWin             int // window rows kept; rows the channel stage needs
	scale                       float32
	pool                        *cpu.Pool
	seqs                        []pressSeq
	job                         attendJob
	run                         func(lo, hi int)
	single                      []int           // batch indices taking the per-head path
	run1                        []int           // batch indices of one sequence
	pa                          promptAttention // prompt chunks of dense sequences, as in the dense cache
	scratch                     sync.Pool       // *press.Scratch, one per concurrent attend range
	observed                    bool            // the press needs the prefill attention's column sums
	expected                    bool            // the press needs the pre-RoPE prompt queries
	// For expected_attention: the model's RoPE frequencies and pair layout, to undo RoPE.
	invFreq []float64 // [head_dim/2]
	neox    bool
	nSink   int // ExpectedAttention's sink tokens (its statistics skip them)
	hook    func(layer int, e BatchEntry, out []float32)
	errMu   sync.Mutex
	err     error
}

// NewPressCache returns a press cache for nSeq sequences of Options.ContextSize positions in
// the model's KV type, or an error for an unknown, invalid or unsupported press.
func (m *Model) NewPressCache(nSeq int, cfg PressConfig) (*PressCache, error) {
	p, err := cfg.build(&m.cfg, m.opts.KVType)
	if err != nil {
		return nil, err
	}
	if nSeq < 1 {
		return nil, fmt.Errorf("runtime: press cache for %d sequences: need at least 1", nSeq)
	}
	return newPressCache(m, nSeq, cfg, p), nil
}

func newPressCache(m *Model, nSeq int, cfg PressConfig, p press.Press) *PressCache {
	c := &m.cfg
	chanWin, winCap := cfg.windows()
	pc := &PressCache{
		cfg: cfg, p: p, typ: m.opts.KVType, dt: kvDType(m.opts.KVType),
		nLayer: c.NLayer, nHead: c.NHead, nKV: c.NKVHead, hd: c.HeadDim, ctx: m.opts.ContextSize,
		winCap: winCap, chanWin: chanWin, observed: cfg.Name == "observed_attention",
		expected: cfg.Name == "expected_attention", invFreq: m.invFreq, neox: c.Arch.Rope == RopeNeox,
		nSink: cmp.Or(cfg.Opts.NSink, 4), scale: float32(1 / math.Sqrt(float64(c.HeadDim))), pool: m.pool,
		seqs: make([]pressSeq, nSeq),
	}
	pc.scratch.New = func() any { return new(press.Scratch) }
	pc.run = pc.attendRange
	pc.pa = newPromptAttention(c, m.pool, pc.scale)
	for s := range pc.seqs {
		pc.reset(s)
	}
	return pc
}

// NewPressSession starts an empty session whose cache applies the press cfg (see PressCache).
func (m *Model) NewPressSession(cfg PressConfig) (*Session, error) {
	c, err := m.NewPressCache(1, cfg)
	if err != nil {
		return nil, err
	}
	return m.newSession(c), nil
}

// Press returns the press configuration of the cache.
func (c *PressCache) Press() PressConfig { return c.cfg }

// Seqs implements KVCache.
func (c *PressCache) Seqs() int { return len(c.seqs) }

// Context implements KVCache.
func (c *PressCache) Context() int { return c.ctx }

// SetAttendHook installs fn (nil removes it), called after every Attend with each batch entry
// and its attention output ([n_head*head_dim], valid only during the call): how presseval
// compares a layer's attention under a press with the full cache.
func (c *PressCache) SetAttendHook(fn func(layer int, e BatchEntry, out []float32)) { c.hook = fn }

// Err implements cacheErrer: the first error of Store or Attend since the last call, cleared.
func (c *PressCache) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	err := c.err
	c.err = nil
	return err
}

func (c *PressCache) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// reset empties sequence s: dense prefill from position 0.
func (c *PressCache) reset(s int) {
	c.seqs[s] = pressSeq{
		filled: make([]int, c.nLayer),
		k32:    make([][]float32, c.nLayer), v32: make([][]float32, c.nLayer),
		k16: make([][]uint16, c.nLayer), v16: make([][]uint16, c.nLayer),
		win: make([][]float32, c.nLayer),
	}
	for l := range c.seqs[s].win {
		c.seqs[s].win[l] = make([]float32, c.winCap*c.nHead*c.hd)
	}
	if c.observed {
		c.seqs[s].colSums = make([][]float64, c.nLayer)
	}
	if c.expected {
		c.seqs[s].preRoPE = make([][]float32, c.nLayer)
	}
}

// denseCap returns the positions per KV head the dense storage of layer l holds.
func (c *PressCache) denseCap(st *pressSeq, l int) int {
	if c.typ == KVF32 {
		return len(st.k32[l]) / (c.nKV * c.hd)
	}
	return len(st.k16[l]) / (c.nKV * c.hd)
}

// growDense makes layer l's dense storage hold n positions per KV head, doubling, within ctx.
func (c *PressCache) growDense(st *pressSeq, l, n int) {
	old := c.denseCap(st, l)
	if n <= old {
		return
	}
	nc := min(max(n, 2*old, 64), c.ctx)
	hd := c.hd
	regrow32 := func(s []float32) []float32 {
		d := make([]float32, c.nKV*nc*hd)
		for h := range c.nKV {
			copy(d[h*nc*hd:], s[h*old*hd:(h*old+st.filled[l])*hd])
		}
		return d
	}
	regrow16 := func(s []uint16) []uint16 {
		d := make([]uint16, c.nKV*nc*hd)
		for h := range c.nKV {
			copy(d[h*nc*hd:], s[h*old*hd:(h*old+st.filled[l])*hd])
		}
		return d
	}
	if c.typ == KVF32 {
		st.k32[l], st.v32[l] = regrow32(st.k32[l]), regrow32(st.v32[l])
	} else {
		st.k16[l], st.v16[l] = regrow16(st.k16[l]), regrow16(st.v16[l])
	}
}

// Store implements KVCache: dense storage while a sequence is in prefill (or stays dense), the
// dense tail after compression.
func (c *PressCache) Store(layer int, batch []BatchEntry, k, v []float32) {
	kvDim, hd := c.nKV*c.hd, c.hd
	for i, e := range batch {
		st := &c.seqs[e.Seq]
		if e.Pos == 0 && layer == 0 && (st.mode != modePrefill || st.filled[0] > 0) {
			c.reset(e.Seq) // a new conversation in this slot: prefill again
		}
		kr, vr := k[i*kvDim:(i+1)*kvDim], v[i*kvDim:(i+1)*kvDim]
		if st.mode == modeCompressed {
			if err := c.storeTail(st, layer, e.Pos, kr, vr); err != nil {
				c.fail(fmt.Errorf("runtime: press cache, sequence %d: %w", e.Seq, err))
			}
			continue
		}
		if e.Pos > st.filled[layer] {
			c.fail(fmt.Errorf("runtime: press cache, sequence %d layer %d: position %d after %d stored positions leaves a gap", e.Seq, layer, e.Pos, st.filled[layer]))
			continue
		}
		if c.observed && st.mode == modePrefill && e.Pos < st.filled[layer] {
			// The column sums already hold the attention of the rows being replaced.
			c.fail(fmt.Errorf("runtime: press cache, sequence %d: observed_attention cannot roll back to position %d inside an unfinished prompt of %d (restart at position 0)", e.Seq, e.Pos, st.filled[layer]))
			continue
		}
		c.growDense(st, layer, e.Pos+1)
		n := c.denseCap(st, layer)
		for h := range c.nKV {
			dst := (h*n + e.Pos) * hd
			if c.typ == KVF32 {
				copy(st.k32[layer][dst:dst+hd], kr[h*hd:(h+1)*hd])
				copy(st.v32[layer][dst:dst+hd], vr[h*hd:(h+1)*hd])
			} else {
				cpu.ToF16(st.k16[layer][dst:dst+hd], kr[h*hd:(h+1)*hd])
				cpu.ToF16(st.v16[layer][dst:dst+hd], vr[h*hd:(h+1)*hd])
			}
		}
		st.filled[layer] = e.Pos + 1
	}
}

// storeTail appends a post-prefill token at position pos to layer's tail, first rolling the
// tail back if pos rewrites an earlier tail position (session truncation).
func (c *PressCache) storeTail(st *pressSeq, layer, pos int, k, v []float32) error {
	idx := pos - st.promptLen
	tail := st.tails[layer]
	switch {
	case idx < 0:
		return fmt.Errorf("position %d is inside the compressed prompt of %d tokens, which cannot be rolled back (restart at position 0)", pos, st.promptLen)
	case idx > tail.Len:
		return fmt.Errorf("layer %d: position %d after %d stored positions leaves a gap", layer, pos, st.promptLen+tail.Len)
	case idx < tail.Len:
		if err := tail.Truncate(idx); err != nil {
			return err
		}
	}
	return tail.Append(k, v)
}

// Attend implements KVCache. Prefill entries (and dense-mode ones) attend over the dense
// storage exactly as the dense cache does (prompt chunks through promptAttention, single
// entries through the per-head kernels); entries of compressed sequences attend over the
// compressed layer plus the tail up to their own position, so a multi-token batch after
// prefill stays causal. Prefill entries also leave their queries in the window ring.
func (c *PressCache) Attend(layer int, batch []BatchEntry, q, out []float32) {
	qDim := c.nHead * c.hd
	for i, e := range batch {
		st := &c.seqs[e.Seq]
		if st.mode == modePrefill {
			r := e.Pos % c.winCap
			copy(st.win[layer][r*qDim:(r+1)*qDim], q[i*qDim:(i+1)*qDim])
		}
	}
	c.single = c.single[:0]
	for seq := range c.seqs {
		c.run1 = c.run1[:0]
		for i, e := range batch {
			if e.Seq == seq {
				c.run1 = append(c.run1, i)
			}
		}
		st := &c.seqs[seq]
		if len(c.run1) < promptRun || st.mode == modeCompressed || c.gap(st, layer, batch) {
			c.single = append(c.single, c.run1...)
			continue
		}
		n := c.denseCap(st, layer)
		for kvh := range c.nKV {
			base := kvh * n * c.hd
			c.pa.attend(kvh, batch, c.run1, q, out, func(n int) denseRows {
				end := base + n*c.hd
				if c.typ == KVF32 {
					return denseRows{k32: st.k32[layer][base:end], v32: st.v32[layer][base:end]}
				}
				return denseRows{k16: st.k16[layer][base:end], v16: st.v16[layer][base:end]}
			})
		}
	}
	c.job = attendJob{layer: layer, batch: batch, q: q, out: out}
	c.pool.Parallel(len(c.single)*c.nKV, c.run)
	c.job = attendJob{}
	if c.observed {
		c.accumulateObserved(layer, batch, q)
	}
	if c.expected {
		c.keepPreRoPE(layer, batch, q)
	}
	if c.hook != nil {
		for i, e := range batch {
			c.hook(layer, e, out[i*qDim:(i+1)*qDim])
		}
	}
}

// accumulateObserved adds, for every prefill entry, its attention probabilities (float64,
// from the stored keys, as the attention itself used them) to layer's column sums. Query heads
// run in parallel: each writes only its own column of every position.
func (c *PressCache) accumulateObserved(layer int, batch []BatchEntry, q []float32) {
	for _, e := range batch {
		st := &c.seqs[e.Seq]
		if st.mode == modePrefill && e.Pos < st.filled[layer] {
			if need := (e.Pos + 1) * c.nHead; len(st.colSums[layer]) < need {
				st.colSums[layer] = append(st.colSums[layer], make([]float64, need-len(st.colSums[layer]))...)
			}
		}
	}
	hd, group, scale := c.hd, c.nHead/c.nKV, 1/math.Sqrt(float64(c.hd))
	c.pool.Parallel(c.nHead, func(lo, hi int) {
		var p []float64
		for h := lo; h < hi; h++ {
			kvh := h / group
			for i, e := range batch {
				st := &c.seqs[e.Seq]
				if st.mode != modePrefill || e.Pos >= st.filled[layer] {
					continue
				}
				qh := q[(i*c.nHead+h)*hd:][:hd]
				base := kvh * c.denseCap(st, layer) * hd
				p = append(p[:0], make([]float64, e.Pos+1)...)
				mx := math.Inf(-1)
				for t := range p {
					var d float64
					for j, x := range qh {
						if c.typ == KVF32 {
							d += float64(x) * float64(st.k32[layer][base+t*hd+j])
						} else {
							d += float64(x) * float64(ggml.FP16ToFP32(st.k16[layer][base+t*hd+j]))
						}
					}
					p[t] = d * scale
					mx = max(mx, p[t])
				}
				var sum float64
				for t := range p {
					p[t] = math.Exp(p[t] - mx)
					sum += p[t]
				}
				cs := st.colSums[layer]
				for t, x := range p {
					cs[t*c.nHead+h] += x / sum
				}
			}
		}
	})
}

// keepPreRoPE stores the prefill entries' queries with RoPE undone, in NeoX pair order.
func (c *PressCache) keepPreRoPE(layer int, batch []BatchEntry, q []float32) {
	qDim, hd := c.nHead*c.hd, c.hd
	cs := make([]float32, hd)
	row := make([]float32, hd)
	for i, e := range batch {
		st := &c.seqs[e.Seq]
		if st.mode != modePrefill {
			continue
		}
		if need := (e.Pos + 1) * qDim; len(st.preRoPE[layer]) < need {
			st.preRoPE[layer] = append(st.preRoPE[layer], make([]float32, need-len(st.preRoPE[layer]))...)
		}
		cpu.RopeTable(cs, c.invFreq, e.Pos)
		for h := range c.nHead {
			copy(row, q[i*qDim+h*hd:][:hd])
			neoxOrder(row, c.neox)
			half := hd / 2
			dst := st.preRoPE[layer][e.Pos*qDim+h*hd:][:hd]
			for j := range half {
				// Rotate back by the position's angle: the transpose of RoPE's rotation.
				co, si := cs[2*j], cs[2*j+1]
				a, b := row[j], row[j+half]
				dst[j], dst[j+half] = a*co+b*si, b*co-a*si
			}
		}
	}
}

// neoxOrder permutes a head vector from llama.cpp's normal RoPE layout, which rotates the pairs
// (2i, 2i+1), to the NeoX layout, which rotates (i, i+D/2) and which ExpectedAttention's rotation
// average assumes (spec 4.7): x'[i] = x[2i], x'[i+D/2] = x[2i+1]. Attention scores are unchanged
// when queries and keys are permuted alike. It does nothing for a NeoX model.
func neoxOrder(x []float32, neox bool) { reorderPairs(x, neox, true) }

// normalOrder undoes neoxOrder (on float32 or 16-bit stored numbers).
func normalOrder[E uint16 | float32](x []E, neox bool) { reorderPairs(x, neox, false) }

// reorderPairs moves the pairs (2i, 2i+1) of x to (i, i+D/2) (toNeox) or back, unless the
// model is NeoX already.
func reorderPairs[E uint16 | float32](x []E, neox, toNeox bool) {
	if neox {
		return
	}
	half := len(x) / 2
	tmp := make([]E, len(x))
	for i := range half {
		if toNeox {
			tmp[i], tmp[i+half] = x[2*i], x[2*i+1]
		} else {
			tmp[2*i], tmp[2*i+1] = x[i], x[i+half]
		}
	}
	copy(x, tmp)
}

// gap reports whether an entry of the run c.run1 lies beyond layer's stored positions (Store
// has reported it); such runs take the per-head path, which skips the entry.
func (c *PressCache) gap(st *pressSeq, layer int, batch []BatchEntry) bool {
	for _, i := range c.run1 {
		if batch[i].Pos >= st.filled[layer] {
			return true
		}
	}
	return false
}

// attendRange computes the (entry, KV head) pairs lo..hi-1 of the current job: pair i is entry
// c.single[i/n_kv_head], KV head i%n_kv_head, as in the dense cache's attendRange.
func (c *PressCache) attendRange(lo, hi int) {
	j, hd := &c.job, c.hd
	group := c.nHead / c.nKV
	var s *press.Scratch
	for i := lo; i < hi; i++ {
		ei, kvh := c.single[i/c.nKV], i%c.nKV
		e := j.batch[ei]
		qo := (ei*c.nHead + kvh*group) * hd
		qs, os := j.q[qo:qo+group*hd], j.out[qo:qo+group*hd]
		st := &c.seqs[e.Seq]
		if st.mode != modeCompressed {
			if e.Pos >= st.filled[j.layer] {
				clear(os)
				continue // Store has reported the gap
			}
			n := c.denseCap(st, j.layer)
			base, end := kvh*n*hd, (kvh*n+e.Pos+1)*hd
			if c.typ == KVF32 {
				cpu.AttendF32(os, qs, hd, st.k32[j.layer][base:end], st.v32[j.layer][base:end], c.scale)
			} else {
				cpu.AttendF16(os, qs, hd, st.k16[j.layer][base:end], st.v16[j.layer][base:end], c.scale)
			}
			continue
		}
		tail := st.tails[j.layer]
		n := tail.Len
		if idx := e.Pos - st.promptLen + 1; idx >= 0 && idx <= n {
			n = idx // the tail up to this entry's own position
		} else {
			clear(os)
			continue // Store has reported the bad position
		}
		view := tail.Head(kvh, n)
		if s == nil {
			s = c.scratch.Get().(*press.Scratch)
		}
		if err := st.layers[j.layer].heads[kvh].Attend(os, qs, group, &view, s); err != nil {
			c.fail(fmt.Errorf("runtime: press cache, sequence %d layer %d: %w", e.Seq, j.layer, err))
			clear(os)
		}
	}
	if s != nil {
		c.scratch.Put(s)
	}
}

// EndPrefill compresses sequence seq's prompt, every layer with its own window queries (layers
// in parallel), and frees the dense prompt. It does nothing when the sequence is already past
// prefill. When the press keeps every token and channel of every layer, or the prompt is
// shorter than the press's channel window (SparK/ThinK need their 32 window queries), the
// sequence stays dense.
func (c *PressCache) EndPrefill(seq int) error {
	if seq < 0 || seq >= len(c.seqs) {
		return fmt.Errorf("runtime: press cache: end prefill of sequence %d, the cache holds %d", seq, len(c.seqs))
	}
	st := &c.seqs[seq]
	if st.mode != modePrefill {
		return nil
	}
	T := st.filled[0]
	for l, n := range st.filled {
		if n != T {
			return fmt.Errorf("runtime: press cache, sequence %d: layer %d holds %d positions, layer 0 %d", seq, l, n, T)
		}
	}
	if T == 0 {
		return fmt.Errorf("runtime: press cache, sequence %d: end of prefill with an empty prompt", seq)
	}
	st.promptLen = T
	if T < c.chanWin {
		st.mode = modeDense
		return nil
	}
	layers := make([]pressLayer, c.nLayer)
	unchanged := make([]bool, c.nLayer)
	errs := make([]error, c.nLayer)
	c.pool.Parallel(c.nLayer, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			layers[l], unchanged[l], errs[l] = c.compressLayer(st, l, T)
		}
	})
	allSame := true
	for l, err := range errs {
		if err != nil {
			return fmt.Errorf("runtime: press cache, sequence %d layer %d: %w", seq, l, err)
		}
		allSame = allSame && unchanged[l]
	}
	if allSame {
		st.mode = modeDense
		return nil
	}
	st.mode, st.promptLen, st.layers = modeCompressed, T, layers
	st.tails = make([]*press.DenseTail, c.nLayer)
	for l := range st.tails {
		st.tails[l] = press.NewDenseTail(c.dt, c.nKV, c.hd, 64)
	}
	st.k32, st.v32, st.k16, st.v16, st.win, st.filled, st.colSums, st.preRoPE = nil, nil, nil, nil, nil, nil, nil, nil
	return nil
}

// compressLayer runs the press on layer l's T dense prompt positions and reports whether the
// result kept every token with dense keys (nothing to gain from switching layouts).
func (c *PressCache) compressLayer(st *pressSeq, l, T int) (pressLayer, bool, error) {
	hd, n := c.hd, c.denseCap(st, l)
	kv := press.LayerKV{NKVHeads: c.nKV, T: T, HeadDim: hd,
		K: make([]float32, c.nKV*T*hd), V: make([]float32, c.nKV*T*hd)}
	for h := range c.nKV {
		src, dst := h*n*hd, h*T*hd
		if c.typ == KVF32 {
			copy(kv.K[dst:dst+T*hd], st.k32[l][src:])
			copy(kv.V[dst:dst+T*hd], st.v32[l][src:])
		} else {
			for x := range T * hd {
				kv.K[dst+x] = ggml.FP16ToFP32(st.k16[l][src+x])
				kv.V[dst+x] = ggml.FP16ToFP32(st.v16[l][src+x])
			}
		}
	}
	W, qDim := min(T, c.winCap), c.nHead*hd
	win := press.Queries{NHeads: c.nHead, W: W, HeadDim: hd, Q: make([]float32, c.nHead*W*hd)}
	for r := range W {
		row := st.win[l][(T-W+r)%c.winCap*qDim:][:qDim]
		for h := range c.nHead {
			copy(win.Q[(h*W+r)*hd:(h*W+r+1)*hd], row[h*hd:(h+1)*hd])
		}
	}
	in := &press.Input{KV: kv, Window: win, LayerIdx: l, NLayers: c.nLayer}
	if c.observed {
		in.ObservedColSums = make([]float64, c.nHead*T)
		for t := range T {
			for h := range c.nHead {
				in.ObservedColSums[h*T+t] = st.colSums[l][t*c.nHead+h]
			}
		}
	}
	if c.expected {
		c.expectedInputs(st, l, T, in)
	}
	res, err := c.p.Compress(in)
	if err != nil {
		return pressLayer{}, false, err
	}
	cl := res.Layer
	if c.expected {
		// The press saw NeoX-ordered keys; store them in the model's order again.
		dk := cl.Keys.(*press.DenseKeys)
		for r := 0; r < len(dk.K); r += hd {
			normalOrder(dk.K[r:r+hd], c.neox)
		}
		for r := 0; r < len(dk.K16); r += hd {
			normalOrder(dk.K16[r:r+hd], c.neox)
		}
	}
	_, dense := cl.Keys.(*press.DenseKeys)
	heads, err := splitHeads(cl)
	if err != nil {
		return pressLayer{}, false, err
	}
	return pressLayer{heads: heads, bytes: cl.Bytes(), resident: residentBytes(cl), kept: cl.NTokens},
		dense && cl.NTokens == T, nil
}

// expectedInputs gives ExpectedAttention its statistics: the pre-RoPE queries of positions
// n_sink..T-1 and the RoPE frequencies, with the keys (and window queries) put in the same NeoX
// pair order as those queries.
func (c *PressCache) expectedInputs(st *pressSeq, l, T int, in *press.Input) {
	hd, qDim := c.hd, c.nHead*c.hd
	N := max(T-c.nSink, 0)
	pre := press.Queries{NHeads: c.nHead, W: N, HeadDim: hd, Q: make([]float32, c.nHead*N*hd)}
	for r := range N {
		src := st.preRoPE[l][(c.nSink+r)*qDim:]
		for h := range c.nHead {
			copy(pre.Q[(h*N+r)*hd:(h*N+r+1)*hd], src[h*hd:(h+1)*hd])
		}
	}
	in.PreRoPE, in.RoPEInvFreq = pre, c.invFreq
	for r := 0; r < len(in.KV.K); r += hd {
		neoxOrder(in.KV.K[r:r+hd], c.neox)
	}
	for r := 0; r < len(in.Window.Q); r += hd {
		neoxOrder(in.Window.Q[r:r+hd], c.neox)
	}
}

// splitHeads returns one-KV-head views of a compressed layer (sharing its arrays), validated.
func splitHeads(c *press.CompressedLayer) ([]*press.CompressedLayer, error) {
	D, n := c.HeadDim, c.NTokens
	heads := make([]*press.CompressedLayer, c.NKVHeads)
	for i := range heads {
		var keys press.KeyStore
		switch k := c.Keys.(type) {
		case *press.DenseKeys:
			keys = &press.DenseKeys{K: part(k.K, i*n*D, (i+1)*n*D), K16: part(k.K16, i*n*D, (i+1)*n*D)}
		case *press.ChannelKeys:
			keys = &press.ChannelKeys{NKept: k.NKept, Channels: k.Channels[i*k.NKept : (i+1)*k.NKept],
				K: part(k.K, i*n*k.NKept, (i+1)*n*k.NKept), K16: part(k.K16, i*n*k.NKept, (i+1)*n*k.NKept)}
		case *press.SparKKeys:
			h := &press.SparKKeys{Rho: k.Rho[i*D : (i+1)*D], MaskBytes: k.MaskBytes,
				Mask:      k.Mask[i*n*k.MaskBytes : (i+1)*n*k.MaskBytes],
				Kept:      part(k.Kept, k.KeptStart[i], k.KeptStart[i+1]),
				Kept16:    part(k.Kept16, k.KeptStart[i], k.KeptStart[i+1]),
				KeptStart: []int{0, k.KeptStart[i+1] - k.KeptStart[i]},
				SignStart: []int{0, k.SignStart[i+1] - k.SignStart[i]}}
			if k.Signs != nil {
				// The view keeps the stream's capacity, which the decode kernel's 8-byte sign
				// loads may reach into (see press.SparKKeys and cpu.MaskedKeys).
				h.Signs = k.Signs[k.SignStart[i]:k.SignStart[i+1]]
				h.Alpha, h.Alpha16 = part(k.Alpha, i*n, (i+1)*n), part(k.Alpha16, i*n, (i+1)*n)
			}
			keys = h
		default:
			return nil, fmt.Errorf("runtime: press cache: unknown key store %T", c.Keys)
		}
		heads[i] = &press.CompressedLayer{NKVHeads: 1, NTokens: n, HeadDim: D, DType: c.DType,
			Keys: keys, V: part(c.V, i*n*D, (i+1)*n*D), V16: part(c.V16, i*n*D, (i+1)*n*D)}
		if err := heads[i].Validate(); err != nil {
			return nil, fmt.Errorf("runtime: press cache: KV head %d: %w", i, err)
		}
	}
	return heads, nil
}

// RollbackFloor returns the lowest length sequence seq can be truncated to and continued: its
// uncompressed prompt length once compressed (the prompt's dense keys are gone), else 0.
// A caller that must go below it restarts the sequence at position 0.
func (c *PressCache) RollbackFloor(seq int) int {
	if seq < 0 || seq >= len(c.seqs) || c.seqs[seq].mode != modeCompressed {
		return 0
	}
	return c.seqs[seq].promptLen
}

// part returns x[lo:hi], or nil for an unused (nil) storage field.
func part[E any](x []E, lo, hi int) []E {
	if x == nil {
		return nil
	}
	return x[lo:hi]
}

// residentBytes returns the memory the arrays of a compressed layer occupy, allocated capacity
// included (SparK's sign stream has a few bytes of slack for the decode kernel): package press
// holds f16 numbers as 16-bit patterns, so this matches the Bytes accounting up to the slack.
func residentBytes(c *press.CompressedLayer) int {
	n := 4*cap(c.V) + 2*cap(c.V16)
	switch k := c.Keys.(type) {
	case *press.DenseKeys:
		n += 4*cap(k.K) + 2*cap(k.K16)
	case *press.ChannelKeys:
		n += 4*cap(k.K) + 2*cap(k.K16) + 2*cap(k.Channels)
	case *press.SparKKeys:
		n += 4*(cap(k.Rho)+cap(k.Kept)+cap(k.Alpha)) + 2*(cap(k.Kept16)+cap(k.Alpha16)) + cap(k.Mask) + cap(k.Signs) +
			8*(cap(k.KeptStart)+cap(k.SignStart))
	}
	return n
}

// LayerKVBytes is one layer's cache storage for one sequence.
type LayerKVBytes struct {
	Kept   int // prompt tokens kept per KV head (all of them when not compressed)
	Dense  int // bytes of dense K+V for every position held, in the KV type (no press)
	Stored int // bytes stored: the compressed prompt (spec 3.6 accounting) plus the dense tail
	// Resident is the memory this layer's cache really holds, allocated capacity included: the
	// compressed prompt and the dense tail (press.DenseTail) hold their numbers in the KV type
	// (f16 as 16-bit patterns), the tail with doubling capacity.
	Resident int
}

// KVBytes is the storage of one sequence's cache, per layer and in total.
type KVBytes struct {
	Positions  int  // positions held: the uncompressed prompt length plus the tail
	Compressed bool // whether the prompt is held compressed
	Layers     []LayerKVBytes
	Dense      int // Σ Layers.Dense
	Stored     int // Σ Layers.Stored
	Resident   int // Σ Layers.Resident
	// PromptLen is the prompt's length in positions (all positions held while still in
	// prefill); PromptDense and PromptStored count its bytes alone, without the tail: the ratio
	// spec 3.6 predicts.
	PromptLen                 int
	PromptDense, PromptStored int
}

// Bytes returns the storage of sequence seq, dense versus stored.
func (c *PressCache) Bytes(seq int) (KVBytes, error) {
	if seq < 0 || seq >= len(c.seqs) {
		return KVBytes{}, fmt.Errorf("runtime: press cache: bytes of sequence %d, the cache holds %d", seq, len(c.seqs))
	}
	st := &c.seqs[seq]
	per := 2 * c.nKV * c.hd * c.dt.Size() // dense K+V bytes of one position of one layer
	var b KVBytes
	b.Compressed = st.mode == modeCompressed
	for l := range c.nLayer {
		var lb LayerKVBytes
		if st.mode == modeCompressed {
			tail := st.tails[l].Len
			tk := st.tails[l]
			lb = LayerKVBytes{Kept: st.layers[l].kept, Dense: (st.promptLen + tail) * per,
				Stored: st.layers[l].bytes + tail*per, Resident: st.layers[l].resident + tk.Bytes()}
			b.Positions, b.PromptLen = st.promptLen+tail, st.promptLen
			b.PromptDense += st.promptLen * per
			b.PromptStored += st.layers[l].bytes
		} else {
			n, prompt := st.filled[l], min(st.promptLen, st.filled[l])
			if st.mode == modePrefill {
				prompt = n
			}
			lb = LayerKVBytes{Kept: prompt, Dense: n * per, Stored: n * per,
				Resident: 4*(len(st.k32[l])+len(st.v32[l])) + 2*(len(st.k16[l])+len(st.v16[l]))}
			b.Positions, b.PromptLen = n, prompt
			b.PromptDense += prompt * per
			b.PromptStored += prompt * per
		}
		b.Layers = append(b.Layers, lb)
		b.Dense += lb.Dense
		b.Stored += lb.Stored
		b.Resident += lb.Resident
	}
	return b, nil
}
