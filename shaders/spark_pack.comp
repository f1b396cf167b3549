// variants:
// spark_pack: writes one region of a compressed layer in the layout attn_spark.comp reads
// (runtime/vulkan/spark.go), one invocation per 32-bit word, so that no two invocations write
// the same word (16-bit elements and sign bytes of neighbouring tokens share words):
//   region 0 kept:   token r's kept key values (the NKEEP channels of its keep mask, or of its KV
//                    head's with ThinK, in channel order; every channel for dense keys), copied
//                    bit for bit from the cache
//   region 1 signs:  per token SB bytes: bit p of the token's bits is set when the key of its
//                    p-th pruned channel is > 0 (zero counts as negative, spec 3.5); then zeros
//   region 2 alpha:  α [nKV][N] from the scratch, rounded to the element type
//   region 3 values: [nKV][N][D] from the value cache
//   region 4 rho:    ρ from the scratch's qn (top-p/group; fixed mode writes it in press_qnorm)
//   region 5 masks:  the keep masks from the scratch (top-p/group)
//   region 6 ckpt:   the tile checkpoints from the stream offsets (top-p/group)
// Stored token r of head i = r / N is cache position cachePos(r) (press_common.glsl). In fixed
// mode every token keeps NKEEP channels, so its stream positions are r·NKEEP and r·SB; in top-p
// mode they come from the scratch's offsets (OFF), and the token holding element e is found by
// binary search.
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint prm;    // word offset of the layer's parameter block in S
	uint region; // 0..3 above
	uint words;  // words of the region
} pc;

layout(binding = 0) readonly buffer KB { uint kw[]; }; // key cache [nKV][TMAX][D]
layout(binding = 1) readonly buffer VB { uint vw[]; }; // value cache [nKV][TMAX][D]
layout(binding = 2) readonly buffer SB { uint S[]; };  // parameters and scratch
layout(binding = 3) buffer LB { uint L[]; };           // the compressed layer

#include "press_common.glsl"

// channel returns the channel of the k-th set (want = 1) or clear (want = 0) bit of token r's
// keep mask (its own with SparK, its KV head's with ThinK); with dense keys (no masks) the k-th
// channel.
uint channel(uint r, uint k, uint want) {
	uint m0 = PRM(P_MASK), MW = PRM(P_MW), N = PRM(P_N);
	if (m0 == 0u) return k;
	m0 += (r / N) * PRM(P_MHEAD) + (r % N) * PRM(P_MTOK);
	for (uint w = 0u; w < MW; w++) {
		uint bits = L[m0 + w];
		if (want == 0u) bits = ~bits;
		uint c = bitCount(bits);
		if (k < c) {
			for (uint b = 0u; b < 32u; b++) {
				if (((bits >> b) & 1u) != 0u) {
					if (k == 0u) return w * 32u + b;
					k--;
				}
			}
		}
		k -= c;
	}
	return 0u; // not reached for a valid k
}

// offRow returns the last token r whose stream offset (field f: 0 kept elements, 1 sign bytes)
// is <= x: the token holding element or byte x (tokens without any share the next one's offset).
uint offRow(uint x, uint f) {
	uint lo = 0u, hi = PRM(P_NKV) * PRM(P_N) - 1u;
	while (lo < hi) {
		uint mid = (lo + hi + 1u) / 2u;
		if (S[PRM(P_OFF) + 2u * mid + f] <= x) lo = mid; else hi = mid - 1u;
	}
	return lo;
}

void main() {
	uint w = group_index() * WG + gl_LocalInvocationID.x;
	if (w >= pc.words) return;
	bool variable = PRM(P_VAR) != 0u;
	if (pc.region == 4u) {
		float qn = uintBitsToFloat(S[PRM(P_QN) + w]);
		L[PRM(P_RHO) + w] = floatBitsToUint(qn > 0.0 ? (PRM(P_PAPER) != 0u ? 1.0 / qn : 1.0 / sqrt(qn)) : 0.0);
		return;
	}
	if (pc.region == 5u) {
		L[PRM(P_MASK) + w] = S[PRM(P_SMASK) + w];
		return;
	}
	if (pc.region == 6u) {
		uint tiles = PRM(P_TILES), pair = w / 2u;
		uint r0 = (pair / tiles) * PRM(P_N) + (pair % tiles) * WG;
		L[PRM(P_CKPT) + w] = S[PRM(P_OFF) + 2u * r0 + (w & 1u)];
		return;
	}
	uint nKV = PRM(P_NKV), D = PRM(P_D), N = PRM(P_N), ty = PRM(P_KVTYPE), dt = PRM(P_DTYPE);
	uint nKeep = PRM(P_NKEEP), total = nKV * N, tmax = PRM(P_TMAX);
	uint epw = dt == 0u ? 1u : 2u; // elements per word
	uint word = 0u;
	if (pc.region == 1u) {
		uint sb = PRM(P_SB), nPrune = D - nKeep;
		uint bytes = variable ? S[PRM(P_OFF) + 2u * total + 1u] : total * sb;
		for (uint b = 0u; b < 4u; b++) {
			uint byte_ = 4u * w + b;
			if (byte_ >= bytes) break;
			uint r, p0;
			if (variable) {
				r = offRow(byte_, 1u);
				p0 = (byte_ - S[PRM(P_OFF) + 2u * r + 1u]) * 8u;
				nPrune = D - S[PRM(P_CNT) + r];
			} else {
				r = byte_ / sb;
				p0 = (byte_ % sb) * 8u;
			}
			uint ko = ((r / N) * tmax + cachePos(r)) * D;
			for (uint q = 0u; q < 8u && p0 + q < nPrune; q++) {
				uint j = channel(r, p0 + q, 0u);
				if (CACHE_ELEM(kw, ko + j, ty) > 0.0) word |= 1u << (8u * b + q);
			}
		}
		L[PRM(P_SIGN) + w] = word;
		return;
	}
	for (uint h = 0u; h < epw; h++) {
		uint e = w * epw + h, bits = 0u;
		uint kept = variable ? S[PRM(P_OFF) + 2u * total] : total * nKeep;
		if (pc.region == 0u && e < kept) {
			uint r = variable ? offRow(e, 0u) : e / nKeep;
			uint k = variable ? e - S[PRM(P_OFF) + 2u * r] : e % nKeep;
			bits = CACHE_BITS(kw, ((r / N) * tmax + cachePos(r)) * D + channel(r, k, 1u), ty);
		} else if (pc.region == 2u && e < total) {
			bits = elemBits(uintBitsToFloat(S[PRM(P_ALPHA) + e]), dt);
		} else if (pc.region == 3u && e < total * D) {
			uint r = e / D;
			bits = CACHE_BITS(vw, ((r / N) * tmax + cachePos(r)) * D + e % D, ty);
		}
		word |= bits << (16u * h);
	}
	uint base = pc.region == 0u ? PRM(P_KEPT) : (pc.region == 2u ? PRM(P_ALPHAW) : PRM(P_V));
	L[base + w] = word;
}
