package router

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// benchRouter registers n routes, most of which cannot match a
// single-chat command: commands (two in five), group-only commands,
// group-only regexes and friend events. target is a command route that
// matches `/cmd<target> paris 3` in a single chat.
func benchRouter(n int) (r *Router, target int) {
	r = New()
	noop := func(*bot.Context) error { return nil }
	for i := range n {
		switch i % 5 {
		case 0, 1:
			r.OnCommand(fmt.Sprintf("/cmd%d <city> [days:int]", i), noop)
			target = i
		case 2:
			r.OnFunc(And(Command(fmt.Sprintf("/cmd%d <city> [days:int]", i)), InGroup()), noop)
		case 3:
			r.OnFunc(And(InGroup(), Regex(fmt.Sprintf(`^hello%d`, i))), noop)
		case 4:
			r.OnEvent(bot.EventFriendAdded, noop)
		}
	}
	return r, target
}

// shapeRouter registers n routes of one shape, each for its own text,
// and returns events that the last registered takes (hit) and that none
// takes (miss): for a plain scan, the worst case and the whole scan.
//
//   - prefix: OnPrefix("!p<i> ")
//   - regex: OnRegex(`^!re<i> (\w+)`), a literal prefix
//   - keyword: OnKeyword("kw<i>x")
//   - expr: expressions for messages, and the last for friends added; the
//     events are a friend added and a friend apply.
func shapeRouter(shape string, n int) (r *Router, hit, miss bot.Event) {
	r = New()
	noop := func(*bot.Context) error { return nil }
	last := n - 1
	for i := range n {
		switch shape {
		case "prefix":
			r.OnPrefix(fmt.Sprintf("!p%d ", i), noop)
		case "regex":
			r.OnRegex(fmt.Sprintf(`^!re%d (\w+)`, i), noop)
		case "keyword":
			r.OnKeyword(fmt.Sprintf("kw%dx", i), noop)
		case "expr":
			src := fmt.Sprintf(`Kind == "message" && Text contains "w%d"`, i)
			if i == last {
				src = `Kind == "friend added" && Sender != 42`
			}
			r.MustOnExpr(src, noop)
		}
	}
	text := map[string]string{"prefix": "!p%d paris", "regex": "!re%d paris", "keyword": "it said kw%dx today"}[shape]
	hit = msgEvent(fmt.Sprintf(`{"text":%q}`, fmt.Sprintf(text, last)), single)
	miss = msgEvent(`{"text":"just chatting"}`, single)
	if shape == "expr" {
		hit = bot.Event{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 9}}
		miss = bot.Event{Kind: bot.EventFriendApplyReceived}
	}
	return r, hit, miss
}

// BenchmarkDispatch measures Router.Handle for a command message at 10,
// 100 and 1000 routes. The Context is reused, as its parameter map is the
// bot's allocation, not the router's (see fresh-context).
func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("command/routes=%d", n), func(b *testing.B) {
			r, target := benchRouter(n)
			c := newCtx(msgEvent(fmt.Sprintf(`{"text":"/cmd%d paris 3"}`, target), single))
			require.NoError(b, r.Handle(c), "Handle")
			require.Equal(b, "3", c.Param("days"), "Handle: params %v", c.Params())
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Handle(c)
			}
		})
	}
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("miss/routes=%d", n), func(b *testing.B) {
			r, _ := benchRouter(n)
			c := newCtx(msgEvent(`{"text":"just chatting"}`, single))
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Handle(c)
			}
		})
	}
	b.Run("fresh-context/routes=1000", func(b *testing.B) {
		r, target := benchRouter(1000)
		ev := msgEvent(fmt.Sprintf(`{"text":"/cmd%d paris 3"}`, target), single)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Handle(bot.NewContext(ctx, ev))
		}
	})
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("released-context/routes=%d", n), func(b *testing.B) {
			r, target := benchRouter(n)
			ev := msgEvent(fmt.Sprintf(`{"text":"/cmd%d paris 3"}`, target), single)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c := bot.NewContext(ctx, ev)
				_ = r.Handle(c)
				c.Release()
			}
		})
	}
	for _, shape := range []string{"prefix", "regex", "keyword", "expr"} {
		for _, n := range []int{10, 100, 1000} {
			r, hit, miss := shapeRouter(shape, n)
			for _, ev := range []struct {
				name string
				ev   bot.Event
				want string
			}{{"hit", hit, "a route"}, {"miss", miss, ""}} {
				b.Run(fmt.Sprintf("%s-%s/routes=%d", shape, ev.name, n), func(b *testing.B) {
					c := newCtx(ev.ev)
					require.NoError(b, r.Handle(c), "Handle")
					require.Equal(b, ev.want != "", c.Route() != "", "Handle: route %q, want %s", c.Route(), ev.want)
					b.ReportAllocs()
					for b.Loop() {
						_ = r.Handle(c)
					}
				})
			}
		}
	}
	b.Run("expr/routes=1", func(b *testing.B) {
		r := New()
		r.MustOnExpr(benchExpr, func(*bot.Context) error { return nil })
		c := newCtx(withExt(msgEvent(`{"text":"what's the weather in paris"}`, group), map[string]string{"lang": "fr"}))
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Handle(c)
		}
	})
}

func TestDispatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, n := range []int{10, 1000} {
		r, target := benchRouter(n)
		c := newCtx(msgEvent(fmt.Sprintf(`{"text":"/cmd%d paris 3"}`, target), single))
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = r.Handle(c) }), "%d routes: allocs per dispatch", n)
		// Through the public API from scratch: a Context given back with
		// Release is reused, parameters and all.
		ev := msgEvent(fmt.Sprintf(`{"text":"/cmd%d paris 3"}`, target), single)
		assert.Zero(t, testing.AllocsPerRun(1000, func() {
			c := bot.NewContext(context.Background(), ev)
			_ = r.Handle(c)
			c.Release()
		}), "%d routes: allocs per dispatch with NewContext and Release", n)
	}
	// Nor does a dispatch that looks its text up in the prefix, regex and
	// keyword tries, or its mentions, or that leaves out the expressions
	// for other kinds (running one boxes the Env).
	for _, shape := range []string{"prefix", "regex", "keyword", "expr"} {
		r, hit, miss := shapeRouter(shape, 1000)
		if shape == "expr" {
			hit = miss
		}
		c := newCtx(hit)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = r.Handle(c) }), "%s: allocs per dispatch", shape)
	}
	r := New(BotUser(42))
	r.OnFunc(MentionsAll(), func(*bot.Context) error { return nil })
	r.OnFunc(MentionsBot(), func(*bot.Context) error { return nil })
	c := newCtx(withExt(msgEvent(`{"text":"hi"}`, group), map[string]string{"s:mentioned_users": "42"}))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = r.Handle(c) }), "mention: allocs per dispatch")
	// Taking a route's parameters back when it passes the event on
	// allocates nothing either.
	r = New()
	r.OnCommand("/w <city> [days:int]", func(*bot.Context) error { return ErrContinue })
	r.OnMessage(func(*bot.Context) error { return nil })
	c = newCtx(msgEvent(`{"text":"/w paris 3"}`, single))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = r.Handle(c) }), "passing on: allocs per dispatch")
}
