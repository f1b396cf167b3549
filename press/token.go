package press

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// snapScores computes SnapKV's token scores (spec 4.2) with window w and pooling width k:
// the causal attention of the last w window queries, averaged over the window rows, average-pooled
// along the tokens (zero padding, divisor k), averaged over each KV head's query group; the w
// window tokens get max+1. Requires T > w.
func snapScores(in *Input, w, k int) ([]float64, error) {
	kv, q := &in.KV, &in.Window
	T, D, nKV, H := kv.T, kv.HeadDim, kv.NKVHeads, q.NHeads
	G := H / nKV
	if q.W < w {
		return nil, fmt.Errorf("press: snapkv: %d window query rows, need %d", q.W, w)
	}
	if T <= w {
		return nil, fmt.Errorf("press: snapkv: T=%d tokens, need more than the window %d", T, w)
	}
	P := T - w // tokens outside the window: the only ones scored
	scale := 1 / math.Sqrt(float64(D))
	s := make([]float64, P)
	pooled := make([]float64, P)
	logit := make([]float64, T)
	scores := make([]float64, nKV*T)
	for h := range H {
		i := h / G
		kh, _ := kv.head(i)
		clear(s)
		for r := range w {
			qr := q.row(h, q.W-w+r)
			row := logit[:P+r+1] // causal: window row r sees positions 0..T-w+r
			for t := range row {
				// The w·T dot products dominate the press: float32 products are twice as fast
				// and use < 0.5% of the README's score tolerance; the softmax stays float64.
				row[t] = float64(cpu.Dot(qr, kh[t*D:(t+1)*D])) * scale
			}
			softmaxInPlace(row)
			for t := range s {
				s[t] += row[t]
			}
		}
		for t := range s {
			s[t] /= float64(w)
		}
		for t := range P {
			var sum float64
			for d := t - k/2; d <= t+k/2; d++ {
				if d >= 0 && d < P {
					sum += s[d]
				}
			}
			pooled[t] = sum / float64(k)
		}
		for t := range P {
			scores[i*T+t] += pooled[t] / float64(G)
		}
	}
	forceMax(scores, nKV, T, func(t int) bool { return t >= P })
	return scores, nil
}

// pyramidBudget returns PyramidKV's n_kept for layer l of nLayers (spec 4.3) and whether the
// "fall back to SnapKV" branch was taken. With o.PyramidSaneFallback the fallback keeps m tokens.
func pyramidBudget(T int, o *Options, l, nLayers int) (int, bool) {
	w := float64(o.SnapWindow)
	var m float64
	if o.Budget > 0 {
		m = float64(min(o.Budget, T))
	} else {
		m = w + float64(T)*(1-o.TokenRatio)
	}
	minNum := (m - w) / o.Beta
	maxNum := 2*(m-w) - minNum
	if maxNum >= float64(T)-w {
		maxNum = float64(T) - w
		minNum = 2*(m-w) - maxNum
	}
	if !(float64(T) >= maxNum && maxNum >= minNum && minNum >= w) {
		if o.PyramidSaneFallback {
			return min(int(m), T), true
		}
		return int(math.RoundToEven(float64(T) * (1 - o.TokenRatio))), true
	}
	return int(math.RoundToEven(maxNum - float64(l)*(maxNum-minNum)/float64(nLayers-1))), false
}

// streamingKept returns StreamingLLM's kept positions (spec 4.4): the nSink first tokens and the
// last n - nSink, the same for every KV head.
func streamingKept(nKV, T, n, nSink int) ([]int32, error) {
	if n < nSink || T <= nSink {
		return nil, fmt.Errorf("press: streaming_llm: n_kept=%d and T=%d must both exceed n_sink=%d", n, T, nSink)
	}
	kept := make([]int32, 0, nKV*n)
	for range nKV {
		for t := range nSink {
			kept = append(kept, int32(t))
		}
		for t := T - (n - nSink); t < T; t++ {
			kept = append(kept, int32(t))
		}
	}
	return kept, nil
}

// tovaScores computes TOVA's scores (spec 4.5): the last window query's attention over all T keys,
// averaged over all query heads (identical for every KV head); the last token gets max+1.
func tovaScores(in *Input) ([]float64, error) {
	kv, q := &in.KV, &in.Window
	T, D, nKV, H := kv.T, kv.HeadDim, kv.NKVHeads, q.NHeads
	G := H / nKV
	if q.W < 1 || T < 1 {
		return nil, fmt.Errorf("press: tova: need at least one window query and one token (W=%d, T=%d)", q.W, T)
	}
	scale := 1 / math.Sqrt(float64(D))
	mean := make([]float64, T)
	p := make([]float64, T)
	for h := range H {
		kh, _ := kv.head(h / G)
		qr := q.row(h, q.W-1)
		for t := range p {
			p[t] = dot64(qr, kh[t*D:(t+1)*D]) * scale
		}
		softmaxInPlace(p)
		for t := range p {
			mean[t] += p[t] / float64(H)
		}
	}
	scores := make([]float64, nKV*T)
	for i := range nKV {
		copy(scores[i*T:], mean)
	}
	forceMax(scores, nKV, T, func(t int) bool { return t == T-1 })
	return scores, nil
}

// observedScores computes ObservedAttention's scores (spec 4.6) from the column sums of the
// causal prefill attention: S_h[t] = colsum/(T-t), then the group mean.
func observedScores(in *Input) ([]float64, error) {
	T, nKV, H := in.KV.T, in.KV.NKVHeads, in.Window.NHeads
	G := H / nKV
	if len(in.ObservedColSums) != H*T {
		return nil, fmt.Errorf("press: observed_attention: len(ObservedColSums)=%d, want n_heads×T = %d×%d", len(in.ObservedColSums), H, T)
	}
	scores := make([]float64, nKV*T)
	for h := range H {
		for t := range T {
			scores[(h/G)*T+t] += in.ObservedColSums[h*T+t] / float64(T-t) / float64(G)
		}
	}
	return scores, nil
}

// expectedStats computes ExpectedAttention's expected logits (spec 4.7): z[h, t] for t = nSink..T-1
// and the rotated query mean R·μ_h.
func expectedStats(in *Input, o *Options) (z, muRot []float64, err error) {
	kv, pq := &in.KV, &in.PreRoPE
	T, D, nKV := kv.T, kv.HeadDim, kv.NKVHeads
	ns := o.NSink
	N := T - ns
	if N < 1 || D%2 != 0 {
		return nil, nil, fmt.Errorf("press: expected_attention: T=%d must exceed n_sink=%d and head_dim %d must be even", T, ns, D)
	}
	if err := pq.validate("expected_attention pre-RoPE queries"); err != nil {
		return nil, nil, err
	}
	if pq.W != N || pq.HeadDim != D || pq.NHeads != in.Window.NHeads {
		return nil, nil, fmt.Errorf("press: expected_attention: pre-RoPE queries are %d×%d×%d, want n_heads×(T-n_sink)×head_dim = %d×%d×%d", pq.NHeads, pq.W, pq.HeadDim, in.Window.NHeads, N, D)
	}
	half := D / 2
	if len(in.RoPEInvFreq) != half {
		return nil, nil, fmt.Errorf("press: expected_attention: %d RoPE inverse frequencies, want head_dim/2 = %d", len(in.RoPEInvFreq), half)
	}
	// R = mean over p = T..T+NFuture-1 of the RoPE rotation at p: per frequency the mean cosine c
	// and mean sine s, R[a,a] = c, R[a,a+half] = -s (a < half), R[a,a-half] = s (a >= half).
	c := make([]float64, half)
	sn := make([]float64, half)
	for k, f := range in.RoPEInvFreq {
		for p := T; p < T+o.NFuture; p++ {
			c[k] += math.Cos(float64(p) * f)
			sn[k] += math.Sin(float64(p) * f)
		}
		c[k] /= float64(o.NFuture)
		sn[k] /= float64(o.NFuture)
	}
	rotate := func(dst, x []float64) {
		for a := range half {
			dst[a] = c[a]*x[a] - sn[a]*x[a+half]
			dst[a+half] = c[a]*x[a+half] + sn[a]*x[a]
		}
	}
	H := pq.NHeads
	G := H / nKV
	z = make([]float64, H*N)
	muRot = make([]float64, H*D)
	mu := make([]float64, D)
	cov := make([]float64, D*D) // Σ, then R Σ R^T
	tmp := make([]float64, D*D) // R Σ, transposed
	col := make([]float64, D)
	dev := make([]float64, D)
	scale := 1 / math.Sqrt(float64(D))
	for h := range H {
		clear(mu)
		for n := range N {
			for j, x := range pq.row(h, n) {
				mu[j] += float64(x)
			}
		}
		for j := range mu {
			mu[j] /= float64(N)
		}
		rotate(muRot[h*D:(h+1)*D], mu)
		if !o.NoCovariance {
			clear(cov)
			for n := range N {
				for j, x := range pq.row(h, n) {
					dev[j] = float64(x) - mu[j]
				}
				for a := range D {
					for b := range D {
						cov[a*D+b] += dev[a] * dev[b]
					}
				}
			}
			for a := range cov {
				cov[a] /= float64(N) // population covariance
			}
			// tmp[b][:] = R·Σ[:, b] (Σ symmetric, so column b = row b); then R·tmp[a][:] is row a
			// of (RΣ)Rᵀ.
			for b := range D {
				rotate(tmp[b*D:(b+1)*D], cov[b*D:(b+1)*D])
			}
			for a := range D {
				for b := range D {
					col[b] = tmp[b*D+a]
				}
				rotate(cov[a*D:(a+1)*D], col)
			}
		}
		kh, _ := kv.head(h / G)
		mr := muRot[h*D : (h+1)*D]
		for n := range N {
			k := kh[(ns+n)*D : (ns+n+1)*D]
			var lin float64
			for j, x := range k {
				lin += mr[j] * float64(x)
			}
			zz := lin * scale
			if !o.NoCovariance {
				var quad float64
				for a, xa := range k {
					var r float64
					for b, xb := range k {
						r += cov[a*D+b] * float64(xb)
					}
					quad += float64(xa) * r
				}
				zz += quad / float64(2*D)
			}
			z[h*N+n] = zz
		}
	}
	return z, muRot, nil
}

// expectedScores computes ExpectedAttention's token scores (spec 4.7) from expectedStats: the
// group mean of softmax_t z, plus ε, times ‖V_t‖; the nSink first tokens get max+1.
func expectedScores(in *Input, o *Options) ([]float64, error) {
	z, _, err := expectedStats(in, o)
	if err != nil {
		return nil, err
	}
	kv := &in.KV
	T, D, nKV, H := kv.T, kv.HeadDim, kv.NKVHeads, in.Window.NHeads
	G := H / nKV
	ns := o.NSink
	N := T - ns
	scores := make([]float64, nKV*T)
	for h := range H {
		zh := z[h*N : (h+1)*N]
		softmaxInPlace(zh)
		for n, p := range zh {
			scores[(h/G)*T+ns+n] += p / float64(G)
		}
	}
	for i := range nKV {
		_, vh := kv.head(i)
		for t := ns; t < T; t++ {
			s := scores[i*T+t] + o.Epsilon
			if !o.NoVNorm {
				s *= math.Sqrt(dot64(vh[t*D:(t+1)*D], vh[t*D:(t+1)*D]))
			}
			scores[i*T+t] = s
		}
	}
	forceMax(scores, nKV, T, func(t int) bool { return t < ns })
	return scores, nil
}
