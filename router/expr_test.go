package router

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

func TestExprCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string // substrings of the error
	}{
		{`Text + 1 == 2`, []string{`router: expr "Text + 1 == 2"`, "mismatched types string and int) (1:6)", "| Text + 1 == 2\n | .....^"}},
		{`Text contains`, []string{"unexpected token EOF (1:13)"}},
		{`IsGroup &&
Txet == "x"`, []string{"unknown name Txet (2:1)"}},
		{`Sender`, []string{"expected bool, but got int"}},
		{`Ext.lang > 1`, []string{"(1:10)"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := Expr(tt.src)
			require.Error(t, err, "no error")
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			// OnExpr returns the same error and registers nothing.
			r := New()
			assert.Error(t, r.OnExpr(tt.src, func(*bot.Context) error { return nil }), "OnExpr: no error")
			assert.Empty(t, r.Index(), "OnExpr registered a route")
		})
	}
}

func TestExprEnv(t *testing.T) {
	t.Parallel()
	msg := withExt(msgEvent(`{"text":"Bonjour le monde"}`, group), map[string]string{
		"lang": "fr", "s:mentioned_users": "42,0",
	})
	msg.Message.Sender = 7
	liveMsg := msgEvent(`{"text":"hi"}`, live)
	apply := bot.Event{Kind: bot.EventFriendApplyReceived, FriendApply: &im.FriendApply{FromUserID: 11}}

	tests := []struct {
		src  string
		ev   bot.Event
		want bool
	}{
		{`Kind == "message"`, msg, true},
		{`Type == 10001`, msg, true},
		{`Content == '{"text":"Bonjour le monde"}'`, msg, true},
		{`Text startsWith "Bonjour" && Text contains "monde"`, msg, true},
		{`Text matches "^(?i)bonjour"`, msg, true},
		{`ConversationType == 2 && IsGroup && !IsSingle && !IsLive`, msg, true},
		{`ConversationID == "c1"`, msg, true},
		{`Sender == 7`, msg, true},
		{`Mentioned && MentionAll`, msg, true},
		{`Ext["lang"] == "fr" && Ext.lang == "fr"`, msg, true},
		{`Ext["missing"] == ""`, msg, true},
		{`IsLive && ConversationType == 100`, liveMsg, true},
		{`Mentioned || MentionAll`, liveMsg, false},
		{`Kind == "friend apply received" && Sender == 11 && Text == "" && Type == 0 && len(Ext) == 0`, apply, true},
		{`Text != ""`, apply, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			m, err := Expr(tt.src)
			require.NoError(t, err)
			c := newCtx(tt.ev)
			s := getState(c, &table{botUser: 42, hasBotUser: true})
			defer putState(s)
			ok, why := m.(matcher).match(s, true)
			assert.Equal(t, tt.want, ok, "match (%s)", why)
		})
	}
}

// benchEnv is the event of the expr benchmarks, as the router fills it.
func benchEnv() Env {
	return Env{
		Kind: "message", Type: int(im.MessageTypeText), Content: `{"text":"what's the weather in paris"}`,
		Text: "what's the weather in paris", ConversationType: int(group), ConversationID: "c1",
		Sender: 7, IsGroup: true, Ext: map[string]string{"lang": "fr"},
	}
}

const benchExpr = `IsGroup && Kind == "message" && Text contains "weather" && Ext["lang"] == "fr" && Sender != 42`

// BenchmarkExprEnv compares ways to run one compiled expression per
// event: the env as a struct value (boxed once per event, as the router
// does) or as a pointer, with a VM from a pool or a new VM per run
// (expr.Run).
func BenchmarkExprEnv(b *testing.B) {
	progValue, err := expr.Compile(benchExpr, expr.Env(Env{}), expr.AsBool())
	require.NoError(b, err)
	progPtr, err := expr.Compile(benchExpr, expr.Env(&Env{}), expr.AsBool())
	require.NoError(b, err)
	check := func(b *testing.B, out any, err error) {
		require.NoError(b, err)
		require.Equal(b, true, out)
	}
	env := benchEnv()
	b.Run("value/pool", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			boxed := any(env)
			v := vmPool.Get().(*vm.VM)
			out, err := v.Run(progValue, boxed)
			vmPool.Put(v)
			check(b, out, err)
		}
	})
	b.Run("pointer/pool", func(b *testing.B) {
		b.ReportAllocs()
		p := &env
		for b.Loop() {
			v := vmPool.Get().(*vm.VM)
			out, err := v.Run(progPtr, p)
			vmPool.Put(v)
			check(b, out, err)
		}
	})
	b.Run("value/new-vm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := expr.Run(progValue, env)
			check(b, out, err)
		}
	})
	b.Run("pointer/new-vm", func(b *testing.B) {
		b.ReportAllocs()
		p := &env
		for b.Loop() {
			out, err := expr.Run(progPtr, p)
			check(b, out, err)
		}
	})
}

// TestExprIndexKinds checks which expressions the index files by kind or
// mention, and that the others are tried for every event.
func TestExprIndexKinds(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{`Kind == "friend added"`, "friend added: #1\n"},
		{`"message recalled" == Kind && Sender > 0`, "message recalled: #1\n"},
		{`Kind in ["friend added", "message"]`, "message: #1\nfriend added: #1\n"},
		{`Kind == "friend added" or Kind == "message" and Mentioned`, "message: #1\nfriend added: #1\n"},
		{`Kind == "message" && IsGroup`, "message: #1\n"},
		{`Mentioned && Text != ""`, "any kind mentions(bot): #1\n"},
		{`MentionAll || Mentioned`, "any kind mentions(bot): #1\nany kind mentions(all): #1\n"},
		{`Kind == "no such kind" || Kind == "message"`, "message: #1\n"},
		// Nothing known, or never true: tried for every event.
		{`Kind == "no such kind"`, "any kind: #1\n"},
		{`Kind == "EventKind(99)" || Kind == "message"`, "any kind: #1\n"},
		{`!(Kind == "message")`, "any kind: #1\n"},
		{`Kind != "message"`, "any kind: #1\n"},
		{`Kind in ["message", Text]`, "any kind: #1\n"},
		{`Kind == "message" || Text == "x"`, "any kind: #1\n"},
		{`Kind == "message" ? true : false`, "any kind: #1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			r := New()
			require.NoError(t, r.OnExpr(tt.src, func(*bot.Context) error { return nil }))
			assert.Equal(t, tt.want, r.Index(), "index")
		})
	}
}

// TestExprContradictsKind: an expression whose kinds contradict the
// route's Kind (it may come from a user) is no panic; the route takes no
// event.
func TestExprContradictsKind(t *testing.T) {
	t.Parallel()
	r := New()
	m, err := Expr(`Kind == "friend added"`)
	require.NoError(t, err)
	r.OnFunc(And(Kind(bot.EventMessage), m), func(*bot.Context) error { assert.Fail(t, "the route ran"); return nil })
	notFound := 0
	r.NotFound(func(*bot.Context) error { notFound++; return nil })
	assert.Empty(t, r.Index(), "index, want none")
	for _, ev := range []bot.Event{msgEvent(`{"text":"hi"}`, single), {Kind: bot.EventFriendAdded}} {
		require.NoError(t, r.Handle(newCtx(ev)))
	}
	assert.Equal(t, 2, notFound, "NotFound ran")
	// Matchers of the code that contradict still panic.
	msg := mustPanic(t, func() {
		New().OnFunc(And(Kind(bot.EventMessage), Kind(bot.EventFriendAdded)), func(*bot.Context) error { return nil })
	})
	assert.Contains(t, msg, "can never match", "panic")
}
