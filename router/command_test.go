package router

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec      string
		wantSpec  string
		wantUsage string
		wantErr   string
	}{
		{"/help", "command(/help)", "/help", ""},
		{"  /weather   <city>  [days:int] ", "command(/weather <city> [days:int])", "/weather <city> [days]", ""},
		{"/say <text:rest>", "command(/say <text:rest>)", "/say <text>", ""},
		{"/set <key:string> <on:bool> [ratio:float]", "command(/set <key> <on:bool> [ratio:float])", "/set <key> <on> [ratio]", ""},
		{"/天气 <城市>", "command(/天气 <城市>)", "/天气 <城市>", ""},
		{"/a-b_c [n_1:int]", "command(/a-b_c [n_1:int])", "/a-b_c [n_1]", ""},

		{"", "", "", "empty"},
		{"weather", "", "", "must start with /"},
		{"/", "", "", "must start with /"},
		{"/we.ather", "", "", `bad character '.'`},
		{"/x city", "", "", `"city" is not <name>`},
		{"/x <>", "", "", `"<>" is not <name>`},
		{"/x <city]", "", "", `"<city]" is not <name>`},
		{"/x <n:long>", "", "", `unknown type "long"`},
		{"/x <1n>", "", "", `bad argument name "1n"`},
		{"/x <a> <a:int>", "", "", "argument a named twice"},
		{"/x [a] <b>", "", "", "required argument b follows an optional one"},
		{"/x <a:rest> <b>", "", "", "argument <b> follows the rest argument a"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			m, err := ParseCommand(tt.spec)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantSpec, m.String(), "String")
			assert.Equal(t, tt.wantUsage, m.Usage(), "Usage")
		})
	}
}

func TestCommandArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      string
		content   string
		wantName  bool              // the command's name matched
		wantUsage string            // the UsageError's text, when the arguments are bad
		want      map[string]string // the parameters when they are good
	}{
		{"all", "/weather <city> [days:int]", `{"text":"/weather paris 3"}`, true, "", map[string]string{"city": "paris", "days": "3"}},
		{"optional absent", "/weather <city> [days:int]", `{"text":"/weather paris"}`, true, "", map[string]string{"city": "paris"}},
		{"spaces", "/weather <city> [days:int]", `{"text":"  /weather \t paris\u3000 -2  "}`, true, "", map[string]string{"city": "paris", "days": "-2"}},
		{"quoted", "/weather <city> [days:int]", `{"text":"/weather \"new york\" 3"}`, true, "", map[string]string{"city": "new york", "days": "3"}},
		{"float bool", "/set <on:bool> <ratio:float>", `{"text":"/set 1 2.5e1"}`, true, "", map[string]string{"on": "true", "ratio": "2.5e1"}},
		{"bool false", "/set <on:bool>", `{"text":"/set F"}`, true, "", map[string]string{"on": "false"}},
		{"rest", "/say <to> <text:rest>", `{"text":"/say bob  hello \"there\"  you "}`, true, "", map[string]string{"to": "bob", "text": `hello "there"  you`}},
		{"optional rest absent", "/say [text:rest]", `{"text":"/say   "}`, true, "", map[string]string{}},
		{"no args", "/help", `{"text":"/help"}`, true, "", map[string]string{}},
		{"payload as rest", "/start [payload:rest]", `{"text":"/start  ref42 x "}`, true, "", map[string]string{"payload": "ref42 x"}},

		{"missing", "/weather <city> [days:int]", `{"text":"/weather"}`, true, "router: /weather <city> [days]: city: missing", nil},
		{"not an int", "/weather <city> [days:int]", `{"text":"/weather paris x"}`, true, `router: /weather <city> [days]: days: "x" is not an int`, nil},
		{"int overflow", "/n <n:int>", `{"text":"/n 99999999999999999999"}`, true, `n: "99999999999999999999" is not an int`, nil},
		{"not a number", "/n <f:float>", `{"text":"/n NaN"}`, true, `f: "NaN" is not a number`, nil},
		{"not a bool", "/n <b:bool>", `{"text":"/n yes"}`, true, `b: "yes" is not a bool`, nil},
		{"no args, text after", "/help", `{"text":"/help me  please "}`, true, "", map[string]string{}},
		{"no args, quote after", "/help", `{"text":"/help \"me"}`, true, "", map[string]string{}},
		{"too many", "/help [topic]", `{"text":"/help me please"}`, true, "router: /help [topic]: too many arguments", nil},
		{"too many after required", "/w <city>", `{"text":"/w paris now"}`, true, "router: /w <city>: too many arguments", nil},
		{"quote", "/w <city>", `{"text":"/w \"new york"}`, true, "city: unterminated quote", nil},

		{"other command", "/weather <city>", `{"text":"/weathers paris"}`, false, "", nil},
		{"not first", "/weather <city>", `{"text":"say /weather paris"}`, false, "", nil},
		{"no text", "/weather <city>", `{"url":"x"}`, false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCtx(msgEvent(tt.content, single))
			s := getState(c, nil)
			defer putState(s)
			ok, uerr := Command(tt.spec).parse(s)
			require.Equal(t, tt.wantName, ok, "name matched")
			switch {
			case tt.wantUsage != "":
				require.ErrorContains(t, uerr, tt.wantUsage, "usage error")
			case uerr != nil:
				require.NoError(t, uerr, "usage error")
			case tt.want != nil:
				assert.Equal(t, tt.want, recorded(s), "params")
			}
		})
	}
}

func TestTypedParams(t *testing.T) {
	t.Parallel()
	r := New()
	var days int
	var ratio float64
	var on, okDays, okMissing bool
	r.OnCommand("/w <city> <days:int> <ratio:float> <on:bool> [x:int]", func(c *bot.Context) error {
		days, okDays = ParamInt(c, "days")
		ratio, _ = ParamFloat(c, "ratio")
		on, _ = ParamBool(c, "on")
		_, okMissing = ParamInt(c, "x")
		return nil
	})
	require.NoError(t, r.Handle(newCtx(msgEvent(`{"text":"/w paris 3 0.5 t"}`, single))))
	assert.Equal(t, 3, days, "days")
	assert.True(t, okDays, "days present")
	assert.Equal(t, 0.5, ratio, "ratio")
	assert.True(t, on, "on")
	assert.False(t, okMissing, "x present")
}

func TestUsagePath(t *testing.T) {
	t.Parallel()
	bad := msgEvent(`{"text":"/weather paris x"}`, group)

	t.Run("handler", func(t *testing.T) {
		t.Parallel()
		r := New()
		var log []string
		r.Use(func(next bot.Handler) bot.Handler {
			return bot.HandlerFunc(func(c *bot.Context) error { log = append(log, "mw"); return next.Handle(c) })
		})
		r.OnUsageError(func(c *bot.Context, err *UsageError) error {
			log = append(log, "usage:"+err.Usage+":"+err.Spec+":"+err.Arg+":"+err.Reason+":city="+c.Param("city"))
			return nil
		})
		r.OnCommand("/weather <city> [days:int]", func(*bot.Context) error { log = append(log, "handler"); return nil })
		r.OnMessage(func(*bot.Context) error { log = append(log, "fallback"); return nil })
		require.NoError(t, r.Handle(newCtx(bad)))
		want := `mw usage:/weather <city> [days]:/weather <city> [days:int]:days:"x" is not an int:city=paris`
		assert.Equal(t, want, strings.Join(log, " "), "ran")
	})

	t.Run("continue", func(t *testing.T) {
		t.Parallel()
		r := New()
		var got string
		r.OnUsageError(func(*bot.Context, *UsageError) error { return ErrContinue })
		r.OnCommand("/weather <city> [days:int]", func(*bot.Context) error { got = "handler"; return nil })
		r.OnMessage(func(*bot.Context) error { got = "fallback"; return nil })
		assert.NoError(t, r.Handle(newCtx(bad)), "Handle")
		assert.Equal(t, "fallback", got, "ran")
	})

	t.Run("default replies", func(t *testing.T) {
		t.Parallel()
		// A Context without a bot cannot reply: the reply's error is
		// what Handle returns.
		r := New()
		r.OnCommand("/weather <city> [days:int]", func(*bot.Context) error { return errors.New("handler ran") })
		err := r.Handle(newCtx(bad))
		assert.ErrorContains(t, err, "belongs to no bot", "Handle, want the reply's no-bot error")
	})

	t.Run("only when the rest matched", func(t *testing.T) {
		t.Parallel()
		r := New()
		r.OnFunc(And(Command("/weather <city> [days:int]"), InSingle()), func(*bot.Context) error { return errors.New("handler ran") })
		r.OnUsageError(func(*bot.Context, *UsageError) error { return errors.New("usage ran") })
		assert.NoError(t, r.Handle(newCtx(bad)), "Handle: a group message must not match a single-chat command")
	})
}

func TestCommandSpecPanics(t *testing.T) {
	t.Parallel()
	r := New()
	_, file, line, _ := runtime.Caller(0)
	msg := mustPanic(t, func() { r.OnCommand("/x <a:long>", func(*bot.Context) error { return nil }) })
	want := fmt.Sprintf("(at %s:%d)", file, line+1)
	assert.Contains(t, msg, `router: command spec "/x <a:long>": argument a has unknown type "long"`, "panic, want the spec error")
	assert.Contains(t, msg, want, "panic")
	msg = mustPanic(t, func() { Command("nope") })
	want = fmt.Sprintf("(at %s:%d)", file, line+5)
	assert.Contains(t, msg, want, "panic")
}
