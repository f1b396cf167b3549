// Package press implements KV-cache compression policies ("presses") as backend-free math on one
// layer's cache: SparK (query-aware per-token key-channel pruning with recovery), ThinK (structured
// channel pruning), the token-evicting presses SnapKV, PyramidKV, StreamingLLM, TOVA,
// ObservedAttention and ExpectedAttention, and their compositions (snap_spark, pyramid_spark,
// snap_think, pyramid_think). The formulas follow ../shared/design/spark-spec.md (sections 2-4,
// readings of section 7); comments cite its section numbers.
//
// A runtime calls a press once per layer at the end of prefill:
//
//	p, err := press.New("snap_spark", press.Options{KeyRatio: 0.8, Budget: 1024})
//	res, err := p.Compress(&press.Input{KV: kv, Window: q, LayerIdx: l, NLayers: n})
//
// and then, for every token after prefill (question suffix, generated tokens), appends its K/V to
// the layer's DenseTail and attends directly on the compressed records plus the tail (spec 2.2,
// 3.7), one query position at a time, which keeps the causal order:
//
//	tail.Append(kNew, vNew)                         // [n_kv_heads][head_dim], post-RoPE at the true position
//	err = res.Layer.Attend(out, q, nHeads, tail, &scratch)
//
// Pruned key channels are recovered inside the dot product, never by materialising dense keys.
// Positions continue from the uncompressed prompt length (spec 2.3); the press does not need them
// because keys are cached post-RoPE. Decompress and AttendDense are the slow, obvious oracle the
// tests compare the kernel against. Bytes and DenseBytes give the exact storage of a layer.
package press
