// Package statetest holds the conformance suites of the small
// interfaces behind which a bot keeps its state: [bot.ProgressStore],
// [middleware.DedupStore], [middleware.RateStore], [RunStore], the
// cron plugin's election, [Leader], and the friends plugin's daily cap,
// [CapStore]. Every
// implementation runs them from its own tests, as slog handlers run
// testing/slogtest:
//
//	func TestProgress(t *testing.T) {
//		statetest.TestProgressStore(t, func(*testing.T) bot.ProgressStore { return new(bot.MemoryProgress) })
//	}
//
// A suite says what the rest of imbot relies on, so that a store over a
// shared database (Redis, say), written to share a bot's state among its
// replicas, can prove that it keeps the same contract as the in-process
// and file stores.
//
// # Fresh stores and reopening
//
// Each subtest gets a fresh, empty store from newStore, which should
// close it at the test's cleanup when it needs closing. The subtests run
// in parallel.
//
// A durable store also runs the TestDurable… variant of a suite, which
// runs the suite and then checks that what was committed is there after
// reopen: reopen closes the store it is given, as a process that stops
// would, and returns a new store over the same data, as the process that
// starts next would open it.
//
// # Time
//
// The stores read no clock: the times are arguments. The suites pass
// times from an hour after the real clock on, in whole milliseconds, so
// that a store over a database that also expires keys on its own clock
// (Redis PXAT) keeps them for the length of the test, and that a store
// that keeps times to the millisecond counts as the suites do.
package statetest

import (
	"context"
	"time"
)

// RunStore is the method set of the store in which plugins/cron keeps
// when each job last ran, so that a job missed while the bot was down
// runs when it starts again. It is declared here, as the method set, so
// that this package does not import the plugin.
type RunStore interface {
	// LastRun returns when job last ran, and false if it never did.
	LastRun(ctx context.Context, job string) (t time.Time, ok bool, err error)
	// SetLastRun records that job ran at t, durably before it returns;
	// the last call for a job wins.
	SetLastRun(ctx context.Context, job string, t time.Time) error
}

// base is the first time the suites pass: an hour from the real clock,
// to whole milliseconds (see Time in the package doc).
func base() time.Time { return time.Now().Add(time.Hour).Truncate(time.Second) }
