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
		if err := s.Mark(ctx, k, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Mark(ctx, "b", t0.Add(10*time.Minute)); err != nil { // b again, later
		t.Fatal(err)
	}
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
		if err != nil || ok != st.seen || s.Len() != st.wantLen {
			t.Fatalf("at +%v: Seen(%s) = %v, %v with Len %d; want %v with Len %d", st.now, st.key, ok, err, s.Len(), st.seen, st.wantLen)
		}
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
	if err := h.Handle(mwMessage(bot.EventMessage, "c1", 7)); err == nil {
		t.Fatal("the handler's error was not returned")
	}
	if keys, _ := store.marked(); len(keys) != 0 {
		t.Fatalf("a failed message was marked: %q", keys)
	}
	for range 3 { // handled again once, then dropped
		if err := h.Handle(mwMessage(bot.EventMessage, "c1", 7)); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()
	if calls != 2 {
		t.Fatalf("handler called %d times for a message failing once then delivered thrice more, want 2", calls)
	}
	keys, expiries := store.marked()
	// The documented key: bot's user id (0 for no bot), conversation, server id.
	if !slices.Equal(keys, []string{"0/c1/7"}) {
		t.Fatalf("marked %q, want [0/c1/7]", keys)
	}
	if e := expiries[0]; e.Before(before.Add(window)) || e.After(after.Add(window)) {
		t.Fatalf("marked until %v, want %v after handling", e, window)
	}
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
				if err := h.Handle(c); err != nil {
					t.Fatal(err)
				}
			}
			if calls != len(tt.ctxs) {
				t.Fatalf("handler called %d times for %d distinct events, want all", calls, len(tt.ctxs))
			}
			// And a default store drops a duplicate.
			if err := h.Handle(mwMessage(bot.EventMessage, "c9", 1)); err != nil {
				t.Fatal(err)
			}
			if err := h.Handle(mwMessage(bot.EventMessage, "c9", 1)); err != nil || calls != len(tt.ctxs)+1 {
				t.Fatalf("a duplicate with Dedup(nil, …): err %v, %d calls; want it dropped", err, calls-len(tt.ctxs))
			}
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
	if err := h.Handle(mwMessage(bot.EventMessage, "c1", 1)); !errors.Is(err, errDown) || calls != 0 {
		t.Fatalf("Seen failing: err %v, %d calls; want the store's error and no call", err, calls)
	}
	store.seenErr, store.markErr = nil, errDown
	if err := h.Handle(mwMessage(bot.EventMessage, "c1", 1)); !errors.Is(err, errDown) || calls != 1 {
		t.Fatalf("Mark failing: err %v, %d calls; want the store's error after the call", err, calls)
	}
	store.markErr = nil
	if err := h.Handle(mwMessage(bot.EventMessage, "c1", 1)); err != nil || calls != 2 {
		t.Fatalf("after a failed Mark: err %v, %d calls; want the message handled again", err, calls)
	}
}

func TestDedupPanicsOnBadWindow(t *testing.T) {
	t.Parallel()
	for _, w := range []time.Duration{0, -time.Minute} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Dedup(store, %v) did not panic", w)
				}
			}()
			middleware.Dedup(nil, w)
		}()
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
	tap.waitText(t, "once")
	if got := reached.list(); !slices.Equal(got, []string{"once"}) {
		t.Fatalf("the handler got %q, want \"once\" once", got)
	}
	if keys, _ := store.marked(); !slices.Equal(keys, []string{fmt.Sprintf("%d/%s/%d", mwBotID, conv.ID, m.ServerID)}) {
		t.Fatalf("marked %q", keys)
	}
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
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}
		first := open(t, filepath.Join(t.TempDir(), "bot.state"))
		testDedupAcrossRestart(t, first, func(t *testing.T) middleware.DedupStore {
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
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
			if !errors.Is(err, errFails) {
				t.Errorf("first run: %v", err)
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
		t.Fatalf("first run: %v", err)
	case <-time.After(mwWait):
		t.Fatal("first run not ready")
	}
	alice.Send(t, conv, "m1")
	alice.Send(t, conv, "m2")
	tap1.waitText(t, "m2")
	stop()
	if err := mwWaitValue(t, done, "end of the first run"); err != nil {
		t.Fatalf("first run: %v", err)
	}

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
	if d := tap2.waitText(t, "m1"); d.Err != nil {
		t.Fatalf("m1 again: %v", d.Err)
	}
	if got, want := reached1.list(), []string{"m1", "m2"}; !slices.Equal(got, want) {
		t.Fatalf("first run handled %q, want %q", got, want)
	}
	if got, want := reached2.list(), []string{"m2", "m3"}; !slices.Equal(got, want) {
		t.Fatalf("second run handled %q, want %q (m1 dropped, m2 retried)", got, want)
	}
}
