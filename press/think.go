package press

import (
	"fmt"
	"slices"
)

// thinkChannelScores computes ThinK's per-KV-head channel scores (spec 4.8):
// mean_{g,w} q² · mean_t k² over the last w window rows.
func thinkChannelScores(kv LayerKV, win *Queries, w int) []float64 {
	D, T, nKV := kv.HeadDim, kv.T, kv.NKVHeads
	G := win.NHeads / nKV
	score := make([]float64, nKV*D)
	qsq := make([]float64, D)
	ksq := make([]float64, D)
	for i := range nKV {
		clear(qsq)
		clear(ksq)
		for g := range G {
			for r := win.W - w; r < win.W; r++ {
				for j, x := range win.row(i*G+g, r) {
					qsq[j] += float64(x) * float64(x)
				}
			}
		}
		for t := range T {
			for j, x := range kv.K[(i*T+t)*D:][:D] {
				ksq[j] += float64(x) * float64(x)
			}
		}
		for j := range D {
			score[i*D+j] = qsq[j] / float64(G*w) * (ksq[j] / float64(T))
		}
	}
	return score
}

// thinkKeys runs ThinK (spec 4.8): per KV head the int(λD) lowest-scoring channels are pruned
// (zero) for every token; only the kept channels are stored.
func thinkKeys(kv LayerKV, win *Queries, o *Options) (KeyStore, error) {
	D, T, nKV := kv.HeadDim, kv.T, kv.NKVHeads
	if win.W < o.ThinKWindow {
		return nil, fmt.Errorf("press: think: %d window query rows, need %d", win.W, o.ThinKWindow)
	}
	nPrune := int(o.KeyRatio * float64(D))
	if nPrune == 0 || T == 0 {
		k := exactCopy(kv.K)
		return &DenseKeys{K: k}, nil
	}
	if D > 1<<16 {
		return nil, fmt.Errorf("press: think: head_dim %d does not fit the uint16 channel indices", D)
	}
	score := thinkChannelScores(kv, win, o.ThinKWindow)
	nk := D - nPrune
	ck := &ChannelKeys{NKept: nk, Channels: make([]uint16, nKV*nk), K: make([]float32, nKV*T*nk)}
	idx := make([]int, D)
	for i := range nKV {
		rankDesc(idx, score[i*D:(i+1)*D])
		ch := ck.Channels[i*nk : (i+1)*nk]
		for n, j := range idx[:nk] {
			ch[n] = uint16(j)
		}
		slices.Sort(ch)
		for t := range T {
			k := kv.K[(i*T+t)*D:]
			dst := ck.K[(i*T+t)*nk:]
			for n, j := range ch {
				dst[n] = o.DType.Round(k[j])
			}
		}
	}
	return ck, nil
}
