// variants: sg
// matvec_q4_0: matrix-vector product with q4_0 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q4_0
#include "matvec.glsl"
