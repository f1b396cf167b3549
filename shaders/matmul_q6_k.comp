// variants: sg
// matmul_q6_k: matrix-matrix product with q6_k weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q6_K
#define MATMUL
#include "matvec.glsl"
