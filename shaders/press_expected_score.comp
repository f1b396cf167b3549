// variants:
// press_expected_score: ExpectedAttention's token scores at the end of prefill (spec 4.7) from the
// statistics press_expected accumulated (layout in press_stats.glsl; N = T - NSINK counted
// queries), in dispatches selected by pc.stage, each after the previous one:
//   0 finalize: one invocation per (query head h, pair a, pair b) of RoPE channel pairs: the
//               2×2 block of Σ = S2/N - ddᵀ (d = S1/N) on the pairs' channels, rotated to
//               R_a·Σ·R_bᵀ in place (R, the rotation averaged over the future positions, acts on
//               each pair alone as [[c, -s], [s, c]]); with b = 0 also μ = s + d rotated to R_a·μ
//               in place of the shift. Every invocation reads and writes only its own words.
//   1 logits:   one invocation per (h, n < N): z[h][n] = R·μ·k/sqrt(D) + kᵀ(RΣRᵀ)k/(2D) for the key
//               k of position NSINK + n (the covariance term only with P_COV), into SC [H][N].
//   2 softmax:  one workgroup per h: the max and the sum of the exponentials of z[h][0..N), into
//               STATS [H][2].
//   3 scores:   one invocation per (KV head i, t < T): S[i][t] = (mean over i's query heads of
//               softmax z + ε)·‖V[i][t]‖ (the norm only with P_VNORM) for t >= NSINK, as its
//               natural logarithm (which orders the tokens alike): the probabilities of tokens far
//               below the expected attention's peak are under float32's range (e^-104) and would
//               all round to 0 and tie, while the CPU press's float64 still orders them. FORCED
//               for the NSINK first tokens. Into SS [nKV][T] for press_tokens' select and compact.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint prm;   // word offset of the layer's parameter block in S
	uint stage; // 0..3 above
} pc;

layout(binding = 0) readonly buffer KB { uint kw[]; }; // key cache [nKV][TMAX][D] (f32 or f16)
layout(binding = 1) readonly buffer VB { uint vw[]; }; // value cache, the same layout
layout(binding = 2) buffer STB { float st[]; };        // statistics (press_stats.glsl)
layout(binding = 3) buffer SB { uint S[]; };           // parameters and scratch

#include "press_common.glsl"
#include "press_stats.glsl"

void finalize(uint id) {
	uint H = PRM(P_H), D = PRM(P_D), half_ = D / 2u, N = PRM(P_T) - PRM(P_NSINK);
	if (id >= H * half_ * half_) return;
	uint h = id / (half_ * half_), a = id / half_ % half_, b = id % half_;
	bool neox = PRM(P_NEOX) != 0u;
	uint base = expBase(h, D), s1 = base + D, s2 = base + 2u * D, rot = expRot(H, D);
	uvec2 pa = ropePair(a, D, neox), pb = ropePair(b, D, neox);
	float ca = st[rot + a], sa = st[rot + half_ + a], inv = 1.0 / float(N);
	vec2 da = vec2(st[s1 + pa.x], st[s1 + pa.y]) * inv;
	if (PRM(P_COV) != 0u) {
		float cb = st[rot + b], sb = st[rot + half_ + b];
		vec2 db = vec2(st[s1 + pb.x], st[s1 + pb.y]) * inv;
		// Σ on the block: rows pa, columns pb.
		float m00 = st[s2 + pa.x * D + pb.x] * inv - da.x * db.x, m01 = st[s2 + pa.x * D + pb.y] * inv - da.x * db.y;
		float m10 = st[s2 + pa.y * D + pb.x] * inv - da.y * db.x, m11 = st[s2 + pa.y * D + pb.y] * inv - da.y * db.y;
		float t00 = ca * m00 - sa * m10, t01 = ca * m01 - sa * m11; // R_a·Σ
		float t10 = sa * m00 + ca * m10, t11 = sa * m01 + ca * m11;
		st[s2 + pa.x * D + pb.x] = t00 * cb - t01 * sb; // (R_a·Σ)·R_bᵀ
		st[s2 + pa.x * D + pb.y] = t00 * sb + t01 * cb;
		st[s2 + pa.y * D + pb.x] = t10 * cb - t11 * sb;
		st[s2 + pa.y * D + pb.y] = t10 * sb + t11 * cb;
	}
	if (b == 0u) {
		vec2 mu = vec2(st[base + pa.x], st[base + pa.y]) + da;
		st[base + pa.x] = ca * mu.x - sa * mu.y;
		st[base + pa.y] = sa * mu.x + ca * mu.y;
	}
}

// The layer's constants for the logits stage (see press_tokens: loads hoisted out of the loops).
uint D_, G_, ty_, tmax_, ns_;

float key(uint h, uint t, uint j) { return CACHE_ELEM(kw, ((h / G_) * tmax_ + t) * D_ + j, ty_); }

void logits(uint id) {
	uint H = PRM(P_H), N = PRM(P_T) - ns_;
	if (id >= H * N) return;
	uint h = id / N, t = ns_ + id % N, base = expBase(h, D_);
	float lin = 0.0;
	for (uint j = 0u; j < D_; j++) lin += st[base + j] * key(h, t, j);
	float z = lin * PRMF(P_SCALE);
	if (PRM(P_COV) != 0u) {
		uint s2 = base + 2u * D_;
		float quad = 0.0;
		for (uint a = 0u; a < D_; a++) {
			float r = 0.0;
			for (uint b = 0u; b < D_; b++) r += st[s2 + a * D_ + b] * key(h, t, b);
			quad += key(h, t, a) * r;
		}
		z += quad / float(2u * D_);
	}
	S[PRM(P_SC) + id] = floatBitsToUint(z);
}

void softmaxStats() {
	uint h = group_index(), N = PRM(P_T) - PRM(P_NSINK), tid = gl_LocalInvocationID.x;
	uint zo = PRM(P_SC) + h * N;
	float m = NEG_BIG, l = 0.0;
	for (uint n = tid; n < N; n += WG) {
		float x = uintBitsToFloat(S[zo + n]);
		float mn = max(m, x);
		l = l * exp(m - mn) + exp(x - mn);
		m = mn;
	}
	float M = wg_max(m);
	float L = wg_sum(l * exp(m - M));
	if (tid == 0u) {
		S[PRM(P_STATS) + 2u * h] = floatBitsToUint(M);
		S[PRM(P_STATS) + 2u * h + 1u] = floatBitsToUint(L);
	}
}

// logProb returns log softmax z[h][n] (of N logits), from the softmax stage's max and sum.
float logProb(uint h, uint n, uint N) {
	uint o = PRM(P_STATS) + 2u * h;
	return uintBitsToFloat(S[PRM(P_SC) + h * N + n]) - uintBitsToFloat(S[o]) - log(uintBitsToFloat(S[o + 1u]));
}

void scores(uint id) {
	uint nKV = PRM(P_NKV), T = PRM(P_T), ns = PRM(P_NSINK), N = T - ns, G = PRM(P_H) / nKV;
	if (id >= nKV * T) return;
	uint i = id / T, t = id % T;
	float s = FORCED;
	if (t >= ns) {
		// log of the group's mean probability: log-sum-exp of z - max - log(sum), minus log G.
		float mx = NEG_BIG, e = 0.0;
		for (uint g = 0u; g < G; g++) mx = max(mx, logProb(i * G + g, t - ns, N));
		for (uint g = 0u; g < G; g++) e += exp(logProb(i * G + g, t - ns, N) - mx);
		s = mx + log(e) - log(float(G));
		float eps = PRMF(P_EPS);
		if (eps > 0.0) { // log(e^s + ε)
			float le = log(eps), hi = max(s, le);
			s = hi + log(exp(s - hi) + exp(le - hi));
		}
		if (PRM(P_VNORM) != 0u) {
			uint D = PRM(P_D), vo = (i * PRM(P_TMAX) + t) * D, ty = PRM(P_KVTYPE);
			float n2 = 0.0;
			for (uint j = 0u; j < D; j++) {
				float v = CACHE_ELEM(vw, vo + j, ty);
				n2 += v * v;
			}
			s = n2 > 0.0 ? s + 0.5 * log(n2) : -FORCED; // a zero value vector scores 0: last
		}
	}
	S[PRM(P_SS) + id] = floatBitsToUint(s);
}

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x;
	switch (pc.stage) {
	case 0u: finalize(id); break;
	case 1u:
		D_ = PRM(P_D);
		G_ = PRM(P_H) / PRM(P_NKV);
		ty_ = PRM(P_KVTYPE);
		tmax_ = PRM(P_TMAX);
		ns_ = PRM(P_NSINK);
		logits(id);
		break;
	case 2u: softmaxStats(); break;
	default: scores(id); break;
	}
}
