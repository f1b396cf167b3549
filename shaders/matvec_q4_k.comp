// variants: sg
// matvec_q4_k: matrix-vector product with q4_k weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q4_K
#define NR 4
#include "matvec.glsl"
