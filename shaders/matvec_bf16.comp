// variants: sg
// matvec_bf16: matrix-vector product with bf16 weights, one token per dispatch row (see matvec.glsl).
#version 450
#define WT_BF16
#define NR 4
#include "matvec.glsl"
