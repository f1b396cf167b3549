// variants: sg
// matmul_q2_k: matrix-matrix product with q2_k weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q2_K
#define MATMUL
#include "matvec.glsl"
