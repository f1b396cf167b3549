// variants:
// swiglu: o = silu(gate) * up elementwise, with a = gate and b = up; silu(g) = g / (1 + exp(-g)).
#version 450
#define OP(g, u) ((g) / (1.0 + exp(-(g))) * (u))
#include "elementwise.glsl"
