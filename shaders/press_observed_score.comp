// variants:
// press_observed_score: ObservedAttention's token scores at the end of prefill (spec 4.6), one
// invocation per (KV head i, t < T): S[i][t] = mean over the query heads g of KV head i of
// colsum[i·G + g][t] / (T - t) (the mean attention t received from the queries that see it),
// as its natural logarithm (from the log column sums, see press_observed; the order is that of
// the scores), written to the scratch's SS [nKV][T] for press_tokens' select (window 0: nothing
// forced) and compact stages.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint prm; // word offset of the layer's parameter block in S
} pc;

layout(binding = 0) readonly buffer STB { float st[]; }; // log colsum [H][STMAX] (press_observed)
layout(binding = 1) buffer SB { uint S[]; };             // parameters and scratch

#include "press_common.glsl"
#include "press_stats.glsl"

void main() {
	uint id = group_index() * WG + gl_LocalInvocationID.x;
	uint nKV = PRM(P_NKV), T = PRM(P_T), G = PRM(P_H) / nKV, stride = PRM(P_STMAX);
	if (id >= nKV * T) return;
	uint i = id / T, t = id % T;
	float mx = NEG_BIG, s = 0.0;
	for (uint g = 0u; g < G; g++) mx = max(mx, st[(i * G + g) * stride + t]);
	for (uint g = 0u; g < G; g++) s += exp(st[(i * G + g) * stride + t] - mx);
	S[PRM(P_SS) + id] = floatBitsToUint(mx + log(s) - log(float(T - t)) - log(float(G)));
}
