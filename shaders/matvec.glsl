// matvec.glsl: y[n][rowOff + r] = sum_k W[r][k] * x[n][k] for the rows r of one weight chunk and
// tokens n < N. It is the kernel of matvec_<type> (NT = 1: gl_WorkGroupID.z is the token) and of
// matmul_<type> (MATMUL defined, for prefill: NT tokens per tile, gl_WorkGroupID.z is the tile),
// so both dequantize with the same code. A register tile of NR rows by NT tokens belongs to one subgroup (SG), whose
// invocations split k between them, each keeping NR*NT partial sums that one subgroupAdd each
// ends; without SG it belongs to one invocation, which walks the whole of k alone, so neither
// build needs a barrier. A weight is thus read once per NT tokens and an activation once per NR
// rows. The host splits matrices larger than maxStorageBufferRange into chunks of whole rows and
// dispatches once per chunk with rowOff set.
//
// Speed on lavapipe (see matmul_units.glsl): storage loads cost per load, not per byte, so the
// fast path reads whole units (8 floats, or one 32-element block) through vec4/uvec4/uvec2 loads,
// and the tiles make each load feed many products. It applies when K is a multiple of W_UNIT
// (always for block types) and the type defines W_UNIT; otherwise (odd K, or a type with only
// w_quad/w_elem) invocations step over quads or single elements. Barriers are avoided because
// lavapipe runs a workgroup's subgroups in turn and a barrier switches between them.
#include "common.glsl"

#ifdef MATMUL
#define NT 4 // tokens per tile: matmulTokens in runtime/vulkan/ops.go
#else
#define NT 1
#endif
#define NR 4 // rows per tile: matvecTileRows in runtime/vulkan/ops.go

layout(push_constant) uniform PC {
	uint K;      // columns (elements per row)
	uint M;      // rows in this chunk
	uint rowOff; // first output row of this chunk
	uint ldy;    // output stride between tokens (total rows of the matrix)
	uint N;      // tokens
} pc;

#define W_BINDING 0 // [M][K] in the weight type
#include "weights.glsl"
#include "matmul_units.glsl"
layout(binding = 1) readonly buffer XB { float x[]; };   // [N][K]
layout(binding = 1) readonly buffer XB4 { vec4 x4[]; };  // the same, four at a time (fast path)
layout(binding = 2) writeonly buffer YB { float y[]; };  // [N][ldy]

#ifdef SG
#define LANE gl_SubgroupInvocationID
#define STEP gl_SubgroupSize
#else
#define LANE 0u
#define STEP 1u
#endif

void main() {
#ifdef SG
	// gl_SubgroupSize is the device's subgroupSize for a SPIR-V 1.3 module, so the host sizes the
	// grid with WG / subgroupSize tiles per workgroup.
	uint r0 = (group_index() * gl_NumSubgroups + gl_SubgroupID) * NR;
#else
	uint r0 = (group_index() * WG + gl_LocalInvocationID.x) * NR;
#endif
	if (r0 >= pc.M) return; // uniform per subgroup (SG)
	uint n0 = gl_WorkGroupID.z * NT;
	// Rows and tokens past the end are clamped to the last one: computed, never stored.
	uint wrow[NR], xrow[NT]; // element offsets of the tile's weight rows and activation rows
	[[unroll]] for (uint i = 0u; i < NR; i++) wrow[i] = min(r0 + i, pc.M - 1u) * pc.K;
	[[unroll]] for (uint t = 0u; t < NT; t++) xrow[t] = min(n0 + t, pc.N - 1u) * pc.K;
	float acc[NR][NT];
	[[unroll]] for (uint i = 0u; i < NR; i++) {
		[[unroll]] for (uint t = 0u; t < NT; t++) acc[i][t] = 0.0;
	}
	bool fast = false;
#ifdef W_UNIT
	fast = pc.K % W_UNIT == 0u && w_unit_ok((wrow[NR - 1] + pc.K) / W_UNIT - 1u);
	// Both loops below are recorded; the one whose condition fails ends at once.
	uint units = fast ? pc.K / W_UNIT : 0u;
	for (uint u = LANE; u < units; u += STEP) {
		// The tile's weights are dequantized first and kept, then each token's activations are
		// loaded and used at once: fewer values live at a time than the other way round.
		vec4 wv[NR][W_UNIT / 4];
		float d[NR];
		[[unroll]] for (uint i = 0u; i < NR; i++) d[i] = w_unit(wrow[i] / W_UNIT + u, wv[i]);
		[[unroll]] for (uint t = 0u; t < NT; t++) {
			vec4 xv[W_UNIT / 4];
			[[unroll]] for (uint q = 0u; q < W_UNIT / 4; q++) xv[q] = x4[(xrow[t] + u * W_UNIT) / 4u + q];
			[[unroll]] for (uint i = 0u; i < NR; i++) {
				float s = 0.0;
				[[unroll]] for (uint q = 0u; q < W_UNIT / 4; q++) s += dot(wv[i][q], xv[q]);
				acc[i][t] += d[i] * s;
			}
		}
	}
#endif
	uint kEnd = fast ? 0u : pc.K;
#ifdef W_QUAD
	// Block types: four elements per step, sharing one scale read and one 4-byte read.
	for (uint k = 4u * LANE; k < kEnd; k += 4u * STEP) {
		vec4 xq[NT];
		[[unroll]] for (uint t = 0u; t < NT; t++) {
			uint b = xrow[t] + k;
			xq[t] = vec4(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
		}
		[[unroll]] for (uint i = 0u; i < NR; i++) {
			vec4 w = w_quad(wrow[i] + k);
			[[unroll]] for (uint t = 0u; t < NT; t++) acc[i][t] += dot(w, xq[t]);
		}
	}
#else
	for (uint k = LANE; k < kEnd; k += STEP) {
		float xs[NT];
		[[unroll]] for (uint t = 0u; t < NT; t++) xs[t] = x[xrow[t] + k];
		[[unroll]] for (uint i = 0u; i < NR; i++) {
			float w = W_ELEM(wrow[i] + k);
			[[unroll]] for (uint t = 0u; t < NT; t++) acc[i][t] += w * xs[t];
		}
	}
#endif
	[[unroll]] for (uint i = 0u; i < NR; i++) {
		[[unroll]] for (uint t = 0u; t < NT; t++) {
#ifdef SG
			float s = subgroupAdd(acc[i][t]);
			bool first = subgroupElect();
#else
			float s = acc[i][t];
			bool first = true;
#endif
			if (first && r0 + i < pc.M && n0 + t < pc.N) y[(n0 + t) * pc.ldy + pc.rowOff + r0 + i] = s;
		}
	}
}
