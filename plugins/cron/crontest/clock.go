// Package crontest drives package cron's scheduler in tests: [Clock] is
// a fake cron.Clock that moves only when the test moves it, so that a
// month of schedules runs in milliseconds and no test waits for real
// time.
//
//	clock := crontest.NewClock(start)
//	p, _ := cron.New(cron.Options{Jobs: jobs, Clock: clock})
//	… run the bot …
//	clock.RunUntil(start.AddDate(0, 1, 0), 5*time.Second) // a month of occurrences
package crontest

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Clock is a fake clock. Time stands still until Set, Advance or
// RunUntil moves it; moving it fires the timers it passes. Its methods
// are safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	armed  chan struct{} // closed and replaced when a timer is set
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a Clock showing now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, armed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer returns a channel that receives the clock's time once the clock
// has moved d forward (at once if d <= 0), and stop, which removes the
// timer.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
		return t.c, func() {}
	}
	c.timers = append(c.timers, t)
	close(c.armed)
	c.armed = make(chan struct{})
	return t.c, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool { return x == t })
	}
}

// Set moves the clock to t, firing the timers due by then, earliest
// first. A t before the clock's time is ignored: time never goes back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return
	}
	c.now = t
	slices.SortStableFunc(c.timers, func(a, b *timer) int { return a.at.Compare(b.at) })
	for len(c.timers) > 0 && !c.timers[0].at.After(t) {
		c.timers[0].c <- t
		c.timers = c.timers[1:]
	}
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// WaitTimer waits up to timeout (real time) until a timer is set, and
// returns the earliest deadline of those set; ok is false if none was
// set in time. A scheduler that waits for its next occurrence has a timer
// set: WaitTimer returning tells that it is done with what came before.
func (c *Clock) WaitTimer(timeout time.Duration) (deadline time.Time, ok bool) {
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	for {
		c.mu.Lock()
		if len(c.timers) > 0 {
			deadline = c.timers[0].at
			for _, t := range c.timers[1:] {
				if t.at.Before(deadline) {
					deadline = t.at
				}
			}
			c.mu.Unlock()
			return deadline, true
		}
		armed := c.armed
		c.mu.Unlock()
		select {
		case <-armed:
		case <-wait.C:
			return time.Time{}, false
		}
	}
}

// RunUntil moves the clock to t one timer at a time: it waits for a
// timer to be set (WaitTimer), moves the clock to its deadline, and
// again, until the next deadline is after t; then it sets the clock to
// t and returns. When it returns, the scheduler has dealt with every
// occurrence up to t and waits for a later one. It fails if no timer is
// set within timeout (real time) of the previous step.
func (c *Clock) RunUntil(t time.Time, timeout time.Duration) error {
	for {
		deadline, ok := c.WaitTimer(timeout)
		if !ok {
			return fmt.Errorf("crontest: no timer set within %v (clock at %v)", timeout, c.Now())
		}
		if deadline.After(t) {
			c.Set(t)
			return nil
		}
		c.Set(deadline)
	}
}
