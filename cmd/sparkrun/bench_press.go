package main

import (
	"fmt"

	"github.com/sparkrun/sparkrun/runtime"
)

// pressFootprint measures, after the timed tests, what the press of m's caches stores for a
// prompt of n random tokens (the benchmark's ids): it prefills them into a fresh session, which
// compresses them, and returns the bytes of a cache of ctx positions, the compressed prompt plus
// dense bytes for the positions after it (tokens after the prompt are stored dense, spec 2.2).
func pressFootprint(m *runtime.Model, ids []int32, ctx int, perTok int64) (int64, error) {
	sess := m.NewSession()
	if err := sess.Prefill(ids); err != nil {
		return 0, err
	}
	pc, ok := sess.Cache().(*runtime.PressCache)
	if !ok {
		return 0, fmt.Errorf("bench: the session's cache is %T, not a press cache", sess.Cache())
	}
	b, err := pc.Bytes(0)
	if err != nil {
		return 0, err
	}
	return int64(b.PromptStored) + int64(ctx-b.PromptLen)*perTok, nil
}
