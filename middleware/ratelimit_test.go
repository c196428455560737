package middleware_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
)

// stepClock is a clock that moves only when told to.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStepClock() *stepClock {
	return &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rlContext returns a Context, of no bot, for a message of user in conv;
// with user 0, for a change of conv (an event without a sender).
func rlContext(ctx context.Context, user im.UserID, conv im.ConversationID) *bot.Context {
	ev := bot.Event{Kind: bot.EventConversationUpdated, ConversationRef: im.ConversationRef{ID: conv}}
	if user != 0 {
		ev.Kind = bot.EventMessage
		ev.Message = &im.Message{Sender: user, ConversationID: conv}
	}
	return bot.NewContext(ctx, ev)
}

// outcome runs c through mw and says what became of it: "handled",
// "dropped", or "limited <scope>" when the Limited handler ran.
func outcome(t *testing.T, mw bot.Middleware, c *bot.Context) string {
	t.Helper()
	got := "dropped"
	h := mw(bot.HandlerFunc(func(*bot.Context) error {
		got = "handled"
		return nil
	}))
	if err := h.Handle(c); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return got
}

// limitedScope is a Limited handler that records RateLimitedBy.
func limitedScope(got *string) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		info, ok := middleware.RateLimitedBy(c)
		if !ok {
			*got = "limited without RateLimitedBy"
			return nil
		}
		*got = "limited " + info.Scope.String()
		return nil
	})
}

func TestRateLimitDropAndHandle(t *testing.T) {
	t.Parallel()
	type step struct {
		after time.Duration // advance the clock first
		user  im.UserID     // 0: an event without a sender
		conv  im.ConversationID
		want  string
	}
	every := func(d time.Duration, burst int) middleware.Limit {
		return middleware.Limit{Rate: rate.Every(d), Burst: burst}
	}
	tests := []struct {
		name   string
		opts   middleware.RateLimitOptions
		handle bool // LimitHandle with a Limited handler recording the scope
		steps  []step
	}{
		{
			name: "zero options limit nothing",
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "handled"},
			},
		},
		{
			name: "per user",
			opts: middleware.RateLimitOptions{PerUser: every(time.Second, 2)},
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "b", want: "handled"},
				{user: 1, conv: "a", want: "dropped"},
				{user: 2, conv: "a", want: "handled"},
				{user: 0, conv: "a", want: "handled"}, // no sender: not counted
				{after: 999 * time.Millisecond, user: 1, conv: "a", want: "dropped"},
				{after: time.Millisecond, user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "dropped"},
			},
		},
		{
			name: "per conversation",
			opts: middleware.RateLimitOptions{PerConversation: every(time.Second, 1)},
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 2, conv: "a", want: "dropped"},
				{user: 0, conv: "a", want: "handled"}, // no sender: not counted
				{user: 1, conv: "b", want: "handled"},
				{user: 1, conv: "", want: "handled"}, // no conversation: not counted
				{after: time.Second, user: 2, conv: "a", want: "handled"},
			},
		},
		{
			name: "global",
			opts: middleware.RateLimitOptions{Global: every(time.Second, 2)},
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 2, conv: "b", want: "handled"},
				{user: 0, conv: "c", want: "handled"}, // no sender: not counted
				{user: 3, conv: "c", want: "dropped"},
				{after: 500 * time.Millisecond, user: 3, conv: "c", want: "dropped"},
				{after: 500 * time.Millisecond, user: 3, conv: "c", want: "handled"},
			},
		},
		{
			name: "burst below 1 counts as 1",
			opts: middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1}},
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "dropped"},
				{after: time.Second, user: 1, conv: "a", want: "handled"},
			},
		},
		{
			name: "infinite rate limits nothing",
			opts: middleware.RateLimitOptions{Global: middleware.Limit{Rate: rate.Inf}},
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "handled"},
			},
		},
		{
			name:   "handler policy names the scope",
			opts:   middleware.RateLimitOptions{PerUser: every(time.Hour, 1), PerConversation: every(time.Hour, 2), Global: every(time.Hour, 3)},
			handle: true,
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "limited per user"},
				{user: 2, conv: "a", want: "handled"},
				{user: 3, conv: "a", want: "limited per conversation"},
				{user: 4, conv: "b", want: "handled"},
				{user: 5, conv: "c", want: "limited global"},
			},
		},
		{
			// A refusal by the user's limit spends nothing of the global
			// one; a refusal by the global limit has spent the user's.
			name:   "a refused event keeps only the tokens taken before",
			opts:   middleware.RateLimitOptions{PerUser: every(time.Hour, 1), Global: every(time.Hour, 2)},
			handle: true,
			steps: []step{
				{user: 1, conv: "a", want: "handled"},
				{user: 1, conv: "a", want: "limited per user"},
				{user: 2, conv: "b", want: "handled"},
				{user: 3, conv: "c", want: "limited global"},
				// Half a token each: user 3, charged, has not one yet.
				{after: 30 * time.Minute, user: 3, conv: "c", want: "limited per user"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newStepClock()
			opts := tt.opts
			opts.Now = clock.Now
			var got string
			if tt.handle {
				opts.OnLimit = middleware.LimitHandle
				opts.Limited = limitedScope(&got)
			}
			mw := middleware.RateLimit(opts)
			for i, s := range tt.steps {
				clock.Advance(s.after)
				got = ""
				if o := outcome(t, mw, rlContext(context.Background(), s.user, s.conv)); o != "dropped" || got == "" {
					got = o
				}
				if got != s.want {
					t.Fatalf("step %d (user %v in %q): %s, want %s", i, s.user, s.conv, got, s.want)
				}
			}
		})
	}
}

// With LimitDelay every event is handled, in order, no sooner than the
// limit allows: the real clock runs, at a rate high enough to be quick.
func TestRateLimitDelay(t *testing.T) {
	t.Parallel()
	const (
		n     = 6
		burst = 2
		r     = 200 // events per second: (n-burst)/r = 20ms at least
	)
	limit := middleware.Limit{Rate: r, Burst: burst}
	tests := []struct {
		name string
		opts middleware.RateLimitOptions
	}{
		{"per user", middleware.RateLimitOptions{PerUser: limit}},
		{"per conversation", middleware.RateLimitOptions{PerConversation: limit}},
		{"global", middleware.RateLimitOptions{Global: limit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.OnLimit = middleware.LimitDelay
			var got []int
			i := 0
			h := middleware.RateLimit(opts)(bot.HandlerFunc(func(*bot.Context) error {
				got = append(got, i)
				return nil
			}))
			start := time.Now()
			for i = range n {
				if err := h.Handle(rlContext(context.Background(), 1, "a")); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			if elapsed, least := time.Since(start), time.Duration(n-burst)*time.Second/r; elapsed < least {
				t.Errorf("%d events took %v, less than the %v the limit allows", n, elapsed, least)
			}
			if len(got) != n {
				t.Fatalf("handled %v, want all %d in order", got, n)
			}
			for j, v := range got {
				if v != j {
					t.Fatalf("handled %v, want all %d in order", got, n)
				}
			}
		})
	}
}

// Concurrent events under a global LimitDelay are all handled, as slowly
// as the limit says.
func TestRateLimitDelayConcurrent(t *testing.T) {
	t.Parallel()
	const (
		senders = 4
		each    = 5
		r       = 500 // (senders*each-1)/r = 38ms at least
	)
	var mu sync.Mutex
	handled := map[im.UserID]int{}
	h := middleware.RateLimit(middleware.RateLimitOptions{Global: middleware.Limit{Rate: r, Burst: 1}, OnLimit: middleware.LimitDelay})(
		bot.HandlerFunc(func(c *bot.Context) error {
			mu.Lock()
			defer mu.Unlock()
			handled[c.Event.Sender()]++
			return nil
		}))
	start := time.Now()
	var wg sync.WaitGroup
	for u := range senders {
		wg.Go(func() {
			for range each {
				if err := h.Handle(rlContext(context.Background(), im.UserID(u+1), "a")); err != nil {
					t.Errorf("user %d: %v", u+1, err)
				}
			}
		})
	}
	wg.Wait()
	if elapsed, least := time.Since(start), time.Duration(senders*each-1)*time.Second/r; elapsed < least {
		t.Errorf("%d events took %v, less than the %v the limit allows", senders*each, elapsed, least)
	}
	for u := range senders {
		if got := handled[im.UserID(u+1)]; got != each {
			t.Errorf("user %d: %d events handled, want %d", u+1, got, each)
		}
	}
}

// LimitDelay does not run the handler when the event's context ends, or
// its deadline comes, before the token.
func TestRateLimitDelayContext(t *testing.T) {
	t.Parallel()
	ran := 0
	h := middleware.RateLimit(middleware.RateLimitOptions{
		PerUser: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1},
		OnLimit: middleware.LimitDelay,
	})(bot.HandlerFunc(func(*bot.Context) error {
		ran++
		return nil
	}))
	if err := h.Handle(rlContext(context.Background(), 1, "a")); err != nil {
		t.Fatal(err)
	}
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Handle(rlContext(deadline, 1, "a")); err == nil || !strings.Contains(err.Error(), "middleware: rate limit per user") {
		t.Errorf("with a deadline before the token: err %v, want a middleware: rate limit per user error", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := h.Handle(rlContext(cancelled, 1, "a")); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: err %v, want context.Canceled", err)
	}
	if ran != 1 {
		t.Errorf("handler ran %d times, want once", ran)
	}
}

func TestRateLimitPanicsOnBadOptions(t *testing.T) {
	t.Parallel()
	ok := bot.HandlerFunc(func(*bot.Context) error { return nil })
	tests := []struct {
		name    string
		opts    middleware.RateLimitOptions
		wantErr string
	}{
		{"negative rate", middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: -1}}, "negative Limit"},
		{"negative burst", middleware.RateLimitOptions{Global: middleware.Limit{Rate: 1, Burst: -1}}, "negative Limit"},
		{"handle without handler", middleware.RateLimitOptions{OnLimit: middleware.LimitHandle}, "without a Limited handler"},
		{"handler with drop", middleware.RateLimitOptions{Limited: ok}, "OnLimit is drop"},
		{"unknown policy", middleware.RateLimitOptions{OnLimit: 9}, "LimitPolicy(9)"},
		{"now with delay", middleware.RateLimitOptions{OnLimit: middleware.LimitDelay, Now: time.Now}, "Now cannot be used with LimitDelay"},
		{"idle timeout with store", middleware.RateLimitOptions{Store: middleware.NewMemoryRateStore(0), IdleTimeout: time.Minute}, "only for the default store"},
		{"negative idle timeout", middleware.RateLimitOptions{IdleTimeout: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				p := recover()
				if s, _ := p.(string); !strings.Contains(s, tt.wantErr) {
					t.Errorf("panic %v, want one containing %q", p, tt.wantErr)
				}
			}()
			middleware.RateLimit(tt.opts)
		})
	}
}

// MemoryRateStore forgets the limiters that are idle and full again, a
// bounded number at each access.
func TestRateLimitEvictsIdleLimiters(t *testing.T) {
	t.Parallel()
	t.Run("idle and full", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(10 * time.Minute)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1, Burst: 2}, Store: store, Now: clock.Now})
		for u := range im.UserID(5) {
			outcome(t, mw, rlContext(context.Background(), u+1, "a"))
		}
		if got := store.Len(); got != 5 {
			t.Fatalf("%d limiters after 5 users, want 5", got)
		}
		clock.Advance(5 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 6, "a"))
		if got := store.Len(); got != 6 {
			t.Fatalf("%d limiters before anyone idled 10 minutes, want 6", got)
		}
		clock.Advance(6 * time.Minute) // users 1-5 idle 11 minutes, user 6 for 6
		outcome(t, mw, rlContext(context.Background(), 7, "a"))
		if got := store.Len(); got != 2 {
			t.Fatalf("%d limiters once users 1-5 idled 11 minutes, want 2 (users 6 and 7)", got)
		}
		clock.Advance(11 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 7, "a"))
		if got := store.Len(); got != 1 {
			t.Fatalf("%d limiters, want 1 (user 7's, made again)", got)
		}
	})
	t.Run("refilling limiters are kept", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(10 * time.Minute)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1}, Store: store, Now: clock.Now})
		if got := outcome(t, mw, rlContext(context.Background(), 1, "a")); got != "handled" {
			t.Fatalf("first event %s", got)
		}
		clock.Advance(11 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 2, "a"))
		if got := store.Len(); got != 2 {
			t.Fatalf("%d limiters, want 2: user 1's bucket is still refilling", got)
		}
		if got := outcome(t, mw, rlContext(context.Background(), 1, "a")); got != "dropped" {
			t.Fatalf("user 1 after 11 minutes: %s, want dropped (forgetting the limiter must not reset it)", got)
		}
		clock.Advance(2 * time.Hour)
		outcome(t, mw, rlContext(context.Background(), 3, "a"))
		if got := store.Len(); got != 1 {
			t.Fatalf("%d limiters after 2 hours, want 1 (user 3's)", got)
		}
	})
	t.Run("bounded sweep", func(t *testing.T) {
		t.Parallel()
		const users = 100
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(time.Minute)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1000, Burst: 1000}, Store: store, Now: clock.Now})
		for u := range im.UserID(users) {
			outcome(t, mw, rlContext(context.Background(), u+1, "a"))
		}
		clock.Advance(time.Minute)
		outcome(t, mw, rlContext(context.Background(), users+1, "a"))
		if got := store.Len(); got < users/2 || got > users {
			t.Fatalf("%d limiters after one access, want between %d and %d: one access sweeps a few", got, users/2, users)
		}
		for range users {
			outcome(t, mw, rlContext(context.Background(), users+1, "a"))
		}
		if got := store.Len(); got != 1 {
			t.Fatalf("%d limiters after %d more accesses, want 1", got, users)
		}
	})
	t.Run("default idle timeout", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(0)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1, Burst: 1}, Store: store, Now: clock.Now})
		outcome(t, mw, rlContext(context.Background(), 1, "a"))
		clock.Advance(middleware.DefaultIdleTimeout - time.Second)
		outcome(t, mw, rlContext(context.Background(), 2, "a"))
		if got := store.Len(); got != 2 {
			t.Fatalf("%d limiters before DefaultIdleTimeout, want 2", got)
		}
		clock.Advance(time.Second)
		outcome(t, mw, rlContext(context.Background(), 3, "a"))
		if got := store.Len(); got != 2 {
			t.Fatalf("%d limiters at DefaultIdleTimeout, want 2 (users 2 and 3)", got)
		}
		if middleware.DefaultIdleTimeout != 10*time.Minute {
			t.Errorf("DefaultIdleTimeout %v, documented as 10 minutes", middleware.DefaultIdleTimeout)
		}
	})
}

// Through a bot: a flooding user is told "slow down" once per window, the
// bot's own messages pass uncounted, and the limit holds per user.
func TestRateLimitReplyOncePer(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	clock := newStepClock()
	opts := s.BotOptions(arBotID)
	opts.OnError = func(c *bot.Context, err error) { t.Errorf("handler of %v: %v", c.Event.Kind, err) }
	b, err := bot.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	handled := newHandledTexts()
	b.Use(handled.middleware, middleware.RateLimit(middleware.RateLimitOptions{
		PerUser: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1},
		// Were the bot's own replies counted, "ok 1" would take the
		// token that bob's "b1" needs.
		Global:  middleware.Limit{Rate: rate.Every(time.Hour), Burst: 2},
		OnLimit: middleware.LimitHandle,
		Limited: middleware.ReplyOncePer(time.Hour, "slow down"),
		Now:     clock.Now,
	}))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage || c.Event.Message.Sender == arBotID {
			return nil
		}
		_, err := c.Reply("ok " + c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	convA, convB := alice.CreateSingle(t, arBotID), bob.CreateSingle(t, arBotID)

	alice.Send(t, convA, "1")
	wantText(t, alice, convA, "ok 1")
	handled.wait(t, "ok 1") // the bot's own message went through RateLimit
	bob.Send(t, convB, "b1")
	wantText(t, bob, convB, "ok b1")
	alice.Send(t, convA, "2")
	wantText(t, alice, convA, "slow down")
	alice.Send(t, convA, "3") // told already within the window: no reply
	handled.wait(t, "3")
	clock.Advance(time.Hour)
	alice.Send(t, convA, "4")
	wantText(t, alice, convA, "ok 4")
}

// wantText waits for u's next message from another user in conv and
// checks its text.
func wantText(t *testing.T, u *imtest.User, conv im.ConversationRef, want string) {
	t.Helper()
	if got := u.WaitReply(t, conv).Text(); got != want {
		t.Fatalf("user %v got %q, want %q", u.ID(), got, want)
	}
}
