// variants: sg
// matmul_q4_1: matrix-matrix product with q4_1 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q4_1
#define MATMUL
#include "matvec.glsl"
