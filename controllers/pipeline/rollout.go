package pipeline

import "sync"

// RolloutLimiter caps how many clusters scale in or roll at once across the operator, so a
// fleet-wide image bump does not restart every cluster together. Max <= 0 means no limit; a nil
// limiter limits nothing.
type RolloutLimiter struct {
	Max     int
	mu      sync.Mutex
	holders map[string]bool
}

// TryAcquire takes (or keeps) a slot for a cluster.
func (l *RolloutLimiter) TryAcquire(key string) bool {
	if l == nil || l.Max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holders == nil {
		l.holders = map[string]bool{}
	}
	if l.holders[key] {
		return true
	}
	if len(l.holders) >= l.Max {
		return false
	}
	l.holders[key] = true
	return true
}

// Release frees a cluster's slot once its rollout is over.
func (l *RolloutLimiter) Release(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holders, key)
}
