package cron_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/obs/obstest"
	"github.com/imbot-go/imbot/plugins/cron"
)

// metricsBot returns a bot (user botID) on s whose metrics go to a new
// registry, returned, with p plugged in.
func metricsBot(t *testing.T, s *imtest.Server, p *cron.Plugin) (*bot.Bot, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	b := s.NewBot(t, botID, func(o *bot.Options) { o.Metrics = reg })
	require.NoError(t, b.Plug(p))
	return b, reg
}

// runs returns imbot_cron_runs_total{job,outcome}, failing the test when
// there is no such series (each job has every outcome's from the start);
// sends, missed and leader likewise.
func runs(t *testing.T, reg prometheus.Gatherer, job, outcome string) float64 {
	t.Helper()
	return obstest.RequireValue(t, reg, "imbot_cron_runs_total", "job", job, "outcome", outcome)
}

// sends returns imbot_cron_sends_total{job,outcome}.
func sends(t *testing.T, reg prometheus.Gatherer, job, outcome string) float64 {
	t.Helper()
	return obstest.RequireValue(t, reg, "imbot_cron_sends_total", "job", job, "outcome", outcome)
}

// missed returns imbot_cron_missed_total{job}.
func missed(t *testing.T, reg prometheus.Gatherer, job string) float64 {
	t.Helper()
	return obstest.RequireValue(t, reg, "imbot_cron_missed_total", "job", job)
}

// leader returns imbot_cron_leader.
func leader(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	return obstest.RequireValue(t, reg, "imbot_cron_leader")
}

// A run that posts to every target is ok, one that posts to some partial,
// one that posts nothing failed; each is timed, each target's send is
// counted, and the process leads while the bot runs.
func TestMetricsOfRuns(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	notMine := alice.CreateGroup(t, bobID) // the bot is not in it
	half := minutely(group.ID, notMine.ID)
	half.ID = "half"
	broken := cron.Job{ID: "broken", Spec: "* * * * *", Targets: cron.Targets{Conversations: []im.ConversationID{group.ID}},
		Compose: func(context.Context, cron.Occurrence) (im.OutgoingMessage, error) {
			return im.OutgoingMessage{}, errors.New("no news")
		}}
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{minutely(group.ID), half, broken}})
	b, reg := metricsBot(t, s, p)
	stop := runBot(t, b)
	runUntil(t, clock, start.Add(2*time.Minute))

	for _, want := range []struct {
		job     string
		outcome string
		n       float64
	}{
		{"tick", "ok", 2}, {"tick", "partial", 0}, {"tick", "failed", 0}, {"tick", "interrupted", 0},
		{"half", "ok", 0}, {"half", "partial", 2}, {"half", "failed", 0},
		{"broken", "ok", 0}, {"broken", "partial", 0}, {"broken", "failed", 2},
	} {
		assert.Equal(t, want.n, runs(t, reg, want.job, want.outcome), "runs of %s, %s", want.job, want.outcome)
	}
	for _, job := range []string{"tick", "half", "broken"} {
		assert.Equal(t, 2.0, obstest.RequireValue(t, reg, "imbot_cron_run_duration_seconds", "job", job), "timed runs of %s", job)
		assert.Zero(t, missed(t, reg, job), "missed runs of %s", job)
	}
	assert.Equal(t, 2.0, sends(t, reg, "tick", "ok"), "tick's sends, ok")
	assert.Zero(t, sends(t, reg, "tick", "failed"), "tick's sends, failed")
	assert.Equal(t, 2.0, sends(t, reg, "half", "ok"), "half's sends, ok")
	assert.Equal(t, 2.0, sends(t, reg, "half", "failed"), "half's sends, failed (the group the bot is not in)")
	assert.Zero(t, sends(t, reg, "broken", "ok")+sends(t, reg, "broken", "failed"), "broken's sends: its message fails before any")
	// Each of the three jobs has its four outcomes from the start.
	assert.Equal(t, 12, testutil.CollectAndCount(reg, "imbot_cron_runs_total"), "series of imbot_cron_runs_total")
	assert.Len(t, reported.get(), 4, "reported: two runs of half and of broken")

	assert.Equal(t, 1.0, leader(t, reg), "leader while running")
	stop()
	assert.Zero(t, leader(t, reg), "leader after the bot stopped")
}

// The occurrences that passed while the bot was down, or while the
// process stalled, are counted as missed whatever the job's policy; those
// the policy posts late are runs too.
func TestMetricsOfMissedRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		missed  cron.Missed
		stalled bool // else down from 00:00 to 00:10:30
		want    float64
		runs    float64 // up to 00:11
	}{
		{"down, skip", cron.MissedSkip, false, 10, 1},            // 00:11
		{"down, all within grace", cron.MissedAll, false, 10, 6}, // 00:06 to 00:11
		{"stalled, skip", cron.MissedSkip, true, 9, 2},           // 00:01, 00:11
		{"stalled, once", cron.MissedOnce, true, 9, 3},           // 00:01, 00:10, 00:11
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, group, clock := newWorld(t)
			store := cron.NewMemoryStore()
			if !tc.stalled {
				require.NoError(t, store.SetLastRun(t.Context(), "tick", start))
				clock.Set(start.Add(10*time.Minute + 30*time.Second))
			}
			job := minutely(group.ID)
			job.Missed, job.Grace = tc.missed, 5*time.Minute
			p, reported := newPlugin(t, cron.Options{Clock: clock, Store: store, Jobs: []cron.Job{job}})
			b, reg := metricsBot(t, s, p)
			runBot(t, b)
			if tc.stalled {
				waitTimer(t, clock, "no timer set")
				// The timer of 00:01 fires at 00:10:30: 00:02 to 00:10 passed.
				clock.Set(start.Add(10*time.Minute + 30*time.Second))
			}
			runUntil(t, clock, start.Add(11*time.Minute))
			assert.Equal(t, tc.want, missed(t, reg, "tick"), "missed")
			assert.Equal(t, tc.runs, runs(t, reg, "tick", "ok"), "runs, ok")
			noErrors(t, reported)
		})
	}
}

// A run that the bot's stop cuts off is interrupted, not failed.
func TestMetricsOfInterruptedRun(t *testing.T) {
	t.Parallel()
	s, _, group, clock := newWorld(t)
	composing := make(chan struct{})
	job := cron.Job{ID: "slow", Spec: "* * * * *", Targets: cron.Targets{Conversations: []im.ConversationID{group.ID}},
		Compose: func(ctx context.Context, _ cron.Occurrence) (im.OutgoingMessage, error) {
			close(composing)
			<-ctx.Done() // until the bot stops
			return im.OutgoingMessage{}, ctx.Err()
		}}
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{job}})
	b, reg := metricsBot(t, s, p)
	stop := runBot(t, b)
	waitTimer(t, clock, "no timer set")
	clock.Advance(time.Minute)
	waitFor(t, composing, "the occurrence of 00:01 did not start")
	stop()
	assert.Equal(t, 1.0, runs(t, reg, "slow", "interrupted"), "runs, interrupted")
	assert.Zero(t, runs(t, reg, "slow", "failed"), "runs, failed")
	assert.Equal(t, 1.0, obstest.RequireValue(t, reg, "imbot_cron_run_duration_seconds", "job", "slow"), "timed runs")
	noErrors(t, reported)
}

// Of two replicas sharing a Leader, the gauge of the one leading is 1;
// when it stops, the other's becomes 1.
func TestMetricsOfLeadership(t *testing.T) {
	t.Parallel()
	s, _, group, clock := newWorld(t)
	opts := cron.Options{Clock: clock, Leader: cron.NewLocalLeader(), Jobs: []cron.Job{minutely(group.ID)}}
	p1, _ := newPlugin(t, opts)
	b1, reg1 := metricsBot(t, s, p1)
	stop1 := runBot(t, b1)
	waitTimer(t, clock, "the first replica set no timer")
	p2, _ := newPlugin(t, opts)
	b2, reg2 := metricsBot(t, s, p2)
	runBot(t, b2) // waits in Acquire
	assert.Equal(t, 1.0, leader(t, reg1), "the first replica's leader gauge")
	assert.Zero(t, leader(t, reg2), "the second replica's leader gauge, while the first leads")

	stop1() // its timer is stopped: the next one set is the second's
	waitTimer(t, clock, "the second replica set no timer once the first stopped")
	assert.Zero(t, leader(t, reg1), "the first replica's leader gauge, stopped")
	assert.Equal(t, 1.0, leader(t, reg2), "the second replica's leader gauge, leading")
}

// One registry takes one Plugin's metrics: the second fails Setup and is
// not set up, so that it can serve another bot.
func TestMetricsRegisteredTwice(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	p1, _ := newPlugin(t, cron.Options{Jobs: []cron.Job{minutely("1")}})
	p2, _ := newPlugin(t, cron.Options{Jobs: []cron.Job{minutely("1")}})
	b, _ := metricsBot(t, s, p1)
	err := b.Plug(p2)
	require.ErrorContains(t, err, "imbot_cron_", "a second Plugin on one registry")
	require.ErrorAs(t, err, new(prometheus.AlreadyRegisteredError), "a second Plugin on one registry")
	metricsBot(t, s, p2) // its own registry
}

// With the bot's metrics off, the jobs run as ever.
func TestMetricsOff(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{minutely(group.ID)}})
	b := s.NewBot(t, botID, func(o *bot.Options) { o.DisableMetrics = true })
	require.Nil(t, b.Metrics(), "Metrics with DisableMetrics")
	require.NoError(t, b.Plug(p))
	runBot(t, b)
	runUntil(t, clock, start.Add(2*time.Minute))
	require.Equal(t, []string{"00:01", "00:02"}, texts(t, alice, group), "posted")
	noErrors(t, reported)
}
