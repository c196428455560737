package statetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Leader is the method set of the election of plugins/cron
// (cron.Leader), declared here as RunStore is, so that this package does
// not import the plugin.
type Leader interface {
	// Acquire blocks until the caller leads, or ctx ends (its error is
	// then returned), and returns a context that ends when leadership is
	// lost or ctx ends, and release, which gives leadership up.
	Acquire(ctx context.Context) (lead context.Context, release func(), err error)
}

// leaderWait bounds the waits of TestLeader for something that must
// happen: a lead handed over, a lead ended.
const leaderWait = 10 * time.Second

// leaderQuiet is how long TestLeader waits to see that something does
// not happen: a second leader while the first leads.
const leaderQuiet = 100 * time.Millisecond

// TestLeader checks that a [Leader] keeps the contract of the cron
// plugin: one contender leads at a time; another takes over once the
// leader releases, or once its context ends; release ends the lead
// context; an Acquire whose context ends returns its error; and under
// contention, leads never overlap. newLeaders returns n contenders of
// one fresh election, each as a separate replica would hold it (for an
// in-process Leader, the same value n times).
func TestLeader(t *testing.T, newLeaders func(t *testing.T, n int) []Leader) {
	t.Helper()
	tests := []struct {
		name string
		n    int
		fn   func(t *testing.T, ls []Leader)
	}{
		{"AcquireThenRelease", 1, testAcquireThenRelease},
		{"OneAtATime", 2, testOneAtATime},
		{"ContextEndsLead", 2, testContextEndsLead},
		{"CanceledAcquire", 2, testCanceledAcquire},
		{"Concurrent", 4, testConcurrentLeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls := newLeaders(t, tt.n)
			require.Len(t, ls, tt.n, "newLeaders(%d)", tt.n)
			tt.fn(t, ls)
		})
	}
}

// acquire acquires l on ctx, which must end by t's end, within
// leaderWait.
func acquire(t *testing.T, ctx context.Context, l Leader) (context.Context, func()) {
	t.Helper()
	type result struct {
		lead    context.Context
		release func()
		err     error
	}
	got := make(chan result, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		lead, release, err := l.Acquire(ctx)
		got <- result{lead, release, err}
	})
	t.Cleanup(wg.Wait)
	select {
	case r := <-got:
		require.NoError(t, r.err, "Acquire")
		require.NotNil(t, r.lead, "Acquire returned a nil lead context")
		require.NotNil(t, r.release, "Acquire returned a nil release")
		return r.lead, r.release
	case <-time.After(leaderWait):
		require.Fail(t, "Acquire did not lead", "not within %v, with no other leader", leaderWait)
		return nil, nil
	}
}

// wantEnded checks that lead ends within leaderWait.
func wantEnded(t *testing.T, lead context.Context, why string) {
	t.Helper()
	select {
	case <-lead.Done():
	case <-time.After(leaderWait):
		require.Fail(t, "the lead context did not end", "%s: not within %v", why, leaderWait)
	}
}

// acquiring starts an Acquire of l on ctx, whose result comes on the
// channel returned; its release is called at t's cleanup.
func acquiring(t *testing.T, ctx context.Context, l Leader) <-chan error {
	t.Helper()
	got := make(chan error, 1)
	var wg sync.WaitGroup
	var release func()
	wg.Go(func() {
		lead, rel, err := l.Acquire(ctx)
		if err == nil && lead.Err() == nil {
			release = rel
		} else if rel != nil {
			rel()
		}
		got <- err
	})
	t.Cleanup(func() {
		wg.Wait()
		if release != nil {
			release()
		}
	})
	return got
}

func testAcquireThenRelease(t *testing.T, ls []Leader) {
	lead, release := acquire(t, t.Context(), ls[0])
	require.NoError(t, lead.Err(), "a lead context just acquired has ended")
	release()
	wantEnded(t, lead, "after release")
	// Leadership can be had again.
	_, release = acquire(t, t.Context(), ls[0])
	release()
}

func testOneAtATime(t *testing.T, ls []Leader) {
	lead, release := acquire(t, t.Context(), ls[0])
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	second := acquiring(t, ctx, ls[1])
	select {
	case err := <-second:
		require.Fail(t, "two leaders at once", "a second Acquire returned (%v) while the first leads", err)
	case <-time.After(leaderQuiet):
	}
	require.NoError(t, lead.Err(), "the first lead ended while it was not released")
	release()
	select {
	case err := <-second:
		require.NoError(t, err, "the second Acquire, after the first released")
	case <-time.After(leaderWait):
		require.Fail(t, "no takeover", "the second Acquire did not lead within %v of the first's release", leaderWait)
	}
}

func testContextEndsLead(t *testing.T, ls []Leader) {
	ctx, cancel := context.WithCancel(t.Context())
	lead, release := acquire(t, ctx, ls[0])
	second := acquiring(t, t.Context(), ls[1])
	cancel()
	wantEnded(t, lead, "after its parent context ended")
	release() // the plugin releases once its lead ends
	select {
	case err := <-second:
		require.NoError(t, err, "the second Acquire, after the first's context ended")
	case <-time.After(leaderWait):
		require.Fail(t, "no takeover", "the second Acquire did not lead within %v of the first's end", leaderWait)
	}
}

func testCanceledAcquire(t *testing.T, ls []Leader) {
	lead, release := acquire(t, t.Context(), ls[0])
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	waiting := acquiring(t, ctx, ls[1])
	cancel()
	select {
	case err := <-waiting:
		require.True(t, errors.Is(err, context.Canceled), "Acquire whose context was canceled returned %v, want context.Canceled", err)
	case <-time.After(leaderWait):
		require.Fail(t, "Acquire ignores its context", "still waiting %v after its context was canceled", leaderWait)
	}
	_, _, err := ls[1].Acquire(ctx)
	require.True(t, errors.Is(err, context.Canceled), "Acquire on a canceled context returned %v, want context.Canceled", err)
	require.NoError(t, lead.Err(), "the leader's lead ended when another's Acquire was canceled")
}

// testConcurrentLeaders has every contender lead a few times, each
// lead checking that no other overlaps it.
func testConcurrentLeaders(t *testing.T, ls []Leader) {
	const rounds = 3
	var leading, leads atomic.Int32
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			for range rounds {
				ctx, cancel := context.WithTimeout(t.Context(), leaderWait)
				lead, release, err := l.Acquire(ctx)
				if !assert.NoError(t, err, "Acquire") {
					cancel()
					return
				}
				n := leading.Add(1)
				assert.EqualValues(t, 1, n, "leaders at once")
				leads.Add(1)
				assert.NoError(t, lead.Err(), "a lead context just acquired has ended")
				time.Sleep(time.Millisecond) // hold the lead a moment, for another to overlap if it could
				leading.Add(-1)
				release()
				cancel()
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, len(ls)*rounds, leads.Load(), "leads taken")
}
