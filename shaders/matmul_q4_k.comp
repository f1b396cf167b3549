// variants: sg
// matmul_q4_k: matrix-matrix product with q4_k weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q4_K
#define MATMUL
#include "matvec.glsl"
