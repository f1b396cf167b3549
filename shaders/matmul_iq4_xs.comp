// variants: sg
// matmul_iq4_xs: matrix-matrix product with iq4_xs weights for prefill, tiles of 4 tokens (see matvec.glsl).
#version 450
#define WT_IQ4_XS
#define MATMUL
#include "matvec.glsl"
