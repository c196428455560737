package router

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

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
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			// OnExpr returns the same error and registers nothing.
			r := New()
			if err := r.OnExpr(tt.src, func(*bot.Context) error { return nil }); err == nil {
				t.Error("OnExpr: no error")
			}
			if r.Index() != "" {
				t.Errorf("OnExpr registered a route: %q", r.Index())
			}
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
			if err != nil {
				t.Fatal(err)
			}
			c := newCtx(tt.ev)
			s := getState(c, &table{botUser: 42, hasBotUser: true})
			defer putState(s)
			ok, why := m.(matcher).match(s, true)
			if ok != tt.want {
				t.Errorf("match = %v (%s), want %v", ok, why, tt.want)
			}
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
	if err != nil {
		b.Fatal(err)
	}
	progPtr, err := expr.Compile(benchExpr, expr.Env(&Env{}), expr.AsBool())
	if err != nil {
		b.Fatal(err)
	}
	check := func(b *testing.B, out any, err error) {
		if err != nil || out != true {
			b.Fatalf("got %v, %v", out, err)
		}
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
			if err := r.OnExpr(tt.src, func(*bot.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if got := r.Index(); got != tt.want {
				t.Errorf("index:\n%swant:\n%s", got, tt.want)
			}
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
	if err != nil {
		t.Fatal(err)
	}
	r.OnFunc(And(Kind(bot.EventMessage), m), func(*bot.Context) error { t.Error("the route ran"); return nil })
	notFound := 0
	r.NotFound(func(*bot.Context) error { notFound++; return nil })
	if got := r.Index(); got != "" {
		t.Errorf("index %q, want none", got)
	}
	for _, ev := range []bot.Event{msgEvent(`{"text":"hi"}`, single), {Kind: bot.EventFriendAdded}} {
		if err := r.Handle(newCtx(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if notFound != 2 {
		t.Errorf("NotFound ran %d times, want 2", notFound)
	}
	// Matchers of the code that contradict still panic.
	msg := mustPanic(t, func() {
		New().OnFunc(And(Kind(bot.EventMessage), Kind(bot.EventFriendAdded)), func(*bot.Context) error { return nil })
	})
	if !strings.Contains(msg, "can never match") {
		t.Errorf("panic %q", msg)
	}
}
