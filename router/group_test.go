package router

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
)

// tagger makes middleware that log their tag before calling on.
type tagger struct{ rec *recorder }

func (tg tagger) mw(tag string) bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			_ = tg.rec.h(tag, nil)(c)
			return next.Handle(c)
		})
	}
}

func TestGroupsAndWith(t *testing.T) {
	t.Parallel()
	r, rec := New(), &recorder{}
	tg := tagger{rec}
	r.Use(tg.mw("root1"), tg.mw("root2"))
	g := r.Group(func(g *Router) {
		g.Use(tg.mw("group"))
		g.OnCommand("/a", rec.h("a", nil))
		g.With(tg.mw("group-with")).OnCommand("/b", rec.h("b", nil))
		g.Group(func(n *Router) {
			n.Use(tg.mw("nested"))
			n.OnCommand("/n", rec.h("n", nil))
		})
	})
	r.With(tg.mw("with1"), tg.mw("with2")).OnCommand("/c", rec.h("c", nil))
	r.OnCommand("/d", rec.h("d", nil))
	r.NotFound(rec.h("not found", nil))

	tests := []struct{ text, want string }{
		{"/a", "root1 root2 group a"},
		{"/b", "root1 root2 group group-with b"},
		{"/n", "root1 root2 group nested n"},
		{"/c", "root1 root2 with1 with2 c"},
		{"/d", "root1 root2 d"},
		{"/zzz", "root1 root2 not found"},
	}
	for _, tt := range tests {
		require.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"`+tt.text+`"}`, single))))
		assert.Equal(t, tt.want, rec.take(), "%s ran", tt.text)
	}
	assert.Same(t, r.t, g.t, "the group does not share the table")
	assert.Len(t, r.mws, 2, "the group changed the root's stack")
}

func TestUseAfterGroupRoute(t *testing.T) {
	t.Parallel()
	noop := func(*bot.Context) error { return nil }
	mw := func(h bot.Handler) bot.Handler { return h }

	r := New()
	var g, empty *Router
	r.Group(func(x *Router) { g = x; x.OnMessage(noop) })
	r.Group(func(x *Router) { empty = x })
	empty.Use(mw) // a group with no routes yet may still Use

	for name, target := range map[string]*Router{"group": g, "root": r} {
		msg := mustPanic(t, func() { target.Use(mw) })
		assert.True(t, strings.HasPrefix(msg, "router: Use after a route was registered (at "), "%s: panic %q", name, msg)
		assert.Contains(t, msg, "group_test.go:", "%s: panic", name)
	}
}
