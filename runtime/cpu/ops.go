package cpu

// The non-matmul operations of a transformer block on float32 rows: RMSNorm, RoPE, softmax,
// SwiGLU, residual add, bias add, embedding lookup and single-head attention over a dense f32 or
// f16 key/value history. Most are plain loops: each costs O(n) per token against the O(n²) of
// the matmuls, so clarity wins over speed. Attention is the exception: at long context its
// reads of the cache dominate decode, so its inner loops (scores, softmax weights and the
// weighted sum of values) have assembly versions where the CPU allows (attend_amd64.s), and so
// have the exponentials of Softmax and SwiGLU, which prefill runs over every score and every
// FFN activation.

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
func Softmax(x []float32) { ScaledSoftmax(x, 1) }

// ScaledSoftmax replaces x by the softmax of scale·x, in place (x is scaled first, in float32,
// then exponentiated like Softmax): attention's scaled scores in one call.
func ScaledSoftmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	m := scaleMax(x, scale)
	done, s := expSubSumAsm(x, m)
	sum := float64(s)
	for i := done; i < len(x); i++ {
		e := Exp32(x[i] - m)
		x[i] = e
		sum += float64(e)
	}
	scaleMax(x, float32(1/sum))
}

// scaleMax multiplies x by scale in place and returns the largest result.
func scaleMax(x []float32, scale float32) float32 {
	done, m := scaleMaxAsm(x, scale)
	for i := done; i < len(x); i++ {
		x[i] *= scale
		m = max(m, x[i])
	}
	return m
}

// SwiGLU writes y = silu(gate) * up elementwise, silu(g) = g / (1 + exp(-g)). y may alias gate
// or up. All: [n].
func SwiGLU(y, gate, up []float32) {
	up = up[:len(gate)]
	y = y[:len(gate)]
	for i := swigluAsm(y, gate, up); i < len(gate); i++ {
		g := gate[i]
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

// quad is how many query heads the attention kernels handle together: each key and value row
// is loaded (and, for f16, converted) once for four heads. A group that is not a multiple of
// four is finished with zero-padded heads.
const quad = 4

// attendBlock is the number of positions whose scores are computed before one online-softmax
// update: the block's keys and values stay in L1 between the score and accumulation passes, and
// the per-call overhead of the kernels is paid once per block, not per position.
const attendBlock = 256

// kernelSet names an implementation of the attention kernels.
type kernelSet string

// kernelsGo is the pure-Go kernels below: the fallback where no assembly runs and the reference
// the assembly is tested against.
const kernelsGo kernelSet = "generic"

// attendUse is the kernel set the attention ops use: the last of attendKernels (the sets this
// CPU runs, pure Go first; attend_amd64.go, attend_other.go), unless a test or benchmark picks
// another to compare them.
var attendUse = attendKernels[len(attendKernels)-1]

// The hot loops of decode attention over one block of n cached rows are scoresF16 and
// scoresF32, which set s[r][h] = q[h]·k[r]; kvSoftmax, which turns the scores into weights
// (softmaxRows); and accumF16 and accumF32, which add Σ_r p[r][h]·v[r] to o[h]
// (s, p: [n][quad]; q, o: [quad][d]; k, v: [n][d]). They are defined per architecture
// (attend_amd64.go, attend_other.go) and called directly, not through func values, so that the
// block buffers stay on the stack; kvScores and kvAccum pick them by element type.

func kvScores[E uint16 | float32](s, q []float32, k []E, d int) {
	switch k := any(k).(type) {
	case []uint16:
		scoresF16(s, q, k, d)
	case []float32:
		scoresF32(s, q, k, d)
	}
}

func kvAccum[E uint16 | float32](o, p []float32, v []E, d int) {
	switch v := any(v).(type) {
	case []uint16:
		accumF16(o, p, v, d)
	case []float32:
		accumF32(o, p, v, d)
	}
}

// AttendF32 computes attention for the g query heads that share one key/value head:
// out[h] = Σ_j softmax_j(scale · q[h]·k_j) v_j over the n cached positions.
// out, q: [g][headDim]; k, v: [n][headDim]. It never allocates.
func AttendF32(out, q []float32, headDim int, k, v []float32, scale float32) {
	attend(out, q, headDim, k, v, scale)
}

// AttendF16 is AttendF32 over keys and values stored as IEEE half-precision bit patterns. Each
// key and value row is converted once per four query heads of the group, which is what makes
// GQA cheap here.
func AttendF16(out, q []float32, headDim int, k, v []uint16, scale float32) {
	attend(out, q, headDim, k, v, scale)
}

// attend runs the group's heads four at a time; a last partial quad goes through zero-padded
// copies (a zero query scores 0 everywhere and its output is discarded).
func attend[E uint16 | float32](out, q []float32, d int, k, v []E, scale float32) {
	g := len(q) / d
	for h := 0; h < g; h += quad {
		hs := min(quad, g-h)
		o, qh := out[h*d:(h+hs)*d], q[h*d:(h+hs)*d]
		if hs == quad {
			attendQuad(o, qh, d, k, v, scale)
		} else {
			attendPartial(o, qh, d, k, v, scale)
		}
	}
}

// attendPartial is attendQuad for fewer than four heads. It is a separate function so that the
// padded copies are only cleared when needed.
func attendPartial[E uint16 | float32](out, q []float32, d int, k, v []E, scale float32) {
	var qp, op [quad * MaxHeadDim]float32 // [quad][d]
	copy(qp[:], q)
	attendQuad(op[:quad*d], qp[:quad*d], d, k, v, scale)
	copy(out, op[:len(out)])
}

// attendQuad is the streaming softmax of four query heads (out, q: [quad][d]) over the rows of
// k and v ([n][d]), a block at a time: each head keeps its running maximum and sum, and a block
// that raises the maximum rescales what the head has accumulated, so no buffer of n scores is
// needed.
func attendQuad[E uint16 | float32](out, q []float32, d int, k, v []E, scale float32) {
	var s [attendBlock * quad]float32 // [block][quad]: scores, then softmax weights
	var m, sum [quad]float32
	for h := range m {
		m[h] = float32(math.Inf(-1))
	}
	clear(out)
	n := min(len(k), len(v)) / d
	for r0 := 0; r0 < n; r0 += attendBlock {
		nb := min(attendBlock, n-r0)
		sb := s[:nb*quad]
		kvScores(sb, q, k[r0*d:(r0+nb)*d], d)
		f := kvSoftmax(sb, scale, &m, &sum)
		for h, fh := range f {
			if fh != 1 {
				o := out[h*d : (h+1)*d]
				for i := range o {
					o[i] *= fh
				}
			}
		}
		kvAccum(out, sb, v[r0*d:(r0+nb)*d], d)
	}
	for h := range quad {
		if sum[h] > 0 {
			inv := 1 / sum[h]
			o := out[h*d : (h+1)*d]
			for i := range o {
				o[i] *= inv
			}
		}
	}
}

// softmaxRows turns the raw scores s ([nb][quad]) of one block into unnormalised weights
// exp(scale·s − m[h]) after raising each head's running maximum m[h] to the block's. It returns
// the factors f[h] = exp(old m[h] − new m[h]) (1 if the maximum did not change, 0 for the first
// block) by which the head's accumulated output must be rescaled, and updates the running sums
// to sum[h]·f[h] + the block's weights. It is the pure-Go kvSoftmax.
func softmaxRows(s []float32, scale float32, m, sum *[quad]float32) (f [quad]float32) {
	for h := range quad {
		bm := m[h]
		for r := h; r < len(s); r += quad {
			s[r] *= scale
			bm = max(bm, s[r])
		}
		f[h] = Exp32(m[h] - bm)
		m[h] = bm
		var bs float32
		for r := h; r < len(s); r += quad {
			e := Exp32(s[r] - bm)
			s[r] = e
			bs += e
		}
		sum[h] = sum[h]*f[h] + bs
	}
	return f
}

// scoreRows adds to s[r][h] the part of q[h]·k[r] over columns lo..d-1, for the
// n = len(s)/quad rows. s: [n][quad]; q: [quad][d]; k: [n][d]. The assembly kernels use it for
// the columns past the last multiple of their vector width. A half-precision row is converted
// once for the four heads.
func scoreRows[E uint16 | float32](s, q []float32, k []E, d, lo int) {
	var buf [MaxHeadDim]float32
	for r := range len(s) / quad {
		row := rowF32(buf[:], k[r*d+lo:(r+1)*d])
		for h := range quad {
			s[r*quad+h] += kvDot(q[h*d+lo:(h+1)*d], row)
		}
	}
}

// accumRows adds Σ_r p[r][h]·v[r] to o[h] over columns lo..d-1, for the n = len(p)/quad rows.
// o: [quad][d]; p: [n][quad]; v: [n][d].
func accumRows[E uint16 | float32](o, p []float32, v []E, d, lo int) {
	var buf [MaxHeadDim]float32
	for r := range len(p) / quad {
		row := rowF32(buf[:], v[r*d+lo:(r+1)*d])
		for h := range quad {
			kvAxpy(o[h*d+lo:(h+1)*d], p[r*quad+h], row)
		}
	}
}

// rowF32 returns src as float32s: src itself if it is float32, else converted into buf.
func rowF32[E uint16 | float32](buf []float32, src []E) []float32 {
	if f, ok := any(src).([]float32); ok {
		return f
	}
	return fromF16(buf[:len(src)], any(src).([]uint16))
}

// fromF16 converts src into dst and returns dst.
func fromF16(dst []float32, src []uint16) []float32 {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = ggml.FP16ToFP32(h)
	}
	return dst
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
