package crontest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/plugins/cron/crontest"
)

var t0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-c:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestTimers(t *testing.T) {
	t.Parallel()
	c := crontest.NewClock(t0)
	a, _ := c.Timer(2 * time.Minute)
	b, stopB := c.Timer(time.Minute)
	d, _ := c.Timer(3 * time.Minute)
	now, _ := c.Timer(0)
	got, ok := received(now)
	require.True(t, ok, "a zero timer gave nothing; want the time at once")
	require.True(t, got.Equal(t0), "a zero timer gave %v; want the time at once", got)
	deadline, ok := c.WaitTimer(time.Second)
	require.True(t, ok, "WaitTimer found no timer; want the earliest deadline")
	require.True(t, deadline.Equal(t0.Add(time.Minute)), "WaitTimer = %v; want the earliest deadline", deadline)
	stopB()
	c.Advance(2 * time.Minute)
	_, ok = received(b)
	require.False(t, ok, "a stopped timer fired")
	got, ok = received(a)
	require.True(t, ok, "the 2m timer did not fire")
	require.True(t, got.Equal(t0.Add(2*time.Minute)), "the 2m timer gave %v", got)
	_, ok = received(d)
	require.False(t, ok, "the 3m timer fired early")
	c.Set(t0) // back in time: ignored
	require.True(t, c.Now().Equal(t0.Add(2*time.Minute)), "Now = %v after setting it back", c.Now())
	c.Advance(time.Minute)
	_, ok = received(d)
	require.True(t, ok, "the 3m timer did not fire")
	_, ok = c.WaitTimer(10 * time.Millisecond)
	require.False(t, ok, "WaitTimer found a timer where none is set")
}

// RunUntil stops at every deadline on the way, waiting each time for the
// next timer, as a scheduler sets it.
func TestRunUntil(t *testing.T) {
	t.Parallel()
	c := crontest.NewClock(t0)
	end := t0.Add(10 * time.Minute)
	ticks := make(chan time.Time, 16)
	done := make(chan struct{})
	go func() { // a scheduler every 3 minutes; ends when done closes
		for {
			timer, stop := c.Timer(3 * time.Minute)
			select {
			case at := <-timer:
				ticks <- at
			case <-done:
				stop()
				return
			}
		}
	}()
	defer close(done)
	require.NoError(t, c.RunUntil(end, time.Second))
	require.True(t, c.Now().Equal(end), "Now = %v, want %v", c.Now(), end)
	var got []time.Duration
	for len(ticks) > 0 {
		got = append(got, (<-ticks).Sub(t0))
	}
	require.Equal(t, []time.Duration{3 * time.Minute, 6 * time.Minute, 9 * time.Minute}, got, "ticks")
	c2 := crontest.NewClock(t0)
	require.Error(t, c2.RunUntil(end, 10*time.Millisecond), "RunUntil with no timer ever set returned nil")
}
