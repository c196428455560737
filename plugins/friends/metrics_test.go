package friends_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/obs/obstest"
	"github.com/imbot-go/imbot/plugins/friends"
)

// withRegistry returns a tweak giving a bot's metrics to reg.
func withRegistry(reg prometheus.Registerer) func(*bot.Options) {
	return func(o *bot.Options) { o.Metrics = reg }
}

// decisions returns imbot_friends_decisions_total by verdict, failing the
// test when a verdict has no series.
func decisions(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	out := make(map[string]float64)
	for _, d := range []friends.Decision{friends.Accept, friends.Reject, friends.Pending} {
		out[d.String()] = obstest.RequireValue(t, reg, "imbot_friends_decisions_total", "verdict", d.String())
	}
	return out
}

// Each decision counts under its verdict, from a series that exists from
// the start.
func TestMetricsOfDecisions(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	reg := prometheus.NewRegistry()
	b, log := newBot(t, s, friends.Options{Allow: []im.UserID{1}, Deny: []im.UserID{2}}, withRegistry(reg))
	runBot(t, s, b, log)
	assert.Equal(t, 3, testutil.CollectAndCount(reg, "imbot_friends_decisions_total"), "series before any apply")
	assert.Equal(t, map[string]float64{"accept": 0, "reject": 0, "pending": 0}, decisions(t, reg), "decisions before any apply")
	applyEach(t, s, log, []applyCase{
		{1, nil, friends.Accept, friends.RuleAllow},
		{2, nil, friends.Reject, friends.RuleDeny},
		{3, nil, friends.Pending, friends.RuleOtherwise},
		{4, nil, friends.Pending, friends.RuleOtherwise},
	})
	assert.Equal(t, map[string]float64{"accept": 1, "reject": 1, "pending": 2}, decisions(t, reg), "decisions")
	assert.Zero(t, obstest.RequireValue(t, reg, "imbot_friends_daily_cap_refusals_total"), "cap refusals without a cap")
}

// An apply the daily cap refuses counts as a cap refusal, and as a
// decision of Options.OverCap.
func TestMetricsOfDailyCap(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	reg := prometheus.NewRegistry()
	b, log := newBot(t, s, friends.Options{All: true, Allow: []im.UserID{3}, DailyCap: 1, OverCap: friends.Reject}, withRegistry(reg))
	runBot(t, s, b, log)
	applyEach(t, s, log, []applyCase{
		{1, nil, friends.Accept, friends.RuleAll},
		{2, nil, friends.Reject, friends.RuleCap},
		{3, nil, friends.Accept, friends.RuleAllow}, // not capped
	})
	assert.Equal(t, 1.0, obstest.RequireValue(t, reg, "imbot_friends_daily_cap_refusals_total"), "cap refusals")
	assert.Equal(t, map[string]float64{"accept": 2, "reject": 1, "pending": 0}, decisions(t, reg), "decisions")
}

// One registry takes one Plugin's metrics: a second Plugin on the bot
// fails Setup and is not set up, so that it can serve another bot; with
// the bot's metrics off, the plugin decides as ever.
func TestMetricsRegistrationAndOff(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b, _ := newBot(t, s, friends.Options{All: true}, withRegistry(prometheus.NewRegistry()))
	second, err := friends.New(friends.Options{All: true})
	require.NoError(t, err)
	err = b.Plug(second)
	require.ErrorContains(t, err, "imbot_friends_", "a second Plugin on one registry")
	require.ErrorAs(t, err, new(prometheus.AlreadyRegisteredError), "a second Plugin on one registry")
	require.NoError(t, s.NewBot(t, botID).Plug(second), "the second Plugin on a bot of its own")

	off, log := newBot(t, s, friends.Options{All: true}, func(o *bot.Options) { o.DisableMetrics = true })
	require.Nil(t, off.Metrics(), "Metrics with DisableMetrics")
	runBot(t, s, off, log)
	alice := s.NewUser(t, 1)
	apply(t, alice, nil)
	wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
}
