package runtime

import (
	"fmt"
	"sync"

	"github.com/sparkrun/sparkrun/gguf"
	"github.com/sparkrun/sparkrun/press"
	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// Options configure a loaded model.
type Options struct {
	Threads     int    // CPU worker threads; <= 0 means the number of physical cores
	KVType      KVType // element type of the KV cache (KVF16 by default)
	ContextSize int    // positions per sequence; <= 0 means the model's context_length, at most DefaultContext
	BatchSize   int    // most tokens per forward pass; longer batches run in chunks; <= 0 means 512
	// Press, if set, makes NewCache (and so sessions and RunBatch) return press caches that
	// compress each prompt at the end of its prefill (see PressCache).
	Press *PressConfig
}

// DefaultContext caps the context when Options.ContextSize is not set, because models declare
// contexts (128k) whose dense KV cache would not fit in memory by default.
const DefaultContext = 4096

// BatchEntry is one token of a forward pass: token Token of sequence Seq at position Pos.
// Several sequences may share one pass (continuous batching); each attends only to its own
// earlier positions.
type BatchEntry struct {
	Seq    int   // sequence id: the KV cache slot, in [0, cache.Seqs())
	Pos    int   // position in the sequence, in [0, cache.Context())
	Token  int32 // token id
	Logits bool  // whether the pass returns this entry's logits
}

// Model is a loaded transformer: configuration, weights bound to the backend, and the
// activation buffers of one forward pass. Forward passes on one Model are serialized.
type Model struct {
	cfg     Config
	opts    Options
	w       *weights
	pool    *cpu.Pool
	be      Backend
	invFreq []float64   // [rope_dim/2] RoPE inverse frequencies, frequency factors applied
	press   press.Press // built from Options.Press once, so NewCache cannot fail; nil without

	mu  sync.Mutex // guards act and serializes forward passes
	act activations
}

// activations are the buffers of one forward pass over up to cap batch entries. They grow on
// demand and are then reused, so the steady state allocates nothing.
type activations struct {
	cap      int
	ids      []int32   // [n] token ids
	cs       []float32 // [n][rope_dim] RoPE cos/sin tables
	x        []float32 // [n][dim] residual stream
	xn       []float32 // [n][dim] normalized input of a sublayer, then its output
	q        []float32 // [n][n_head*head_dim]
	k, v     []float32 // [n][n_kv_head*head_dim]
	att      []float32 // [n][n_head*head_dim] attention output before Wo
	gate, up []float32 // [n][n_ff]
	sel      []float32 // [n][dim] final states of the entries whose logits are wanted
}

// Load binds the model in f for the CPU backend. The weights stay in f's mapped memory, so f
// must stay open while the model is used.
func Load(f *gguf.File, opts Options) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	w, err := bindWeights(f, &cfg)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize <= 0 {
		opts.ContextSize = min(cfg.ContextLength, DefaultContext)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	var p press.Press
	if opts.Press != nil {
		if p, err = opts.Press.build(&cfg, opts.KVType); err != nil {
			return nil, err
		}
	}
	pool := cpu.NewPool(opts.Threads)
	return &Model{
		cfg: cfg, opts: opts, w: w, pool: pool, be: newCPUBackend(pool), press: p,
		invFreq: cpu.RopeFreqs(cfg.RopeDim, cfg.RopeBase, cfg.RopeScale, w.ropeFreqs),
	}, nil
}

// Config returns the model's hyperparameters.
func (m *Model) Config() Config { return m.cfg }

// Options returns the options in effect (defaults filled in).
func (m *Model) Options() Options { return m.opts }

// Close stops the worker threads. The model must not be used afterwards.
func (m *Model) Close() { m.pool.Close() }

// NewCache returns a KV cache of the model's KV type for nSeq sequences of
// Options.ContextSize positions: dense, or a *PressCache when Options.Press is set.
func (m *Model) NewCache(nSeq int) KVCache {
	if m.press != nil {
		return newPressCache(m, nSeq, *m.opts.Press, m.press)
	}
	return newDenseCache(&m.cfg, m.opts.KVType, nSeq, m.opts.ContextSize, m.pool)
}

// CheckBatch checks what every engine requires of a Forward call: each entry's sequence inside
// the cache, its position inside the cache's context, its token inside the vocabulary of nVocab
// (an embedding lookup must not read outside the table), and room in logits for the entries that
// want logits.
func CheckBatch(batch []BatchEntry, cache KVCache, nVocab int, logits []float32) error {
	nOut := 0
	for i, e := range batch {
		switch {
		case e.Seq < 0 || e.Seq >= cache.Seqs():
			return fmt.Errorf("runtime: batch entry %d: sequence %d outside the cache's %d sequences", i, e.Seq, cache.Seqs())
		case e.Pos < 0 || e.Pos >= cache.Context():
			return fmt.Errorf("runtime: batch entry %d: position %d exceeds the context size %d", i, e.Pos, cache.Context())
		case e.Token < 0 || int(e.Token) >= nVocab:
			return fmt.Errorf("runtime: batch entry %d: token %d outside the vocabulary [0, %d)", i, e.Token, nVocab)
		}
		if e.Logits {
			nOut++
		}
	}
	if len(logits) < nOut*nVocab {
		return fmt.Errorf("runtime: logits buffer holds %d values, the batch needs %d", len(logits), nOut*nVocab)
	}
	return nil
}

// Forward runs the batch through the model, storing its keys and values in cache, and writes
// the logits of the entries with Logits set, in batch order, into logits
// ([count][n_vocab]). Batches longer than Options.BatchSize run in chunks.
func (m *Model) Forward(batch []BatchEntry, cache KVCache, logits []float32) error {
	if err := CheckBatch(batch, cache, m.cfg.NVocab, logits); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), m.opts.BatchSize)
		out, err := m.forward(batch[:n], cache, logits)
		if err != nil {
			return err
		}
		if ce, ok := cache.(cacheErrer); ok {
			if err := ce.Err(); err != nil {
				return err
			}
		}
		batch, logits = batch[n:], logits[out*m.cfg.NVocab:]
	}
	return nil
}

// grow makes the activation buffers hold n entries.
func (m *Model) grow(n int) {
	a, c := &m.act, &m.cfg
	if n <= a.cap {
		return
	}
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	*a = activations{
		cap: n, ids: make([]int32, n), cs: make([]float32, n*c.RopeDim),
		x: make([]float32, n*c.NEmbd), xn: make([]float32, n*c.NEmbd),
		q: make([]float32, n*qDim), k: make([]float32, n*kvDim), v: make([]float32, n*kvDim),
		att: make([]float32, n*qDim), gate: make([]float32, n*c.NFF), up: make([]float32, n*c.NFF),
		sel: make([]float32, n*c.NEmbd),
	}
}

// forward runs one chunk (validated by Forward) and returns how many logit rows it wrote.
func (m *Model) forward(batch []BatchEntry, cache KVCache, logits []float32) (int, error) {
	c, a, be := &m.cfg, &m.act, m.be
	n := len(batch)
	m.grow(n)
	for i, e := range batch {
		a.ids[i] = e.Token
		cpu.RopeTable(a.cs[i*c.RopeDim:(i+1)*c.RopeDim], m.invFreq, e.Pos)
	}
	x := a.x[:n*c.NEmbd]
	if err := be.Embed(x, m.w.Embd, a.ids[:n]); err != nil {
		return 0, err
	}
	for l := range m.w.Blocks {
		m.attention(l, batch, cache)
		m.feedForward(&m.w.Blocks[l], n)
	}
	// Gather the entries whose logits are wanted, then norm and project only those.
	nOut := 0
	for i, e := range batch {
		if e.Logits {
			copy(a.sel[nOut*c.NEmbd:(nOut+1)*c.NEmbd], x[i*c.NEmbd:(i+1)*c.NEmbd])
			nOut++
		}
	}
	sel := a.sel[:nOut*c.NEmbd]
	be.RMSNorm(sel, sel, m.w.OutNorm, c.RMSEps)
	be.MatMul(logits[:nOut*c.NVocab], m.w.Output, sel, nOut)
	return nOut, nil
}

// attention adds to the residual stream x the self-attention sublayer of block l:
// x += Wo · Attend(rope(qnorm(Wq·xn + bq)), rope(knorm(Wk·xn + bk)), Wv·xn + bv), xn = norm(x).
func (m *Model) attention(l int, batch []BatchEntry, cache KVCache) {
	c, a, be, bw := &m.cfg, &m.act, m.be, &m.w.Blocks[l]
	n := len(batch)
	qDim, kvDim := c.NHead*c.HeadDim, c.NKVHead*c.HeadDim
	x, xn := a.x[:n*c.NEmbd], a.xn[:n*c.NEmbd]
	q, k, v, att := a.q[:n*qDim], a.k[:n*kvDim], a.v[:n*kvDim], a.att[:n*qDim]
	cs := a.cs[:n*c.RopeDim]

	be.RMSNorm(xn, x, bw.AttnNorm, c.RMSEps)
	be.MatMul(q, bw.Wq, xn, n)
	be.MatMul(k, bw.Wk, xn, n)
	be.MatMul(v, bw.Wv, xn, n)
	for _, b := range [...]struct{ y, bias []float32 }{{q, bw.Bq}, {k, bw.Bk}, {v, bw.Bv}} {
		if b.bias != nil {
			be.AddRows(b.y, b.bias)
		}
	}
	if bw.QNorm != nil {
		// Per-head norm: rows of head_dim.
		be.RMSNorm(q, q, bw.QNorm, c.RMSEps)
		be.RMSNorm(k, k, bw.KNorm, c.RMSEps)
	}
	be.Rope(q, n, c.HeadDim, cs, c.Arch.Rope)
	be.Rope(k, n, c.HeadDim, cs, c.Arch.Rope)
	cache.Store(l, batch, k, v)
	cache.Attend(l, batch, q, att)
	be.MatMul(xn, bw.Wo, att, n)
	be.Add(x, xn)
}

// feedForward adds to x the SwiGLU sublayer: x += Wdown · (silu(Wgate·xn) * Wup·xn), xn = norm(x).
func (m *Model) feedForward(bw *blockWeights, n int) {
	c, a, be := &m.cfg, &m.act, m.be
	x, xn := a.x[:n*c.NEmbd], a.xn[:n*c.NEmbd]
	gate, up := a.gate[:n*c.NFF], a.up[:n*c.NFF]

	be.RMSNorm(xn, x, bw.FFNNorm, c.RMSEps)
	be.MatMul(gate, bw.Gate, xn, n)
	be.MatMul(up, bw.Up, xn, n)
	be.SwiGLU(gate, gate, up)
	be.MatMul(xn, bw.Down, gate, n)
	be.Add(x, xn)
}
