package press

import (
	"fmt"
	"math"
	"slices"

	"github.com/sparkrun/sparkrun/runtime/cpu"
)

// groupTable is one row of the SparK-g table (spec 3.11): a token whose 99%-saliency rank i*
// exceeds k of the bounds keeps int(keep[k]·D) channels.
type groupTable struct {
	bounds, keep []float64
}

// groupTables maps threshold_ratio to its bounds and keep fractions: 0.99 from the SparK HEAD code,
// the others from its history (S1h), spec 3.11.
var groupTables = map[float64]groupTable{
	0.99:   {[]float64{0.2, 0.4, 0.6, 0.8}, []float64{0.1, 0.3, 0.5, 0.7, 0.9}},
	0.991:  {[]float64{0.25, 0.5, 0.75}, []float64{0.25, 0.5, 0.75, 1.0}},
	0.992:  {[]float64{0.25, 0.3, 0.35, 0.4}, []float64{0.2, 0.3, 0.35, 0.4, 0.5}},
	0.9922: {[]float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.8}, []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0}},
	0.993:  {[]float64{0.2, 0.3, 0.4, 0.5}, []float64{0.2, 0.3, 0.4, 0.5, 0.6}},
	0.994:  {[]float64{0.3, 0.4, 0.5}, []float64{0.3, 0.4, 0.5, 0.6}},
	0.995:  {[]float64{0.3, 0.4, 0.5, 0.6}, []float64{0.3, 0.4, 0.5, 0.6, 0.7}},
	0.996:  {[]float64{0.25, 0.3, 0.35, 0.4, 0.6}, []float64{0.2, 0.25, 0.3, 0.35, 0.4, 0.5}},
	0.997:  {[]float64{0.3, 0.4, 0.5, 0.7}, []float64{0.3, 0.35, 0.4, 0.45, 0.5}},
}

// groupTableOrder lists the keys of groupTables for error messages.
var groupTableOrder = []float64{0.99, 0.991, 0.992, 0.9922, 0.993, 0.994, 0.995, 0.996, 0.997}

// cumulativeP is SparK's hard-coded cumulative-saliency threshold (spec 3.11).
const cumulativeP = 0.99

// sparkDiag receives SparK's per-token intermediate quantities for tests and analysis; nil skips
// them. (qn and the saliencies come from windowQueryNorm and tokenSaliency directly.)
type sparkDiag struct {
	a          []float64 // [n_kv_heads][T] mean pruned saliency
	firstCross []int     // [n_kv_heads][T] i* (group/topp)
	group      []int     // [n_kv_heads][T] group index (group)
}

// windowQueryNorm computes SparK's channel query norm (spec 3.2): per KV head the L2 norm over the
// last w window rows of the group-mean (signed) query vector.
func windowQueryNorm(q *Queries, nKV, w int) []float64 {
	D, G := q.HeadDim, q.NHeads/nKV
	qn := make([]float64, nKV*D)
	qbar := make([]float64, D)
	for i := range nKV {
		for r := q.W - w; r < q.W; r++ {
			clear(qbar)
			for g := range G {
				for j, x := range q.row(i*G+g, r) {
					qbar[j] += float64(x)
				}
			}
			for j := range qbar {
				m := qbar[j] / float64(G)
				qn[i*D+j] += m * m
			}
		}
		for j := range D {
			qn[i*D+j] = math.Sqrt(qn[i*D+j])
		}
	}
	return qn
}

// sparkKeys runs SparK's channel stage (spec 3.2-3.5, 3.11) on kv with the window queries win
// and returns the keys in the layout of spec 3.6.
func sparkKeys(kv LayerKV, win *Queries, o *Options, diag *sparkDiag) (KeyStore, error) {
	D, T, nKV := kv.HeadDim, kv.T, kv.NKVHeads
	if win.W < o.SparKWindow {
		return nil, fmt.Errorf("press: spark: %d window query rows, need %d", win.W, o.SparKWindow)
	}
	nPruneFixed := int(o.KeyRatio * float64(D))
	if diag != nil {
		diag.a = make([]float64, nKV*T)
		diag.firstCross = make([]int, nKV*T)
		diag.group = make([]int, nKV*T)
	}
	if o.Mode == ModeFixed && nPruneFixed == 0 {
		// n_p = 0 means no pruning (spec A6): dense keys, no record overhead.
		k := exactCopy(kv.K)
		return &DenseKeys{K: k}, nil
	}
	qn := windowQueryNorm(win, nKV, o.SparKWindow)
	withRecovery := o.Recovery != RecoveryZero
	ks := &SparKKeys{Rho: make([]float32, nKV*D), MaskBytes: (D + 7) / 8,
		KeptStart: make([]int, nKV+1), SignStart: make([]int, nKV+1)}
	ks.Mask = make([]byte, nKV*T*ks.MaskBytes)
	if withRecovery {
		ks.Alpha = make([]float32, nKV*T)
		ks.Signs = []byte{}
	}
	if o.Mode == ModeFixed {
		ks.Kept = make([]float32, 0, nKV*T*(D-nPruneFixed))
	}
	for j, q := range qn {
		if q > 0 {
			if o.PaperSaliency {
				ks.Rho[j] = float32(1 / q)
			} else {
				ks.Rho[j] = float32(1 / math.Sqrt(q))
			}
		}
	}
	s := make([]float64, D)
	asc := make([]float64, D)
	pruned := make([]bool, D)
	for i := range nKV {
		ks.KeptStart[i], ks.SignStart[i] = len(ks.Kept), len(ks.Signs)
		qni := qn[i*D : (i+1)*D]
		for t := range T {
			k := kv.K[(i*T+t)*D:][:D]
			tokenSaliency(s, k, qni, o.PaperSaliency)
			copy(asc, s)
			slices.Sort(asc)
			nKeep, nBottom, fc, grp := sparkKeepCount(asc, o, nPruneFixed)
			selectTop(pruned, s, asc, nKeep)
			var a, bottom float64
			for _, x := range asc[:D-nKeep] {
				a += x // the pruned set holds exactly the D-nKeep lowest values
			}
			for _, x := range asc[:nBottom] {
				bottom += x
			}
			if nKeep < D {
				a /= float64(D - nKeep)
			}
			if nBottom > 0 {
				bottom /= float64(nBottom)
			}
			mask := ks.Mask[(i*T+t)*ks.MaskBytes:]
			so := len(ks.Signs)
			if withRecovery {
				ks.Signs = append(ks.Signs, make([]byte, (D-nKeep+7)/8)...)
			}
			p := 0
			for j, x := range k {
				if !pruned[j] {
					mask[j>>3] |= 1 << (j & 7)
					ks.Kept = append(ks.Kept, o.DType.Round(x))
					continue
				}
				if withRecovery && x > 0 {
					ks.Signs[so+p>>3] |= 1 << (p & 7)
				}
				p++
			}
			if withRecovery {
				mean := a
				if o.Recovery == RecoveryAvgBottom {
					mean = bottom
				}
				if o.PaperSaliency {
					ks.Alpha[i*T+t] = o.DType.Round(float32(mean))
				} else {
					ks.Alpha[i*T+t] = o.DType.Round(float32(math.Sqrt(mean)))
				}
			}
			if diag != nil {
				diag.a[i*T+t] = a
				diag.firstCross[i*T+t] = fc
				diag.group[i*T+t] = grp
			}
		}
	}
	ks.KeptStart[nKV], ks.SignStart[nKV] = len(ks.Kept), len(ks.Signs)
	if withRecovery {
		// Slack past the last sign byte: the decode kernel reads a row's signs with 8-byte loads
		// (cpu.SignSlack); without it the last rows would take the slower Go kernel.
		ks.Signs = append(make([]byte, 0, len(ks.Signs)+cpu.SignSlack), ks.Signs...)
	}
	return ks, nil
}

// tokenSaliency writes the saliency of one token's key channels (spec 3.3): k²·qn, or the
// paper's |k|·qn (spec A1).
func tokenSaliency(s []float64, k []float32, qn []float64, paper bool) {
	for j, x := range k {
		if paper {
			s[j] = math.Abs(float64(x)) * qn[j]
		} else {
			s[j] = float64(x) * float64(x) * qn[j]
		}
	}
}

// selectTop marks in pruned every channel outside the nKeep first of the ranking of s (score
// descending, ties to the lower index, spec section 1), given asc = s sorted ascending: the kept
// channels are those above the nKeep-th largest value, then the lowest-index ones equal to it.
// Equivalent to ranking, in O(D) after the sort of plain floats (a comparison sort of indices per
// token was the largest cost of the press).
func selectTop(pruned []bool, s, asc []float64, nKeep int) {
	D := len(s)
	if nKeep == 0 {
		for j := range pruned {
			pruned[j] = true
		}
		return
	}
	thr := asc[D-nKeep]
	need := nKeep
	for _, x := range s {
		if x > thr {
			need--
		}
	}
	for j, x := range s {
		switch {
		case x > thr:
			pruned[j] = false
		case x == thr && need > 0:
			pruned[j] = false
			need--
		default:
			pruned[j] = true
		}
	}
}

// sparkKeepCount returns how many of a token's channels SparK keeps and how many of the lowest
// saliencies "avg_bottom" averages, and in group/topp mode the 99% rank i* and the group index
// (spec 3.4, 3.11, 3.12). asc holds the token's saliencies sorted ascending.
func sparkKeepCount(asc []float64, o *Options, nPruneFixed int) (nKeep, nBottom, firstCross, group int) {
	D := len(asc)
	if o.Mode == ModeFixed {
		// avg_bottom averages the D - int(λD) lowest saliencies (spec 3.12: "strictly below the
		// k-th largest", k = int(λD)), which equals the pruned set only at λ = 0.5.
		return D - nPruneFixed, D - nPruneFixed, 0, 0
	}
	// i* = first 0-based rank whose cumulative sorted (descending) saliency exceeds 0.99 of the
	// total; both sums run in descending order, as the ranking defines them.
	var tot float64
	for r := D - 1; r >= 0; r-- {
		tot += asc[r]
	}
	var c float64
	for r := range D {
		c += asc[D-1-r]
		if c > cumulativeP*tot {
			firstCross = r
			break
		}
	}
	if o.Mode == ModeTopP {
		nKeep = firstCross + 1
	} else {
		tab := groupTables[o.ThresholdRatio]
		for _, b := range tab.bounds {
			if firstCross > int(b*float64(D)) {
				group++
			}
		}
		nKeep = int(tab.keep[group] * float64(D))
	}
	// In group/topp mode the grouped average runs over the token's own pruned set (spec 3.12, A4).
	return nKeep, D - nKeep, firstCross, group
}
