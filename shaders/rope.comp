// variants:
// rope: rotary position embedding in place, one invocation per rotated pair. Row t of x holds
// nHeads heads of headDim at position pos0 + t; the first nRot dims of each head rotate. Pair i
// (0 <= i < nRot/2) is (2i, 2i+1) in normal mode and (i, i + nRot/2) in NEOX mode, rotated by
// theta = pos * base^(-2i/nRot) / ff[i] (ff: per-pair frequency factors, Llama 3.1 style, read
// only when hasFF is set; otherwise any buffer may be bound).
#version 450
#include "common.glsl"

layout(push_constant) uniform PC {
	uint headDim; // elements per head
	uint nRot;    // rotated dims per head (even, <= headDim)
	uint nHeads;  // heads per row
	uint rows;    // rows (tokens)
	uint pos0;    // position of row 0
	float base;   // frequency base (rope theta)
	uint neox;    // 1: NEOX pairing
	uint hasFF;   // 1: divide theta by ff[i]
} pc;

layout(binding = 0) buffer XB { float x[]; };          // [rows][nHeads][headDim]
layout(binding = 1) readonly buffer FB { float ff[]; }; // [nRot/2]

void main() {
	uint half_ = pc.nRot / 2;
	uint g = group_index() * WG + gl_LocalInvocationID.x;
	if (g >= pc.rows * pc.nHeads * half_) return;
	uint i = g % half_, head = g / half_; // head counts over rows too
	uint t = head / pc.nHeads;
	float theta = float(pc.pos0 + t) * pow(pc.base, -2.0 * float(i) / float(pc.nRot));
	if (pc.hasFF != 0) theta /= ff[i];
	float c = cos(theta), s = sin(theta);
	uint base = head * pc.headDim;
	uint i0 = pc.neox != 0 ? base + i : base + 2 * i;
	uint i1 = pc.neox != 0 ? base + i + half_ : base + 2 * i + 1;
	float a = x[i0], b = x[i1];
	x[i0] = a * c - b * s;
	x[i1] = a * s + b * c;
}
