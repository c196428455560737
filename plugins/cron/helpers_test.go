package cron_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/cron/crontest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	botID   im.UserID = 100
	aliceID im.UserID = 1001
	bobID   im.UserID = 1002
	// wait bounds every wait of these tests for the scheduler.
	wait = 10 * time.Second
)

// start is 2026-10-01 00:00 UTC, a Thursday; the Paris clocks go back
// on 2026-10-25.
var start = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// errs collects the errors a plugin reports.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err)
}

func (e *errs) get() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.list...)
}

// newPlugin returns a plugin for opts, with opts.OnError collecting into
// the returned errs unless set, failing the test if New fails.
func newPlugin(t *testing.T, opts cron.Options) (*cron.Plugin, *errs) {
	t.Helper()
	var e errs
	if opts.OnError == nil {
		opts.OnError = e.add
	}
	p, err := cron.New(opts)
	require.NoError(t, err, "cron.New")
	return p, &e
}

// runBot runs b until the returned stop (or the test's end) and waits
// until it is ready. stop waits for Run to return.
func runBot(t *testing.T, b *bot.Bot) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }() // joined by stop
	stop = sync.OnceFunc(func() {
		cancel()
		assert.NoError(t, <-done, "bot Run")
	})
	t.Cleanup(stop)
	select {
	case <-b.Ready():
	case err := <-done:
		require.Failf(t, "bot Run returned before it was ready", "Run: %v", err)
	case <-time.After(wait):
		require.Failf(t, "bot not ready", "within %v", wait)
	}
	return stop
}

// plugBot returns a bot (user botID) on s with p plugged in.
func plugBot(t *testing.T, s *imtest.Server, p *cron.Plugin) *bot.Bot {
	t.Helper()
	b := s.NewBot(t, botID)
	require.NoError(t, b.Plug(p))
	return b
}

// texts returns the texts of every message in conv, oldest first, as u
// loads them from the server.
func texts(t *testing.T, u *imtest.User, conv im.ConversationRef) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []string
	var anchor int64
	for {
		page, err := u.Client.LoadMessages(ctx, conv, im.MessageDirectionNewer, anchor, 100)
		require.NoError(t, err, "loading the messages of %v", conv.ID)
		for _, m := range page.Messages {
			out = append(out, m.Text())
		}
		if !page.HasMore {
			return out
		}
		anchor = page.Next
	}
}

// runUntil moves clock to t through every timer on the way.
func runUntil(t *testing.T, clock *crontest.Clock, to time.Time) {
	t.Helper()
	require.NoError(t, clock.RunUntil(to, wait))
}

// noErrors fails the test if the plugin reported errors.
func noErrors(t *testing.T, e *errs) {
	t.Helper()
	assert.Empty(t, e.get(), "reported")
}

// asRunError returns err as a *cron.RunError, failing the test if it is
// not one.
func asRunError(t *testing.T, err error) *cron.RunError {
	t.Helper()
	re, ok := errors.AsType[*cron.RunError](err)
	require.True(t, ok, "reported %T %v, want a *cron.RunError", err, err)
	return re
}

// newWorld returns the setting most tests start from: a server, alice on
// it, a group of hers the bot (botID) is in, and a clock at start.
func newWorld(t *testing.T) (s *imtest.Server, alice *imtest.User, group im.ConversationRef, clock *crontest.Clock) {
	t.Helper()
	s = imtest.NewServer(t)
	alice = s.NewUser(t, aliceID)
	return s, alice, alice.CreateGroup(t, botID), crontest.NewClock(start)
}

// waitTimer waits until the scheduler sets a timer on clock and returns
// its deadline, failing the test with msg if none is set within wait.
func waitTimer(t *testing.T, clock *crontest.Clock, msg string) time.Time {
	t.Helper()
	d, ok := clock.WaitTimer(wait)
	require.True(t, ok, msg)
	return d
}

// waitFor waits until ch is closed (or receives), failing the test with
// msg if that does not happen within wait.
func waitFor(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		require.FailNow(t, msg)
	}
}
