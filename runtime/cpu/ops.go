package cpu

// The non-matmul operations of a transformer block on float32 rows: RMSNorm, RoPE, softmax,
// SwiGLU, residual add, bias add, embedding lookup and single-head attention over a dense f32 or
// f16 key/value history. They are plain loops: each costs O(n) per token against the O(n²) of
// the matmuls, so clarity wins over speed here.

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// RMSNorm writes y = x / sqrt(mean(x²) + eps) * w for one row. y may alias x.
// y, x, w: [dim]. The sum of squares is accumulated in float64, as ggml does, so long rows do
// not lose precision.
func RMSNorm(y, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(sum/float64(len(x))+float64(eps)))
	w = w[:len(x)]
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v * scale * w[i]
	}
}

// RopeFreqs returns the inverse frequency of every rotated pair:
// base^(-2i/ropeDim) / (scale · factors[i]) for i in [0, ropeDim/2). scale is linear RoPE
// scaling (1 for none); factors (llama3's rope_freqs.weight) may be nil, meaning all ones.
// Result: [ropeDim/2].
func RopeFreqs(ropeDim int, base, scale float64, factors []float32) []float64 {
	inv := make([]float64, ropeDim/2)
	for i := range inv {
		inv[i] = math.Pow(base, -2*float64(i)/float64(ropeDim)) / scale
		if factors != nil {
			inv[i] /= float64(factors[i])
		}
	}
	return inv
}

// RopeTable fills cs ([len(invFreq)][2]: cos, sin) with the rotation of every pair at position
// pos. The angle is computed in float64 so that large positions keep full float32 accuracy; one
// table serves every head and layer of that token.
func RopeTable(cs []float32, invFreq []float64, pos int) {
	for i, f := range invFreq {
		s, c := math.Sincos(float64(pos) * f)
		cs[2*i] = float32(c)
		cs[2*i+1] = float32(s)
	}
}

// RopeNorm rotates, in every head of x ([nHeads][headDim]), the element pairs (2i, 2i+1) for
// i < len(cs)/2 by the table cs from RopeTable: llama.cpp's "normal" layout used by Llama.
// Dimensions past the rotated ones (partial rotary) are left unchanged.
func RopeNorm(x []float32, headDim int, cs []float32) {
	pairs := len(cs) / 2
	for h := 0; h+headDim <= len(x); h += headDim {
		head := x[h : h+headDim]
		for i := 0; i < pairs; i++ {
			c, s := cs[2*i], cs[2*i+1]
			a, b := head[2*i], head[2*i+1]
			head[2*i] = a*c - b*s
			head[2*i+1] = a*s + b*c
		}
	}
}

// RopeNeox rotates, in every head of x ([nHeads][headDim]), the pairs (i, i + ropeDim/2) for
// i < ropeDim/2, where ropeDim = len(cs): the GPT-NeoX layout used by Qwen.
func RopeNeox(x []float32, headDim int, cs []float32) {
	pairs := len(cs) / 2
	for h := 0; h+headDim <= len(x); h += headDim {
		head := x[h : h+headDim]
		for i := 0; i < pairs; i++ {
			c, s := cs[2*i], cs[2*i+1]
			a, b := head[i], head[i+pairs]
			head[i] = a*c - b*s
			head[i+pairs] = a*s + b*c
		}
	}
}

// Softmax replaces x by exp(x - max) / sum, in place.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := Exp32(v - m)
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// SwiGLU writes y = silu(gate) * up elementwise, silu(g) = g / (1 + exp(-g)). y may alias gate
// or up. All: [n].
func SwiGLU(y, gate, up []float32) {
	up = up[:len(gate)]
	y = y[:len(gate)]
	for i, g := range gate {
		y[i] = g / (1 + Exp32(-g)) * up[i]
	}
}

// Add adds x to y elementwise (the residual connection). y, x: [n].
func Add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// AddRows adds the bias b to every row of y. y: [len(y)/len(b)][len(b)].
func AddRows(y, b []float32) {
	for r := 0; r+len(b) <= len(y); r += len(b) {
		Add(y[r:r+len(b)], b)
	}
}

// Embed copies row id of the embedding matrix w ([Rows][Cols], any type ggml can dequantize)
// into y ([w.Cols]), dequantizing it. It fails on an id outside [0, w.Rows) or an unsupported type.
func Embed(y []float32, w *Matrix, id int32) error {
	if id < 0 || int(id) >= w.Rows {
		return fmt.Errorf("cpu: token id %d outside the vocabulary [0, %d)", id, w.Rows)
	}
	rb, err := ggml.RowBytes(w.Type, int64(w.Cols))
	if err != nil {
		return err
	}
	off := int64(id) * rb
	return ggml.Dequantize(w.Type, w.Data[off:off+rb], y[:w.Cols])
}

// MaxHeadDim is the largest head size the attention ops support (models use at most 256).
const MaxHeadDim = 512

// maxGroup is how many query heads the attention handles in one sweep over the keys; larger
// GQA groups are split, re-reading the keys for each part.
const maxGroup = 16

// AttendF32 computes attention for the g query heads that share one key/value head:
// out[h] = Σ_j softmax_j(scale · q[h]·k_j) v_j over the n cached positions.
// out, q: [g][headDim]; k, v: [n][headDim]. It never allocates.
func AttendF32(out, q []float32, headDim int, k, v []float32, scale float32) {
	d := headDim
	for h := 0; h < len(q)/d; h += maxGroup {
		var st onlineSoftmax
		hs := st.start(out, q, d, h)
		for j := 0; j < len(k)/d; j++ {
			st.add(hs, k[j*d:(j+1)*d], v[j*d:(j+1)*d], scale)
		}
		st.finish()
	}
}

// AttendF16 is AttendF32 over keys and values stored as IEEE half-precision bit patterns. Each
// key and value row is converted once and used by all the group's query heads, which is what
// makes GQA cheap here.
func AttendF16(out, q []float32, headDim int, k, v []uint16, scale float32) {
	d := headDim
	var kb, vb [MaxHeadDim]float32
	for h := 0; h < len(q)/d; h += maxGroup {
		var st onlineSoftmax
		hs := st.start(out, q, d, h)
		for j := 0; j < len(k)/d; j++ {
			st.add(hs, fromF16(kb[:d], k[j*d:(j+1)*d]), fromF16(vb[:d], v[j*d:(j+1)*d]), scale)
		}
		st.finish()
	}
}

// fromF16 converts src into dst and returns dst.
func fromF16(dst []float32, src []uint16) []float32 {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = ggml.FP16ToFP32(h)
	}
	return dst
}

// onlineSoftmax is the streaming softmax of up to maxGroup query heads over the key/value rows
// fed to add: each head keeps its running maximum and sum, and a new maximum rescales what the
// head has accumulated, so no buffer of n scores is needed.
type onlineSoftmax struct {
	out, q []float32 // [heads][d] of this part of the group
	d      int
	m, sum [maxGroup]float32
}

// start takes the heads h..min(h+maxGroup, g)-1 of out and q ([g][d]), clears their output and
// returns how many heads it took.
func (s *onlineSoftmax) start(out, q []float32, d, h int) int {
	hs := min(maxGroup, len(q)/d-h)
	s.out, s.q, s.d = out[h*d:(h+hs)*d], q[h*d:(h+hs)*d], d
	clear(s.out)
	for i := 0; i < hs; i++ {
		s.m[i] = float32(math.Inf(-1))
	}
	return hs
}

// add folds one position's key row k and value row v ([d]) into the first hs heads.
func (s *onlineSoftmax) add(hs int, k, v []float32, scale float32) {
	d := s.d
	for h := 0; h < hs; h++ {
		o := s.out[h*d : (h+1)*d]
		sc := kvDot(s.q[h*d:(h+1)*d], k) * scale
		if sc > s.m[h] {
			r := Exp32(s.m[h] - sc) // 0 for the first position
			s.sum[h] *= r
			for i := range o {
				o[i] *= r
			}
			s.m[h] = sc
		}
		w := Exp32(sc - s.m[h])
		s.sum[h] += w
		kvAxpy(o, w, v)
	}
}

// finish divides each head's output by its sum of weights.
func (s *onlineSoftmax) finish() {
	d := s.d
	for h := 0; h < len(s.out)/d; h++ {
		if s.sum[h] > 0 {
			inv := 1 / s.sum[h]
			for i := h * d; i < (h+1)*d; i++ {
				s.out[i] *= inv
			}
		}
	}
}

// kvDot returns a·b. Four independent partial sums let the CPU overlap the additions instead
// of waiting on one dependency chain (about 2x faster for head-sized rows).
func kvDot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func kvAxpy(y []float32, w float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += w * x[i]
	}
}

// Exp32 returns e^x in float32 with a relative error below 2e-7 (about one float32 ulp),
// about twice as fast as math.Exp: x = k·ln2 + r with |r| <= ln2/2, e^r by a degree-7
// Taylor polynomial (truncation error < 2e-9 there), 2^k put into the exponent bits.
// Results below the float32 normal range flush to 0; above it give +Inf.
func Exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375 // ln2 split in two so that k·ln2hi is exact in float32
		ln2lo = -2.12194440e-4
	)
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	case x != x:
		return x
	}
	t := x * log2e
	if t < 0 { // round to nearest, so that |r| <= ln2/2 (int32() truncates toward zero)
		t -= 0.5
	} else {
		t += 0.5
	}
	ki := int32(t)
	k := float32(ki)
	r := x - k*ln2hi - k*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	// p is in [0.7, 1.42]; multiplying by 2^k built in the exponent bits keeps the result
	// normal over the x range above, except that k = 128 needs two steps.
	if ki > 127 {
		return p * 2 * math.Float32frombits(uint32(ki-1+127)<<23)
	}
	return p * math.Float32frombits(uint32(ki+127)<<23)
}

// ToF16 converts src to half-precision bit patterns in dst (round to nearest even).
// dst, src: [n].
func ToF16(dst []uint16, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = ggml.FP32ToFP16(v)
	}
}
