// variants: sg i8
// matvec_q8_0: matrix-vector product with q8_0 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q8_0
#include "matvec.glsl"
