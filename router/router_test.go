package router

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// recorder makes handlers that log their name and return what the test
// says.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (rec *recorder) h(name string, ret error) bot.HandlerFunc {
	return func(*bot.Context) error {
		rec.mu.Lock()
		rec.ran = append(rec.ran, name)
		rec.mu.Unlock()
		return ret
	}
}

func (rec *recorder) take() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := strings.Join(rec.ran, " ")
	rec.ran = nil
	return s
}

var _ bot.Handler = New() // the interface guard, at test time too

func TestPrecedence(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		setup   func(r *Router, rec *recorder)
		ev      bot.Event
		wantRan string
		wantErr error
	}{
		{
			name: "registration order among equal priorities",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("general", nil))
				r.OnCommand("/weather <city>", rec.h("command", nil))
			},
			ev:      msgEvent(`{"text":"/weather paris"}`, single),
			wantRan: "general",
		},
		{
			name: "higher priority first",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("general", nil))
				r.OnCommand("/weather <city>", rec.h("command", nil), Priority(1))
			},
			ev:      msgEvent(`{"text":"/weather paris"}`, single),
			wantRan: "command",
		},
		{
			name: "negative priority last",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("low", nil), Priority(-1))
				r.OnKeyword("paris", rec.h("keyword", nil))
			},
			ev:      msgEvent(`{"text":"/weather paris"}`, single),
			wantRan: "keyword",
		},
		{
			name: "merge across buckets keeps the order",
			setup: func(r *Router, rec *recorder) {
				r.OnExpr(`true`, rec.h("any-kind", ErrContinue))                                                     // any kind, any conv
				r.OnFunc(InSingle(), rec.h("single", ErrContinue), Priority(2))                                      // any kind, single
				r.OnCommand("/weather <city>", rec.h("cmd", ErrContinue))                                            // command, any conv
				r.OnFunc(And(Command("/weather <city>"), InSingle()), rec.h("cmd-single", ErrContinue), Priority(1)) // command, single
				r.OnMessage(rec.h("message", ErrContinue), Priority(2))                                              // message, any conv
				r.OnFunc(And(Kind(bot.EventMessage), InSingle()), rec.h("message-single", nil))                      // message, single
				r.OnFunc(InGroup(), rec.h("group", nil), Priority(9))                                                // never for a single chat
			},
			ev:      msgEvent(`{"text":"/weather paris"}`, single),
			wantRan: "single message cmd-single any-kind cmd message-single",
		},
		{
			name: "ErrContinue passes on, another error stops",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("first", ErrContinue))
				r.OnMessage(rec.h("second", fmt.Errorf("wrapped: %w", ErrContinue)))
				r.OnMessage(rec.h("third", errStop))
				r.OnMessage(rec.h("fourth", nil))
			},
			ev:      msgEvent(`{"text":"hi"}`, single),
			wantRan: "first second third",
			wantErr: errStop,
		},
		{
			name: "non-matching routes are skipped",
			setup: func(r *Router, rec *recorder) {
				r.OnPrefix("!", rec.h("prefix", nil))
				r.OnMessage(rec.h("message", nil))
			},
			ev:      msgEvent(`{"text":"hi"}`, single),
			wantRan: "message",
		},
		{
			name: "NotFound when nothing matched",
			setup: func(r *Router, rec *recorder) {
				r.OnCommand("/help", rec.h("help", nil))
				r.NotFound(rec.h("not found", errStop))
			},
			ev:      msgEvent(`{"text":"/weather paris"}`, single),
			wantRan: "not found",
			wantErr: errStop,
		},
		{
			name: "NotFound when every match passed the event on",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("message", ErrContinue))
				r.NotFound(rec.h("not found", nil))
			},
			ev:      msgEvent(`{"text":"x"}`, single),
			wantRan: "message not found",
		},
		{
			name: "no NotFound: nothing runs and Handle returns nil",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("message", ErrContinue))
			},
			ev:      msgEvent(`{"text":"x"}`, single),
			wantRan: "message",
		},
		{
			name: "events of other kinds",
			setup: func(r *Router, rec *recorder) {
				r.OnMessage(rec.h("message", nil))
				r.OnEvent(bot.EventFriendAdded, rec.h("friend", nil))
			},
			ev:      bot.Event{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 3}},
			wantRan: "friend",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, rec := New(), &recorder{}
			tt.setup(r, rec)
			assert.ErrorIs(t, r.Handle(newCtx(tt.ev)), tt.wantErr, "Handle") // a nil wantErr is no error
			assert.Equal(t, tt.wantRan, rec.take(), "ran")
		})
	}
}

func TestSameCommandDifferentPriorities(t *testing.T) {
	t.Parallel()
	r, rec := New(), &recorder{}
	r.OnCommand("/x", rec.h("low", nil))
	r.OnCommand("/x", rec.h("high", ErrContinue), Priority(1))
	r.OnFunc(And(Command("/x"), InGroup()), rec.h("group", nil), Priority(2))
	r.OnFunc(And(Command("/x"), InSingle()), rec.h("single", nil), Priority(-1))
	require.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"/x"}`, single))))
	assert.Equal(t, "high low", rec.take(), "ran")
}

func TestRouterAsSubHandler(t *testing.T) {
	t.Parallel()
	// A router mounted in another passes on what it does not handle
	// when its NotFound returns ErrContinue.
	outer, inner, rec := New(), New(), &recorder{}
	inner.OnCommand("/inner", rec.h("inner", nil))
	inner.NotFound(func(*bot.Context) error { return ErrContinue })
	outer.OnMessage(inner.Handle)
	outer.OnMessage(rec.h("outer", nil))
	for _, text := range []string{"/inner", "/other"} {
		require.NoError(t, outer.Handle(newCtx(msgEvent(`{"text":"`+text+`"}`, group))))
	}
	assert.Equal(t, "inner outer", rec.take(), "ran")
}

// line returns the caller's line plus delta.
func line(delta int) string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("%s:%d", file, line+delta)
}

func TestRegistrationPanics(t *testing.T) {
	t.Parallel()
	noop := func(*bot.Context) error { return nil }

	t.Run("command conflict", func(t *testing.T) {
		t.Parallel()
		r := New()
		first := line(1)
		r.OnCommand("/x <a>", noop)
		second := line(2)
		want := "router: command /x registered at " + second + " conflicts with " + first
		assert.PanicsWithValue(t, want, func() { r.OnCommand("/x [b]", noop) }, "panic")
	})

	t.Run("command conflict with a route in wider conversation types", func(t *testing.T) {
		t.Parallel()
		r := New()
		first := line(1)
		r.OnFunc(And(Command("/x"), InConversation(single, group)), noop)
		r.OnFunc(And(Command("/x"), InLive()), noop) // no overlap: fine
		r.OnCommand("/x", noop, Priority(1))         // another priority: fine
		second := line(2)
		want := "router: command /x registered at " + second + " conflicts with " + first
		assert.PanicsWithValue(t, want, func() { r.OnFunc(And(InGroup(), Command("/x")), noop) }, "panic")
	})

	t.Run("after serving", func(t *testing.T) {
		t.Parallel()
		r := New()
		r.OnMessage(noop)
		require.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"x"}`, single))))
		where := line(2)
		want := "router: route registered after the router started serving (at " + where + ")"
		assert.PanicsWithValue(t, want, func() { r.OnCommand("/late", noop) }, "panic")
		require.Panics(t, func() { r.Group(nil).OnMessage(noop) })
		require.Panics(t, func() { r.NotFound(noop) })
	})

	t.Run("Use after a route", func(t *testing.T) {
		t.Parallel()
		r := New()
		r.OnMessage(noop)
		mw := func(h bot.Handler) bot.Handler { return h }
		msg := mustPanic(t, func() { r.Use(mw) })
		assert.True(t, strings.HasPrefix(msg, "router: Use after a route was registered"), "panic %q", msg)
	})

	tests := []struct {
		name string
		f    func(r *Router)
		want string
	}{
		{"nil handler", func(r *Router) { r.On(InGroup(), nil) }, "router: nil handler"},
		{"nil func", func(r *Router) { r.OnMessage(nil) }, "router: nil handler"},
		{"nil matcher", func(r *Router) { r.OnFunc(nil, noop) }, "router: nil matcher"},
		{"kinds never match", func(r *Router) { r.OnFunc(And(Kind(bot.EventFriendAdded), Prefix("x")), noop) }, "can never match: its matchers want different event kinds"},
		{"convs never match", func(r *Router) { r.OnFunc(And(InGroup(), InSingle()), noop) }, "different conversation types"},
		{"two commands", func(r *Router) { r.OnFunc(And(Command("/a"), Command("/b")), noop) }, "route has two commands, /a and /b"},
		{"bad regex", func(r *Router) { r.OnRegex(`(`, noop) }, "router: regex"},
		{"bad expr", func(r *Router) { r.MustOnExpr(`Nope`, noop) }, "unknown name Nope (1:1)"},
		{"NotFound twice", func(r *Router) { r.NotFound(noop); r.NotFound(noop) }, "router: NotFound set at "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := mustPanic(t, func() { tt.f(New()) })
			assert.Contains(t, msg, tt.want, "panic")
			assert.Contains(t, msg, "router_test.go:", "panic, want the caller's file:line")
		})
	}
}

func TestConcurrentHandle(t *testing.T) {
	t.Parallel()
	r := New()
	var mu sync.Mutex
	count := map[string]int{}
	r.OnCommand("/weather <city> [days:int]", func(c *bot.Context) error {
		mu.Lock()
		count[c.Param("city")]++
		mu.Unlock()
		return nil
	})
	r.MustOnExpr(`Text contains "hello"`, func(*bot.Context) error {
		mu.Lock()
		count["expr"]++
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				city := fmt.Sprintf("c%d", (i+j)%4)
				assert.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"/weather `+city+` 3"}`, single))))
				assert.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"hello"}`, group))))
				_ = r.Explain(newCtx(msgEvent(`{"text":"hello"}`, group)))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 800, count["c0"]+count["c1"]+count["c2"]+count["c3"], "counts %v", count)
	assert.Equal(t, 800, count["expr"], "counts %v", count)
}

// The router names the route that handled an event in the Context, for
// middleware outside it (a logger): its Name, or its file:line.
func TestRouteName(t *testing.T) {
	r := New()
	r.OnPrefix("/named", func(*bot.Context) error { return nil }, Name("named"))
	r.OnPrefix("/anon", func(*bot.Context) error { return nil })
	anonLine := line(-1)
	r.OnPrefix("/pass", func(*bot.Context) error { return ErrContinue })
	r.NotFound(func(*bot.Context) error { return nil })
	for _, tc := range []struct{ text, want string }{
		{"/named", "named"},
		{"/anon", anonLine},
		{"/pass", NotFoundRoute},
	} {
		c := newCtx(msgEvent(`{"text":"`+tc.text+`"}`, group))
		require.NoError(t, r.Handle(c))
		got := c.Route()
		assert.NotEmpty(t, got, "%s: Route()", tc.text)
		assert.True(t, strings.HasSuffix(tc.want, got), "%s: Route() = %q, want %q", tc.text, got, tc.want)
	}
}
