package friends

import (
	"context"
	"sync"
)

// CapStore counts the applies the plugin accepts per day, for
// Options.DailyCap. [MemoryCaps], the default, counts in the process;
// the replicas of a bot (bot.Options.Cluster) share one, such as
// redisstate.Store, so that the cap bounds their accepts together rather
// than each replica's. Implementations are safe for concurrent use;
// statetest.TestCapStore checks the contract.
type CapStore interface {
	// TakeCap counts one accept on day if fewer than limit are counted
	// for it, and reports whether it did, atomically: of concurrent
	// takers, however many, at most limit get true. The plugin passes
	// the date in Options.Location, as time.DateOnly formats it
	// ("2026-03-01"); each day counts from zero. A limit of 0 or less
	// takes nothing. A store may forget a day once it is over.
	TakeCap(ctx context.Context, day string, limit int) (bool, error)
	// ReturnCap gives back one place that TakeCap took on day, for an
	// accept that then did not happen. It never takes the count below
	// zero, and does nothing for a day the store has forgotten.
	ReturnCap(ctx context.Context, day string) error
}

// MemoryCaps is the CapStore of one process, the plugin's default. It
// keeps the count of the latest day it was given and forgets those
// before, so that it does not grow. A take for an earlier day (a clock
// that stepped back over midnight) counts towards the latest, so that a
// day that is over opens no new places; a place given back for an
// earlier day is not given to the latest. Days compare as strings, which
// orders time.DateOnly dates.
//
// The zero value is ready. A MemoryCaps is safe for concurrent use; the
// plugins that share one, of one process, share its count.
type MemoryCaps struct {
	mu  sync.Mutex
	day string // the latest day taken
	n   int    // its places taken
}

var _ CapStore = (*MemoryCaps)(nil)

// TakeCap implements CapStore.
func (m *MemoryCaps) TakeCap(_ context.Context, day string, limit int) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if day > m.day {
		m.day, m.n = day, 0
	}
	if m.n >= limit {
		return false, nil
	}
	m.n++
	return true, nil
}

// ReturnCap implements CapStore.
func (m *MemoryCaps) ReturnCap(_ context.Context, day string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if day == m.day && m.n > 0 {
		m.n--
	}
	return nil
}
