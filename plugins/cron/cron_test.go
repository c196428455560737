package cron_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/cron/crontest"
)

// A month of a daily job runs in well under a second of real time, at
// 09:00 Paris time on both sides of the change to winter time.
func TestMonthOfDailyAnnouncements(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{{
		ID: "standup", Spec: "0 9 * * *", TimeZone: "Europe/Paris",
		Targets: cron.Targets{Conversations: []im.ConversationID{group.ID}},
		Message: cron.Message{Text: `stand-up {{.Time.Format "2006-01-02 15:04 MST"}} ({{.Job}})`},
	}}})
	runBot(t, plugBot(t, s, p))

	began := time.Now()
	runUntil(t, clock, start.AddDate(0, 1, 0))
	elapsed := time.Since(began)

	var want []string
	for day := 1; day <= 31; day++ {
		zone := "CEST"
		if day >= 25 {
			zone = "CET"
		}
		want = append(want, fmt.Sprintf("stand-up 2026-10-%02d 09:00 %s (standup)", day, zone))
	}
	require.Equal(t, want, texts(t, alice, group), "the group's posts")
	noErrors(t, reported)
	t.Logf("a month of a daily job (31 posts) took %v", elapsed)
}

// minutely is a job posting the time of each occurrence, every minute in
// UTC, to convs.
func minutely(convs ...im.ConversationID) cron.Job {
	return cron.Job{ID: "tick", Spec: "* * * * *", TimeZone: "UTC",
		Targets: cron.Targets{Conversations: convs},
		Message: cron.Message{Text: `{{.Time.Format "15:04"}}`}}
}

// At start-up, the occurrences missed since the last run are handled by
// the job's policy, within the grace window.
func TestMissedPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		missed  cron.Missed
		lastRun bool
		want    []string // 00:11 is the first occurrence after start-up
	}{
		{"skip", cron.MissedSkip, true, []string{"00:11"}},
		{"once", cron.MissedOnce, true, []string{"00:10", "00:11"}},
		{"all within grace", cron.MissedAll, true, []string{"00:06", "00:07", "00:08", "00:09", "00:10", "00:11"}},
		{"never ran", cron.MissedAll, false, []string{"00:11"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, alice, group, clock := newWorld(t)
			store := cron.NewMemoryStore()
			if tc.lastRun {
				require.NoError(t, store.SetLastRun(t.Context(), "tick", start))
			}
			// Down from 00:00 to 00:10:30, with a grace of 5 minutes.
			clock.Set(start.Add(10*time.Minute + 30*time.Second))
			job := minutely(group.ID)
			job.Missed, job.Grace = tc.missed, 5*time.Minute
			p, reported := newPlugin(t, cron.Options{Clock: clock, Store: store, Jobs: []cron.Job{job}})
			runBot(t, plugBot(t, s, p))
			runUntil(t, clock, start.Add(11*time.Minute))
			require.Equal(t, tc.want, texts(t, alice, group), "posted")
			last, ok, err := store.LastRun(t.Context(), "tick")
			require.NoError(t, err, "LastRun")
			require.True(t, ok, "LastRun: no last run; want 00:11")
			require.True(t, last.Equal(start.Add(11*time.Minute)), "LastRun = %v; want 00:11", last)
			noErrors(t, reported)
		})
	}
}

// crashStore is a store whose SetLastRun of one key, at one time, stores
// and then hangs until the bot stops, as if the process died right
// there. It closes hung when it does.
type crashStore struct {
	*cron.MemoryStore
	key  string
	at   time.Time
	hung chan struct{}
}

func (s *crashStore) SetLastRun(ctx context.Context, job string, t time.Time) error {
	if err := s.MemoryStore.SetLastRun(ctx, job, t); err != nil || job != s.key || !t.Equal(s.at) {
		return err
	}
	close(s.hung)
	<-ctx.Done()
	return ctx.Err()
}

// A bot that stops in the middle of an occurrence, before posting it or
// after posting it but before recording it, posts it at its next start,
// once, whatever the missed-run policy: each occurrence reaches each
// target exactly once across the restart.
func TestRestartPostsEachOccurrenceOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, key string }{
		{"stopped before posting", "tick#pending"},
		{"stopped before recording", "tick"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, alice, group, clock := newWorld(t)
			single := alice.CreateSingle(t, botID)
			mem := cron.NewMemoryStore()
			crash := &crashStore{MemoryStore: mem, key: tc.key, at: start.Add(time.Minute), hung: make(chan struct{})}
			job := minutely(group.ID, single.ID) // MissedSkip

			p1, reported1 := newPlugin(t, cron.Options{Clock: clock, Store: crash, Jobs: []cron.Job{job}})
			stop1 := runBot(t, plugBot(t, s, p1))
			waitTimer(t, clock, "the first bot set no timer")
			clock.Advance(time.Minute)
			waitFor(t, crash.hung, "the first bot did not reach the crash point")
			stop1()
			noErrors(t, reported1)

			p2, reported2 := newPlugin(t, cron.Options{Clock: clock, Store: mem, Jobs: []cron.Job{job}})
			runBot(t, plugBot(t, s, p2))
			runUntil(t, clock, start.Add(2*time.Minute))
			for _, conv := range []im.ConversationRef{group, single} {
				assert.Equal(t, []string{"00:01", "00:02"}, texts(t, alice, conv), "%v got", conv.Type)
			}
			noErrors(t, reported2)
		})
	}
}

// Of two replicas sharing a leader and a store, only the leader posts;
// when it stops, the other takes over, and every occurrence is posted
// once.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	leader, store := cron.NewLocalLeader(), cron.NewMemoryStore()
	opts := cron.Options{Clock: clock, Leader: leader, Store: store, Jobs: []cron.Job{minutely(group.ID)}}

	p1, reported1 := newPlugin(t, opts)
	stop1 := runBot(t, plugBot(t, s, p1))
	waitTimer(t, clock, "the first replica set no timer")
	p2, reported2 := newPlugin(t, opts)
	runBot(t, plugBot(t, s, p2)) // waits in Acquire: it sets no timer
	runUntil(t, clock, start.Add(2*time.Minute))
	require.Equal(t, []string{"00:01", "00:02"}, texts(t, alice, group), "with the first replica leading, posted")

	stop1()
	runUntil(t, clock, start.Add(4*time.Minute))
	require.Equal(t, []string{"00:01", "00:02", "00:03", "00:04"}, texts(t, alice, group), "after the failover, posted")
	noErrors(t, reported1)
	noErrors(t, reported2)
}

// failingLeader fails its first Acquire, then leads.
type failingLeader struct {
	cron.Leader
	failed chan struct{}
}

func (l *failingLeader) Acquire(ctx context.Context) (context.Context, func(), error) {
	select {
	case <-l.failed:
		return l.Leader.Acquire(ctx)
	default:
		close(l.failed)
		return nil, nil, errors.New("no quorum")
	}
}

// A leader that fails is reported and asked again a second later.
func TestLeaderErrorIsRetried(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	leader := &failingLeader{Leader: cron.NewLocalLeader(), failed: make(chan struct{})}
	p, reported := newPlugin(t, cron.Options{Clock: clock, Leader: leader, Jobs: []cron.Job{minutely(group.ID)}})
	runBot(t, plugBot(t, s, p))
	d := waitTimer(t, clock, "no retry timer set, want one 1s after the start")
	require.True(t, d.Equal(start.Add(time.Second)), "retry timer at %v, want 1s after the start", d)
	runUntil(t, clock, start.Add(time.Minute))
	require.Equal(t, []string{"00:01"}, texts(t, alice, group), "posted")
	errs := reported.get()
	require.Len(t, errs, 1, "reported %v, want the leader's error", errs)
	require.ErrorContains(t, errs[0], "cron: leader: no quorum", "reported, want the leader's error")
}

// A panic in a job's Compose is recovered and reported as a *RunError
// wrapping a *bot.PanicError; the job's next occurrence posts as usual.
func TestPanicInComposeIsRecovered(t *testing.T) {
	t.Parallel()
	s, alice, group, clock := newWorld(t)
	first := true
	job := cron.Job{ID: "flaky", Spec: "@every 1m", Targets: cron.Targets{Conversations: []im.ConversationID{group.ID}},
		Compose: func(ctx context.Context, o cron.Occurrence) (im.OutgoingMessage, error) {
			if first {
				first = false
				panic("boom")
			}
			return im.OutgoingMessage{Content: im.TextContent("composed " + o.Time.UTC().Format("15:04")), ClientID: "ignored"}, nil
		}}
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{job}})
	runBot(t, plugBot(t, s, p))
	runUntil(t, clock, start.Add(2*time.Minute))
	require.Equal(t, []string{"composed 00:02"}, texts(t, alice, group), "posted")
	errs := reported.get()
	require.Len(t, errs, 1, "reported %v, want one panic", errs)
	re := asRunError(t, errs[0])
	pe, ok := errors.AsType[*bot.PanicError](errs[0])
	require.True(t, ok, "reported %#v, want the panic of flaky's 00:01 with a stack", re)
	require.Equal(t, "boom", pe.Value, "the panic's value")
	require.NotEmpty(t, pe.Stack, "the panic's stack")
	require.Equal(t, "flaky", re.Job, "the RunError's job")
	require.True(t, re.Time.Equal(start.Add(time.Minute)), "reported %#v, want the panic of flaky's 00:01", re)
	// The message's client id is the occurrence's key, whatever Compose
	// set.
	m := alice.WaitReply(t, group)
	require.Equal(t, cron.Key("flaky", start.Add(2*time.Minute)), m.ClientID, "client id, want the key of the occurrence")
}

// A job posts to explicit conversations, every group the bot is in and
// live chats, each once however many lists name it, with the message's
// mentions and ext; a target that fails is reported and the others still
// get the message.
func TestTargets(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, aliceID), s.NewUser(t, bobID)
	single := alice.CreateSingle(t, botID)
	group1 := alice.CreateGroup(t, botID, bobID)
	group2 := bob.CreateGroup(t, botID)
	notMine := alice.CreateGroup(t, bobID) // the bot is not in it
	live := alice.CreateLive(t)
	clock := crontest.NewClock(start)
	job := cron.Job{ID: "news", Spec: "@hourly", TimeZone: "UTC",
		Targets: cron.Targets{Conversations: []im.ConversationID{single.ID, group1.ID, notMine.ID}, AllGroups: true, Live: []im.ConversationID{live.ID}},
		Message: cron.Message{Text: "news", Mentions: []im.UserID{aliceID}, MentionAll: true, Ext: map[string]string{"kind": "news"}}}
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{job}})
	runBot(t, plugBot(t, s, p))
	runUntil(t, clock, start.Add(time.Hour))

	key := cron.Key("news", start.Add(time.Hour))
	for _, tc := range []struct {
		u    *imtest.User
		conv im.ConversationRef
	}{{alice, single}, {alice, group1}, {bob, group2}} {
		assert.Equal(t, []string{"news"}, texts(t, tc.u, tc.conv), "%v %v got, want one news", tc.conv.Type, tc.conv.ID)
		m := tc.u.WaitReply(t, tc.conv)
		assert.Equal(t, key, m.ClientID, "%v got client id", tc.conv.ID)
		assert.Equal(t, "news", m.Ext["kind"], "%v got ext %v", tc.conv.ID, m.Ext)
		assert.True(t, m.IsMentioned(aliceID), "%v got mentions %v", tc.conv.ID, m.MentionedUsers())
		assert.True(t, m.MentionsAll(), "%v got mentions %v, want all", tc.conv.ID, m.MentionedUsers())
	}
	got := alice.WaitReply(t, live)
	assert.Equal(t, "news", got.Text(), "live chat got")
	assert.Equal(t, key, got.ClientID, "live chat got client id")
	page, err := alice.Client.LiveMessages(t.Context(), live, 0, 10, true)
	if assert.NoError(t, err, "the live chat's messages") {
		assert.Len(t, page.Messages, 1, "the live chat's messages")
	}
	errs := reported.get()
	require.Len(t, errs, 1, "reported %v, want one error, for the group the bot is not in", errs)
	re := asRunError(t, errs[0])
	require.Equal(t, notMine.ID, re.Conversation, "reported %v, want the failure to post to %v", re, notMine.ID)
	require.Equal(t, "news", re.Job, "reported %v, want the failure to post to %v", re, notMine.ID)
}

// A Plugin serves one bot; Pause and Resume know only its jobs.
func TestPluginMisuse(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	p, _ := newPlugin(t, cron.Options{Jobs: []cron.Job{minutely("1")}})
	plugBot(t, s, p)
	require.ErrorIs(t, s.NewBot(t, botID).Plug(p), cron.ErrSetUp, "plugging into a second bot")
	for _, f := range []func(string) error{p.Pause, p.Resume} {
		err := f("nosuch")
		require.ErrorIs(t, err, cron.ErrUnknownJob, "an unknown job")
		require.ErrorContains(t, err, `"nosuch"`, "an unknown job: want ErrUnknownJob naming it")
	}
	require.NoError(t, p.Pause("tick"))
	jobs := p.Jobs()
	require.Len(t, jobs, 1, "Jobs after Pause = %+v", jobs)
	require.True(t, jobs[0].Paused, "Jobs after Pause = %+v", jobs)
	require.True(t, jobs[0].Next.IsZero(), "Jobs after Pause = %+v", jobs)
}
