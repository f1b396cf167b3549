// variants: sg
// matmul_bf16: matrix-matrix product with bf16 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_BF16
#define MATMUL
#include "matvec.glsl"
