// press_stats.glsl: what ObservedAttention's and ExpectedAttention's shaders share
// (press_observed*.comp, press_expected*.comp, driven by runtime/vulkan/prefill_stats.go and
// compress.go): the parameter-block words their scoring reads beyond press_common.glsl's (include
// after it when the parameter block is used; the P_* indices must match compress.go), and the
// layout of the expected statistics buffer.
//
// ExpectedAttention's statistics, per query head h at float offset expBase(h, D):
//   [0, D)         the shift s: the mean of the first prefill chunk's counted queries; after
//                  finalization (press_expected_score stage 0) the rotated mean R·μ
//   [D, 2D)        S1 = Σ_n (q_n - s)
//   [2D, 2D + D²)  S2 = Σ_n (q_n - s)(q_n - s)ᵀ, row-major; after finalization R·Σ·Rᵀ
// and after the H heads, at expRot(H, D), the mean rotation's D/2 cosines then D/2 sines (the
// host writes them at the end of prefill). Accumulating about a shift close to the mean keeps
// Σ = S2/N - (S1/N)(S1/N)ᵀ free of the float32 cancellation of Σqqᵀ/N - μμᵀ.

const uint P_NEOX = 44u;  // 1: RoPE rotates the pairs (k, k + D/2) (NeoX); 0: (2k, 2k + 1)
const uint P_EPS = 45u;   // ExpectedAttention's ε (float bits)
const uint P_VNORM = 46u; // 1: ExpectedAttention's scores are multiplied by ‖V_t‖
const uint P_COV = 47u;   // 1: ExpectedAttention's logits have the covariance term
const uint P_STMAX = 48u; // ObservedAttention: stride of the column sums per query head

uint expBase(uint h, uint D) { return h * (2u * D + D * D); }
uint expRot(uint H, uint D) { return H * (2u * D + D * D); }

// ropePair returns the two channels RoPE rotates together as pair k of D channels.
uvec2 ropePair(uint k, uint D, bool neox) { return neox ? uvec2(k, k + D / 2u) : uvec2(2u * k, 2u * k + 1u); }

// FORCED is the score of a token every selection keeps (spec 4.1's max + 1): above any real score
// (the shaders store the logarithms of probabilities times value norms), equal among the forced
// tokens, so that the rank's tie rule orders them by position as the CPU's max + 1 does.
const float FORCED = 3.0e38;
