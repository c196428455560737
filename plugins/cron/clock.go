package cron

import "time"

// Clock is the plugin's time: what time it is, and a timer. Tests inject
// a fake one (package crontest) to run a month of schedules in
// milliseconds; the default is the system clock.
type Clock interface {
	Now() time.Time
	// Timer returns a channel that receives the time once d has passed
	// (at once if d <= 0), and stop, which releases the timer; the
	// plugin calls stop when it gives up waiting.
	Timer(d time.Duration) (c <-chan time.Time, stop func())
}

// systemClock is the default Clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
