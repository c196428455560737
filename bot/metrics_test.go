package bot_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/obs/obstest"
)

// TestMetricsMoveWithTheirEvents makes each of the bot's metrics' events
// happen over the real server and checks that the metric moved: events
// received and skipped, handler outcomes, retries, errors and panics, the
// dispatch queue, and the sends with their retries and 429s.
func TestMetricsMoveWithTheirEvents(t *testing.T) {
	s := imtest.NewUnstartedServer(t)
	s.Config.SendRate, s.Config.SendBurst = 10, 1 // the second quick reply is refused with a 429
	s.Start()
	reg := prometheus.NewRegistry()
	failed := make(chan error, 4)
	entered, release := make(chan struct{}), make(chan struct{})
	b := s.NewBot(t, 100, func(o *bot.Options) {
		o.Metrics = reg
		o.Retry = bot.RetryPolicy{Attempts: 2, Backoff: time.Millisecond}
		o.OnError = func(_ *bot.Context, err error) { failed <- err }
	})
	b.Use(func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			if c.Event.Message.Text() == "skip" {
				c.Skip("test_reason")
				return nil
			}
			return next.Handle(c)
		})
	})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		text := c.Event.Message.Text()
		c.SetRoute(text)
		switch text {
		case "fail":
			return errors.New("it fails")
		case "boom":
			panic("it panics")
		case "hold":
			close(entered)
			<-release
			return nil
		}
		if _, err := c.Reply("1 " + text); err != nil {
			return err
		}
		_, err := c.Reply("2 " + text)
		return err
	}))
	value := func(name string, labels ...string) float64 {
		t.Helper()
		return obstest.Value(t, reg, name, labels...)
	}
	await := func(want float64, name string, labels ...string) {
		t.Helper()
		obstest.Await(t, reg, imtest.DefaultTimeout, want, name, labels...)
	}
	s.RunBot(t, b)
	assert.Equal(t, 1.0, value("imbot_bot_ready"), "ready while running")

	alice := s.NewUser(t, 1001)
	chat := alice.CreateSingle(t, 100)
	alice.Send(t, chat, "hello")
	alice.WaitReply(t, chat)
	alice.WaitReply(t, chat)
	await(1, "imbot_bot_handler_duration_seconds", "route", "hello", "outcome", "ok")
	await(2, "imbot_bot_events_skipped_total", "reason", "own_message")
	assert.Equal(t, 3.0, value("imbot_bot_events_received_total", "kind", "message"), "alice's message and the bot's two replies")
	assert.Equal(t, 2.0, value("imbot_bot_sends_total", "priority", "reply", "outcome", "sent"))
	assert.Equal(t, 2.0, value("imbot_bot_send_duration_seconds", "priority", "reply"))
	assert.GreaterOrEqual(t, value("imbot_bot_send_rate_limited_total"), 1.0, "the second reply met the server's rate limit")
	assert.GreaterOrEqual(t, value("imbot_bot_send_retries_total"), 1.0)

	alice.Send(t, chat, "fail")
	require.ErrorContains(t, <-failed, "it fails")
	await(1, "imbot_bot_handler_duration_seconds", "route", "fail", "outcome", "error")
	assert.Equal(t, 1.0, value("imbot_bot_handler_retries_total", "route", "fail"), "Attempts 2: one retry")
	assert.Equal(t, 1.0, value("imbot_bot_handler_errors_total", "route", "fail"))

	alice.Send(t, chat, "boom")
	var pe *bot.PanicError
	require.ErrorAs(t, <-failed, &pe)
	await(1, "imbot_bot_handler_duration_seconds", "route", "boom", "outcome", "panic")
	assert.Equal(t, 1.0, value("imbot_bot_handler_panics_total", "route", "boom"))
	assert.Equal(t, 0.0, value("imbot_bot_handler_retries_total", "route", "boom"), "a panic is not retried")

	alice.Send(t, chat, "skip")
	await(1, "imbot_bot_events_skipped_total", "reason", "test_reason")
	await(1, "imbot_bot_handler_duration_seconds", "route", "", "outcome", "skipped")

	alice.Send(t, chat, "hold")
	<-entered
	assert.Equal(t, 1.0, value("imbot_bot_handlers_running"))
	alice.Send(t, chat, "queued behind hold")
	await(1, "imbot_bot_dispatch_queued")
	close(release)
	await(1, "imbot_bot_handler_duration_seconds", "route", "queued behind hold", "outcome", "ok")
	assert.Equal(t, 0.0, value("imbot_bot_dispatch_queued"))
	assert.GreaterOrEqual(t, value("imbot_bot_dispatch_wait_seconds"), 6.0, "every event that queued")
	assert.Equal(t, 0.0, value("imbot_bot_send_queued"))
	assert.Equal(t, 0.0, value("imbot_bot_sends_in_flight"))
}

// TestMetricsServedByTheAdminListener: the bot's own registry, with the Go
// and process collectors, is served at /metrics in the text format.
func TestMetricsServedByTheAdminListener(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Admin.Addr = "127.0.0.1:0" })
	require.NotNil(t, b.Metrics(), "metrics are on by default")
	s.RunBot(t, b)
	resp, err := http.Get("http://" + b.AdminAddr().String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, name := range []string{"imbot_bot_ready 1", "imbot_bot_events_received_total", "imbot_bot_sends_total", "go_goroutines", "process_cpu_seconds_total"} {
		assert.Contains(t, string(body), name)
	}
}

// TestMetricsDisabled: DisableMetrics registers nothing and serves no
// /metrics.
func TestMetricsDisabled(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.DisableMetrics = true })
	assert.Nil(t, b.Metrics())
	assert.Equal(t, http.StatusNotFound, httptestGet(t, b.AdminHandler(), "/metrics"))
}

// TestMetricsTwoBotsOneRegistry: two bots in one registry clash unless
// each has a label of its own; New names the remedy.
func TestMetricsTwoBotsOneRegistry(t *testing.T) {
	s := imtest.NewServer(t)
	reg := prometheus.NewRegistry()
	s.NewBot(t, 100, func(o *bot.Options) {
		o.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"bot": "first"}, reg)
	})
	opts := s.BotOptions(101)
	opts.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"bot": "first"}, reg)
	_, err := bot.New(opts)
	require.ErrorContains(t, err, "WrapRegistererWith")

	opts.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"bot": "second"}, reg)
	b, err := bot.New(opts)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, httptestGet(t, b.AdminHandler(), "/metrics"), "a wrapped registerer cannot be gathered")
	assert.Equal(t, 2, testutil.CollectAndCount(reg, "imbot_bot_ready"), "both bots' gauges in the one registry")
}

// TestMetricsFailedNewLeavesNoTrace: a New that fails after registering
// the bot's metrics (here, at its client's options) leaves the registry
// as it was, so that it can be tried again.
func TestMetricsFailedNewLeavesNoTrace(t *testing.T) {
	s := imtest.NewServer(t)
	reg := prometheus.NewRegistry()
	opts := s.BotOptions(100)
	opts.Metrics = reg
	good := opts.Client.APIURL
	opts.Client.APIURL = "ftp://nowhere"
	_, err := bot.New(opts)
	require.ErrorContains(t, err, "APIURL")
	assert.Equal(t, 0, testutil.CollectAndCount(reg, "imbot_bot_ready"), "the bot's metrics were left registered")

	opts.Client.APIURL = good
	_, err = bot.New(opts)
	require.NoError(t, err, "New again with good options, in the same registry")
}
