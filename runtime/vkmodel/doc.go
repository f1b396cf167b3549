// Package vkmodel runs whole models on a Vulkan device (package vulkan): the weights the CPU
// runtime binds are uploaded once, the KV cache lives in device memory, and a forward pass over
// the tokens of one sequence is recorded into one command buffer and submitted once, so a
// generated token costs exactly one queue submission and only its logits come back.
//
// The design keeps package runtime's forward pass and Session unchanged in spirit: a *Model
// implements runtime.Engine (Forward, NewCache, Config, Options), so runtime.NewSessionOn drives
// it exactly as it drives the CPU model (Prefill, Decode, Generate, PromptLogits). Its cache
// (*Cache) is a runtime.KVCache whose keys and values stay on the device; Model.Forward records
// the cache's KV stores and attention into the pass itself. Cache.Store and Cache.Attend, the
// interface's host-side entry points that the CPU model calls, also work (one submission per
// entry, through host-visible staging rows) so that any runtime model can use a device cache;
// they exist for the interface and tests, not for speed.
//
// Every weight type the CPU runtime multiplies has a shader, so weights are uploaded as stored;
// before uploading, Load adds up weights, KV cache and activations and refuses a model that does
// not fit the device-local heap with an error giving needed and available bytes (vulkan.ErrNoFit).
// With a KV press (runtime.Options.Press), each sequence's prompt is compressed on the device at
// the end of its prefill (Cache.EndPrefill) and decode attends over the compressed records and a
// dense tail. Without cgo, Open reports vulkan.ErrNoCgo.
package vkmodel
