// variants: sg
// matvec_q6_k: matrix-vector product with q6_k weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q6_K
#define NR 4
#include "matvec.glsl"
