// Package vulkan is sparkrun's Vulkan compute backend: device discovery and selection, device
// memory (weights uploaded once, split to respect maxStorageBufferRange and the single-allocation
// limit, with an up-front fit check, CheckFit, that compares a model's planned allocations with the
// device's heap), compute pipelines built once from the embedded SPIR-V of package shaders, and a
// Recorder that records many dispatches with the barriers they need into one command buffer and
// submits it once.
//
// The ops (matrix-vector and matrix-matrix products that dequantize on the fly, RMSNorm, RoPE,
// softmax, SwiGLU, add, embedding rows, KV-cache stores, causal attention for decode and prefill)
// are methods of Recorder; each is tested against a plain Go reference. Weight matrices stay in
// their ggml type for every type the CPU kernels multiply (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS: MatrixTypes), dequantized bit-exactly as ggml does. The Vulkan
// calls go through package vk, our own cgo binding; without cgo the package only reports that
// Vulkan is unavailable.
//
// Environment: SPARKRUN_VK_VISIBLE_DEVICES (comma-separated loader indices to expose, in order),
// SPARKRUN_VK_VALIDATE=1 (Khronos validation layer, messages collected as errors),
// SPARKRUN_VK_NO_SUBGROUP=1 (shared-memory reductions), SPARKRUN_VK_NO_F16=1 (no 16-bit storage:
// f16 data read as 32-bit words), SPARKRUN_VK_NO_INT8=1 (no 8-bit storage: Q8_0 weights read as
// 32-bit words instead of int8, and shaderInt8/storageBuffer8BitAccess left disabled),
// SPARKRUN_VK_MAX_MEMORY=MiB (the device memory a model may take; more is refused up front),
// SPARKRUN_DEBUG=kernels (GPU time of every dispatch).
package vulkan
