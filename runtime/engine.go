package runtime

// Engine is a loaded model as a Session drives it: forward passes over a KV cache that the
// engine itself makes. *Model (the CPU runtime) is one; package vkmodel's Vulkan model is
// another. Each engine accepts only caches from its own NewCache, since the cache's layout and
// memory (host or device) belong to the backend.
type Engine interface {
	// Forward runs batch, storing its keys and values in cache, and writes the logits of the
	// entries with Logits set, in batch order, into logits ([count][n_vocab]).
	Forward(batch []BatchEntry, cache KVCache, logits []float32) error
	// NewCache returns a KV cache for nSeq sequences of Options().ContextSize positions.
	NewCache(nSeq int) KVCache
	// Config returns the model's hyperparameters.
	Config() Config
	// Options returns the options in effect (defaults filled in).
	Options() Options
}

// NewSessionOn starts an empty session on e with a one-sequence cache from e.NewCache.
func NewSessionOn(e Engine) *Session { return newSessionOn(e, e.NewCache(1)) }

// newSessionOn starts an empty session of e on cache (one sequence).
func newSessionOn(e Engine, cache KVCache) *Session {
	return &Session{
		m: e, cache: cache,
		logits:  make([]float32, e.Config().NVocab),
		history: make([]int32, 0, e.Options().ContextSize),
	}
}

// The CPU model is an Engine.
var _ Engine = (*Model)(nil)
