// variants: sg
// matmul_q5_k: matrix-matrix product with q5_k weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q5_K
#define MATMUL
#include "matvec.glsl"
