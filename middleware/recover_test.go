package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRecoverTurnsAPanicIntoAnError(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name  string
		h     bot.HandlerFunc
		value any // the panic value, or nil for no panic
		err   error
	}{
		{name: "string", h: func(*bot.Context) error { panic("boom") }, value: "boom"},
		{name: "error", h: func(*bot.Context) error { panic(errBoom) }, value: errBoom},
		{name: "no panic, nil", h: func(*bot.Context) error { return nil }},
		{name: "no panic, error", h: func(*bot.Context) error { return errBoom }, err: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hooked *bot.PanicError
			c := bot.NewContext(context.Background(), bot.Event{Kind: bot.EventMessage})
			err := middleware.RecoverWith(func(hc *bot.Context, pe *bot.PanicError) {
				assert.Same(t, c, hc, "hook got another Context than the event's")
				hooked = pe
			})(tt.h).Handle(c)
			if tt.value == nil {
				require.True(t, err == tt.err, "err %v, want %v", err, tt.err)
				require.Nil(t, hooked, "hook called, want no hook")
				return
			}
			var pe *bot.PanicError
			require.ErrorAs(t, err, &pe, "want a *bot.PanicError with value %v", tt.value)
			require.True(t, pe.Value == tt.value, "panic value %v, want %v", pe.Value, tt.value)
			// The stack is the panicking goroutine's, at the panic.
			assert.Contains(t, string(pe.Stack), "recover_test.go", "stack does not show the panicking handler")
			assert.Same(t, pe, hooked, "hook got another than the returned error")
			// Recover alone is RecoverWith without a hook.
			err = middleware.Recover()(tt.h).Handle(c)
			if assert.ErrorAs(t, err, &pe, "Recover: want a *bot.PanicError with value %v", tt.value) {
				assert.True(t, pe.Value == tt.value, "Recover: panic value %v, want %v", pe.Value, tt.value)
			}
		})
	}
}

func TestRecoverRepanicsErrAbort(t *testing.T) {
	t.Parallel()
	for _, abort := range []error{middleware.ErrAbort, fmt.Errorf("giving up: %w", middleware.ErrAbort)} {
		hooked := false
		h := middleware.RecoverWith(func(*bot.Context, *bot.PanicError) { hooked = true })(
			bot.HandlerFunc(func(*bot.Context) error { panic(abort) }))
		got := func() (p any) {
			defer func() { p = recover() }()
			h.Handle(bot.NewContext(context.Background(), bot.Event{}))
			return nil
		}()
		assert.True(t, got == abort, "panic(%v) through Recover: recovered %v; want the same value re-panicked", abort, got)
		assert.False(t, hooked, "panic(%v) through Recover: hook called, want no hook", abort)
	}
}

func TestIsAbort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{middleware.ErrAbort, true},
		{fmt.Errorf("x: %w", middleware.ErrAbort), true},
		{&bot.PanicError{Value: middleware.ErrAbort}, true},
		{&bot.PanicError{Value: fmt.Errorf("x: %w", middleware.ErrAbort)}, true},
		{fmt.Errorf("on error: %w", &bot.PanicError{Value: middleware.ErrAbort}), true},
		{&bot.PanicError{Value: "abort"}, false},
		{errors.New("middleware: handler aborted"), false},
		{nil, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, middleware.IsAbort(tt.err), "IsAbort(%#v)", tt.err)
	}
}

// Through a bot: Recover's hook answers the user, the error reaches
// OnError, ErrAbort goes past Recover to the bot's own recovery, and the
// bot goes on.
func TestRecoverThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	errs := make(chan error, 8)
	b := mwNewBot(t, s, func(_ *bot.Context, err error) { errs <- err })
	b.Use(middleware.RecoverWith(func(c *bot.Context, pe *bot.PanicError) {
		_, err := c.Reply(fmt.Sprintf("sorry (%v)", pe.Value))
		assert.NoError(t, err, "reply from the hook") // off the test's goroutine: assert
	}))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		switch c.Event.Message.Text() {
		case "panic":
			panic("boom")
		case "abort":
			panic(middleware.ErrAbort)
		}
		_, err := c.Reply("pong")
		return err
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)

	alice.Send(t, conv, "panic")
	mwWantReply(t, alice, conv, "sorry (boom)")
	err := mwWaitValue(t, errs, "OnError for the panic")
	var pe *bot.PanicError
	require.ErrorAs(t, err, &pe, "OnError got, want the *bot.PanicError of boom")
	require.Equal(t, "boom", pe.Value, "OnError got %#v, want the *bot.PanicError of boom", err)
	require.False(t, middleware.IsAbort(err), "OnError got %#v, want the *bot.PanicError of boom, not an abort", err)

	alice.Send(t, conv, "abort")
	err = mwWaitValue(t, errs, "OnError for the abort")
	require.True(t, middleware.IsAbort(err), "OnError got %#v for an abort; IsAbort is false", err)
	alice.Send(t, conv, "ping") // no "sorry" came in between: the hook did not run
	mwWantReply(t, alice, conv, "pong")
}

// Shared helpers of this package's tests of Recover, Logger, IgnoreSelf,
// IgnoreStrangers, Timeout and Dedup.

const (
	mwBotID = im.UserID(100)
	mwWait  = 5 * time.Second // the deadline of every wait on an event
)

// mwNewBot returns a bot for mwBotID on s whose handler errors go to
// onError, or fail the test when onError is nil.
func mwNewBot(t *testing.T, s *imtest.Server, onError func(*bot.Context, error)) *bot.Bot {
	t.Helper()
	return s.NewBot(t, mwBotID, func(o *bot.Options) { o.OnError = onError })
}

// mwWantReply waits for u's next message from another user in conv and
// checks its text.
func mwWantReply(t *testing.T, u *imtest.User, conv im.ConversationRef, want string) {
	t.Helper()
	require.Equal(t, want, u.WaitMessage(t, conv, mwWait).Text(), "user %v got", u.ID())
}

// mwWaitValue returns the next value from ch, failing the test after
// mwWait.
func mwWaitValue[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(mwWait)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		require.Failf(t, "timed out", "no %s within %v", what, mwWait)
		panic("unreachable")
	}
}

// mwTap is middleware that records every event once the chain inside it
// has returned, with the error it returned: outermost, it tells a test
// what became of an event, dropped ones included.
type mwTap struct {
	mu      sync.Mutex
	done    []mwTapped
	arrived chan struct{} // closed and replaced when an event is recorded
}

type mwTapped struct {
	Event   bot.Event
	Err     error
	Skipped string // the Context's Skipped once the chain returned
}

func newMWTap() *mwTap { return &mwTap{arrived: make(chan struct{})} }

func (tp *mwTap) Middleware(next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		err := next.Handle(c)
		tp.mu.Lock()
		defer tp.mu.Unlock()
		tp.done = append(tp.done, mwTapped{c.Event, err, c.Skipped()})
		close(tp.arrived)
		tp.arrived = make(chan struct{})
		return err
	})
}

// waitFor returns the first event recorded for which match reports true,
// waiting for it up to mwWait.
func (tp *mwTap) waitFor(t *testing.T, what string, match func(bot.Event) bool) mwTapped {
	t.Helper()
	timer := time.NewTimer(mwWait)
	defer timer.Stop()
	for {
		tp.mu.Lock()
		i := slices.IndexFunc(tp.done, func(d mwTapped) bool { return match(d.Event) })
		if i >= 0 {
			d := tp.done[i]
			tp.mu.Unlock()
			return d
		}
		arrived := tp.arrived
		tp.mu.Unlock()
		select {
		case <-arrived:
		case <-timer.C:
			require.Failf(t, "timed out", "%s not handled within %v", what, mwWait)
		}
	}
}

// waitText waits for the new message with text to have been handled.
func (tp *mwTap) waitText(t *testing.T, text string) mwTapped {
	t.Helper()
	return tp.waitFor(t, fmt.Sprintf("message %q", text), func(ev bot.Event) bool {
		return ev.Kind == bot.EventMessage && ev.Message.Text() == text
	})
}

// mwTexts records the texts of the new messages that reach a handler.
type mwTexts struct {
	mu    sync.Mutex
	texts []string
}

func (r *mwTexts) add(c *bot.Context) {
	if c.Event.Kind != bot.EventMessage {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, c.Event.Message.Text())
}

func (r *mwTexts) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.texts)
}
