package bot_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/syncio"
)

// logLines collects JSON log lines written from many goroutines.
type logLines struct{ syncio.Buffer }

// records returns the lines whose msg is msg, decoded.
func (l *logLines) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), "log line %q", line)
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestLifecycleLines runs a bot through login, a lost socket with a
// message sent while it is down, and a shutdown: each lifecycle line is
// logged once, at its level, with its fields.
func TestLifecycleLines(t *testing.T) {
	s := imtest.NewServer(t)
	lines := &logLines{}
	log := slog.New(slog.NewJSONHandler(lines, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sentWhileDown := make(chan struct{})
	b := s.NewBot(t, 100, func(o *bot.Options) {
		o.Logger, o.Client.Logger = log, log
		o.Client.ReconnectWait = func(int) time.Duration {
			// The connect loop waits here: the test sends while the socket
			// is down, so the reconnect has something to catch up.
			select {
			case <-sentWhileDown:
			case <-time.After(imtest.DefaultTimeout):
			}
			return 0
		}
	})
	b.Handle(bot.HandlerFunc(func(*bot.Context) error { return nil }))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "not ready")
	}
	alice := s.NewUser(t, 1001)
	conv := alice.CreateSingle(t, 100)

	reconnected := make(chan struct{})
	sub := b.Client().OnConnectionState(func(st im.ConnectionState) {
		if st == im.ConnectionStateConnected {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}
	})
	defer sub.Unsubscribe()
	require.True(t, b.Client().DropConnection())
	alice.Send(t, conv, "while you were out")
	close(sentWhileDown)
	select {
	case <-reconnected:
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "not reconnected")
	}
	// The reconnected line follows the catch-up pull.
	require.Eventually(t, func() bool { return len(lines.records(t, "im: reconnected")) > 0 }, imtest.DefaultTimeout, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	for _, want := range []struct {
		msg, level string
		fields     []string
	}{
		{"im: logged in", "INFO", []string{"user", "app", "device", "api", "websocket", "cursor"}},
		{"im: connected", "INFO", []string{"user", "device", "server"}},
		{"bot: ready", "INFO", []string{"user", "workers", "cursor"}},
		{"im: socket lost; reconnecting", "WARN", []string{"err"}},
		{"im: reconnected", "INFO", []string{"downtime", "attempts", "caught_up"}},
		{"bot: draining", "INFO", []string{"timeout"}},
		{"bot: stopped", "INFO", []string{"drained_in"}},
	} {
		recs := lines.records(t, want.msg)
		require.Len(t, recs, 1, "lines %q", want.msg)
		assert.Equal(t, want.level, recs[0]["level"], "level of %q", want.msg)
		for _, f := range want.fields {
			assert.Contains(t, recs[0], f, "field %s of %q", f, want.msg)
		}
	}
	assert.EqualValues(t, 1, lines.records(t, "im: reconnected")[0]["caught_up"], "messages caught up after the outage")
	assert.EqualValues(t, 100, lines.records(t, "im: connected")[0]["user"])
	assert.NotContains(t, lines.String(), "imbot1.", "a token in the log")
}
