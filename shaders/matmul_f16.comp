// variants: sg s16
// matmul_f16: matrix-matrix product with f16 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_F16
#define MATMUL
#include "matvec.glsl"
