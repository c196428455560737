package middleware_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/obs/obstest"
	"github.com/imbot-go/imbot/middleware"
)

// Through a bot, each reason a middleware gives reaches the bot's count
// of skipped events: the bot's own echo (self), a stranger's message
// (stranger), a second delivery of a handled message (duplicate) and a
// message over its conversation's limit (rate_limited).
func TestSkipReasonsCountedByTheBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	reg := prometheus.NewRegistry()
	b := s.NewBot(t, mwBotID, func(o *bot.Options) {
		o.Metrics = reg
		o.HandleOwnMessages = true
	})
	twice := func(next bot.Handler) bot.Handler { // delivers each event twice
		return bot.HandlerFunc(func(c *bot.Context) error {
			if err := next.Handle(c); err != nil {
				return err
			}
			return next.Handle(c)
		})
	}
	clock := newMWClock()
	b.Use(
		middleware.IgnoreSelf(),
		middleware.IgnoreStrangers(middleware.StrangersOptions{Now: clock.Now}),
		// Per conversation: alice's friend apply, an event of hers, must
		// not spend her token.
		middleware.RateLimit(middleware.RateLimitOptions{PerConversation: middleware.Limit{Rate: rate.Every(time.Hour), Burst: 1}, Now: clock.Now}),
		twice,
		middleware.Dedup(nil, time.Hour),
	)
	var reached mwTexts
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		reached.add(c)
		_, err := c.Reply("echo: " + c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	mwApply(t, alice)
	mwAccept(t, b, alice)
	convA, convB := alice.CreateSingle(t, mwBotID), bob.CreateSingle(t, mwBotID)

	alice.Send(t, convA, "a1") // handled, then a duplicate; its echo is the bot's own
	mwWantReply(t, alice, convA, "echo: a1")
	alice.Send(t, convA, "a2") // over the conversation's limit
	bob.Send(t, convB, "b1")   // a stranger's
	for _, reason := range []string{middleware.SkipSelf, middleware.SkipStranger, middleware.SkipDuplicate, middleware.SkipRateLimited} {
		obstest.AwaitEqual(t, reg, mwWait, 1, "imbot_bot_events_skipped_total", "reason", reason)
	}
	require.Equal(t, []string{"a1"}, reached.list(), "the handler got")
}
