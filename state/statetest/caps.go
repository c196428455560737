package statetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CapStore is the method set of the store in which plugins/friends
// counts the applies it accepts per day, for its DailyCap
// (friends.CapStore), declared here as RunStore is, so that this package
// does not import the plugin.
type CapStore interface {
	// TakeCap counts one accept on day if fewer than limit are counted,
	// and reports whether it did, atomically. A limit of 0 or less takes
	// nothing.
	TakeCap(ctx context.Context, day string, limit int) (bool, error)
	// ReturnCap gives back one place TakeCap took on day, never taking
	// the count below zero.
	ReturnCap(ctx context.Context, day string) error
}

// TestCapStore checks that a [CapStore] counts as the friends plugin
// relies on: a day counts up to its limit and then refuses; a refusal
// takes nothing; a day's count starts at zero, whatever the day before
// counted; a place given back can be taken again, and giving back with
// nothing counted does nothing; a limit of 0 or less takes nothing; and
// concurrent takers get no more than the limit between them, exactly the
// limit when they ask for more.
//
// The days passed are dates as time.DateOnly formats them, each after
// the one before, as the plugin passes them: the contract leaves open
// what a take for a day before the latest one counts towards (a store
// that keeps only the latest day, as the plugin's MemoryCaps, counts it
// towards that one).
func TestCapStore(t *testing.T, newStore func(t *testing.T) CapStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s CapStore)
	}{
		{"UpToLimit", testCapUpToLimit},
		{"DaysAreApart", testCapDaysAreApart},
		{"Return", testCapReturn},
		{"ReturnNothingTaken", testCapReturnNothingTaken},
		{"ReturnOtherDay", testCapReturnOtherDay},
		{"NoLimit", testCapNoLimit},
		{"Concurrent", testCapConcurrent},
		{"ConcurrentReturns", testCapConcurrentReturns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// TestDurableCapStore runs [TestCapStore] and then checks that a day's
// count is there after reopen.
func TestDurableCapStore(t *testing.T, newStore func(t *testing.T) CapStore, reopen func(t *testing.T, s CapStore) CapStore) {
	t.Helper()
	TestCapStore(t, newStore)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		takeCaps(t, s, day1, 5, 3)
		s = reopen(t, s)
		takeCaps(t, s, day1, 5, 2)
		wantCapFull(t, s, day1, 5)
	})
}

// The days of the suite, in order.
const (
	day1 = "2026-03-01"
	day2 = "2026-03-02"
	day3 = "2026-03-03"
)

// takeCaps takes n places on day under limit, each of which must be
// there.
func takeCaps(t *testing.T, s CapStore, day string, limit, n int) {
	t.Helper()
	for i := range n {
		ok, err := s.TakeCap(context.Background(), day, limit)
		require.NoError(t, err, "TakeCap(%q, %d)", day, limit)
		require.True(t, ok, "TakeCap(%q, %d) %d of %d: refused, want a place", day, limit, i+1, n)
	}
}

// wantCapFull checks that day has no place left under limit.
func wantCapFull(t *testing.T, s CapStore, day string, limit int) {
	t.Helper()
	ok, err := s.TakeCap(context.Background(), day, limit)
	require.NoError(t, err, "TakeCap(%q, %d)", day, limit)
	require.False(t, ok, "TakeCap(%q, %d) on a full day: took a place", day, limit)
}

func returnCap(t *testing.T, s CapStore, day string) {
	t.Helper()
	require.NoError(t, s.ReturnCap(context.Background(), day), "ReturnCap(%q)", day)
}

func testCapUpToLimit(t *testing.T, s CapStore) {
	takeCaps(t, s, day1, 3, 3)
	for range 3 { // each refusal takes nothing, and the day stays full
		wantCapFull(t, s, day1, 3)
	}
	takeCaps(t, s, day1, 4, 1) // a higher limit, as a DailyCap raised at a restart
	wantCapFull(t, s, day1, 4)
	wantCapFull(t, s, day1, 2) // a lower one: more were counted already
}

func testCapDaysAreApart(t *testing.T, s CapStore) {
	takeCaps(t, s, day1, 2, 2)
	wantCapFull(t, s, day1, 2)
	takeCaps(t, s, day2, 2, 2) // from zero
	wantCapFull(t, s, day2, 2)
	takeCaps(t, s, day3, 3, 1)
	takeCaps(t, s, day3, 3, 2)
	wantCapFull(t, s, day3, 3)
}

func testCapReturn(t *testing.T, s CapStore) {
	takeCaps(t, s, day1, 2, 2)
	returnCap(t, s, day1)
	takeCaps(t, s, day1, 2, 1)
	wantCapFull(t, s, day1, 2)
	returnCap(t, s, day1)
	returnCap(t, s, day1)
	takeCaps(t, s, day1, 2, 2)
	wantCapFull(t, s, day1, 2)
}

func testCapReturnNothingTaken(t *testing.T, s CapStore) {
	returnCap(t, s, day1) // a day never taken
	takeCaps(t, s, day1, 2, 1)
	for range 3 { // more than were taken
		returnCap(t, s, day1)
	}
	takeCaps(t, s, day1, 2, 2) // the count went to zero, not below
	wantCapFull(t, s, day1, 2)
}

func testCapReturnOtherDay(t *testing.T, s CapStore) {
	takeCaps(t, s, day1, 2, 1)
	takeCaps(t, s, day2, 2, 2)
	returnCap(t, s, day1) // an accept of the day before failed late
	wantCapFull(t, s, day2, 2)
}

func testCapNoLimit(t *testing.T, s CapStore) {
	for _, limit := range []int{0, -1} {
		ok, err := s.TakeCap(context.Background(), day1, limit)
		require.NoError(t, err, "TakeCap(%q, %d)", day1, limit)
		require.False(t, ok, "TakeCap(%q, %d): took a place", day1, limit)
	}
	takeCaps(t, s, day1, 2, 2) // the refusals counted nothing
	wantCapFull(t, s, day1, 2)
}

// capTakers and capTakes are the shape of the concurrent checks: more
// takes than the limit, by many goroutines at once.
const (
	capTakers = 20
	capTakes  = 10
	capLimit  = 50
)

func testCapConcurrent(t *testing.T, s CapStore) {
	var taken atomic.Int64
	var wg sync.WaitGroup
	for range capTakers {
		wg.Go(func() {
			for range capTakes {
				ok, err := s.TakeCap(context.Background(), day1, capLimit)
				if !assert.NoError(t, err, "TakeCap") {
					return
				}
				if ok {
					taken.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, capLimit, taken.Load(), "places taken by %d takers × %d takes under %d", capTakers, capTakes, capLimit)
	wantCapFull(t, s, day1, capLimit)
}

// testCapConcurrentReturns has takers give back every other place they
// take, concurrently: what they keep, and what is left, make the limit.
func testCapConcurrentReturns(t *testing.T, s CapStore) {
	var kept atomic.Int64
	var wg sync.WaitGroup
	for range capTakers {
		wg.Go(func() {
			give := false
			for range capTakes {
				ok, err := s.TakeCap(context.Background(), day1, capLimit)
				if !assert.NoError(t, err, "TakeCap") || !ok {
					continue
				}
				if give = !give; give {
					assert.NoError(t, s.ReturnCap(context.Background(), day1), "ReturnCap")
					continue
				}
				kept.Add(1)
			}
		})
	}
	wg.Wait()
	left := capLimit - int(kept.Load())
	require.GreaterOrEqual(t, left, 0, "places kept %d, over the limit %d", kept.Load(), capLimit)
	takeCaps(t, s, day1, capLimit, left)
	wantCapFull(t, s, day1, capLimit)
}
