// variants: sg
// attn_spark: one decode step of attention over a press-compressed KV layer (dense keys, ThinK
// channel keys or SparK records, spec 3.6) followed by a dense f32 or f16 tail of post-prefill
// tokens, in one online-softmax pass (spec 3.7). The layer lives in one buffer of 32-bit words
// whose header (H_* below, written by runtime/vulkan/spark.go) gives the offsets of its regions;
// kept key values, α and values are f32, f16 or bf16 elements (header word H_ETYPE).
//
// The loop is attn.glsl's: one workgroup serves up to GMAX query heads of one KV head (a record
// is decoded once for all of them) over one token split (z of S = gl_NumWorkGroups.z; S > 1
// writes partial softmax states that attn_spark_combine merges), one token per invocation in
// tiles of WG. Records are variable-length streams without per-token offsets: each invocation
// popcounts its token's keep mask, and an exclusive workgroup scan of the kept counts and sign
// bytes gives its read positions; the running base carries over tiles and starts from the
// layer's per-tile checkpoint.
//
// A SparK logit (spec 3.7) is Σ_kept q_j·k_j + α·Σ_pruned σ_j·u_j with u = q·ρ, computed as
//     Σ_kept q_j·(k_j + α·ρ_j)  +  α·(2·Σ_{positive pruned} u_j − Σ_all u_j)
// (the pruned sum is the positive part minus the negative one, and Σ_neg = Σ_all − Σ_kept −
// Σ_pos), so the work follows what is stored: the kept loop walks the mask's set bits (nk
// multiply-adds; with a fixed ratio every lane has the same count), and the positive pruned sum
// takes one lookup per 4 channels in per-workgroup tables of u built once per dispatch: a
// nibble's pruned bits take the next sign bits, scattered to their channels, and the result
// indexes tab (tab[n][v] = Σ u over v's bits at nibble n). Byte tables would halve the lookups
// but need D·512 bytes of shared memory, 32 KiB at D = 64.
#version 450
#define ATTN_TAIL
#include "attn.glsl" // MAXD (16-bit scan fields hold WG·MAXD), GMAX, the online-softmax loop

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
// binding 3: attn_store's output, [nHeads][D] or with S = gl_NumWorkGroups.z > 1 token splits
// the partial states

shared float rho[MAXD]; // ρ of this KV head (SparK recovery; 0 without)
// attn.glsl's big holds the recovery tables, [ceil(D/4)][16]: tab[n][v] = Σ u_j over the channels
// j = 4n+i of v's set bits (MAXD/4·16 entries: a quarter of big).
#define tab big
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

// wg_scan returns the exclusive prefix sum of v over the workgroup and the total in tot. Call in
// uniform control flow; its partials are read after its last barrier, so a barrier must come
// between two calls (attn_tile has several). With subgroups, one subgroup scans the
// per-subgroup totals in place (wg_max4 in attn.glsl says why).
#ifdef SG
shared uint scanTot;

uint wg_scan(uint v, out uint tot) {
	uint ex = subgroupExclusiveAdd(v);
	uint sum = subgroupAdd(v);
	if (subgroupElect()) scanP[gl_SubgroupID] = sum;
	barrier();
	if (gl_SubgroupID == 0u) {
		uint carry = 0u;
		for (uint i0 = 0u; i0 < gl_NumSubgroups; i0 += gl_SubgroupSize) {
			uint i = min(i0 + gl_SubgroupInvocationID, gl_NumSubgroups - 1u);
			uint x = i0 + gl_SubgroupInvocationID < gl_NumSubgroups ? scanP[i] : 0u;
			uint e = carry + subgroupExclusiveAdd(x);
			carry += subgroupAdd(x);
			if (i0 + gl_SubgroupInvocationID < gl_NumSubgroups) scanP[i] = e;
		}
		if (subgroupElect()) scanTot = carry;
	}
	barrier();
	tot = scanTot;
	return scanP[gl_SubgroupID] + ex;
}
#else
// Hillis-Steele in shared memory.
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
	return scanP[t] - v;
}
#endif

// ELEM2 returns elements idx and idx2 of the element stream starting at word base of buffer BUF
// (ty: 0 f32, 1 f16, 2 bf16). It reads two words without branching, although idx and idx+1 of
// 16-bit elements often share one: the CPU driver runs both sides of a branch, reads included.
#define ELEM2(BUF, base, idx, idx2, ty) vec2(unpack(BUF[(base) + ((ty) == 0u ? (idx) : (idx) >> 1)], idx, ty), \
	unpack(BUF[(base) + ((ty) == 0u ? (idx2) : (idx2) >> 1)], idx2, ty))

uint kvHead, nTok, vWord; // this workgroup's KV head, the layer's tokens, word offset of V

// attn_value2 and attn_tail2 read value dims d and d+1 of token t of the layer and of the tail
// (t from the layer's token count on). With an odd D, dim d+1 = D is past the row (maybe past
// the buffer): they read dim d twice and return 0 for it.
vec2 attn_value2(uint t, uint d) {
	uint d2 = d + 1u < aD ? 1u : 0u, idx = (kvHead * nTok + t) * aD + d;
	vec2 v = ELEM2(L, vWord, idx, idx + d2, etype);
	return vec2(v.x, v.y * float(d2));
}

vec2 attn_tail2(uint t, uint d) {
	uint d2 = d + 1u < aD ? 1u : 0u, idx = pc.tailV + (kvHead * pc.tailCap + t - nTok) * aD + d;
	vec2 v = ELEM2(tw, 0u, idx, idx + d2, pc.tailType);
	return vec2(v.x, v.y * float(d2));
}

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
	uint nibbles = (D + 3u) / 4u;
	if (signs) {
		for (uint e = tid; e < nibbles * 16u; e += WG) {
			uint j0 = (e >> 4) * 4u;
			vec4 sum = vec4(0.0);
			for (uint b = 0u; b < 4u; b++) {
				if ((e & (1u << b)) != 0u && j0 + b < D) sum += qs[j0 + b] * rho[j0 + b];
			}
			tab[e] = sum;
		}
	}
	barrier();
	vec4 uAll = vec4(0.0); // Σ u over all channels
	if (signs) {
		for (uint n = 0u; n < nibbles; n++) uAll += tab[n * 16u + 15u];
	}

	// Token split z of S covers whole tiles; the checkpoints give its stream positions.
	uint total = T + pc.tailLen, S = gl_NumWorkGroups.z, tBegin, tEnd;
	attn_split(total, gl_WorkGroupID.z, S, tBegin, tEnd);
	uint keptBase = 0u, signBase = 0u; // element index of the tile's first kept value, bit index of its first sign bit
	if (tBegin < T) {
		uint ck = L[H_CKPT] + 2u * (i * ((T + WG - 1u) / WG) + tBegin / WG);
		keptBase = L[ck];
		signBase = L[ck + 1u] * 8u;
	}
	kvHead = i;
	nTok = T;
	vWord = vW;
	attn_begin(D);
	for (uint t0 = tBegin; t0 < tEnd; t0 += WG) {
		uint t = t0 + tid;
		uint mAddr = maskHead + t * mTok;
		// Record sizes: kept count in the low 16 bits, sign bytes in the high 16 (tile sums fit).
		uint cnt = 0u, nk = 0u;
		if (t < T) {
			nk = D; // dense keys: whole rows
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
				// Kept channels: walk the mask's set bits, nk multiply-adds (the same count in
				// every lane with a fixed ratio), two mask words at a time in registers. Each
				// also adds α·u_j = α·ρ_j·q_j, so that the recovery below needs only the
				// positive pruned channels (see the header comment).
				uint c = ko;
				for (uint w = 0u; w < MW; w += 2u) {
					uint m0 = L[mAddr + w];
					uint m1 = L[mAddr + min(w + 1u, MW - 1u)] & (w + 1u < MW ? ~0u : 0u);
					uint n2 = bitCount(m0) + bitCount(m1);
					for (uint e = 0u; e < n2; e++) {
						bool lo = m0 != 0u;
						uint j = (w << 5) + (lo ? uint(findLSB(m0)) : 32u + uint(findLSB(m1)));
						m0 = lo ? m0 & (m0 - 1u) : m0;
						m1 = lo ? m1 : m1 & (m1 - 1u);
						dk += (elem(keptW, c) + alpha * rho[j]) * qs[j];
						c++;
					}
				}
				if (signs) {
					// Σ u over the positive pruned channels, a nibble at a time: the nibble's
					// pruned bits take the next sign bits, scattered to their channels (a
					// branch-free deposit: arithmetic is cheap next to a table read), and tab
					// sums u over the result.
					vec4 pos = vec4(0.0);
					for (uint w = 0u; w < MW; w++) {
						uint nj = min(32u, D - w * 32u);
						uint pm = ~L[mAddr + w] & (nj == 32u ? ~0u : (1u << nj) - 1u);
						// The next 32 sign bits from bit sb: a word holds the signs of at most 32
						// pruned channels. The stream is padded by one word, so sw+1 is
						// readable; a shift by 32 is undefined, hence the mask.
						uint sw = signW + (sb >> 5), sh = sb & 31u;
						uint sg = (L[sw] >> sh) | ((L[sw + 1u] << ((32u - sh) & 31u)) & (sh != 0u ? ~0u : 0u));
						sb += bitCount(pm);
						for (uint n = 0u; n < (nj + 3u) / 4u; n++) {
							uint p = (pm >> (4u * n)) & 15u, v = 0u;
							[[unroll]] for (uint b = 0u; b < 4u; b++) {
								uint pb = (p >> b) & 1u;
								v |= (sg & pb) << b;
								sg >>= pb;
							}
							pos += tab[(w * 8u + n) * 16u + v];
						}
					}
					dk += alpha * (2.0 * pos - uAll);
				}
			}
			s = dk * pc.scale;
		} else if (t < tEnd) {
			uint kr = pc.tailK + (i * pc.tailCap + (t - T)) * D;
			vec4 dk = vec4(0.0);
			for (uint j = 0u; j < D; j++) dk += tailElem(kr + j) * qs[j];
			s = dk * pc.scale;
		}

		uint n = min(WG, tEnd - t0);
		attn_tile(s, t0, n, T > t0 ? min(n, T - t0) : 0u);
	}
	attn_end();
	attn_store(qRow, ng, gl_NumWorkGroups.x / pc.gBlocks * pc.group, gl_WorkGroupID.z, S);
}
