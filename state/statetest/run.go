package statetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunStore checks that a [RunStore] keeps the contract of the cron
// plugin: a job that never ran has no last run; LastRun returns the
// time of the last SetLastRun, to the millisecond at least; jobs are
// independent; concurrent sets all count.
func TestRunStore(t *testing.T, newStore func(t *testing.T) RunStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s RunStore, b time.Time)
	}{
		{"NeverRan", testNeverRan},
		{"LastSetWins", testLastSetWins},
		{"JobsAreIndependent", testJobsAreIndependent},
		{"Concurrent", testConcurrentRuns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t), base())
		})
	}
}

// TestDurableRunStore runs [TestRunStore] and then checks that the last
// runs are there after reopen.
func TestDurableRunStore(t *testing.T, newStore func(t *testing.T) RunStore, reopen func(t *testing.T, s RunStore) RunStore) {
	t.Helper()
	TestRunStore(t, newStore)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		b := base()
		s := newStore(t)
		setRun(t, s, "daily", b)
		setRun(t, s, "hourly", b.Add(-time.Hour))
		setRun(t, s, "hourly", b.Add(time.Hour))
		s = reopen(t, s)
		wantRun(t, s, "daily", b, true)
		wantRun(t, s, "hourly", b.Add(time.Hour), true)
		wantRun(t, s, "weekly", time.Time{}, false)
	})
}

func setRun(t *testing.T, s RunStore, job string, at time.Time) {
	t.Helper()
	require.NoError(t, s.SetLastRun(context.Background(), job, at), "SetLastRun(%q, %v)", job, at)
}

// wantRun checks LastRun(job): ok, and the same instant as want.
func wantRun(t *testing.T, s RunStore, job string, want time.Time, wantOK bool) {
	t.Helper()
	got, ok, err := s.LastRun(context.Background(), job)
	require.NoError(t, err, "LastRun(%q)", job)
	require.Equal(t, wantOK, ok, "LastRun(%q) = %v, %v: ok", job, got, ok)
	if ok {
		require.True(t, got.Equal(want), "LastRun(%q) = %v, want %v", job, got, want)
	}
}

func testNeverRan(t *testing.T, s RunStore, _ time.Time) {
	wantRun(t, s, "daily", time.Time{}, false)
}

func testLastSetWins(t *testing.T, s RunStore, b time.Time) {
	for _, at := range []time.Time{b, b.Add(time.Minute), b.Add(-time.Hour), b.Add(1500 * time.Millisecond).In(time.FixedZone("UTC+8", 8*3600))} {
		setRun(t, s, "daily", at)
		wantRun(t, s, "daily", at, true)
	}
}

func testJobsAreIndependent(t *testing.T, s RunStore, b time.Time) {
	jobs := []string{"daily", "Daily", "daily ", "0 9 * * *", "公告/morning"}
	for i, j := range jobs {
		setRun(t, s, j, b.Add(time.Duration(i)*time.Minute))
	}
	for i, j := range jobs {
		wantRun(t, s, j, b.Add(time.Duration(i)*time.Minute), true)
	}
	wantRun(t, s, "weekly", time.Time{}, false)
}

func testConcurrentRuns(t *testing.T, s RunStore, b time.Time) {
	const jobs, each = 10, 10
	var wg sync.WaitGroup
	for j := range jobs {
		wg.Go(func() {
			for i := range each {
				if err := s.SetLastRun(context.Background(), fmt.Sprint("job", j), b.Add(time.Duration(i)*time.Minute)); !assert.NoError(t, err, "SetLastRun") {
					return
				}
			}
		})
	}
	wg.Wait()
	for j := range jobs {
		wantRun(t, s, fmt.Sprint("job", j), b.Add((each-1)*time.Minute), true)
	}
}
