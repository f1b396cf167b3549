package press

import "math"

// This file is compiled only into press's test binary. It re-exports the internals that the
// external golden test (golden_test.go, package press_test) checks stage by stage, so that test
// can use the shared case loader press/presstest (which imports press, and so cannot be imported
// by an internal test) without widening the real API.

// Stage internals, re-exported as they are; see each function's own doc comment.
var (
	SnapScores         = snapScores
	TovaScores         = tovaScores
	ObservedScores     = observedScores
	ExpectedScores     = expectedScores
	ExpectedStats      = expectedStats
	PyramidBudget      = pyramidBudget
	Gather             = gather
	WindowQueryNorm    = windowQueryNorm
	TokenSaliency      = tokenSaliency
	ThinKChannelScores = thinkChannelScores
	LayerRecords       = layerRecords
	CompressedLogits   = compressedLogits
)

// CumulativeP is the cumulative-saliency threshold SparK hard-codes, so the test can hold
// presstest's copy of it to the press's.
const CumulativeP = cumulativeP

// WithDefaults returns o with every unset field given its press default (Options.withDefaults).
func WithDefaults(o Options) (Options, error) { return o.withDefaults() }

// SparKDiagnostics runs SparK's channel stage on kv and returns its per-token diagnostics, each
// [n_kv_heads][T]: the mean pruned saliency a, the first crossing rank i* (group/top-p modes) and
// the group index (group mode).
func SparKDiagnostics(kv LayerKV, win *Queries, o *Options) (a []float64, firstCross, group []int, err error) {
	var d sparkDiag
	_, err = sparkKeys(kv, win, o, &d)
	return d.a, d.firstCross, d.group, err
}

// layerRecords returns a compressed layer's keep mask [h][t][D] (1 = stored) and α [h][t] (0
// without recovery), whatever the key layout.
func layerRecords(c *CompressedLayer) (mask []int, alpha []float64) {
	D, n := c.HeadDim, c.NTokens
	mask = make([]int, c.NKVHeads*n*D)
	alpha = make([]float64, c.NKVHeads*n)
	switch k := c.Keys.(type) {
	case *DenseKeys:
		for i := range mask {
			mask[i] = 1
		}
	case *ChannelKeys:
		for i := range c.NKVHeads {
			for t := range n {
				for _, j := range k.Channels[i*k.NKept : (i+1)*k.NKept] {
					mask[(i*n+t)*D+int(j)] = 1
				}
			}
		}
	case *SparKKeys:
		for i := range c.NKVHeads * n {
			for j := range D {
				mask[i*D+j] = int(k.Mask[i*k.MaskBytes+j/8] >> (j % 8) & 1)
			}
			if k.hasRecovery() {
				alpha[i] = float64(c.DType.at(k.Alpha, k.Alpha16, i))
			}
		}
	}
	return mask, alpha
}

// compressedLogits returns q·k̂/sqrt(D) [n_heads][n_tokens] from the decode kernel's own score
// pass (headOp, cpu.MaskedScores), for the golden decode_logits.
func compressedLogits(c *CompressedLayer, q []float32, nHeads int) []float64 {
	D, G, T := c.HeadDim, nHeads/c.NKVHeads, c.NTokens
	s := Scratch{q4: make([]float32, 4*D)}
	scores := make([]float32, T*4)
	out := make([]float64, nHeads*T)
	scale := 1 / math.Sqrt(float64(D))
	for i := range c.NKVHeads {
		for g0 := 0; g0 < G; g0 += 4 {
			hs := min(4, G-g0)
			clear(s.q4)
			copy(s.q4, q[(i*G+g0)*D:(i*G+g0+hs)*D])
			c.headOp(i, &s, scores)
			for g := range hs {
				for t := range T {
					out[(i*G+g0+g)*T+t] = float64(scores[t*4+g]) * scale
				}
			}
		}
	}
	return out
}
