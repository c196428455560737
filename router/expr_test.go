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
