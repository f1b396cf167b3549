// variants: sg
// matmul_q8_0: matrix-matrix product with q8_0 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q8_0
#define MATMUL
#include "matvec.glsl"
