// variants: sg
// matmul_iq4_nl: matrix-matrix product with iq4_nl weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_IQ4_NL
#define MATMUL
#include "matvec.glsl"
