// variants: sg
// matvec_q5_k: matrix-vector product with q5_k weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q5_K
#define NR 4
#include "matvec.glsl"
