// variants: sg
// matvec_q5_1: matrix-vector product with q5_1 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q5_1
#define NR 4
#include "matvec.glsl"
