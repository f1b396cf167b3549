// variants: sg
// matmul_q5_1: matrix-matrix product with q5_1 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q5_1
#define MATMUL
#include "matvec.glsl"
