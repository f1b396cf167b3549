// variants:
// spark_select: SparK's per-token channel selection (spec 3.3-3.5; fixed ratio 3.4, or top-p
// and group 3.11 with P_VAR, which also write each token's kept count and its mask into the
// scratch) on the device, one workgroup per stored token r of [nKV][N] (at cache position
// cachePos(r)): the saliencies s_j = k_j²·qn_j (|k_j|·qn_j with the paper's form), each channel's
// rank (score descending, ties to the lower channel: spec section 1) by counting, the
// keep mask (rank < NKEEP) into the layer, and α = sqrt(mean of the saliencies ranked >= D - NMEAN)
// into the scratch (NMEAN = D - NKEEP: the pruned set, recovery "avg"; NKEEP: the D - int(λD)
// lowest, "avg_bottom"). spark_pack then writes the kept values, signs, α and values.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC { uint prm; } pc;

layout(binding = 0) readonly buffer KB { uint kw[]; }; // key cache [nKV][TMAX][D] (f32 or f16)
layout(binding = 1) buffer SB { uint S[]; };           // parameters and scratch
layout(binding = 2) buffer LB { uint L[]; };           // the compressed layer

#include "press_common.glsl"

const uint MAXD = 256;
shared float sal[MAXD];
shared uint rk[MAXD];      // each channel's rank
shared float sorted_[MAXD]; // saliencies in rank order (top-p mode)
shared uint mk[MAXD / 32];
shared uint keepS;          // channels this token keeps

// cumulativeP is the top-p mode's hard-coded cumulative saliency share (spec 3.11).
const float cumulativeP = 0.99;

void main() {
	uint r = group_index(), tid = gl_LocalInvocationID.x;
	uint nKV = PRM(P_NKV), D = PRM(P_D), N = PRM(P_N), ty = PRM(P_KVTYPE);
	uint MW = PRM(P_MW);
	bool paper = PRM(P_PAPER) != 0u, variable = PRM(P_VAR) != 0u;
	if (r >= nKV * N) return; // uniform: the whole workgroup
	uint i = r / N, t = cachePos(r);
	uint ko = (i * PRM(P_TMAX) + t) * D;
	for (uint j = tid; j < D; j += WG) {
		float k = CACHE_ELEM(kw, ko + j, ty);
		float q = uintBitsToFloat(S[PRM(P_QN) + i * D + j]);
		sal[j] = paper ? abs(k) * q : k * k * q;
	}
	if (tid < MW) mk[tid] = 0u;
	barrier();
	for (uint j = tid; j < D; j += WG) {
		float sj = sal[j];
		uint rank = 0u;
		for (uint u = 0u; u < D; u++) {
			float su = sal[u];
			rank += (su > sj || (su == sj && u < j)) ? 1u : 0u;
		}
		rk[j] = rank;
		sorted_[rank] = sj;
	}
	barrier();
	if (tid == 0u) {
		uint nKeep = PRM(P_NKEEP);
		if (variable) {
			// i* = the first rank whose cumulative saliency (descending) exceeds 0.99 of the
			// total, 0 if none; top-p keeps ranks 0..i*, group mode the count its group
			// (the bounds i* passes) gives, looked up per i*.
			float tot = 0.0;
			for (uint x = 0u; x < D; x++) tot += sorted_[x];
			float c = 0.0;
			uint cross = 0u;
			for (uint x = 0u; x < D; x++) {
				c += sorted_[x];
				if (c > cumulativeP * tot) {
					cross = x;
					break;
				}
			}
			nKeep = PRM(P_GROUP) != 0u ? S[PRM(P_GROUP) + cross] : cross + 1u;
			S[PRM(P_CNT) + r] = nKeep;
		}
		keepS = nKeep;
	}
	barrier();
	uint nKeep = keepS;
	// α² averages ranks >= D - NMEAN (fixed mode) or the token's own pruned set (top-p).
	uint meanFrom = variable ? nKeep : D - PRM(P_NMEAN);
	float part = 0.0;
	for (uint j = tid; j < D; j += WG) {
		if (rk[j] < nKeep) atomicOr(mk[j >> 5], 1u << (j & 31u));
		if (rk[j] >= meanFrom) part += sal[j];
	}
	float a = wg_sum(part); // its barriers also complete the mask atomics
	if (tid < MW) {
		if (variable) {
			S[PRM(P_SMASK) + r * MW + tid] = mk[tid];
		} else {
			L[PRM(P_MASK) + r * MW + tid] = mk[tid];
		}
	}
	if (tid == 0u && PRM(P_RECOV) != 0u) {
		uint nMean = D - meanFrom;
		float mean = nMean > 0u ? a / float(nMean) : 0.0;
		S[PRM(P_ALPHA) + r] = floatBitsToUint(paper ? mean : sqrt(mean));
	}
}
