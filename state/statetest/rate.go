package statetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/middleware"
)

// waitSlack is how far a store's wait may be from the exact one: the
// arithmetic is in floating point, and a store that keeps times to the
// millisecond counts a little differently.
const waitSlack = time.Millisecond

// TestRateStore checks that a [middleware.RateStore] counts as a token
// bucket, as middleware.RateLimit relies on: a bucket it does not hold is
// full; a take at a bucket without a token takes nothing and says how
// long until one comes, and one comes then; a bucket refills at the
// limit's rate up to its burst; keys are independent; and concurrent
// takes never take more than there is.
func TestRateStore(t *testing.T, newStore func(t *testing.T) middleware.RateStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time)
	}{
		{"FullAtFirst", testFullAtFirst},
		{"EmptyTakesNothing", testEmptyTakesNothing},
		{"Refills", testRefills},
		{"RefillStopsAtBurst", testRefillStopsAtBurst},
		{"BurstBelowOne", testBurstBelowOne},
		{"KeysAreIndependent", testRateKeysAreIndependent},
		{"Concurrent", testConcurrentTakes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := base()
			tt.fn(t, newStore(t), func(d time.Duration) time.Time { return b.Add(d) })
		})
	}
}

// TestDurableRateStore runs [TestRateStore] and then checks that a
// bucket's tokens are there after reopen, refilling from where they
// were.
func TestDurableRateStore(t *testing.T, newStore func(t *testing.T) middleware.RateStore, reopen func(t *testing.T, s middleware.RateStore) middleware.RateStore) {
	t.Helper()
	TestRateStore(t, newStore)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		b := base()
		at := func(d time.Duration) time.Time { return b.Add(d) }
		s := newStore(t)
		user, conv := rateKey(1), middleware.RateKey{Scope: middleware.LimitPerConversation, Conversation: "0:1:1:100"}
		take(t, s, user, perSecond3, at(0), 3)
		take(t, s, conv, perSecond3, at(0), 1)
		s = reopen(t, s)
		wantWait(t, s, user, perSecond3, at(0), time.Second)
		take(t, s, user, perSecond3, at(time.Second), 1)
		take(t, s, conv, perSecond3, at(time.Second), 3) // 2 left, 1 refilled
		wantWait(t, s, conv, perSecond3, at(time.Second), time.Second)
	})
}

// perSecond3 is the limit of most checks: 1 token a second, 3 at once.
var perSecond3 = middleware.Limit{Rate: 1, Burst: 3}

func rateKey(user im.UserID) middleware.RateKey {
	return middleware.RateKey{Scope: middleware.LimitPerUser, User: user}
}

// take takes n tokens from key at now, each of which must be there.
func take(t *testing.T, s middleware.RateStore, key middleware.RateKey, limit middleware.Limit, now time.Time, n int) {
	t.Helper()
	for i := range n {
		wait, err := s.Take(context.Background(), key, limit, now)
		require.NoError(t, err, "Take(%+v)", key)
		require.Zero(t, wait, "Take(%+v) %d of %d: wait, want a token", key, i+1, n)
	}
}

// wantWait checks that key has no token at now, and one after want.
func wantWait(t *testing.T, s middleware.RateStore, key middleware.RateKey, limit middleware.Limit, now time.Time, want time.Duration) {
	t.Helper()
	wait, err := s.Take(context.Background(), key, limit, now)
	require.NoError(t, err, "Take(%+v)", key)
	require.InDelta(t, want, wait, float64(waitSlack), "Take(%+v) without a token: wait", key)
}

func testFullAtFirst(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	take(t, s, rateKey(1), perSecond3, at(0), 3)
	wantWait(t, s, rateKey(1), perSecond3, at(0), time.Second)
}

func testEmptyTakesNothing(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	take(t, s, rateKey(1), perSecond3, at(0), 3)
	for range 5 { // each refusal takes nothing: the wait does not grow
		wantWait(t, s, rateKey(1), perSecond3, at(0), time.Second)
	}
	wantWait(t, s, rateKey(1), perSecond3, at(400*time.Millisecond), 600*time.Millisecond)
	take(t, s, rateKey(1), perSecond3, at(time.Second), 1) // the token the wait said
	wantWait(t, s, rateKey(1), perSecond3, at(time.Second), time.Second)
}

func testRefills(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	slow := middleware.Limit{Rate: rate.Every(time.Minute), Burst: 2}
	take(t, s, rateKey(1), slow, at(0), 2)
	wantWait(t, s, rateKey(1), slow, at(0), time.Minute)
	take(t, s, rateKey(1), slow, at(90*time.Second), 1) // 1.5 tokens: one to take
	wantWait(t, s, rateKey(1), slow, at(90*time.Second), 30*time.Second)
	take(t, s, rateKey(1), slow, at(2*time.Minute+30*time.Second), 1)
}

func testRefillStopsAtBurst(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	take(t, s, rateKey(1), perSecond3, at(0), 3)
	// A minute: 60 tokens' worth, and short of the time after which a
	// store may forget an idle bucket.
	take(t, s, rateKey(1), perSecond3, at(time.Minute), 3)
	wantWait(t, s, rateKey(1), perSecond3, at(time.Minute), time.Second)
}

func testBurstBelowOne(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	limit := middleware.Limit{Rate: 2} // Burst 0 counts as 1
	take(t, s, rateKey(1), limit, at(0), 1)
	wantWait(t, s, rateKey(1), limit, at(0), 500*time.Millisecond)
}

func testRateKeysAreIndependent(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	keys := []middleware.RateKey{
		rateKey(1),
		rateKey(2),
		rateKey(-1),
		{Scope: middleware.LimitPerConversation, Conversation: "0:1:1:100"},
		{Scope: middleware.LimitPerConversation, Conversation: "0:1:1:101"},
		{Scope: middleware.LimitPerConversation, Conversation: "ключ/会话"},
		{Scope: middleware.LimitGlobal},
	}
	for i, k := range keys {
		take(t, s, k, perSecond3, at(0), i%3+1)
	}
	for i, k := range keys {
		take(t, s, k, perSecond3, at(0), 3-(i%3+1))
		wantWait(t, s, k, perSecond3, at(0), time.Second)
	}
}

// testConcurrentTakes takes from one bucket from many goroutines at one
// time: exactly the burst is taken.
func testConcurrentTakes(t *testing.T, s middleware.RateStore, at func(time.Duration) time.Time) {
	const goroutines, each, burst = 8, 20, 50
	limit := middleware.Limit{Rate: rate.Every(time.Hour), Burst: burst}
	var taken atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				wait, err := s.Take(context.Background(), rateKey(1), limit, at(0))
				if !assert.NoError(t, err, "Take") {
					return
				}
				if wait == 0 {
					taken.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, burst, taken.Load(), "%d concurrent takes from a bucket of %d: tokens taken", goroutines*each, burst)
}
