package router

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
)

// A handler sees the parameters of its own route only: a route that did
// not match, and a route whose handler passed the event on, leave none
// behind, while the parameters the Context had on entry (an outer
// router's) stay.
func TestParamsBelongToTheRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first func(r *Router, h bot.HandlerFunc)
		text  string
		entry map[string]string // parameters the Context has before Handle
		want  map[string]string // what the second route's handler sees
	}{
		{
			name:  "regex, then a later matcher rejects the route",
			first: func(r *Router, h bot.HandlerFunc) { r.OnFunc(And(Regex(`(?P<name>\w+)`), Prefix("zzz")), h) },
			text:  "hello",
			want:  map[string]string{},
		},
		{
			name:  "regex under Not",
			first: func(r *Router, h bot.HandlerFunc) { r.OnFunc(And(Not(Regex(`(?P<bad>x)`)), Prefix("zzz")), h) },
			text:  "x",
			want:  map[string]string{},
		},
		{
			name: "regex in an Or branch that failed",
			first: func(r *Router, h bot.HandlerFunc) {
				r.OnFunc(And(Or(And(Regex(`(?P<a>\w+)`), Prefix("zzz")), Keyword("hello")), Prefix("zzz")), h)
			},
			text: "hello",
			want: map[string]string{},
		},
		{
			name:  "command with bad arguments under Or",
			first: func(r *Router, h bot.HandlerFunc) { r.OnFunc(And(Or(Command("/w <city> <n:int>")), Prefix("zzz")), h) },
			text:  "/w paris x",
			want:  map[string]string{},
		},
		{
			name:  "command, then a later matcher rejects the route",
			first: func(r *Router, h bot.HandlerFunc) { r.OnFunc(And(Command("/w <city>"), MentionsAll()), h) },
			text:  "/w paris",
			want:  map[string]string{},
		},
		{
			name:  "regex route passes the event on",
			first: func(r *Router, h bot.HandlerFunc) { r.OnRegex(`(?P<name>\w+)`, h) },
			text:  "hello",
			want:  map[string]string{},
		},
		{
			name:  "command route passes the event on",
			first: func(r *Router, h bot.HandlerFunc) { r.OnCommand("/w <city> [days:int]", h) },
			text:  "/w paris 3",
			want:  map[string]string{},
		},
		{
			name: "usage handler passes the event on",
			first: func(r *Router, h bot.HandlerFunc) {
				r.OnCommand("/w <city> <days:int>", h)
				r.OnUsageError(func(*bot.Context, *UsageError) error { return ErrContinue })
			},
			text: "/w paris x",
			want: map[string]string{},
		},
		{
			name:  "a passed-on route puts back the entry parameters it replaced",
			first: func(r *Router, h bot.HandlerFunc) { r.OnRegex(`(?P<name>\w+) (?P<name>\w+)`, h) },
			text:  "hello world",
			entry: map[string]string{"name": "outer", "keep": "me"},
			want:  map[string]string{"name": "outer", "keep": "me"},
		},
		{
			name: "custom matcher, then a later matcher rejects the route",
			first: func(r *Router, h bot.HandlerFunc) {
				r.OnFunc(And(MatcherFunc(func(c *bot.Context) (bool, string) {
					c.SetParam("who", "custom")
					c.SetParam("keep", "overwritten")
					return true, ""
				}), Prefix("zzz")), h)
			},
			text:  "hello",
			entry: map[string]string{"keep": "me"},
			want:  map[string]string{"keep": "me"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := New()
			firstRan := false
			tt.first(r, func(*bot.Context) error {
				firstRan = true
				return ErrContinue
			})
			var got map[string]string
			r.OnMessage(func(c *bot.Context) error {
				got = c.Params()
				return nil
			})
			c := newCtx(msgEvent(`{"text":"`+tt.text+`"}`, single))
			for k, v := range tt.entry {
				c.SetParam(k, v)
			}
			require.NoError(t, r.Handle(c))
			require.NotNil(t, got, "the second route did not run (the first ran: %v)", firstRan)
			assert.Equal(t, tt.want, got, "second handler saw params")
		})
	}
}

// The route that handles an event gets all its parameters, its
// command's and its regexes', even when other routes tried before it
// found some.
func TestParamsOfTheMatchingRoute(t *testing.T) {
	t.Parallel()
	r := New()
	r.OnFunc(And(Regex(`(?P<city>\w+)$`), InGroup()), func(*bot.Context) error { return nil })
	var got map[string]string
	r.OnFunc(And(Command("/w <city> [days:int]"), Regex(`(?P<tail>\d+)$`)), func(c *bot.Context) error {
		got = c.Params()
		return nil
	})
	c := newCtx(msgEvent(`{"text":"/w paris 3"}`, single))
	require.NoError(t, r.Handle(c))
	assert.Equal(t, map[string]string{"city": "paris", "days": "3", "tail": "3"}, got, "params")
	// They stay on the Context after Handle, for middleware around the
	// router.
	assert.Equal(t, "paris", c.Param("city"), "after Handle, city")
}

// Explain leaves on the Context the parameters of the route that would
// handle the event, as a dispatch would, and no other route's.
func TestExplainParams(t *testing.T) {
	t.Parallel()
	r := New()
	noop := func(*bot.Context) error { return nil }
	r.OnFunc(And(Regex(`(?P<first>\w+)`), Prefix("zzz")), noop)
	r.OnCommand("/w <city>", noop)
	r.OnRegex(`(?P<last>\w+)$`, noop)
	c := newCtx(msgEvent(`{"text":"/w paris"}`, single))
	require.Equal(t, 2, r.Explain(c).Handler, "Handler")
	assert.Equal(t, map[string]string{"city": "paris"}, c.Params(), "params")
}
