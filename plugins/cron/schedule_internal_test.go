package cron

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustCompile(t *testing.T, job Job) *entry {
	t.Helper()
	job.Targets = Targets{AllGroups: true}
	job.Message = Message{Text: "hi"}
	e, err := compile(job, 1)
	require.NoError(t, err)
	return e
}

var t0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// A month of a job every quarter of an hour is 2,976 occurrences,
// computed with no clock at all: Paris's change of offset on October 25
// moves no quarter-hour off UTC's.
func TestMonthOfQuarters(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, Job{ID: "m", Spec: "*/15 * * * *", TimeZone: "Europe/Paris"})
	n := 0
	end := t0.AddDate(0, 1, 0)
	for at := e.next(t0); !at.After(end); at = e.next(at) {
		n++
	}
	require.Equal(t, 31*24*4, n, "occurrences")
}

func TestMissed(t *testing.T) {
	t.Parallel()
	minutes := func(ts []time.Time) []int {
		var out []int
		for _, at := range ts {
			out = append(out, int(at.Sub(t0)/time.Minute))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		job    Job
		last   time.Duration // after t0
		now    time.Duration
		wantAt []int // minutes after t0
	}{
		{"skip", Job{Spec: "* * * * *", Missed: MissedSkip}, 0, 10 * time.Minute, nil},
		{"once", Job{Spec: "* * * * *", Missed: MissedOnce}, 0, 10 * time.Minute, []int{10}},
		{"all", Job{Spec: "* * * * *", Missed: MissedAll}, 0, 10 * time.Minute, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"all within grace", Job{Spec: "* * * * *", Missed: MissedAll, Grace: 3 * time.Minute}, 0, 10 * time.Minute, []int{8, 9, 10}},
		{"once within grace", Job{Spec: "0 * * * *", Missed: MissedOnce, Grace: 30 * time.Minute}, 0, 150 * time.Minute, nil},
		{"default grace", Job{Spec: "*/30 * * * *", Missed: MissedAll}, 0, 5 * time.Hour, []int{270, 300}},
		{"a year down", Job{Spec: "* * * * *", Missed: MissedAll, Grace: 2 * time.Minute}, 0, 365 * 24 * time.Hour, []int{365*24*60 - 1, 365 * 24 * 60}},
		{"nothing missed", Job{Spec: "@hourly", Missed: MissedAll}, 0, 59 * time.Minute, nil},
		{"every chains from the last run", Job{Spec: "@every 25m", Missed: MissedAll}, 5 * time.Minute, 60 * time.Minute, []int{30, 55}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.job.ID = "j"
			tc.job.TimeZone = "UTC"
			e := mustCompile(t, tc.job)
			got := minutes(e.missed(t0.Add(tc.last), t0.Add(tc.now)))
			require.Equal(t, tc.wantAt, got, "missed at minutes")
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, Job{ID: "j", Spec: "@daily"})
	require.Equal(t, time.Local, e.loc, "default zone")
	require.Equal(t, DefaultGrace, e.Grace, "default grace")
	require.Equal(t, time.Hour, DefaultGrace, "DefaultGrace")
	require.Equal(t, MissedSkip, e.Missed, "default missed")
	// Six fields: seconds first.
	e = mustCompile(t, Job{ID: "j", Spec: "30 0 9 * * *", TimeZone: "UTC"})
	got := e.next(t0)
	require.True(t, got.Equal(t0.Add(9*time.Hour+30*time.Second)), "six-field spec next = %v", got)
}

func TestKey(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	k := Key("standup", t0)
	require.Equal(t, k, Key("standup", t0.In(paris)), "Key depends on the zone of the time")
	require.NotEqual(t, k, Key("standup", t0.Add(time.Second)), "Key collides for another time")
	require.NotEqual(t, k, Key("standup2", t0), "Key collides for another job")
	want := "cron:" + "0123456789abcdef0123456789abcdef"
	require.Len(t, k, len(want), "Key = %q, want cron: and 32 hex digits", k)
	require.True(t, strings.HasPrefix(k, "cron:"), "Key = %q, want cron: and 32 hex digits", k)
}
