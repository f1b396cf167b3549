// variants: sg
// matmul_q4_0: matrix-matrix product with q4_0 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q4_0
#define MATMUL
#include "matvec.glsl"
