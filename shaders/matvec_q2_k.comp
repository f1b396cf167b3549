// variants: sg
// matvec_q2_k: matrix-vector product with q2_k weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q2_K
#define NR 4
#include "matvec.glsl"
