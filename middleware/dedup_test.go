package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/statetest"
)

func TestMemoryDedupConformance(t *testing.T) {
	t.Parallel()
	statetest.TestDedupStore(t, func(*testing.T) middleware.DedupStore { return middleware.NewMemoryDedup() })
}

// MemoryDedup forgets a key once its expiry passed, at the next Seen,
// with the time the caller passes: no clock, no sleep.
func TestMemoryDedupEvicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := middleware.NewMemoryDedup()
	for i, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Mark(ctx, k, t0.Add(time.Duration(i+1)*time.Minute)))
	}
	require.NoError(t, s.Mark(ctx, "b", t0.Add(10*time.Minute))) // b again, later
	steps := []struct {
		now     time.Duration
		key     string
		seen    bool
		wantLen int
	}{
		{0, "a", true, 3},
		{time.Minute, "a", false, 2},     // a expires
		{5 * time.Minute, "c", false, 1}, // so does c, but not b, marked again
		{9 * time.Minute, "b", true, 1},
		{10 * time.Minute, "b", false, 0},
	}
	for _, st := range steps {
		ok, err := s.Seen(ctx, st.key, t0.Add(st.now))
		require.NoError(t, err, "at +%v: Seen(%s)", st.now, st.key)
		require.Equal(t, st.seen, ok, "at +%v: Seen(%s)", st.now, st.key)
		require.Equal(t, st.wantLen, s.Len(), "at +%v: Len after Seen(%s)", st.now, st.key)
	}
}

// mwDedupStore is a DedupStore over a MemoryDedup that records the calls
// and can fail them.
type mwDedupStore struct {
	mem *middleware.MemoryDedup

	mu       sync.Mutex
	marks    []string    // keys marked
	expiries []time.Time // their expiries
	seenErr  error
	markErr  error
}

func newMWDedupStore() *mwDedupStore { return &mwDedupStore{mem: middleware.NewMemoryDedup()} }

func (s *mwDedupStore) Seen(ctx context.Context, key string, now time.Time) (bool, error) {
	s.mu.Lock()
	err := s.seenErr
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	return s.mem.Seen(ctx, key, now)
}

func (s *mwDedupStore) Mark(ctx context.Context, key string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markErr != nil {
		return s.markErr
	}
	s.marks = append(s.marks, key)
	s.expiries = append(s.expiries, expires)
	return s.mem.Mark(ctx, key, expires)
}

func (s *mwDedupStore) marked() ([]string, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.marks), slices.Clone(s.expiries)
}

// mwMessage returns a Context of no bot for message id in conv.
func mwMessage(kind bot.EventKind, conv im.ConversationID, id im.MessageID) *bot.Context {
	return bot.NewContext(context.Background(), bot.Event{
		Kind:            kind,
		Message:         &im.Message{ServerID: id, ConversationID: conv, Sender: 1},
		ConversationRef: im.ConversationRef{ID: conv},
	})
}

func TestDedupMarksOnlySuccess(t *testing.T) {
	t.Parallel()
	store := newMWDedupStore()
	const window = 10 * time.Minute
	results := []error{errors.New("first try fails"), nil}
	calls := 0
	h := middleware.Dedup(store, window)(bot.HandlerFunc(func(*bot.Context) error {
		calls++
		return results[min(calls, len(results))-1]
	}))

	before := time.Now()
	require.Error(t, h.Handle(mwMessage(bot.EventMessage, "c1", 7)), "the handler's error was not returned")
	keys, _ := store.marked()
	require.Empty(t, keys, "a failed message was marked")
	for i, want := range []string{"", middleware.SkipDuplicate, middleware.SkipDuplicate} { // handled again once, then dropped
		c := mwMessage(bot.EventMessage, "c1", 7)
		require.NoError(t, h.Handle(c))
		require.Equal(t, want, c.Skipped(), "delivery %d after the failure: skip reason", i+1)
	}
	after := time.Now()
	require.Equal(t, 2, calls, "handler calls for a message failing once then delivered thrice more")
	keys, expiries := store.marked()
	// The documented key: bot's user id (0 for no bot), conversation, server id.
	require.Equal(t, []string{"0/c1/7"}, keys, "marked")
	require.WithinRange(t, expiries[0], before.Add(window), after.Add(window), "marked until, want %v after handling", window)
}

func TestDedupPasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctxs []*bot.Context
	}{
		{"other conversations", []*bot.Context{mwMessage(bot.EventMessage, "c1", 7), mwMessage(bot.EventMessage, "c2", 7)}},
		{"other messages", []*bot.Context{mwMessage(bot.EventMessage, "c1", 7), mwMessage(bot.EventMessage, "c1", 8)}},
		{"no server id", []*bot.Context{mwMessage(bot.EventMessage, "c1", 0), mwMessage(bot.EventMessage, "c1", 0)}},
		{"other kinds of the same message", []*bot.Context{
			mwMessage(bot.EventMessage, "c1", 7), mwMessage(bot.EventPropertyChanged, "c1", 7),
			mwMessage(bot.EventPropertyChanged, "c1", 7), mwMessage(bot.EventMessageRecalled, "c1", 7),
		}},
		{"events of no message", []*bot.Context{
			bot.NewContext(context.Background(), bot.Event{Kind: bot.EventConversationUpdated, ConversationRef: im.ConversationRef{ID: "c1"}}),
			bot.NewContext(context.Background(), bot.Event{Kind: bot.EventConversationUpdated, ConversationRef: im.ConversationRef{ID: "c1"}}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			h := middleware.Dedup(nil, time.Hour)(bot.HandlerFunc(func(*bot.Context) error { // nil: a MemoryDedup
				calls++
				return nil
			}))
			for _, c := range tt.ctxs {
				require.NoError(t, h.Handle(c))
			}
			require.Equal(t, len(tt.ctxs), calls, "handler calls for %d distinct events, want all", len(tt.ctxs))
			// And a default store drops a duplicate.
			require.NoError(t, h.Handle(mwMessage(bot.EventMessage, "c9", 1)))
			require.NoError(t, h.Handle(mwMessage(bot.EventMessage, "c9", 1)), "a duplicate with Dedup(nil, …)")
			require.Equal(t, len(tt.ctxs)+1, calls, "a duplicate with Dedup(nil, …): calls; want it dropped")
		})
	}
}

func TestDedupStoreErrors(t *testing.T) {
	t.Parallel()
	errDown := errors.New("store down")
	store := newMWDedupStore()
	calls := 0
	h := middleware.Dedup(store, time.Hour)(bot.HandlerFunc(func(*bot.Context) error {
		calls++
		return nil
	}))

	store.seenErr = errDown
	c := mwMessage(bot.EventMessage, "c1", 1)
	require.ErrorIs(t, h.Handle(c), errDown, "Seen failing: want the store's error")
	require.Zero(t, calls, "Seen failing: calls, want none")
	require.Empty(t, c.Skipped(), "Seen failing: skip reason, want none: the event failed")
	store.seenErr, store.markErr = nil, errDown
	require.ErrorIs(t, h.Handle(mwMessage(bot.EventMessage, "c1", 1)), errDown, "Mark failing: want the store's error after the call")
	require.Equal(t, 1, calls, "Mark failing: calls")
	store.markErr = nil
	require.NoError(t, h.Handle(mwMessage(bot.EventMessage, "c1", 1)), "after a failed Mark")
	require.Equal(t, 2, calls, "after a failed Mark: calls; want the message handled again")
}

func TestDedupPanicsOnBadWindow(t *testing.T) {
	t.Parallel()
	for _, w := range []time.Duration{0, -time.Minute} {
		assert.Panics(t, func() { middleware.Dedup(nil, w) }, "Dedup(store, %v) did not panic", w)
	}
}

// Through a bot: a message delivered twice (by a middleware that calls the
// chain twice) is handled once, under the key the documentation gives.
func TestDedupThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := mwNewBot(t, s, nil)
	store := newMWDedupStore()
	tap := newMWTap()
	twice := func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			if err := next.Handle(c); err != nil {
				return err
			}
			return next.Handle(c)
		})
	}
	var reached mwTexts
	b.Use(tap.Middleware, middleware.IgnoreSelf(), twice, middleware.Dedup(store, time.Hour))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		reached.add(c)
		return nil
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)
	m := alice.Send(t, conv, "once")
	// twice's second call, a duplicate, marks the Context the bot made.
	require.Equal(t, middleware.SkipDuplicate, tap.waitText(t, "once").Skipped, "skip reason")
	require.Equal(t, []string{"once"}, reached.list(), "the handler got, want \"once\" once")
	keys, _ := store.marked()
	require.Equal(t, []string{fmt.Sprintf("%d/%s/%d", mwBotID, conv.ID, m.ServerID)}, keys, "marked")
}

// A bot restarted from a saved cursor gets again the messages after it:
// those its previous run handled are dropped, the one whose handler
// failed is handled again; with the store in memory, and in a file that
// the restart opens again.
func TestDedupAcrossRestart(t *testing.T) {
	t.Parallel()
	t.Run("MemoryDedup", func(t *testing.T) {
		t.Parallel()
		store := middleware.NewMemoryDedup()
		testDedupAcrossRestart(t, store, func(*testing.T) middleware.DedupStore { return store })
	})
	t.Run("state.File", func(t *testing.T) {
		t.Parallel()
		open := func(t *testing.T, path string) *state.File {
			t.Helper()
			f, err := state.Open(path, nil)
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			return f
		}
		first := open(t, filepath.Join(t.TempDir(), "bot.state"))
		testDedupAcrossRestart(t, first, func(t *testing.T) middleware.DedupStore {
			require.NoError(t, first.Close())
			return open(t, first.Path())
		})
	})
}

// testDedupAcrossRestart runs a bot with Dedup over store, and then
// another over the store that restart returns.
func testDedupAcrossRestart(t *testing.T, store middleware.DedupStore, restart func(*testing.T) middleware.DedupStore) {
	s := imtest.NewServer(t)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)
	errFails := errors.New("fails the first time")

	// The first run: m1 is handled, m2 fails.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	b1 := s.NewBot(t, mwBotID, func(o *bot.Options) {
		o.OnError = func(_ *bot.Context, err error) {
			if !errors.Is(err, errFails) { // off the test's goroutine: assert
				assert.Failf(t, "handler error", "first run: %v", err)
			}
		}
		o.Retry = bot.RetryPolicy{Attempts: 1} // m2 fails once, for Dedup to see
	})
	tap1 := newMWTap()
	var reached1 mwTexts
	b1.Use(tap1.Middleware, middleware.IgnoreSelf(), middleware.Dedup(store, time.Hour))
	b1.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		reached1.add(c)
		if c.Event.Kind == bot.EventMessage && c.Event.Message.Text() == "m2" {
			return errFails
		}
		return nil
	}))
	done := make(chan error, 1)
	go func() { done <- b1.Run(ctx) }() // joined below
	select {
	case <-b1.Ready():
	case err := <-done:
		require.Failf(t, "first run ended before it was ready", "Run: %v", err)
	case <-time.After(mwWait):
		require.FailNow(t, "first run not ready")
	}
	alice.Send(t, conv, "m1")
	alice.Send(t, conv, "m2")
	tap1.waitText(t, "m2")
	stop()
	require.NoError(t, mwWaitValue(t, done, "end of the first run"), "first run")

	// The second run resumes from the start of the inbox.
	store = restart(t)
	opts := s.BotOptions(mwBotID)
	opts.Client.Resume, opts.Client.Cursor = true, 0
	b2 := s.NewBot(t, mwBotID, func(o *bot.Options) { *o = opts })
	tap2 := newMWTap()
	var reached2 mwTexts
	b2.Use(tap2.Middleware, middleware.IgnoreSelf(), middleware.Dedup(store, time.Hour))
	b2.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		reached2.add(c)
		return nil
	}))
	s.RunBot(t, b2)
	alice.Send(t, conv, "m3")
	tap2.waitText(t, "m3") // after m1 and m2, in order
	require.NoError(t, tap2.waitText(t, "m1").Err, "m1 again")
	require.Equal(t, []string{"m1", "m2"}, reached1.list(), "first run handled")
	require.Equal(t, []string{"m2", "m3"}, reached2.list(), "second run handled (m1 dropped, m2 retried)")
}
