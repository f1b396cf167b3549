// variants:
// press_tokens: the token stage of SnapKV / PyramidKV (spec 4.2, 4.3) and TOVA (4.5) on the
// device, in dispatches selected by pc.stage, each after the previous one (the recorder's
// barriers); SnapKV runs 0 1 2 3 4, TOVA (window w = 1: the last prompt query) 0 5 3 4:
//   0 stats:   one workgroup per (query head h, window row r): the max and the sum of the
//              exponentials of the causal logits q_r·k_t·scale, t <= T-w+r (online softmax).
//   1 scores:  one invocation per (h, t < P = T-w): s[h][t] = mean_r softmax_r(t).
//   2 pool:    one invocation per (KV head i, t < P): S[i][t] = mean_g (1/k) Σ_d s[i·G+g][t+d]
//              (average pooling of width k with zero padding, divisor k).
//   3 select:  one invocation per (i, t < T): kept flag. The w window tokens are forced (max+1 in
//              the spec; here: always ranked first, lower position first among them), the others
//              kept when their rank among S[i][0..P) (score descending, ties to the lower
//              position, spec section 1) is below N - w.
//   4 compact: one workgroup: per KV head, an exclusive scan of the flags writes the kept
//              positions in ascending order into IDX[i][0..N).
//   5 tova:    one invocation per t < P = T-1: S[i][t] = mean over all H query heads of the last
//              query's softmax(t), the same for every KV head i.
//   6 offsets: one workgroup, after spark_select in SparK's top-p/group modes: exclusive
//              prefix sums of the tokens' kept counts and sign bytes over [nKV][N] (heads one after another,
//              as the layout's streams run) into OFF, the totals in OFF[nKV·N].
// The selection ranks by counting (O(P²) per KV head), simple and exact at ties; the cost is a
// one-time end-of-prefill step.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint prm;   // word offset of the layer's parameter block in S
	uint stage; // 0..4 above
} pc;

layout(binding = 0) readonly buffer KB { uint kw[]; };    // key cache [nKV][TMAX][D] (f32 or f16)
layout(binding = 1) readonly buffer RB { float ring[]; }; // window ring [WINCAP][H][D]
layout(binding = 2) buffer SB { uint S[]; };              // parameters and scratch

#include "press_common.glsl"

shared uint scanS[WG];
shared uvec2 scan2[WG];

// The layer's constants, read from the parameter block once per invocation (main): the loops
// below would otherwise reload them from the scratch, which the compiler cannot keep in registers
// across the stages' writes to the same buffer.
uint nKV_, H_, D_, T_, W_, G_, ty_, cap_, tmax_;
float scale_;

// logit returns q·k·scale for window row r of query head h and cache token t.
float logit(uint h, uint r, uint t) {
	uint qo = ((T_ - W_ + r) % cap_) * H_ * D_ + h * D_;
	uint ko = ((h / G_) * tmax_ + t) * D_;
	float s = 0.0;
	for (uint j = 0u; j < D_; j++) s += ring[qo + j] * CACHE_ELEM(kw, ko + j, ty_);
	return s * scale_;
}

// qrow holds the query of one (h, r) workgroup of the stats stage.
const uint MAXD = 256;
shared float qrow[MAXD];

void stats() {
	uint g = group_index(), h = g / W_, r = g % W_, tid = gl_LocalInvocationID.x;
	uint qo = ((T_ - W_ + r) % cap_) * H_ * D_ + h * D_, kh = (h / G_) * tmax_;
	for (uint j = tid; j < D_; j += WG) qrow[j] = ring[qo + j];
	barrier();
	float m = NEG_BIG, l = 0.0;
	for (uint t = tid; t <= T_ - W_ + r; t += WG) {
		uint ko = (kh + t) * D_;
		float x = 0.0;
		for (uint j = 0u; j < D_; j++) x += qrow[j] * CACHE_ELEM(kw, ko + j, ty_);
		x *= scale_;
		float mn = max(m, x);
		l = l * exp(m - mn) + exp(x - mn);
		m = mn;
	}
	float M = wg_max(m);
	float Lsum = wg_sum(l * exp(m - M));
	if (tid == 0u) {
		uint o = PRM(P_STATS) + 2u * g;
		S[o] = floatBitsToUint(M);
		S[o + 1u] = floatBitsToUint(Lsum);
	}
}

void scores(uint id) {
	uint w = W_, P = T_ - w, st = PRM(P_STATS);
	if (id >= H_ * P) return;
	uint h = id / P, t = id % P;
	float s = 0.0;
	for (uint r = 0u; r < w; r++) {
		uint o = st + 2u * (h * w + r);
		s += exp(logit(h, r, t) - uintBitsToFloat(S[o])) / uintBitsToFloat(S[o + 1u]);
	}
	S[PRM(P_SC) + id] = floatBitsToUint(s / float(w));
}

void pool(uint id) {
	uint nKV = PRM(P_NKV), P = PRM(P_T) - PRM(P_SNAPW), k = PRM(P_KSIZE);
	if (id >= nKV * P) return;
	uint i = id / P, t = id % P, G = PRM(P_H) / nKV;
	float s = 0.0;
	for (uint g = 0u; g < G; g++) {
		float p = 0.0;
		for (uint d = 0u; d < k; d++) {
			int u = int(t + d) - int(k / 2u);
			if (u >= 0 && u < int(P)) p += uintBitsToFloat(S[PRM(P_SC) + (i * G + g) * P + uint(u)]);
		}
		s += p / float(k);
	}
	S[PRM(P_SS) + id] = floatBitsToUint(s / float(G));
}

void select_(uint id) {
	uint nKV = PRM(P_NKV), T = PRM(P_T), w = PRM(P_SNAPW), N = PRM(P_N), P = T - w;
	if (id >= nKV * T) return;
	uint i = id / T, t = id % T;
	bool keep;
	if (t >= P) {
		keep = N >= w || t - P < N;
	} else if (N <= w) {
		keep = false;
	} else {
		uint base = PRM(P_SS) + i * P;
		float st = uintBitsToFloat(S[base + t]);
		uint rank = 0u;
		for (uint u = 0u; u < P; u++) {
			float su = uintBitsToFloat(S[base + u]);
			rank += (su > st || (su == st && u < t)) ? 1u : 0u;
		}
		keep = rank < N - w;
	}
	S[PRM(P_FLAG) + id] = keep ? 1u : 0u;
}

// compact runs in one workgroup: a Hillis-Steele scan of each tile's flags gives the kept
// tokens' slots.
void compact() {
	uint nKV = PRM(P_NKV), T = PRM(P_T), N = PRM(P_N), tid = gl_LocalInvocationID.x;
	for (uint i = 0u; i < nKV; i++) {
		uint base = 0u;
		for (uint t0 = 0u; t0 < T; t0 += WG) {
			uint t = t0 + tid;
			uint f = t < T ? S[PRM(P_FLAG) + i * T + t] : 0u;
			scanS[tid] = f;
			barrier();
			for (uint s = 1u; s < WG; s <<= 1) {
				uint add = tid >= s ? scanS[tid - s] : 0u;
				barrier();
				scanS[tid] += add;
				barrier();
			}
			uint incl = scanS[tid], tot = scanS[WG - 1u];
			barrier();
			if (f != 0u && base + incl - 1u < N) S[PRM(P_IDX) + i * N + base + incl - 1u] = t;
			base += tot;
		}
	}
}

void tova(uint id) {
	uint H = H_, nKV = nKV_, P = T_ - 1u;
	if (id >= P) return;
	float s = 0.0;
	for (uint h = 0u; h < H; h++) {
		uint o = PRM(P_STATS) + 2u * h;
		s += exp(logit(h, 0u, id) - uintBitsToFloat(S[o])) / uintBitsToFloat(S[o + 1u]);
	}
	s /= float(H);
	for (uint i = 0u; i < nKV; i++) S[PRM(P_SS) + i * P + id] = floatBitsToUint(s);
}

// offsets runs in one workgroup: a running Hillis-Steele scan of (kept, sign bytes) per token.
void offsets() {
	uint rows = PRM(P_NKV) * PRM(P_N), D = PRM(P_D), tid = gl_LocalInvocationID.x;
	bool signs = PRM(P_RECOV) != 0u;
	uvec2 base = uvec2(0u);
	for (uint r0 = 0u; r0 < rows; r0 += WG) {
		uint r = r0 + tid;
		uvec2 v = uvec2(0u);
		if (r < rows) {
			uint nk = S[PRM(P_CNT) + r];
			v = uvec2(nk, signs ? (D - nk + 7u) / 8u : 0u);
		}
		scan2[tid] = v;
		barrier();
		for (uint s = 1u; s < WG; s <<= 1) {
			uvec2 add = tid >= s ? scan2[tid - s] : uvec2(0u);
			barrier();
			scan2[tid] += add;
			barrier();
		}
		uvec2 incl = scan2[tid], tot = scan2[WG - 1u];
		barrier();
		if (r < rows) {
			uvec2 ex = base + incl - v;
			S[PRM(P_OFF) + 2u * r] = ex.x;
			S[PRM(P_OFF) + 2u * r + 1u] = ex.y;
		}
		base += tot;
	}
	if (tid == 0u) {
		S[PRM(P_OFF) + 2u * rows] = base.x;
		S[PRM(P_OFF) + 2u * rows + 1u] = base.y;
	}
}

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x;
	nKV_ = PRM(P_NKV);
	H_ = PRM(P_H);
	D_ = PRM(P_D);
	T_ = PRM(P_T);
	W_ = PRM(P_SNAPW);
	G_ = H_ / nKV_;
	ty_ = PRM(P_KVTYPE);
	cap_ = PRM(P_WINCAP);
	tmax_ = PRM(P_TMAX);
	scale_ = PRMF(P_SCALE);
	switch (pc.stage) {
	case 0u: stats(); break;
	case 1u: scores(id); break;
	case 2u: pool(id); break;
	case 3u: select_(id); break;
	case 4u: compact(); break;
	case 5u: tova(id); break;
	default: offsets(); break;
	}
}
