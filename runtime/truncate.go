package runtime

import "fmt"

// Truncate forgets every token from position n on, so the session continues at position n
// (used by chat to reuse the cached prefix of a re-rendered conversation). The cache entries
// past n are overwritten as new tokens arrive. The logits are stale until the next feed.
func (s *Session) Truncate(n int) error {
	if n < 0 || n > len(s.history) {
		return fmt.Errorf("runtime: truncate to %d: the session holds %d tokens", n, len(s.history))
	}
	s.history = s.history[:n]
	return nil
}
