package router

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// A command route conflicts only with earlier routes of its priority
// that take every event it could take; see the package documentation.
func TestCommandConflicts(t *testing.T) {
	t.Parallel()
	noop := func(*bot.Context) error { return nil }
	cmd := func(spec string, ms ...Matcher) Matcher { return And(append([]Matcher{Command(spec)}, ms...)...) }
	always := MatcherFunc(func(*bot.Context) (bool, string) { return true, "" })
	tests := []struct {
		name     string
		earlier  []Matcher // registered in order, at priority 0
		later    Matcher
		priority int // the later route's
		conflict bool
	}{
		{"same command", []Matcher{Command("/x <a>")}, Command("/x [b]"), 0, true},
		{"the later narrowed further", []Matcher{Command("/x")}, cmd("/x", MentionsBot(), InGroup()), 0, true},
		{"the earlier with a kind the command implies",
			[]Matcher{cmd("/x", Kind(bot.EventMessage, bot.EventFriendAdded))}, Command("/x"), 0, true},
		{"the earlier in wider conversation types",
			[]Matcher{cmd("/x", InConversation(single, group))}, cmd("/x", InGroup()), 0, true},
		{"earlier routes covering the types together",
			[]Matcher{cmd("/x", InGroup()), cmd("/x", Regex("a")), cmd("/x", InSingle())}, cmd("/x", InConversation(single, group)), 0, true},

		{"the earlier narrowed by a mention", []Matcher{cmd("/x", MentionsBot())}, Command("/x"), 0, false},
		{"the earlier narrowed by Or, Not, a type, a regex, an expr, a custom matcher", []Matcher{
			cmd("/x", Or(InGroup(), Keyword("a"))),
			cmd("/x", Not(InLive())),
			cmd("/x", MessageType(im.MessageTypeText)),
			cmd("/x", Regex("a")),
			cmd("/x", MustExpr("IsGroup")),
			cmd("/x", always),
		}, Command("/x"), 0, false},
		{"the earlier in narrower conversation types",
			[]Matcher{cmd("/x", InGroup())}, cmd("/x", InConversation(single, group)), 0, false},
		{"the earlier in some of the types, the later in all",
			[]Matcher{cmd("/x", InGroup())}, Command("/x"), 0, false},
		{"disjoint conversation types", []Matcher{cmd("/x", InGroup())}, cmd("/x", InSingle()), 0, false},
		{"another priority", []Matcher{Command("/x")}, Command("/x"), -1, false},
		{"another command", []Matcher{Command("/x")}, Command("/y"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := New()
			for _, m := range tt.earlier {
				r.OnFunc(m, noop)
			}
			if !tt.conflict {
				r.OnFunc(tt.later, noop, Priority(tt.priority))
				return
			}
			msg := mustPanic(t, func() { r.OnFunc(tt.later, noop, Priority(tt.priority)) })
			assert.True(t, strings.HasPrefix(msg, "router: command /x registered at "), "panic %q", msg)
			assert.Contains(t, msg, "conflict_test.go:", "panic")
			assert.Contains(t, msg, " conflicts with ", "panic")
		})
	}
}

// A conflict names the later route's registration and those of the
// earlier routes that take its events.
func TestCommandConflictNamesTheRoutes(t *testing.T) {
	t.Parallel()
	noop := func(*bot.Context) error { return nil }
	r := New()
	atSingle := line(1)
	r.OnFunc(And(Command("/x"), InSingle()), noop)
	r.OnFunc(And(Command("/x"), InGroup(), MentionsAll()), noop) // narrowed: takes no part
	atGroup := line(1)
	r.OnFunc(And(InGroup(), Command("/x")), noop)
	later := line(2)
	want := "router: command /x registered at " + later + " conflicts with " + atSingle + " and " + atGroup
	assert.PanicsWithValue(t, want, func() { r.OnFunc(And(Command("/x <a>"), InConversation(single, group)), noop) }, "panic")
}

// A route narrowed by a mention does not hide a later route for its
// command: each fires for its events, in precedence order.
func TestNarrowedCommandRoutesBothFire(t *testing.T) {
	t.Parallel()
	r, rec := New(BotUser(42)), &recorder{}
	r.OnFunc(And(Command("/x"), MentionsBot()), rec.h("mention", nil))
	r.OnCommand("/x", rec.h("plain", nil))
	for _, ev := range []bot.Event{
		withExt(msgEvent(`{"text":"/x"}`, group), map[string]string{"s:mentioned_users": "42"}),
		msgEvent(`{"text":"/x"}`, group),
	} {
		require.NoError(t, r.Handle(newCtx(ev)))
	}
	assert.Equal(t, "mention plain", rec.take(), "ran")
}
