// variants: sg
// matvec_q3_k: matrix-vector product with q3_k weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q3_K
#define NR 4
#include "matvec.glsl"
