// variants: sg
// matmul_q5_0: matrix-matrix product with q5_0 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q5_0
#define MATMUL
#include "matvec.glsl"
