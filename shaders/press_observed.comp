// variants:
// press_observed: accumulates ObservedAttention's statistics during prefill (spec 4.6): after a
// prefill chunk's keys are stored and its attention ran, the chunk's causal attention
// probabilities are computed again from its queries and the stored keys and added to the
// column sums colsum[h][t] = Σ_r A[h, r, t] of the layer, kept as natural logarithms: a token
// that every query ignores gets probabilities below float32's range (e^-104), which would all
// round to 0 and tie, while the CPU press's float64 still orders them. Two dispatches, the second
// after the first (the recorder's barrier):
//   0 rows:   one workgroup per (chunk row r, query head h): the max and the sum of the
//             exponentials of the logits q_r·k_t·scale over t <= pos0 + r (online softmax).
//   1 sums:   one invocation per (h, t < pos0 + rows): the log of Σ over the rows r that see t
//             of exp(logit - max) / sum (a running max and a sum scaled by it, as the online
//             softmax), added to log colsum[h][t] (log-add-exp); a position t >= pos0 is first
//             seen by this chunk, so its sum is assigned, not added (no clearing at a restart).
// Each invocation of stage 1 owns one column sum, so the float32 sums run in a fixed order.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint mode;   // stage | cache element type << 8 (0 f32, 1 f16)
	uint rows;   // rows of the chunk
	uint pos0;   // position of the chunk's first row
	uint H;      // query heads
	uint nKV;    // KV heads
	uint D;      // head dim
	uint tmax;   // cache capacity per KV head, and column sums per query head
	float scale; // logit scale
} pc;

layout(binding = 0) readonly buffer QB { float q[]; };  // chunk queries [rows][H][D] (post-RoPE)
layout(binding = 1) readonly buffer KB { uint kw[]; };  // key cache [nKV][tmax][D] (f32 or f16)
layout(binding = 2) buffer STB { float st[]; };         // log colsum [H][tmax], then row stats [rows][H][2]

#define CACHE_ELEM(w, idx, ty) ((ty) == 0u ? uintBitsToFloat(w[idx]) : unpackHalf2x16(w[(idx) >> 1] >> (((idx) & 1u) << 4)).x)

const uint MAXD = 256;
shared float qrow[MAXD];

// logit returns q·k·scale of chunk row r, head h and cache position t, from the query in qs
// (shared or global, the same summation order either way).
#define LOGIT(qs, qo, r, h, t, out) { \
	uint ko = ((h) / (pc.H / pc.nKV) * pc.tmax + (t)) * pc.D; \
	float x_ = 0.0; \
	for (uint j = 0u; j < pc.D; j++) x_ += qs[(qo) + j] * CACHE_ELEM(kw, ko + j, ty); \
	out = x_ * pc.scale; }

void main() {
	uint stage = pc.mode & 0xffu, ty = pc.mode >> 8, H = pc.H, D = pc.D, tid = gl_LocalInvocationID.x;
	uint rs = H * pc.tmax; // row stats
	if (stage == 0u) {
		uint g = group_index(), r = g / H, h = g % H;
		if (r >= pc.rows) return; // uniform over the workgroup
		for (uint j = tid; j < D; j += WG) qrow[j] = q[(r * H + h) * D + j];
		barrier();
		float m = NEG_BIG, l = 0.0;
		for (uint t = tid; t <= pc.pos0 + r; t += WG) {
			float x;
			LOGIT(qrow, 0u, r, h, t, x)
			float mn = max(m, x);
			l = l * exp(m - mn) + exp(x - mn);
			m = mn;
		}
		float M = wg_max(m);
		float L = wg_sum(l * exp(m - M));
		if (tid == 0u) {
			st[rs + 2u * (r * H + h)] = M;
			st[rs + 2u * (r * H + h) + 1u] = L;
		}
		return;
	}
	uint id = group_index() * WG + tid, T = pc.pos0 + pc.rows;
	if (id >= H * T) return;
	uint h = id / T, t = id % T;
	float m = NEG_BIG, s = 0.0; // Σ = s·e^m
	for (uint r = t > pc.pos0 ? t - pc.pos0 : 0u; r < pc.rows; r++) {
		float x;
		LOGIT(q, (r * H + h) * D, r, h, t, x)
		uint o = rs + 2u * (r * H + h);
		float lp = x - st[o] - log(st[o + 1u]); // log probability
		float mn = max(m, lp);
		s = s * exp(m - mn) + exp(lp - mn);
		m = mn;
	}
	float l = m + log(s); // every t here is seen by the chunk's last row: s >= 1
	uint c = h * pc.tmax + t;
	if (t < pc.pos0) {
		float mx = max(st[c], l);
		l = mx + log(exp(st[c] - mx) + exp(l - mx));
	}
	st[c] = l;
}
