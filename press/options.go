package press

import (
	"fmt"
	"strings"
)

// Options are the press parameters (spec 3.10 and section 4). The zero value of every field means
// the spec default, so Options{KeyRatio: 0.8, Budget: 1024} is a complete snap_spark setting.
type Options struct {
	// KeyRatio is λ, the fraction of key channels pruned per token (SparK) or per KV head (ThinK):
	// int(λ·D) channels are pruned. Must be in [0, 1]; int(λ·D) = 0 means no pruning.
	KeyRatio float64
	// Budget is max_capacity_prompt: tokens kept per KV head, window and sink tokens included.
	// 0 means unset; when set it overrides TokenRatio (spec 2.5).
	Budget int
	// TokenRatio is compression_ratio: the fraction of tokens removed, in [0, 1).
	TokenRatio float64
	// Recovery is SparK's recovery of pruned key entries: "avg" (default, pooling_ratio 0.65,
	// spec 3.5), "avg_bottom" (pooling_ratio 0.0, spec 3.12) or "zero".
	Recovery string
	// Mode is SparK's channel selection: "fixed" (default, spec 3.4), "group" (SparK-g) or
	// "topp" (SparK-p) (spec 3.11). Group and top-p ignore KeyRatio.
	Mode string
	// ThresholdRatio selects SparK-g's bounds and keep fractions (spec 3.11 table); 0 means 0.99,
	// the only value the SparK HEAD code accepts.
	ThresholdRatio float64
	// PaperSaliency uses the paper's saliency |k|·qn and recovery a/qn instead of the code's k²·qn
	// and sqrt(a/qn) (spec A1). The goldens and the experiments use the code's form (false).
	PaperSaliency bool
	// SparKWindow and ThinKWindow are the observation windows for the channel statistics (32).
	SparKWindow, ThinKWindow int
	// SnapWindow is SnapKV/PyramidKV's observation window (64); KernelSize its pooling width (5).
	SnapWindow, KernelSize int
	// Beta is PyramidKV's budget slope (20).
	Beta float64
	// PyramidSaneFallback replaces two PyramidKV quirks of the fork (spec 4.3, A11): when the
	// pyramid does not fit, keep m tokens instead of round(T·(1-TokenRatio)), and do not return
	// early when TokenRatio is 0 but Budget is set. False reproduces the fork (and the goldens).
	PyramidSaneFallback bool
	// NSink is the number of attention-sink tokens always kept by StreamingLLM and
	// ExpectedAttention (4).
	NSink int
	// NFuture is ExpectedAttention's number of future positions averaged into the rotation (512).
	NFuture int
	// NoCovariance and NoVNorm switch off ExpectedAttention's covariance term and value-norm
	// weighting (both on by default). Epsilon is added to its probabilities (0).
	NoCovariance, NoVNorm bool
	Epsilon               float64
	// DType is the storage type of the compressed cache (F32 default).
	DType DType
}

// Recovery and mode names.
const (
	RecoveryAvg       = "avg"
	RecoveryAvgBottom = "avg_bottom"
	RecoveryZero      = "zero"
	ModeFixed         = "fixed"
	ModeGroup         = "group"
	ModeTopP          = "topp"
)

// withDefaults returns o with defaults filled in, or an error naming the invalid parameter.
func (o Options) withDefaults() (Options, error) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.SparKWindow, 32)
	def(&o.ThinKWindow, 32)
	def(&o.SnapWindow, 64)
	def(&o.KernelSize, 5)
	def(&o.NSink, 4)
	def(&o.NFuture, 512)
	if o.Beta == 0 {
		o.Beta = 20
	}
	if o.Recovery == "" {
		o.Recovery = RecoveryAvg
	}
	if o.Mode == "" {
		o.Mode = ModeFixed
	}
	if o.ThresholdRatio == 0 {
		o.ThresholdRatio = 0.99
	}
	switch {
	case !(o.KeyRatio >= 0 && o.KeyRatio <= 1):
		return o, fmt.Errorf("press: key ratio %v outside [0, 1]", o.KeyRatio)
	case !(o.TokenRatio >= 0 && o.TokenRatio < 1):
		return o, fmt.Errorf("press: token ratio %v outside [0, 1)", o.TokenRatio)
	case o.Budget < 0:
		return o, fmt.Errorf("press: negative budget %d", o.Budget)
	case o.SparKWindow < 0 || o.ThinKWindow < 0 || o.SnapWindow < 0 || o.NSink < 0 || o.NFuture < 0:
		return o, fmt.Errorf("press: negative window, sink or future count in %+v", o)
	case o.KernelSize < 0 || o.KernelSize%2 == 0:
		return o, fmt.Errorf("press: kernel size %d must be odd and positive", o.KernelSize)
	case !(o.Beta > 0):
		return o, fmt.Errorf("press: PyramidKV beta %v must be positive", o.Beta)
	case !o.DType.valid():
		return o, fmt.Errorf("press: unknown KV dtype %v", o.DType)
	}
	if r := o.Recovery; r != RecoveryAvg && r != RecoveryAvgBottom && r != RecoveryZero {
		return o, fmt.Errorf("press: unknown recovery %q (valid: %s, %s, %s)", r, RecoveryAvg, RecoveryAvgBottom, RecoveryZero)
	}
	switch o.Mode {
	case ModeFixed, ModeTopP:
	case ModeGroup:
		if _, ok := groupTables[o.ThresholdRatio]; !ok {
			var valid []string
			for _, t := range groupTableOrder {
				valid = append(valid, fmt.Sprint(t))
			}
			return o, fmt.Errorf("press: no SparK-g group table for threshold ratio %v (valid: %s)", o.ThresholdRatio, strings.Join(valid, ", "))
		}
	default:
		return o, fmt.Errorf("press: unknown SparK mode %q (valid: %s, %s, %s)", o.Mode, ModeFixed, ModeGroup, ModeTopP)
	}
	return o, nil
}
