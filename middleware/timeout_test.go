package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
)

// mwShort is the timeout of tests whose handlers wait for it to pass.
// They wait on the context, never sleep.
const mwShort = 20 * time.Millisecond

func TestTimeoutDeadline(t *testing.T) {
	t.Parallel()
	const d = time.Hour
	var deadline time.Time
	var ok bool
	h := middleware.Timeout(d)(bot.HandlerFunc(func(c *bot.Context) error {
		deadline, ok = c.Context().Deadline()
		return nil
	}))
	before := time.Now()
	require.NoError(t, h.Handle(bot.NewContext(context.Background(), bot.Event{})))
	after := time.Now()
	require.True(t, ok, "handler's deadline not set, want %v from the call", d)
	require.WithinRange(t, deadline, before.Add(d), after.Add(d), "handler's deadline, want %v from the call", d)

	// A nearer deadline already on the context stays.
	parent, cancel := context.WithDeadline(context.Background(), before.Add(time.Minute))
	defer cancel()
	require.NoError(t, h.Handle(bot.NewContext(parent, bot.Event{})))
	want, _ := parent.Deadline()
	require.True(t, deadline.Equal(want), "handler's deadline %v under a parent's of %v, want the parent's", deadline, want)
}

func TestTimeoutErrors(t *testing.T) {
	t.Parallel()
	errLate := errors.New("late")
	// untilDone waits for the handler's context to end, then returns
	// what ret makes of it: a handler working past its deadline.
	untilDone := func(ret func(ctx context.Context) error) bot.HandlerFunc {
		return func(c *bot.Context) error {
			<-c.Context().Done()
			return ret(c.Context())
		}
	}
	tests := []struct {
		name      string
		h         bot.HandlerFunc
		cancel    bool // cancel the parent context first (a shutdown)
		wantNil   bool
		deadline  bool  // errors.Is(err, context.DeadlineExceeded)
		wrapped   error // errors.Is(err, wrapped)
		wantInMsg string
	}{
		{name: "in time", h: func(*bot.Context) error { return nil }, wantNil: true},
		{name: "in time, failed", h: func(*bot.Context) error { return errLate }, wrapped: errLate, wantInMsg: "late"},
		{
			name: "honours its context", h: untilDone(func(ctx context.Context) error { return ctx.Err() }),
			deadline: true, wantInMsg: "timed out after 20ms: context deadline exceeded",
		},
		{
			name: "ignores its context", h: untilDone(func(context.Context) error { return errLate }),
			deadline: true, wrapped: errLate, wantInMsg: "timed out after 20ms: context deadline exceeded: late",
		},
		{name: "succeeds late", h: untilDone(func(context.Context) error { return nil }), wantNil: true},
		{
			name: "shutdown, not the deadline", cancel: true, h: untilDone(func(context.Context) error { return errLate }),
			wrapped: errLate, wantInMsg: "late",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			err := middleware.Timeout(mwShort)(tt.h).Handle(bot.NewContext(parent, bot.Event{}))
			if tt.wantNil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.deadline, errors.Is(err, context.DeadlineExceeded), "err %q: errors.Is DeadlineExceeded", err)
			if tt.wrapped != nil {
				assert.ErrorIs(t, err, tt.wrapped)
			}
			assert.ErrorContains(t, err, tt.wantInMsg)
		})
	}
}

func TestTimeoutPanicsOnBadDuration(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Second} {
		assert.Panics(t, func() { middleware.Timeout(d) }, "Timeout(%v) did not panic", d)
	}
}

// Through a bot: a handler replies under its deadline; one that outlasts
// it fails with an error wrapping context.DeadlineExceeded, which a
// Logger reports as a timeout.
func TestTimeoutThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	errs := make(chan error, 4)
	b := mwNewBot(t, s, func(_ *bot.Context, err error) { errs <- err })
	b.Use(middleware.IgnoreSelf(), middleware.Timeout(time.Minute))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		if c.Event.Message.Text() != "slow" {
			_, err := c.Reply("ok")
			return err
		}
		// An inner, shorter deadline of a route (router.With(Timeout(d))).
		return middleware.Timeout(mwShort)(bot.HandlerFunc(func(c *bot.Context) error {
			<-c.Context().Done()
			return errors.New("gave up late")
		})).Handle(c)
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)

	alice.Send(t, conv, "slow")
	err := mwWaitValue(t, errs, "error of the slow handler")
	require.ErrorIs(t, err, context.DeadlineExceeded, "OnError got, want the handler's error wrapping context.DeadlineExceeded")
	require.ErrorContains(t, err, "gave up late", "OnError got, want the handler's error wrapping context.DeadlineExceeded")
	alice.Send(t, conv, "fast")
	mwWantReply(t, alice, conv, "ok")
}
