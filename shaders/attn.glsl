// attn.glsl: the online-softmax attention loop shared by the dense kernels (attn_f32, attn_f16:
// KV_T defined, main() at the end) and attn_spark.comp (compressed layers).
//
// One workgroup serves up to GMAX query heads of one KV head (GQA: each key and value is read
// once for all of them, each invocation holding the heads' numbers in a vec4). Tokens are taken
// in tiles of WG: each invocation scores one token, the tile's max comes from a workgroup
// reduction, and a running max m, sum l and output accumulator are rescaled by
// exp(m_old - m_new) per tile (online softmax), so any context length runs in fixed shared
// memory. The value side is split differently: invocation tid owns output dims 8·d8 .. 8·d8+7
// (d8 = tid % D8, D8 = ceil(D/8)) of the tile's tokens sub, sub + nSub, ... (sub = tid / D8,
// nSub = WG / D8), so that one read of a token's four probabilities serves eight dims (on a CPU
// driver every shared or buffer read is a loop over the SIMD lanes, the dominant cost); each
// subset also sums its tokens' probabilities, which spares a second reduction per tile, and
// attn_end adds the nSub partial sums.
#include "common.glsl"

const uint MAXD = 256; // largest head dim
const uint GMAX = 4;   // query heads per workgroup: one vec4
const uint DPL = 8;    // value dims per invocation

shared vec4 qs[MAXD]; // the heads' queries, channel-major
shared vec4 ps[WG];   // this tile's probabilities (unnormalized)
shared vec4 red4[WG]; // vec4 reduction partials
// big is the value partial sums at the end, [WG][DPL] (so WG·DPL <= MAXD·4: WG <= 128), and
// before that whatever the including shader needs (attn_spark: its recovery tables).
shared vec4 big[MAXD * 4u];

// wg_max4 returns the largest v over the workgroup in every invocation. Call in uniform control
// flow; it contains barriers, the last after every read of its partials. With subgroups, one
// subgroup combines the per-subgroup maxima and publishes the result, so that each invocation
// reads one value rather than every partial (on a CPU driver each shared read is a loop over
// the SIMD lanes).
#ifdef SG
shared vec4 red4Out; // the published result

vec4 wg_max4(vec4 v) {
	v = subgroupMax(v);
	if (subgroupElect()) red4[gl_SubgroupID] = v;
	barrier();
	if (gl_SubgroupID == 0u) {
		vec4 r = vec4(NEG_BIG);
		for (uint i = gl_SubgroupInvocationID; i < gl_NumSubgroups; i += gl_SubgroupSize) r = max(r, red4[i]);
		r = subgroupMax(r);
		if (subgroupElect()) red4Out = r;
	}
	barrier();
	return red4Out;
}
#else
vec4 wg_max4(vec4 v) {
	uint t = gl_LocalInvocationID.x;
	red4[t] = v;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (t < s) red4[t] = max(red4[t], red4[t + s]);
		barrier();
	}
	vec4 r = red4[0];
	barrier();
	return r;
}
#endif

// attn_value2 returns value dims d and d+1 (0 where d+1 = D) of token t of the workgroup's
// sequence; the including shader defines it. A shader that also defines ATTN_TAIL reads the
// tokens from nc on (see attn_tile) with attn_tail2 instead: two loops rather than a branch per
// read, since a CPU driver runs both sides of a branch, reads included.
vec2 attn_value2(uint t, uint d);
#ifdef ATTN_TAIL
vec2 attn_tail2(uint t, uint d);
#endif

// The online-softmax state of this invocation.
uint aD, aD8, aSub, aNSub, aD0; // head dim; value lanes per token; token subset and count; first value dim
vec4 aM;                        // running max per head
vec4 aL;                        // this subset's part of the denominator per head; after attn_end the whole
vec4 aAcc[DPL];                 // [dim][head]: unnormalized output of this subset's tokens

// attn_begin starts the state for head dim D.
void attn_begin(uint D) {
	uint tid = gl_LocalInvocationID.x;
	aD = D;
	aD8 = (D + DPL - 1u) / DPL;
	aNSub = WG / aD8;
	aSub = tid / aD8;
	aD0 = (tid % aD8) * DPL;
	aM = vec4(NEG_BIG);
	aL = vec4(0.0);
	[[unroll]] for (uint k = 0u; k < DPL; k++) aAcc[k] = vec4(0.0);
}

// ATTN_VALUES adds the probability-weighted values of this subset's tokens j0, j0 + nSub, ...
// below j1 of the tile, read with LOAD, to the accumulator.
#define ATTN_VALUES(LOAD, j0, j1)                                    \
	for (uint j = j0; j < j1; j += aNSub) {                         \
		vec4 pj = ps[j];                                            \
		aL += pj;                                                   \
		[[unroll]] for (uint k = 0u; k < DPL; k += 2u) {            \
			if (aD0 + k < aD) {                                     \
				vec2 v = LOAD(t0 + j, aD0 + k);                     \
				aAcc[k] += pj * v.x;                                \
				aAcc[k + 1u] += pj * v.y;                           \
			}                                                       \
		}                                                           \
	}

// attn_tile folds in the tile of n tokens starting at token t0: s is this invocation's token's
// scaled logits (token t0 + tid, valid when tid < n); with ATTN_TAIL the tile's tokens from nc
// on are the tail's. Call in uniform control flow.
void attn_tile(vec4 s, uint t0, uint n, uint nc) {
	uint tid = gl_LocalInvocationID.x;
	vec4 mNew = max(aM, wg_max4(tid < n ? s : vec4(NEG_BIG)));
	vec4 p = tid < n ? exp(s - mNew) : vec4(0.0);
	ps[tid] = p;
	barrier(); // publishes ps
	vec4 corr = exp(aM - mNew);
	aM = mNew;
	aL *= corr;
	[[unroll]] for (uint k = 0u; k < DPL; k++) aAcc[k] *= corr;
	if (aSub < aNSub) {
		ATTN_VALUES(attn_value2, aSub, nc)
#ifdef ATTN_TAIL
		// This subset's first token from nc on.
		ATTN_VALUES(attn_tail2, nc + (aSub + aNSub - nc % aNSub) % aNSub, n)
#endif
	}
	barrier(); // ps is rewritten by the next tile
}

// attn_end gathers the token subsets' partial sums into big and sets aL to the whole
// denominator; then attn_out(d) is the unnormalized output dim d of the heads. It ends every use
// of big the including shader made (the first barrier also covers a split that saw no tile).
// Call in uniform control flow.
void attn_end() {
	barrier();
	uint tid = gl_LocalInvocationID.x;
	[[unroll]] for (uint k = 0u; k < DPL; k++) big[tid * DPL + k] = aAcc[k];
	red4[tid] = aL; // each subset's lanes all hold its part: one of them counts
	barrier();
	aL = vec4(0.0);
	for (uint s = 0u; s < aNSub; s++) aL += red4[s * aD8];
}

// attn_out returns the unnormalized output dim d of the heads (after attn_end).
vec4 attn_out(uint d) {
	vec4 v = vec4(0.0);
	for (uint s = 0u; s < aNSub; s++) v += big[(s * aD8 + d / DPL) * DPL + d % DPL];
	return v;
}

// Token splits (flash-decoding): a decode step may spread its tokens over S workgroups per head
// block (grid z), each folding in whole tiles; attn_spark_combine merges their partial states.

// attn_split returns the tokens [tBegin, tEnd) of split z of S over total tokens: whole tiles of
// WG. With more splits than tiles the last ones get none (tEnd < tBegin): they store m = NEG_BIG
// and l = 0, which weigh nothing in the merge.
void attn_split(uint total, uint z, uint S, out uint tBegin, out uint tEnd) {
	uint tiles = (total + WG - 1u) / WG, per = (tiles + S - 1u) / S;
	tBegin = min(z * per, tiles) * WG;
	tEnd = min(tBegin + per * WG, total);
}

// The output: with S = 1 the normalized results, [rows][D] (a row per query token and head);
// with S > 1 token splits (one query token) the partial states [S][nHeads][D + 2]: unnormalized
// output, running max m, denominator l (attn_spark_combine's input).
layout(binding = 3) writeonly buffer OB { float o[]; };

// attn_store writes the ng heads' results (after attn_end) of query rows qRow.. as split z of S
// of nHeads query heads.
void attn_store(uint qRow, uint ng, uint nHeads, uint z, uint S) {
	uint tid = gl_LocalInvocationID.x, D = aD, base = z * nHeads * (D + 2u);
	for (uint d = tid; d < D; d += WG) {
		vec4 v = attn_out(d);
		for (uint g = 0u; g < ng; g++) {
			if (S == 1u) {
				o[(qRow + g) * D + d] = v[g] / aL[g];
			} else {
				o[base + (qRow + g) * (D + 2u) + d] = v[g];
			}
		}
	}
	if (S > 1u && tid == 0u) {
		for (uint g = 0u; g < ng; g++) {
			o[base + (qRow + g) * (D + 2u) + D] = aM[g];
			o[base + (qRow + g) * (D + 2u) + D + 1u] = aL[g];
		}
	}
}

#ifdef KV_T
// The dense kernels: causal attention of nQ query tokens over the KV cache, one workgroup per
// (KV head and block of up to GMAX of its query heads: x; query token, or with one query token
// the token split: z). The queries are the last nQ of the T cached tokens, so query i sees tokens
// 0 .. T-nQ+i (nQ = 1: decode; nQ > 1: prefill after the tokens' keys and values were stored).
// Prefill has a workgroup per query token already, so only decode splits its tokens.

layout(push_constant) uniform PC {
	uint headDim; // elements per head
	uint T;       // tokens in the cache to attend over
	uint Tmax;    // cache capacity: stride between KV heads, in tokens
	uint group;   // query heads per KV head
	float scale;  // usually 1/sqrt(headDim)
	uint nQ;      // query tokens
	uint gBlocks; // workgroups per KV head along x: ceil(group / GMAX)
} pc;

layout(binding = 0) readonly buffer QB { float q[]; };  // [nQ][nHeads][headDim]
layout(binding = 1) readonly buffer KB { KV_T kc[]; };  // [nKV][Tmax][headDim]
layout(binding = 2) readonly buffer VB { KV_T vc[]; };  // [nKV][Tmax][headDim]
// binding 3: attn_store's output, [nQ][nHeads][headDim] or decode's partial states

uint kvBase; // element index of this KV head's first key and value

vec2 attn_value2(uint t, uint d) {
	uint i = kvBase + t * aD + d;
	return d + 1u < aD ? KV_LOAD2(vc, i) : vec2(KV_LOAD(vc, i), 0.0);
}

void main() {
	uint tid = gl_LocalInvocationID.x, D = pc.headDim;
	uint kv = gl_WorkGroupID.x / pc.gBlocks, g0 = (gl_WorkGroupID.x % pc.gBlocks) * GMAX;
	uint ng = min(GMAX, pc.group - g0);
	bool decode = pc.nQ == 1u;
	uint S = decode ? gl_NumWorkGroups.z : 1u, split = decode ? gl_WorkGroupID.z : 0u;
	uint qi = decode ? 0u : gl_WorkGroupID.z, T = pc.T - (pc.nQ - 1u - qi); // causal: tokens this query sees
	uint nHeads = gl_NumWorkGroups.x / pc.gBlocks * pc.group;
	uint qRow = qi * nHeads + kv * pc.group + g0; // first query row of this workgroup in q and o
	kvBase = kv * pc.Tmax * D;
	for (uint d = tid; d < D; d += WG) {
		vec4 qv = vec4(0.0);
		for (uint g = 0u; g < ng; g++) qv[g] = q[(qRow + g) * D + d];
		qs[d] = qv;
	}
	barrier();
	uint tBegin, tEnd;
	attn_split(T, split, S, tBegin, tEnd);
	attn_begin(D);
	for (uint t0 = tBegin; t0 < tEnd; t0 += WG) {
		uint t = t0 + tid;
		vec4 s = vec4(0.0);
		if (t < tEnd) {
			uint kr = kvBase + t * D;
			for (uint d = 0u; d < D; d++) s += KV_LOAD(kc, kr + d) * qs[d];
		}
		uint n = min(WG, tEnd - t0);
		attn_tile(s * pc.scale, t0, n, n);
	}
	attn_end();
	attn_store(qRow, ng, nHeads, split, S);
}
#endif
