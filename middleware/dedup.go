package middleware

import (
	"container/heap"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/imbot-go/imbot/bot"
)

// DedupStore remembers, for [Dedup], the events that were handled: a
// key per event, each until an expiry. Implementations must be safe for
// concurrent use. [MemoryDedup] is the in-process one, and state.Open
// keeps the keys in a file, so that a restarted bot does not handle a
// message twice; several replicas of a bot share one by implementing
// DedupStore over a shared store (a Redis SET with PXAT, say), under the
// contract that statetest.TestDedupStore checks.
type DedupStore interface {
	// Seen reports whether key was marked with an expiry after now.
	Seen(ctx context.Context, key string, now time.Time) (bool, error)
	// Mark remembers key until expires; the last Mark of a key sets its
	// expiry.
	Mark(ctx context.Context, key string, expires time.Time) error
}

// Dedup returns middleware that drops new messages (bot.EventMessage)
// already handled within window: for a message whose key store has seen,
// it marks the event skipped with reason [SkipDuplicate] ("duplicate",
// bot.Context.Skip) and returns nil without calling the handler. The key
// is the bot's user id, the conversation's id and the message's server
// id, joined by "/" ("100/0:1:1:100/7301"); the bot's id keeps apart the
// bots sharing a store. Other events, and messages without a server id,
// pass.
//
// A message is marked, until window after its handler returned, only
// when the handler returned nil: a message whose handler failed is
// handled again when it is delivered again (the client resumes from a
// saved cursor, say), and one handled is not. A message handled during
// window is handled once however often it comes; one that comes again
// after window is handled again.
//
// Seen and Mark are separate calls, so two replicas handling the same
// message at the same time both handle it; within one bot that cannot
// happen, since a conversation's events are handled one at a time. When
// store fails, the error is returned (wrapped): at Seen, before the
// handler runs, so that a message is not handled without being checked;
// at Mark, after it ran.
//
// Place Dedup after IgnoreSelf (the bot's own messages need no check)
// and before Timeout, so that the store calls run on the event's own
// context and a handler that used up its deadline does not leave its
// message unmarked; and before RateLimit, so that duplicates spend no
// tokens.
//
// A nil store means a new [MemoryDedup]. Dedup panics if window is not
// positive. The middleware is safe for concurrent use.
func Dedup(store DedupStore, window time.Duration) bot.Middleware {
	if window <= 0 {
		panic(fmt.Sprintf("middleware: Dedup: window %v must be positive", window))
	}
	if store == nil {
		store = NewMemoryDedup()
	}
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			key, ok := dedupKey(c)
			if !ok {
				return next.Handle(c)
			}
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			seen, err := store.Seen(ctx, key, time.Now())
			if err != nil {
				return fmt.Errorf("middleware: Dedup: checking %s: %w", key, err)
			}
			if seen {
				c.Logger().Debug("middleware: duplicate message dropped", "key", key)
				c.Skip(SkipDuplicate)
				return nil
			}
			if err := next.Handle(c); err != nil {
				return err
			}
			if err := store.Mark(ctx, key, time.Now().Add(window)); err != nil {
				return fmt.Errorf("middleware: Dedup: message handled but not marked %s: %w", key, err)
			}
			return nil
		})
	}
}

// dedupKey returns the store key of c's event, or false when Dedup lets
// it pass.
func dedupKey(c *bot.Context) (string, bool) {
	ev := &c.Event
	if ev.Kind != bot.EventMessage || ev.Message == nil || ev.Message.ServerID == 0 {
		return "", false
	}
	conv := ev.ConversationRef.ID
	if conv == "" {
		conv = ev.Message.ConversationID
	}
	var self int64
	if b := c.Bot(); b != nil {
		self = int64(b.UserID())
	}
	return strconv.FormatInt(self, 10) + "/" + string(conv) + "/" + strconv.FormatInt(int64(ev.Message.ServerID), 10), true
}

// MemoryDedup is a [DedupStore] in memory. It forgets a key once its
// expiry has passed: each Seen first drops the keys expired at its now,
// oldest first, so that the store holds only the keys of the last window
// (plus those marked since the last Seen) and the cost of forgetting is
// paid a key at a time. Time is what the callers pass in; the store
// reads no clock, and expects the now of successive Seen calls not to go
// back (a key forgotten at one now is not seen at an earlier one).
//
// A MemoryDedup is safe for concurrent use.
type MemoryDedup struct {
	mu      sync.Mutex
	expires map[string]time.Time
	order   expiryHeap // every Mark, earliest expiry first; stale entries are skipped
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup() *MemoryDedup {
	return &MemoryDedup{expires: make(map[string]time.Time)}
}

// Seen implements [DedupStore]; it never fails.
func (m *MemoryDedup) Seen(_ context.Context, key string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evict(now)
	exp, ok := m.expires[key]
	return ok && exp.After(now), nil
}

// Mark implements [DedupStore]; it never fails.
func (m *MemoryDedup) Mark(_ context.Context, key string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expires[key] = expires
	heap.Push(&m.order, expiryEntry{key: key, expires: expires})
	return nil
}

// Len returns how many keys the store holds: those whose expiry had not
// passed at the last Seen, and those marked since.
func (m *MemoryDedup) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

// evict drops the keys expired at now. The caller holds m.mu.
func (m *MemoryDedup) evict(now time.Time) {
	for len(m.order) > 0 && !m.order[0].expires.After(now) {
		e := heap.Pop(&m.order).(expiryEntry)
		if exp, ok := m.expires[e.key]; ok && exp.Equal(e.expires) {
			delete(m.expires, e.key) // not marked again since
		}
	}
}

type expiryEntry struct {
	key     string
	expires time.Time
}

// expiryHeap is a min-heap of marks by expiry (container/heap).
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}
