// variants:
// think_select: ThinK's channel selection (spec 4.8) on the device, one workgroup per KV head i:
// score_j = mean_{g,w} Q[w][i·G+g][j]² · mean_r K[i][r][j]² over the THINKW last prompt queries
// (window ring) and the N stored tokens (at cache positions cachePos, so after a token stage the
// mean runs over the kept tokens, as snap_think/pyramid_think do); the NKEEP channels of highest
// score (ties to the lower channel, spec section 1) form the head's keep mask, written into the
// layer. spark_pack then copies the kept channels of every token.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC { uint prm; } pc;

layout(binding = 0) readonly buffer KB { uint kw[]; };    // key cache [nKV][TMAX][D] (f32 or f16)
layout(binding = 1) readonly buffer RB { float ring[]; }; // window ring [WINCAP][H][D]
layout(binding = 2) buffer SB { uint S[]; };              // parameters and scratch
layout(binding = 3) buffer LB { uint L[]; };              // the compressed layer

#include "press_common.glsl"

const uint MAXD = 256;
shared float sc[MAXD];
shared uint mk[MAXD / 32];

void main() {
	uint i = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x;
	uint nKV = PRM(P_NKV), H = PRM(P_H), D = PRM(P_D), T = PRM(P_T), N = PRM(P_N), ty = PRM(P_KVTYPE);
	uint w = PRM(P_THINKW), cap = PRM(P_WINCAP), MW = PRM(P_MW), nKeep = PRM(P_NKEEP), tmax = PRM(P_TMAX);
	uint G = H / nKV;
	for (uint j = tid; j < D; j += WG) {
		float qsq = 0.0;
		for (uint g = 0u; g < G; g++) {
			for (uint p = T - w; p < T; p++) {
				float q = ring[((p % cap) * H + i * G + g) * D + j];
				qsq += q * q;
			}
		}
		float ksq = 0.0;
		for (uint r = 0u; r < N; r++) {
			float k = CACHE_ELEM(kw, (i * tmax + cachePos(i * N + r)) * D + j, ty);
			ksq += k * k;
		}
		sc[j] = qsq / float(G * w) * (ksq / float(N));
	}
	if (tid < MW) mk[tid] = 0u;
	barrier();
	for (uint j = tid; j < D; j += WG) {
		float sj = sc[j];
		uint rank = 0u;
		for (uint u = 0u; u < D; u++) {
			float su = sc[u];
			rank += (su > sj || (su == sj && u < j)) ? 1u : 0u;
		}
		if (rank < nKeep) atomicOr(mk[j >> 5], 1u << (j & 31u));
	}
	barrier();
	if (tid < MW) L[PRM(P_MASK) + i * MW + tid] = mk[tid];
}
