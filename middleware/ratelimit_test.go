package middleware_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/statetest"
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

// outcome runs c through mw and says what became of it: "handled", or
// "dropped" when the handler did not run (the Limited handler may have),
// checking that c is marked skipped as rate limited exactly then.
func outcome(t *testing.T, mw bot.Middleware, c *bot.Context) string {
	t.Helper()
	got := "dropped"
	h := mw(bot.HandlerFunc(func(*bot.Context) error {
		got = "handled"
		return nil
	}))
	require.NoError(t, h.Handle(c), "Handle")
	want := middleware.SkipRateLimited
	if got == "handled" {
		want = ""
	}
	require.Equal(t, want, c.Skipped(), "%s event: skip reason", got)
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
				require.Equal(t, s.want, got, "step %d (user %v in %q)", i, s.user, s.conv)
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
				c := rlContext(context.Background(), 1, "a")
				require.NoError(t, h.Handle(c), "event %d", i)
				require.Empty(t, c.Skipped(), "event %d, delayed and handled: skip reason, want none", i)
			}
			elapsed, least := time.Since(start), time.Duration(n-burst)*time.Second/r
			assert.GreaterOrEqual(t, elapsed, least, "%d events took less than the %v the limit allows", n, least)
			require.Len(t, got, n, "handled %v, want all %d in order", got, n)
			for j, v := range got {
				require.Equal(t, j, v, "handled %v, want all %d in order", got, n)
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
				assert.NoError(t, h.Handle(rlContext(context.Background(), im.UserID(u+1), "a")), "user %d", u+1)
			}
		})
	}
	wg.Wait()
	elapsed, least := time.Since(start), time.Duration(senders*each-1)*time.Second/r
	assert.GreaterOrEqual(t, elapsed, least, "%d events took less than the %v the limit allows", senders*each, least)
	for u := range senders {
		assert.Equal(t, each, handled[im.UserID(u+1)], "user %d: events handled", u+1)
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
	first := rlContext(context.Background(), 1, "a")
	require.NoError(t, h.Handle(first))
	assert.Empty(t, first.Skipped(), "the event with a token: skip reason, want none")
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := rlContext(deadline, 1, "a")
	err := h.Handle(c)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "with a deadline before the token")
	assert.ErrorContains(t, err, "middleware: rate limit per user", "with a deadline before the token")
	assert.Equal(t, middleware.SkipRateLimited, c.Skipped(), "with a deadline before the token: skip reason")
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	c = rlContext(cancelled, 1, "a")
	assert.ErrorIs(t, h.Handle(c), context.Canceled, "with a cancelled context")
	assert.Equal(t, middleware.SkipRateLimited, c.Skipped(), "with a cancelled context: skip reason")
	assert.Equal(t, 1, ran, "handler runs, want once")
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
				s, _ := p.(string)
				assert.Contains(t, s, tt.wantErr, "panic %v", p)
			}()
			middleware.RateLimit(tt.opts)
		})
	}
}

// MemoryRateStore forgets the buckets that are idle and full again, a
// bounded number at each access.
func TestRateLimitEvictsIdleBuckets(t *testing.T) {
	t.Parallel()
	t.Run("idle and full", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(10 * time.Minute)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1, Burst: 2}, Store: store, Now: clock.Now})
		for u := range im.UserID(5) {
			outcome(t, mw, rlContext(context.Background(), u+1, "a"))
		}
		require.Equal(t, 5, store.Len(), "buckets after 5 users")
		clock.Advance(5 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 6, "a"))
		require.Equal(t, 6, store.Len(), "buckets before anyone idled 10 minutes")
		clock.Advance(6 * time.Minute) // users 1-5 idle 11 minutes, user 6 for 6
		outcome(t, mw, rlContext(context.Background(), 7, "a"))
		require.Equal(t, 2, store.Len(), "buckets once users 1-5 idled 11 minutes, want 2 (users 6 and 7)")
		clock.Advance(11 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 7, "a"))
		require.Equal(t, 1, store.Len(), "buckets, want 1 (user 7's, made again)")
	})
	t.Run("refilling buckets are kept", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(10 * time.Minute)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1}, Store: store, Now: clock.Now})
		require.Equal(t, "handled", outcome(t, mw, rlContext(context.Background(), 1, "a")), "first event")
		clock.Advance(11 * time.Minute)
		outcome(t, mw, rlContext(context.Background(), 2, "a"))
		require.Equal(t, 2, store.Len(), "buckets, want 2: user 1's bucket is still refilling")
		require.Equal(t, "dropped", outcome(t, mw, rlContext(context.Background(), 1, "a")), "user 1 after 11 minutes (forgetting the bucket must not reset it)")
		clock.Advance(2 * time.Hour)
		outcome(t, mw, rlContext(context.Background(), 3, "a"))
		require.Equal(t, 1, store.Len(), "buckets after 2 hours, want 1 (user 3's)")
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
		got := store.Len()
		require.GreaterOrEqual(t, got, users/2, "buckets after one access: one access sweeps a few")
		require.LessOrEqual(t, got, users, "buckets after one access: one access sweeps a few")
		for range users {
			outcome(t, mw, rlContext(context.Background(), users+1, "a"))
		}
		require.Equal(t, 1, store.Len(), "buckets after %d more accesses", users)
	})
	t.Run("default idle timeout", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		store := middleware.NewMemoryRateStore(0)
		mw := middleware.RateLimit(middleware.RateLimitOptions{PerUser: middleware.Limit{Rate: 1, Burst: 1}, Store: store, Now: clock.Now})
		outcome(t, mw, rlContext(context.Background(), 1, "a"))
		clock.Advance(middleware.DefaultIdleTimeout - time.Second)
		outcome(t, mw, rlContext(context.Background(), 2, "a"))
		require.Equal(t, 2, store.Len(), "buckets before DefaultIdleTimeout")
		clock.Advance(time.Second)
		outcome(t, mw, rlContext(context.Background(), 3, "a"))
		require.Equal(t, 2, store.Len(), "buckets at DefaultIdleTimeout, want 2 (users 2 and 3)")
		assert.Equal(t, 10*time.Minute, middleware.DefaultIdleTimeout, "DefaultIdleTimeout, documented as 10 minutes")
	})
}

// Through a bot: a flooding user is told "slow down" once per window, the
// bot's own messages pass uncounted, and the limit holds per user.
func TestRateLimitReplyOncePer(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	clock := newStepClock()
	opts := s.BotOptions(arBotID)
	opts.OnError = func(c *bot.Context, err error) {
		assert.Failf(t, "handler error", "handler of %v: %v", c.Event.Kind, err)
	}
	opts.HandleOwnMessages = true // so that RateLimit sees the bot's replies, and must not count them
	b, err := bot.New(opts)
	require.NoError(t, err)
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
	require.Equal(t, want, u.WaitReply(t, conv).Text(), "user %v got", u.ID())
}

func TestMemoryRateStoreConformance(t *testing.T) {
	t.Parallel()
	statetest.TestRateStore(t, func(*testing.T) middleware.RateStore { return middleware.NewMemoryRateStore(0) })
}

// RateBucket counts as rate.Limiter does: the same takes succeed, and a
// refused take waits as long as a reservation would, up to rounding:
// the bucket rounds up (so that a wait of that long surely brings the
// token), and the cancelled reservations leave rate.Limiter's count a
// rounding error off.
func TestRateBucketAgreesWithLimiter(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, limit := range []middleware.Limit{{Rate: 3, Burst: 5}, {Rate: rate.Every(time.Minute), Burst: 1}, {Rate: 1000, Burst: 20}} {
		lim := rate.NewLimiter(limit.Rate, limit.Burst)
		var b middleware.RateBucket
		now := t0
		for i := range 2000 {
			now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second / time.Duration(limit.Rate+1)))))
			want := lim.AllowN(now, 1)
			var wait time.Duration
			b, wait = b.Take(limit, now)
			require.Equal(t, want, wait == 0, "limit %+v, take %d: took, against rate.Limiter", limit, i)
			if want {
				continue
			}
			r := lim.ReserveN(now, 1)
			delay := r.DelayFrom(now)
			r.CancelAt(now)
			require.InDelta(t, delay, wait, float64(time.Microsecond), "limit %+v, take %d: wait, against rate.Limiter's", limit, i)
		}
	}
}

func TestRateBucketEdges(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	perSecond := middleware.Limit{Rate: 1, Burst: 2}
	var full middleware.RateBucket
	assert.Equal(t, 2.0, full.TokensAt(perSecond, t0), "the zero bucket's tokens, want the burst, 2")
	b, _ := full.Take(perSecond, t0)
	b, _ = b.Take(perSecond, t0)
	assert.Zero(t, b.TokensAt(perSecond, t0.Add(-time.Hour)), "an hour before its last take, an empty bucket's tokens: a clock that went back refills nothing")
	assert.Equal(t, 2.0, b.TokensAt(perSecond, t0.Add(time.Hour)), "an hour on, the tokens, want the burst, 2")
	after, wait := b.Take(perSecond, t0.Add(500*time.Millisecond))
	assert.Equal(t, b, after, "a refused take: bucket, want it unchanged")
	assert.Equal(t, 500*time.Millisecond, wait, "a refused take: wait")
	_, wait = b.Take(middleware.Limit{Rate: 1e-300, Burst: 1}, t0)
	assert.Equal(t, time.Duration(math.MaxInt64), wait, "a wait too long for a Duration, want the longest one")
	for _, off := range []middleware.Limit{{}, {Rate: rate.Inf}} {
		_, wait := b.Take(off, t0)
		assert.Zero(t, wait, "limit %+v: wait, want no limit", off)
	}
}

// scriptedRateStore answers Take with the waits and errors it is given,
// in turn, and records the times it was called at.
type scriptedRateStore struct {
	mu      sync.Mutex
	answers []rateAnswer
	calls   []time.Time
}

type rateAnswer struct {
	wait time.Duration
	err  error
}

func (s *scriptedRateStore) Take(_ context.Context, _ middleware.RateKey, _ middleware.Limit, now time.Time) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, now)
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a.wait, a.err
}

// A store's error stops the event, wrapped, with every policy; with
// LimitDelay also when the store fails after the wait.
func TestRateLimitStoreErrors(t *testing.T) {
	t.Parallel()
	errDown := errors.New("store down")
	tests := []struct {
		name    string
		policy  middleware.LimitPolicy
		answers []rateAnswer
	}{
		{"drop", middleware.LimitDrop, []rateAnswer{{err: errDown}}},
		{"handle", middleware.LimitHandle, []rateAnswer{{err: errDown}}},
		{"delay", middleware.LimitDelay, []rateAnswer{{err: errDown}}},
		{"delay, after the wait", middleware.LimitDelay, []rateAnswer{{wait: time.Millisecond}, {err: errDown}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := middleware.RateLimitOptions{
				PerConversation: middleware.Limit{Rate: 1, Burst: 1},
				OnLimit:         tt.policy,
				Store:           &scriptedRateStore{answers: tt.answers},
			}
			ran := false
			if tt.policy == middleware.LimitHandle {
				opts.Limited = bot.HandlerFunc(func(*bot.Context) error { ran = true; return nil })
			}
			h := middleware.RateLimit(opts)(bot.HandlerFunc(func(*bot.Context) error { ran = true; return nil }))
			c := rlContext(context.Background(), 1, "a")
			err := h.Handle(c)
			assert.Empty(t, c.Skipped(), "skip reason, want none: the event failed")
			assert.ErrorIs(t, err, errDown, "want the store's error wrapped, naming the limit")
			assert.ErrorContains(t, err, "middleware: rate limit per conversation", "want the store's error wrapped, naming the limit")
			assert.False(t, ran, "a handler ran although the store failed")
		})
	}
}

// LimitDelay waits as long as the store says and takes again, as often
// as the store says to wait, on the real clock.
func TestRateLimitDelayTakesAgain(t *testing.T) {
	t.Parallel()
	const wait = 5 * time.Millisecond
	store := &scriptedRateStore{answers: []rateAnswer{{wait: wait}, {wait: wait}, {}}}
	ran := 0
	h := middleware.RateLimit(middleware.RateLimitOptions{
		Global:  middleware.Limit{Rate: 1, Burst: 1},
		OnLimit: middleware.LimitDelay,
		Store:   store,
	})(bot.HandlerFunc(func(*bot.Context) error { ran++; return nil }))
	require.NoError(t, h.Handle(rlContext(context.Background(), 1, "a")))
	require.Equal(t, 1, ran, "handler runs after %d takes, want once after 3", len(store.calls))
	require.Len(t, store.calls, 3, "takes, want 3")
	for i := 1; i < len(store.calls); i++ {
		assert.GreaterOrEqual(t, store.calls[i].Sub(store.calls[i-1]), wait, "take %d after the one before, which said to wait %v", i+1, wait)
	}
}

// With its buckets in a state.File, a limit holds across a restart.
func TestRateLimitFileStoreAcrossRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bot.state")
	clock := newStepClock()
	run := func(want1, want2 string) {
		t.Helper()
		f, err := state.Open(path, nil)
		require.NoError(t, err)
		defer f.Close()
		mw := middleware.RateLimit(middleware.RateLimitOptions{
			PerUser: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1},
			Store:   f,
			Now:     clock.Now,
		})
		assert.Equal(t, want1, outcome(t, mw, rlContext(context.Background(), 1, "a")), "user 1")
		assert.Equal(t, want2, outcome(t, mw, rlContext(context.Background(), 2, "b")), "user 2")
	}
	run("handled", "handled")
	clock.Advance(time.Minute)
	run("dropped", "dropped") // the restart did not refill the buckets
	clock.Advance(time.Hour)
	run("handled", "handled")
}

// BenchmarkRateLimit measures the cost RateLimit adds to an event: a
// per-user and a global limit over the default store, 1000 users, drop
// policy, from parallel goroutines.
func BenchmarkRateLimit(b *testing.B) {
	mw := middleware.RateLimit(middleware.RateLimitOptions{
		PerUser: middleware.Limit{Rate: 1e6, Burst: 1000},
		Global:  middleware.Limit{Rate: 1e9, Burst: 1e6},
	})
	h := mw(bot.HandlerFunc(func(*bot.Context) error { return nil }))
	const users = 1000
	ctxs := make([]*bot.Context, users)
	for i := range ctxs {
		ctxs[i] = rlContext(context.Background(), im.UserID(i+1), "a")
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := h.Handle(ctxs[i%users]); !assert.NoError(b, err) {
				return
			}
			i += 7
		}
	})
}
