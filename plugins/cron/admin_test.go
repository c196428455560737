package cron_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/cron/crontest"
	"github.com/imbot-go/imbot/router"
)

// The admin commands list, pause, resume and run jobs for admins, and
// refuse everyone else.
func TestAdminCommands(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, aliceID), s.NewUser(t, bobID)
	news := alice.CreateGroup(t, botID, bobID)
	clock := crontest.NewClock(start)
	p, reported := newPlugin(t, cron.Options{Clock: clock, Jobs: []cron.Job{
		{ID: "standup", Spec: "0 9 * * *", TimeZone: "Europe/Paris",
			Targets: cron.Targets{Conversations: []im.ConversationID{news.ID}},
			Message: cron.Message{Text: `stand-up {{.Time.Format "Jan 2 15:04:05"}}`}},
		{ID: "later", Spec: "@daily", TimeZone: "UTC", Disabled: true,
			Targets: cron.Targets{Conversations: []im.ConversationID{news.ID}}, Message: cron.Message{Text: "later"}},
	}})
	b, reg := metricsBot(t, s, p)
	r := router.New()
	r.Group(p.AdminRoutes(aliceID))
	b.Handle(r)
	runBot(t, b)
	waitTimer(t, clock, "no timer set")

	aliceChat, bobChat := alice.CreateSingle(t, botID), bob.CreateSingle(t, botID)
	ask := func(u *imtest.User, conv im.ConversationRef, text, want string) {
		t.Helper()
		u.Send(t, conv, text)
		assert.Equal(t, want, u.WaitReply(t, conv).Text(), "%q", text)
	}
	ask(bob, bobChat, "/cron list", "not allowed")
	ask(bob, bobChat, "/cron run standup", "not allowed")
	ask(alice, aliceChat, "/cron list", "standup (0 9 * * *): next 2026-10-01 09:00:00 CEST\nlater (@daily): paused")
	ask(alice, aliceChat, "/cron pause nosuch", `no job "nosuch"`)
	ask(alice, aliceChat, "/cron dance", "usage: /cron list | pause <job> | resume <job> | run <job>")
	ask(alice, aliceChat, "/cron pause", "usage: /cron list | pause <job> | resume <job> | run <job>")
	ask(alice, aliceChat, "/cron", "usage: /cron <action> [job] (action: missing)")

	// Paused over a day: the day's stand-up is skipped, not missed.
	ask(alice, aliceChat, "/cron pause standup", "paused standup")
	ask(alice, aliceChat, "/cron list", "standup (0 9 * * *): paused\nlater (@daily): paused")
	clock.Set(start.Add(30 * time.Hour)) // Oct 2, 08:00 Paris
	ask(alice, aliceChat, "/cron resume standup", "resumed standup")
	runUntil(t, clock, start.Add(31*time.Hour))
	require.Equal(t, []string{"stand-up Oct 2 09:00:00"}, texts(t, alice, news), "after pause and resume, posted")

	clock.Set(start.Add(31*time.Hour + 5*time.Second))
	ask(alice, aliceChat, "/cron run standup", "ran standup: posted to 1 of 1 conversations")
	require.Equal(t, []string{"stand-up Oct 2 09:00:00", "stand-up Oct 2 09:00:05"}, texts(t, alice, news), "after run, posted")
	assert.Equal(t, 2.0, runs(t, reg, "standup", "ok"), "standup's runs: Oct 2 09:00 and the admin's")
	assert.Zero(t, missed(t, reg, "standup"), "standup's missed runs: the paused day's is skipped")
	noErrors(t, reported)
}
