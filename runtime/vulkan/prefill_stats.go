//go:build cgo

package vulkan

import (
	"fmt"
	"math"

	"github.com/sparkrun/sparkrun/ggml"
)

// This file collects, during a prompt's prefill, the statistics that ObservedAttention and
// ExpectedAttention score tokens with at the end of prefill (spec 2, 4.6, 4.7), on the device:
// the press's inputs never leave it, as with the other presses' window queries (KeepWindow).
//
//   - observed_attention: the column sums of the causal prefill attention, [n_heads][TMax] f32,
//     as natural logarithms (probabilities far below the peak underflow float32 and would tie,
//     where the CPU's float64 still orders them; the expected scores are kept as logarithms for
//     the same reason). After each prefill chunk's attention, press_observed.comp computes the
//     chunk's probabilities again from its queries and the stored keys (a second pass over the
//     chunk's logits, as the CPU press cache does in float64) and adds them. Each column sum is
//     one invocation's float32 running sum of at most T probabilities (scaled by their running
//     max), each computed with a relative error of a few 1e-7: its relative error is below
//     T·2^-24 (6e-6 at T = 100, 6e-5 at 1000) in the worst case and about sqrt(T)·2^-24 in
//     practice, under the press README's float32 tolerance for scores (1e-4 relative); the
//     logarithm adds 2^-24·|log Σ| (1e-6 relative for sums down to e^-16).
//   - expected_attention: per query head the shift, S1 and S2 of the pre-RoPE queries of the
//     positions >= n_sink (layout in shaders/press_stats.glsl), accumulated about the mean of the
//     first counted chunk: the mean and covariance then come out without the float32
//     cancellation of Σqqᵀ/N − μμᵀ (for a one-chunk prompt the shift is the mean itself; when
//     the mean drifts by d from it, Σ = S2/N − ddᵀ loses about |d|²/Σ of relative accuracy, not
//     |μ|²/Σ). Each chunk's sums are formed in float32 first and then added, so their relative
//     error is about (rows per chunk + chunks)·2^-24 at worst. On the golden case the logits z
//     agree with the float64 reference to 1.0e-6 (1.2% of the README's float32 tolerance, 1e-5
//     of max |z|) and the rotated means to 8e-8. [n_heads][2·head_dim + head_dim²] f32 per layer
//     and sequence, the observed sums [n_heads][TMax + 2·MaxRows] f32.

// PrefillStats is one sequence's prefill statistics for one layer, for a press that needs them
// (DevicePress.NeedsStats). The model records AccumulateObserved or AccumulateExpected for every
// prefill chunk and passes the statistics to CompressLayer (LayerInput.Stats).
type PrefillStats struct {
	buf   *Buffer
	kind  string // "observed_attention" or "expected_attention"
	nSink int    // expected: positions before nSink are not counted
	StatsShape
}

// StatsShape is the shape of a layer's prefill statistics.
type StatsShape struct {
	// NHeads, NKV and HeadDim are the attention shape; TMax the positions of a sequence (the KV
	// cache's capacity per head, and the column sums' stride); MaxRows the most rows of one
	// prefill chunk (observed: its per-row softmax statistics).
	NHeads, NKV, HeadDim, TMax, MaxRows int
	// InvFreq (expected only) holds the model's RoPE inverse frequencies, [HeadDim/2], frequency
	// factors and scaling applied; NeoX says RoPE rotates the pairs (k, k+HeadDim/2), not (2k,
	// 2k+1). ExpectedAttention averages that rotation over the future positions (spec 4.7).
	InvFreq []float64
	NeoX    bool
}

// NeedsStats reports whether the press scores tokens from prefill statistics (PrefillStats).
func (p *DevicePress) NeedsStats() bool {
	return p.token == "observed_attention" || p.token == "expected_attention"
}

// NewPrefillStats allocates one layer's statistics for press p, or returns nil for a press that
// needs none.
func (c *Context) NewPrefillStats(p *DevicePress, s StatsShape) (*PrefillStats, error) {
	if !p.NeedsStats() {
		return nil, nil
	}
	H, D := s.NHeads, s.HeadDim
	switch {
	case H < 1 || s.NKV < 1 || H%s.NKV != 0 || D < 1 || D > maxHeadDim || s.TMax < 1 || s.MaxRows < 1:
		return nil, fmt.Errorf("vulkan: %s statistics for %d/%d heads of dim %d (supported 1..%d), %d positions, chunks of %d rows",
			p.name, H, s.NKV, D, maxHeadDim, s.TMax, s.MaxRows)
	case p.token == "expected_attention" && (D%2 != 0 || len(s.InvFreq) != D/2):
		return nil, fmt.Errorf("vulkan: expected_attention statistics: head dim %d with %d RoPE frequencies (want an even head dim and head_dim/2 frequencies)", D, len(s.InvFreq))
	}
	words := statsWords(p, s)
	buf, err := c.NewBuffer(4 * uint64(words))
	if err != nil {
		return nil, fmt.Errorf("vulkan: %s statistics of %d bytes: %w", p.name, 4*words, err)
	}
	s.InvFreq = append([]float64(nil), s.InvFreq...)
	return &PrefillStats{buf: buf, kind: p.token, nSink: p.opts.NSink, StatsShape: s}, nil
}

// PrefillStatsBytes returns the device bytes of one layer's statistics for press p (0 for a
// press without them), what NewPrefillStats allocates: for a model's fit check.
func PrefillStatsBytes(p *DevicePress, s StatsShape) uint64 {
	if !p.NeedsStats() {
		return 0
	}
	return 4 * uint64(statsWords(p, s))
}

// statsWords returns the 32-bit words of one layer's statistics for press p.
func statsWords(p *DevicePress, s StatsShape) int {
	H, D := s.NHeads, s.HeadDim
	if p.token == "expected_attention" {
		return H*(2*D+D*D) + D // shift, S1, S2 per head; the mean rotation
	}
	return H * (s.TMax + 2*s.MaxRows) // column sums, row statistics
}

// Size returns the statistics' device bytes.
func (st *PrefillStats) Size() uint64 { return st.buf.Size() }

// Close frees the statistics; they must not be in use by a pending submission.
func (st *PrefillStats) Close() { st.buf.Close() }

// AccumulateObserved records the addition of a prefill chunk's causal attention probabilities
// to the column sums: q holds the chunk's queries ([rows][NHeads·HeadDim] f32, post-RoPE, the
// first at position pos0) and k the layer's key cache ([NKV][TMax][HeadDim] of kv) with the
// chunk's keys already stored. Record it after the chunk's attention.
func (r *Recorder) AccumulateObserved(st *PrefillStats, q, k Span, kv ggml.Type, rows, pos0 int) error {
	if st == nil || st.kind != "observed_attention" {
		return fmt.Errorf("vulkan: accumulate observed attention: the statistics are not observed_attention's")
	}
	H, D := st.NHeads, st.HeadDim
	if rows < 1 || rows > st.MaxRows || pos0 < 0 || pos0+rows > st.TMax {
		return fmt.Errorf("vulkan: accumulate observed attention: %d rows at position %d (statistics for chunks of %d rows, %d positions)", rows, pos0, st.MaxRows, st.TMax)
	}
	ty := 0
	switch kv {
	case ggml.TypeF32:
	case ggml.TypeF16:
		ty = 1
	default:
		return fmt.Errorf("vulkan: accumulate observed attention: cache type %v (want f32 or f16)", kv)
	}
	b, err := r.bind("accumulate observed attention", []Span{q, k, st.buf.All()}, []string{"q", "keys", "statistics"},
		[]uint64{4 * uint64(rows*H*D), uint64(kv.TypeSize()) * uint64(st.NKV*st.TMax*D), st.buf.Size()})
	if err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(D)))
	if err := r.dispatch("press_observed", b, push(ty<<8, rows, pos0, H, st.NKV, D, st.TMax, scale), uint32(rows*H), 1); err != nil {
		return err
	}
	return r.dispatch("press_observed", b, push(1|ty<<8, rows, pos0, H, st.NKV, D, st.TMax, scale), groupsFor(H*(pos0+rows)), 1)
}

// AccumulateExpected records the addition of a prefill chunk's pre-RoPE queries (q:
// [rows][NHeads·HeadDim] f32, the first at position pos0; for Qwen3 after the per-head q norm:
// the model's real queries, spec 4.7) to ExpectedAttention's statistics; rows before the press's
// n_sink are not counted. Record it before the chunk's RoPE rotates q.
func (r *Recorder) AccumulateExpected(st *PrefillStats, q Span, rows, pos0 int) error {
	if st == nil || st.kind != "expected_attention" {
		return fmt.Errorf("vulkan: accumulate expected attention: the statistics are not expected_attention's")
	}
	nSink := st.nSink
	if rows < 1 || pos0 < 0 || pos0+rows > st.TMax {
		return fmt.Errorf("vulkan: accumulate expected attention: %d rows at position %d (statistics for %d positions)", rows, pos0, st.TMax)
	}
	if pos0+rows <= nSink {
		return nil // only sink positions: nothing counts
	}
	H, D := st.NHeads, st.HeadDim
	b, err := r.bind("accumulate expected attention", []Span{q, st.buf.All()}, []string{"q", "statistics"},
		[]uint64{4 * uint64(rows*H*D), st.buf.Size()})
	if err != nil {
		return err
	}
	if pos0 <= nSink {
		// This chunk holds the first counted position: it sets the shift and clears the sums.
		if err := r.dispatch("press_expected", b, push(0, rows, pos0, H, D, nSink), groupsFor(H*D), 1); err != nil {
			return err
		}
	}
	return r.dispatch("press_expected", b, push(1, rows, pos0, H, D, nSink), groupsFor(H*D*D), 1)
}

// writeRotation writes ExpectedAttention's mean rotation for a prompt of T tokens after the
// statistics (shaders/press_stats.glsl): per frequency f the means of cos(p·f) and sin(p·f) over
// the future positions p = T..T+nFuture-1 (meanRotation). They depend on T and the model only,
// not on the layer's numbers, so the host computes them, in float64 and in closed form: D/2
// sines and cosines per layer and prompt.
func (st *PrefillStats) writeRotation(T, nFuture int) error {
	half := st.HeadDim / 2
	cs := make([]float32, 2*half)
	for k, f := range st.InvFreq {
		c, s := meanRotation(T, nFuture, f)
		cs[k], cs[half+k] = float32(c), float32(s)
	}
	return st.buf.WriteF32(st.NHeads*(2*st.HeadDim+st.HeadDim*st.HeadDim), cs)
}

// meanRotation returns the means of cos(p·f) and sin(p·f) over p = T..T+n-1, the geometric series
// Σ e^{ipf} / n = e^{i(T + (n-1)/2)f} · sin(nf/2) / (n·sin(f/2)), which is 1 where sin(f/2) = 0
// (every term the same). The CPU press sums the n terms; the two agree to about n·1e-16.
func meanRotation(T, n int, f float64) (c, s float64) {
	r := 1.0
	if d := math.Sin(f / 2); d != 0 {
		r = math.Sin(float64(n)*f/2) / (float64(n) * d)
	}
	sn, co := math.Sincos((float64(T) + float64(n-1)/2) * f)
	return co * r, sn * r
}
