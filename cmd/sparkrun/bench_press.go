package main

import (
	"fmt"

	"github.com/sparkrun/sparkrun/runtime"
)

// pressFootprint measures, after the timed tests, what the press of e's caches stores for a
// prompt of n random tokens (the benchmark's ids): it prefills them into a fresh session, which
// compresses them, and returns the bytes of a cache of ctx positions, the compressed prompt plus
// dense bytes for the positions after it (tokens after the prompt are stored dense, spec 2.2).
// The CPU's press cache and the Vulkan cache both report their bytes.
func pressFootprint(e runtime.Engine, ids []int32, ctx int, perTok int64) (int64, error) {
	sess := runtime.NewSessionOn(e)
	if err := sess.Prefill(ids); err != nil {
		return 0, err
	}
	pc, ok := sess.Cache().(interface {
		Bytes(seq int) (runtime.KVBytes, error)
	})
	if !ok {
		return 0, fmt.Errorf("bench: the session's cache %T does not report its bytes", sess.Cache())
	}
	b, err := pc.Bytes(0)
	if err != nil {
		return 0, err
	}
	return int64(b.PromptStored) + int64(ctx-b.PromptLen)*perTok, nil
}
