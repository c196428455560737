package cron

import (
	"context"
	"sync"
	"time"
)

// Store keeps, per job, the scheduled time of the last occurrence that was posted.
//
// The plugin reads a job's record when it starts leading, to find the
// occurrences it missed, and writes it after an occurrence was posted to
// every target. It also keeps a second record per job, under the key
// job+"#pending", written before an occurrence is posted: when that one
// is later than the first, the bot stopped in the middle of an occurrence,
// which the next leader posts again (the server answers the targets that
// have it with the message they got). Job ids cannot contain '#', so the
// keys never collide.
//
// [MemoryStore] keeps the records for the life of the process. For
// restarts, use a durable store (package state's file store satisfies
// this interface); for several replicas of a bot, one they share.
// Implementations must be safe for concurrent use.
type Store interface {
	LastRun(ctx context.Context, job string) (t time.Time, ok bool, err error)
	SetLastRun(ctx context.Context, job string, t time.Time) error
}

// pendingKey is the key of the record of job's occurrence in progress.
func pendingKey(job string) string { return job + "#pending" }

// MemoryStore is a [Store] in memory: missed runs are found after a
// leadership change within one process, not after a restart. It is safe
// for concurrent use; the zero value is ready to use.
type MemoryStore struct {
	mu   sync.Mutex
	runs map[string]time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// LastRun implements Store.
func (s *MemoryStore) LastRun(_ context.Context, job string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.runs[job]
	return t, ok, nil
}

// SetLastRun implements Store.
func (s *MemoryStore) SetLastRun(_ context.Context, job string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = make(map[string]time.Time)
	}
	s.runs[job] = t
	return nil
}
