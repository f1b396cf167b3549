// Package ref is a plain, slow, obviously correct forward pass of the Llama/Qwen transformer in
// float64, written in the style of llama2.c's run.c: one token at a time, every weight
// dequantized to float64 up front, no batching, no threads, no tricks. It exists only as the
// oracle that the fast forward pass in package runtime is tested against.
package ref

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
	"github.com/sparkrun/sparkrun/gguf"
)

// Config holds the hyperparameters the reference needs. The caller fills it (the runtime tests
// copy it from runtime.Config), so this package parses no metadata of its own.
type Config struct {
	NLayer    int     // transformer blocks
	NEmbd     int     // residual stream width (dim)
	NFF       int     // hidden width of the SwiGLU feed-forward
	NHead     int     // query heads
	NKVHead   int     // key/value heads (GQA: NHead is a multiple of NKVHead)
	HeadDim   int     // width of one head
	RopeDim   int     // leading dimensions of each head that RoPE rotates
	NVocab    int     // vocabulary size
	RopeBase  float64 // RoPE theta
	RopeScale float64 // linear RoPE scaling: positions are divided by it (1 or 0 = none)
	Eps       float64 // RMSNorm epsilon
	Neox      bool    // RoPE layout: false rotates pairs (2i, 2i+1), true rotates (i, i+RopeDim/2)
}

// layer holds one block's weights. Matrices are row-major (out, in), as GGUF stores them.
type layer struct {
	attnNorm   []float64 // (dim)
	wq         []float64 // (n_head*head_dim, dim)
	wk, wv     []float64 // (n_kv_head*head_dim, dim)
	bq         []float64 // (n_head*head_dim) or nil
	bk, bv     []float64 // (n_kv_head*head_dim) or nil
	qNorm      []float64 // (head_dim) or nil: per-head RMSNorm of q (qwen3)
	kNorm      []float64 // (head_dim) or nil
	wo         []float64 // (dim, n_head*head_dim)
	ffnNorm    []float64 // (dim)
	gate, up   []float64 // (n_ff, dim)
	down       []float64 // (dim, n_ff)
	keyCache   []float64 // (pos, n_kv_head*head_dim), grows by one row per token
	valueCache []float64 // (pos, n_kv_head*head_dim)
}

// Model is the reference transformer with its KV cache.
type Model struct {
	c         Config
	embd      []float64 // (vocab, dim)
	outNorm   []float64 // (dim)
	output    []float64 // (vocab, dim); token_embd when the file has no output.weight
	ropeFreqs []float64 // (rope_dim/2) frequency divisors, or nil
	layers    []layer
	pos       int // next position
}

// Load dequantizes every weight of f to float64. Optional tensors (biases, q/k norms,
// rope_freqs, output) are used when present.
func Load(f *gguf.File, c Config) (*Model, error) {
	m := &Model{c: c}
	get := func(name string, optional bool) ([]float64, error) {
		ti, ok := f.Tensor(name)
		if !ok {
			if optional {
				return nil, nil
			}
			return nil, fmt.Errorf("ref: missing tensor %s", name)
		}
		data, err := f.TensorData(ti)
		if err != nil {
			return nil, err
		}
		v32 := make([]float32, ti.Elements())
		if err := ggml.Dequantize(ti.Type, data, v32); err != nil {
			return nil, fmt.Errorf("ref: %s: %w", name, err)
		}
		v := make([]float64, len(v32))
		for i, x := range v32 {
			v[i] = float64(x)
		}
		return v, nil
	}
	var err error
	must := func(name string) []float64 {
		v, e := get(name, false)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	opt := func(name string) []float64 {
		v, e := get(name, true)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	m.embd = must("token_embd.weight")
	m.outNorm = must("output_norm.weight")
	m.output = opt("output.weight")
	if m.output == nil {
		m.output = m.embd
	}
	m.ropeFreqs = opt("rope_freqs.weight")
	for i := 0; i < c.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		m.layers = append(m.layers, layer{
			attnNorm: must(p + "attn_norm.weight"),
			wq:       must(p + "attn_q.weight"),
			wk:       must(p + "attn_k.weight"),
			wv:       must(p + "attn_v.weight"),
			bq:       opt(p + "attn_q.bias"),
			bk:       opt(p + "attn_k.bias"),
			bv:       opt(p + "attn_v.bias"),
			qNorm:    opt(p + "attn_q_norm.weight"),
			kNorm:    opt(p + "attn_k_norm.weight"),
			wo:       must(p + "attn_output.weight"),
			ffnNorm:  must(p + "ffn_norm.weight"),
			gate:     must(p + "ffn_gate.weight"),
			up:       must(p + "ffn_up.weight"),
			down:     must(p + "ffn_down.weight"),
		})
	}
	return m, err
}

// rmsnorm returns x / sqrt(mean(x²) + eps) * w.
func rmsnorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+eps)
	o := make([]float64, len(x))
	for i := range x {
		o[i] = x[i] * s * w[i]
	}
	return o
}

// matmul returns W x (+ b) for W of shape (len(W)/len(x), len(x)); b may be nil.
func matmul(w, x, b []float64) []float64 {
	n := len(x)
	o := make([]float64, len(w)/n)
	for r := range o {
		var s float64
		for i, v := range x {
			s += w[r*n+i] * v
		}
		if b != nil {
			s += b[r]
		}
		o[r] = s
	}
	return o
}

// rope rotates every head of x (n_heads*head_dim) for position pos.
func (m *Model) rope(x []float64, pos int) {
	c := m.c
	half := c.RopeDim / 2
	for h := 0; h < len(x)/c.HeadDim; h++ {
		head := x[h*c.HeadDim : (h+1)*c.HeadDim]
		for i := 0; i < half; i++ {
			theta := float64(pos) * math.Pow(c.RopeBase, -2*float64(i)/float64(c.RopeDim))
			if m.ropeFreqs != nil {
				theta /= m.ropeFreqs[i]
			}
			if c.RopeScale != 0 {
				theta /= c.RopeScale
			}
			a, b := 2*i, 2*i+1
			if c.Neox {
				a, b = i, i+half
			}
			x0, x1 := head[a], head[b]
			head[a] = x0*math.Cos(theta) - x1*math.Sin(theta)
			head[b] = x0*math.Sin(theta) + x1*math.Cos(theta)
		}
	}
}

// Forward feeds token at the next position and returns the logits (vocab) for the token after it.
func (m *Model) Forward(token int) ([]float64, error) {
	c := m.c
	if token < 0 || token >= c.NVocab {
		return nil, fmt.Errorf("ref: token %d outside [0, %d)", token, c.NVocab)
	}
	pos := m.pos
	m.pos++
	x := append([]float64(nil), m.embd[token*c.NEmbd:(token+1)*c.NEmbd]...)
	kvDim := c.NKVHead * c.HeadDim
	group := c.NHead / c.NKVHead // query heads per kv head
	for li := range m.layers {
		l := &m.layers[li]
		// Attention.
		xn := rmsnorm(x, l.attnNorm, c.Eps)
		q, k, v := matmul(l.wq, xn, l.bq), matmul(l.wk, xn, l.bk), matmul(l.wv, xn, l.bv)
		if l.qNorm != nil {
			for h := 0; h < c.NHead; h++ {
				copy(q[h*c.HeadDim:], rmsnorm(q[h*c.HeadDim:(h+1)*c.HeadDim], l.qNorm, c.Eps))
			}
			for h := 0; h < c.NKVHead; h++ {
				copy(k[h*c.HeadDim:], rmsnorm(k[h*c.HeadDim:(h+1)*c.HeadDim], l.kNorm, c.Eps))
			}
		}
		m.rope(q, pos)
		m.rope(k, pos)
		l.keyCache = append(l.keyCache, k...)
		l.valueCache = append(l.valueCache, v...)
		att := make([]float64, c.NHead*c.HeadDim)
		for h := 0; h < c.NHead; h++ {
			kvh := h / group
			qh := q[h*c.HeadDim : (h+1)*c.HeadDim]
			scores := make([]float64, pos+1)
			mx := math.Inf(-1)
			for t := 0; t <= pos; t++ {
				kt := l.keyCache[t*kvDim+kvh*c.HeadDim:]
				var s float64
				for i := range qh {
					s += qh[i] * kt[i]
				}
				scores[t] = s / math.Sqrt(float64(c.HeadDim))
				mx = math.Max(mx, scores[t])
			}
			var sum float64
			for t := range scores {
				scores[t] = math.Exp(scores[t] - mx)
				sum += scores[t]
			}
			for t := range scores {
				vt := l.valueCache[t*kvDim+kvh*c.HeadDim:]
				for i := 0; i < c.HeadDim; i++ {
					att[h*c.HeadDim+i] += scores[t] / sum * vt[i]
				}
			}
		}
		o := matmul(l.wo, att, nil)
		for i := range x {
			x[i] += o[i]
		}
		// Feed-forward: down(silu(gate(xn)) * up(xn)).
		xn = rmsnorm(x, l.ffnNorm, c.Eps)
		g, u := matmul(l.gate, xn, nil), matmul(l.up, xn, nil)
		for i := range g {
			g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
		}
		d := matmul(l.down, g, nil)
		for i := range x {
			x[i] += d[i]
		}
	}
	return matmul(m.output, rmsnorm(x, m.outNorm, c.Eps), nil), nil
}
