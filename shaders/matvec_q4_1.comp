// variants: sg
// matvec_q4_1: matrix-vector product with q4_1 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_Q4_1
#define NR 4
#include "matvec.glsl"
