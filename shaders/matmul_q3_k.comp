// variants: sg
// matmul_q3_k: matrix-matrix product with q3_k weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_Q3_K
#define MATMUL
#include "matvec.glsl"
