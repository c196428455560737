package crontest_test

import (
	"testing"
	"time"

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
	if got, ok := received(now); !ok || !got.Equal(t0) {
		t.Fatalf("a zero timer gave %v, %v; want the time at once", got, ok)
	}
	if deadline, ok := c.WaitTimer(time.Second); !ok || !deadline.Equal(t0.Add(time.Minute)) {
		t.Fatalf("WaitTimer = %v, %v; want the earliest deadline", deadline, ok)
	}
	stopB()
	c.Advance(2 * time.Minute)
	if _, ok := received(b); ok {
		t.Fatal("a stopped timer fired")
	}
	if got, ok := received(a); !ok || !got.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("the 2m timer gave %v, %v", got, ok)
	}
	if _, ok := received(d); ok {
		t.Fatal("the 3m timer fired early")
	}
	c.Set(t0) // back in time: ignored
	if !c.Now().Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("Now = %v after setting it back", c.Now())
	}
	c.Advance(time.Minute)
	if _, ok := received(d); !ok {
		t.Fatal("the 3m timer did not fire")
	}
	if _, ok := c.WaitTimer(10 * time.Millisecond); ok {
		t.Fatal("WaitTimer found a timer where none is set")
	}
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
	if err := c.RunUntil(end, time.Second); err != nil {
		t.Fatal(err)
	}
	if !c.Now().Equal(end) {
		t.Fatalf("Now = %v, want %v", c.Now(), end)
	}
	var got []time.Duration
	for len(ticks) > 0 {
		got = append(got, (<-ticks).Sub(t0))
	}
	if len(got) != 3 || got[0] != 3*time.Minute || got[2] != 9*time.Minute {
		t.Fatalf("ticks at %v, want 3m, 6m, 9m", got)
	}
	c2 := crontest.NewClock(t0)
	if err := c2.RunUntil(end, 10*time.Millisecond); err == nil {
		t.Fatal("RunUntil with no timer ever set returned nil")
	}
}
