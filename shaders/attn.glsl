// attn.glsl: causal attention of nQ query tokens over the KV cache, one workgroup per (query head x,
// query token z). The queries are the last nQ of the T cached tokens, so query i sees tokens
// 0 .. T-nQ+i (nQ = 1: decode; nQ > 1: prefill after the tokens' keys and values were stored).
// K and V rows are read in tiles of WG tokens: each invocation scores one token (q.k * scale),
// the tile's max and sum come from workgroup reductions, and a running max m, sum l and output
// accumulator are rescaled by exp(m_old - m_new) per tile (online softmax), so any context length
// runs in fixed shared memory. Invocations own output dims d = tid, tid+WG, ... (so headDim <=
// MAXD and WG * ACC >= headDim). GQA: query head h reads KV head h / group.
#include "common.glsl"

const uint MAXD = 256;           // largest supported head dim
const uint ACC = MAXD / 64;      // accumulators per invocation; the host uses WG >= 64

layout(push_constant) uniform PC {
	uint headDim; // elements per head
	uint T;       // tokens in the cache to attend over
	uint Tmax;    // cache capacity: stride between KV heads, in tokens
	uint group;   // query heads per KV head
	float scale;  // usually 1/sqrt(headDim)
	uint nQ;      // query tokens
} pc;

layout(binding = 0) readonly buffer QB { float q[]; };     // [nQ][nHeads][headDim]
layout(binding = 1) readonly buffer KB { KV_T kc[]; };     // [nKV][Tmax][headDim]
layout(binding = 2) readonly buffer VB { KV_T vc[]; };     // [nKV][Tmax][headDim]
layout(binding = 3) writeonly buffer OB { float o[]; };    // [nQ][nHeads][headDim]

shared float qs[MAXD]; // this head's query
shared float ps[WG];   // this tile's probabilities (unnormalized)

void main() {
	uint h = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, D = pc.headDim;
	uint qi = gl_WorkGroupID.z, T = pc.T - (pc.nQ - 1u - qi); // causal: tokens this query sees
	uint qo = (qi * gl_NumWorkGroups.x + h) * D;              // this query head's row in q and o
	uint kvBase = (h / pc.group) * pc.Tmax * D;
	for (uint d = tid; d < D; d += WG) qs[d] = q[qo + d];
	barrier();

	float m = NEG_BIG, l = 0.0;
	float acc[ACC];
	[[unroll]] for (uint a = 0; a < ACC; a++) acc[a] = 0.0;

	for (uint t0 = 0; t0 < T; t0 += WG) {
		uint t = t0 + tid;
		float s = NEG_BIG;
		if (t < T) {
			s = 0.0;
			uint kr = kvBase + t * D;
			for (uint d = 0; d < D; d++) s += qs[d] * KV_LOAD(kc, kr + d);
			s *= pc.scale;
		}
		float mNew = max(m, wg_max(s));
		float p = t < T ? exp(s - mNew) : 0.0;
		ps[tid] = p;
		float corr = exp(m - mNew);
		l = l * corr + wg_sum(p); // wg_sum's barrier also publishes ps
		uint n = min(WG, T - t0);
		[[unroll]] for (uint a = 0; a < ACC; a++) {
			uint d = tid + a * WG;
			if (d < D) {
				float v = acc[a] * corr;
				for (uint j = 0; j < n; j++) v += ps[j] * KV_LOAD(vc, kvBase + (t0 + j) * D + d);
				acc[a] = v;
			}
		}
		m = mNew;
		barrier(); // ps is rewritten by the next tile
	}
	[[unroll]] for (uint a = 0; a < ACC; a++) {
		uint d = tid + a * WG;
		if (d < D) o[qo + d] = acc[a] / l;
	}
}
