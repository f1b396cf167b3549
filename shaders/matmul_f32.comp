// variants: sg
// matmul_f32: matrix-matrix product with f32 weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_F32
#define MATMUL
#include "matvec.glsl"
