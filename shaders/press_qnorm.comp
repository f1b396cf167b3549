// variants:
// press_qnorm: SparK's channel query norm (spec 3.2) from the window ring: per KV head i and
// channel j, qn = sqrt(Σ_w (mean_g Q[w][i·G+g][j])²) over the last SPARKW prompt positions, into
// the scratch (saliency input) and, when the layer stores signs, ρ = 1/sqrt(qn) (1/qn with the
// paper's saliency; 0 where qn = 0) into the layer's ρ region. One invocation per (i, j).
#version 450
#include "common.glsl"

layout(push_constant) uniform PC { uint prm; } pc;

layout(binding = 0) readonly buffer RB { float ring[]; }; // [winCap][H][D]
layout(binding = 1) buffer SB { uint S[]; };              // parameters and scratch
layout(binding = 2) buffer LB { uint L[]; };              // the compressed layer

#include "press_common.glsl"

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x;
	uint nKV = PRM(P_NKV), H = PRM(P_H), D = PRM(P_D), T = PRM(P_T), cap = PRM(P_WINCAP), w = PRM(P_SPARKW);
	if (id >= nKV * D) return;
	uint i = id / D, j = id % D, G = H / nKV;
	float sum = 0.0;
	for (uint p = T - w; p < T; p++) {
		uint row = (p % cap) * H * D;
		float m = 0.0;
		for (uint g = 0u; g < G; g++) m += ring[row + (i * G + g) * D + j];
		m /= float(G);
		sum += m * m;
	}
	float qn = sqrt(sum);
	S[PRM(P_QN) + id] = floatBitsToUint(qn);
	uint rho = PRM(P_RHO);
	if (rho != 0u) {
		float r = qn > 0.0 ? (PRM(P_PAPER) != 0u ? 1.0 / qn : 1.0 / sqrt(qn)) : 0.0;
		L[rho + id] = floatBitsToUint(r);
	}
}
