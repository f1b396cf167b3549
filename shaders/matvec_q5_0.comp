// variants: sg
// matvec_q5_0: matrix-vector product with q5_0 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q5_0
#define NR 4
#include "matvec.glsl"
