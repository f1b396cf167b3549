// variants: sg
// attn_spark: one decode step of attention over a press-compressed KV layer (dense keys, ThinK
// channel keys or SparK records, spec 3.6) followed by a dense f32 or f16 tail of post-prefill
// tokens, in one online-softmax pass (spec 3.7). The layer lives in one buffer of 32-bit words
// whose header (H_* below, written by runtime/vulkan/spark.go) gives the offsets of its regions;
// kept key values, α and values are f32, f16 or bf16 elements (header word H_ETYPE).
//
// One workgroup serves up to GMAX query heads of one KV head (GQA: a record is decoded once for
// all of them, each invocation holding the GMAX heads' numbers in a vec4) over one token split
// (z of S = gl_NumWorkGroups.z; S > 1 writes partial softmax states that attn_spark_combine
// merges). Tokens are taken in tiles of WG, one per invocation. Records are variable-length
// streams without per-token offsets: each invocation popcounts its token's keep mask, and an
// exclusive workgroup scan of the kept counts and sign bytes gives its read positions; the running
// base carries over tiles and starts from the layer's per-tile checkpoint. A SparK logit is q·k̂
// with k̂_j the kept value or σ_j·α·ρ_j (spec 3.5/3.7: the same sum as Σ_kept q_j·k_j +
// α·Σ_pruned σ_j·q_j·ρ_j, one multiply-add per channel for all heads). The channel loop is
// branch-free with the same trip count (D) and channel j in every lane, so queries and ρ are
// broadcast reads; the pruned channels' sign bits are fetched 32 at a time per mask word.
#version 450
#include "common.glsl"

const uint MAXD = 256;      // largest head dim (shared query arrays; 16-bit scan fields hold WG·MAXD)
const uint ACC = MAXD / 64; // output dims per invocation; the host uses WG >= 64
const uint GMAX = 4;        // query heads per workgroup: one vec4

// Header words of the layer buffer.
const uint H_KIND = 0u;   // KIND_*
const uint H_ETYPE = 1u;  // 0 f32, 1 f16, 2 bf16
const uint H_MW = 2u;     // mask words per token (ceil(D/32))
const uint H_MTOK = 3u;   // mask words between tokens: MW (SparK) or 0 (ThinK: one mask per head)
const uint H_MHEAD = 4u;  // mask words between KV heads
const uint H_SIGNS = 5u;  // 1: SparK recovery with signs and α; 0: pruned entries are zero
const uint H_NKV = 6u;
const uint H_T = 7u;      // compressed tokens per KV head
const uint H_D = 8u;      // head dim
const uint H_RHO = 9u;    // word offset of ρ, [nKV][D] f32
const uint H_MASK = 10u;  // word offset of the keep masks
const uint H_KEPT = 11u;  // word offset of the kept-value element stream
const uint H_SIGN = 12u;  // word offset of the sign-bit stream (bytes, little-endian in words)
const uint H_ALPHA = 13u; // word offset of α, [nKV][T] elements
const uint H_V = 14u;     // word offset of V, [nKV][T][D] elements
const uint H_CKPT = 15u;  // word offset of the checkpoints, [nKV][ceil(T/WG)][2]: the kept-value
                          // element index and sign byte index where each tile of WG tokens starts
const uint H_WORDS = 16u;

const uint KIND_DENSE = 0u;
const uint KIND_MASKED = 1u; // ThinK or SparK: keep masks, kept values in channel order

layout(push_constant) uniform PC {
	uint group;   // query heads per KV head
	float scale;  // usually 1/sqrt(headDim)
	uint tailLen; // tail tokens to attend over
	uint tailCap; // tail capacity: stride between KV heads, in tokens
	uint tailK;   // element offset of the tail keys in binding 2, [nKV][tailCap][D]
	uint tailV;   // element offset of the tail values in binding 2, [nKV][tailCap][D]
	uint gBlocks; // workgroups per KV head along x: ceil(group / GMAX)
	uint tailType; // tail element type: 0 f32, 1 f16
} pc;

layout(binding = 0) readonly buffer QB { float q[]; };  // [nHeads][D]
layout(binding = 1) readonly buffer LB { uint L[]; };   // the layer (header and regions)
layout(binding = 2) readonly buffer TB { uint tw[]; };  // tail keys and values (elements)
// [nHeads][D], or with S = gl_NumWorkGroups.z > 1 token splits the partial results
// [S][nHeads][D + 2]: unnormalized output, running max m, denominator l (attn_spark_combine).
layout(binding = 3) writeonly buffer OB { float o[]; };

shared vec4 qs[MAXD];  // the heads' queries, channel-major
shared float rho[MAXD]; // ρ of this KV head (SparK recovery; 0 without)
shared vec4 ps[WG];    // this tile's probabilities (unnormalized)
shared vec4 red4[WG];  // vec4 reduction partials
shared uint scanP[WG]; // scan partials

uint etype;

// unpack returns element idx of an element stream of type ty (0 f32, 1 f16, 2 bf16; 16-bit
// elements two to a word, low half first) from w, the word holding it.
float unpack(uint w, uint idx, uint ty) {
	if (ty == 0u) return uintBitsToFloat(w);
	uint h = (w >> ((idx & 1u) << 4)) & 0xffffu;
	return ty == 1u ? unpackHalf2x16(h).x : uintBitsToFloat(h << 16);
}

// elem returns element idx of the layer's element stream starting at word base.
float elem(uint base, uint idx) { return unpack(L[base + (etype == 0u ? idx : idx >> 1)], idx, etype); }

// tailElem returns element idx of the tail binding.
float tailElem(uint idx) { return unpack(tw[pc.tailType == 0u ? idx : idx >> 1], idx, pc.tailType); }

// The vec4 and scan reductions follow common.glsl's pattern (uniform control flow, ending with a
// barrier so the partials can be reused).
#ifdef SG
#define WG_REDUCE4(NAME, SGOP, OP)                                  \
vec4 NAME(vec4 v) {                                                 \
	v = SGOP(v);                                                    \
	if (subgroupElect()) red4[gl_SubgroupID] = v;                   \
	barrier();                                                      \
	vec4 r = red4[0];                                               \
	for (uint i = 1; i < gl_NumSubgroups; i++) r = OP(r, red4[i]);  \
	barrier();                                                      \
	return r;                                                       \
}

// wg_scan returns the exclusive prefix sum of v over the workgroup and the total in tot.
uint wg_scan(uint v, out uint tot) {
	uint ex = subgroupExclusiveAdd(v);
	uint sum = subgroupAdd(v);
	if (subgroupElect()) scanP[gl_SubgroupID] = sum;
	barrier();
	uint base = 0u;
	tot = 0u;
	for (uint i = 0u; i < gl_NumSubgroups; i++) {
		uint s = scanP[i];
		if (i < gl_SubgroupID) base += s;
		tot += s;
	}
	barrier();
	return base + ex;
}
#else
#define WG_REDUCE4(NAME, SGOP, OP)                                  \
vec4 NAME(vec4 v) {                                                 \
	uint t = gl_LocalInvocationID.x;                                \
	red4[t] = v;                                                    \
	barrier();                                                      \
	for (uint s = WG / 2; s > 0; s >>= 1) {                         \
		if (t < s) red4[t] = OP(red4[t], red4[t + s]);              \
		barrier();                                                  \
	}                                                               \
	vec4 r = red4[0];                                               \
	barrier();                                                      \
	return r;                                                       \
}

// wg_scan returns the exclusive prefix sum of v over the workgroup and the total in tot
// (Hillis-Steele in shared memory).
uint wg_scan(uint v, out uint tot) {
	uint t = gl_LocalInvocationID.x;
	scanP[t] = v;
	barrier();
	for (uint s = 1u; s < WG; s <<= 1) {
		uint add = t >= s ? scanP[t - s] : 0u;
		barrier();
		scanP[t] += add;
		barrier();
	}
	tot = scanP[WG - 1u];
	uint incl = scanP[t];
	barrier();
	return incl - v;
}
#endif

vec4 op_add4(vec4 a, vec4 b) { return a + b; }
WG_REDUCE4(wg_sum4, subgroupAdd, op_add4)
WG_REDUCE4(wg_max4, subgroupMax, max)

void main() {
	uint tid = gl_LocalInvocationID.x;
	uint i = gl_WorkGroupID.x / pc.gBlocks, g0 = (gl_WorkGroupID.x % pc.gBlocks) * GMAX;
	uint ng = min(GMAX, pc.group - g0);
	uint kind = L[H_KIND], MW = L[H_MW], mTok = L[H_MTOK], T = L[H_T], D = L[H_D];
	bool signs = L[H_SIGNS] != 0u;
	etype = L[H_ETYPE];
	uint keptW = L[H_KEPT], signW = L[H_SIGN], alphaW = L[H_ALPHA], vW = L[H_V];
	uint maskHead = L[H_MASK] + i * L[H_MHEAD];
	uint qRow = i * pc.group + g0; // first query head of this workgroup

	for (uint d = tid; d < D; d += WG) {
		vec4 qv = vec4(0.0);
		for (uint g = 0u; g < ng; g++) qv[g] = q[(qRow + g) * D + d];
		qs[d] = qv;
		rho[d] = signs ? uintBitsToFloat(L[L[H_RHO] + i * D + d]) : 0.0;
	}
	barrier();

	// Token split z of S covers whole tiles; the checkpoints give its stream positions.
	uint total = T + pc.tailLen, tiles = (total + WG - 1u) / WG, S = gl_NumWorkGroups.z;
	uint per = (tiles + S - 1u) / S;
	uint tBegin = min(gl_WorkGroupID.z * per, tiles) * WG, tEnd = min(tBegin + per * WG, total);
	uint keptBase = 0u, signBase = 0u; // element index of the tile's first kept value, bit index of its first sign bit
	if (tBegin < T) {
		uint ck = L[H_CKPT] + 2u * (i * ((T + WG - 1u) / WG) + tBegin / WG);
		keptBase = L[ck];
		signBase = L[ck + 1u] * 8u;
	}
	vec4 m = vec4(NEG_BIG), l = vec4(0.0);
	vec4 acc[ACC];
	[[unroll]] for (uint a = 0; a < ACC; a++) acc[a] = vec4(0.0);

	for (uint t0 = tBegin; t0 < tEnd; t0 += WG) {
		uint t = t0 + tid;
		uint mAddr = maskHead + t * mTok;
		// Record sizes: kept count in the low 16 bits, sign bytes in the high 16 (tile sums fit).
		uint cnt = 0u;
		if (t < T) {
			uint nk = D; // dense keys: whole rows
			if (kind == KIND_MASKED) {
				nk = 0u;
				for (uint w = 0u; w < MW; w++) nk += bitCount(L[mAddr + w]);
			}
			cnt = nk | ((signs ? (D - nk + 7u) >> 3 : 0u) << 16);
		}
		uint tileTot;
		uint ex = wg_scan(cnt, tileTot);
		uint ko = keptBase + (ex & 0xffffu);
		uint sb = signBase + (ex >> 16) * 8u;
		keptBase += tileTot & 0xffffu;
		signBase += (tileTot >> 16) * 8u;

		vec4 s = vec4(NEG_BIG);
		if (t < T) {
			vec4 dk = vec4(0.0);
			float alpha = signs ? elem(alphaW, i * T + t) : 0.0;
			if (kind == KIND_DENSE) {
				for (uint j = 0u; j < D; j++) dk += elem(keptW, ko + j) * qs[j];
			} else {
				for (uint w = 0u; w < MW; w++) {
					uint mk = L[mAddr + w], j0 = w * 32u, nj = min(32u, D - j0);
					// The next 32 sign bits from bit sb: a word holds the signs of at most 32
					// pruned channels. The stream is padded by one word, so sw+1 is readable.
					uint sg = 0u;
					if (signs) {
						uint sw = signW + (sb >> 5), sh = sb & 31u;
						sg = L[sw] >> sh;
						if (sh != 0u) sg |= L[sw + 1u] << (32u - sh);
					}
					uint pk = 0u; // pruned channels of this word so far
					for (uint b = 0u; b < nj; b++) {
						uint j = j0 + b;
						// Branch-free, one scalar key per channel: the kept value or the
						// recovered σ·α·ρ_j. The load at ko is always inside the buffer
						// (the sign, α or value region follows the kept values).
						bool kept = ((mk >> b) & 1u) != 0u;
						float kv = elem(keptW, ko);
						float rec = alpha * rho[j];
						rec = ((sg >> pk) & 1u) != 0u ? rec : -rec;
						dk += (kept ? kv : rec) * qs[j];
						ko += kept ? 1u : 0u;
						pk += kept ? 0u : 1u;
					}
					sb += pk;
				}
			}
			s = dk * pc.scale;
		} else if (t < tEnd) {
			uint kr = pc.tailK + (i * pc.tailCap + (t - T)) * D;
			vec4 dk = vec4(0.0);
			for (uint j = 0u; j < D; j++) dk += tailElem(kr + j) * qs[j];
			s = dk * pc.scale;
		}

		vec4 mNew = max(m, wg_max4(s));
		vec4 p = t < tEnd ? exp(s - mNew) : vec4(0.0);
		ps[tid] = p;
		vec4 corr = exp(m - mNew);
		l = l * corr + wg_sum4(p); // wg_sum4's barrier also publishes ps
		uint n = min(WG, tEnd - t0);
		uint nc = T > t0 ? min(n, T - t0) : 0u; // compressed tokens of this tile; the rest are tail
		[[unroll]] for (uint a = 0; a < ACC; a++) {
			uint d = tid + a * WG;
			if (d < D) {
				vec4 v = acc[a] * corr;
				for (uint j = 0u; j < nc; j++) v += ps[j] * elem(vW, (i * T + t0 + j) * D + d);
				for (uint j = nc; j < n; j++) v += ps[j] * tailElem(pc.tailV + (i * pc.tailCap + (t0 + j - T)) * D + d);
				acc[a] = v;
			}
		}
		m = mNew;
		barrier(); // ps is rewritten by the next tile
	}
	if (S == 1u) {
		[[unroll]] for (uint a = 0; a < ACC; a++) {
			uint d = tid + a * WG;
			if (d < D) {
				for (uint g = 0u; g < ng; g++) o[(qRow + g) * D + d] = acc[a][g] / l[g];
			}
		}
		return;
	}
	uint nHeads = gl_NumWorkGroups.x / pc.gBlocks * pc.group;
	uint base = gl_WorkGroupID.z * nHeads * (D + 2u);
	[[unroll]] for (uint a = 0; a < ACC; a++) {
		uint d = tid + a * WG;
		if (d < D) {
			for (uint g = 0u; g < ng; g++) o[base + (qRow + g) * (D + 2u) + d] = acc[a][g];
		}
	}
	if (tid == 0u) {
		for (uint g = 0u; g < ng; g++) {
			o[base + (qRow + g) * (D + 2u) + D] = m[g];
			o[base + (qRow + g) * (D + 2u) + D + 1u] = l[g];
		}
	}
}
