package router

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// msgEvent is a message event with the raw content, in a conversation of
// type ct.
func msgEvent(content string, ct im.ConversationType) bot.Event {
	return bot.Event{
		Kind: bot.EventMessage,
		Message: &im.Message{
			Type: im.MessageTypeText, Content: content, ConversationType: ct,
			ConversationID: "c1", Sender: 7,
		},
		ConversationRef: im.ConversationRef{ID: "c1", Type: ct},
	}
}

// withExt returns ev with the message's ext set.
func withExt(ev bot.Event, ext map[string]string) bot.Event {
	m := *ev.Message
	m.Ext = ext
	ev.Message = &m
	return ev
}

func newCtx(ev bot.Event) *bot.Context { return bot.NewContext(context.Background(), ev) }

const (
	single = im.ConversationTypeOneToOne
	group  = im.ConversationTypeGroup
	live   = im.ConversationTypeMassChat
)

func TestMatchers(t *testing.T) {
	t.Parallel()
	weather := msgEvent(`{"text":"/weather paris 3"}`, single)
	hello := msgEvent(`{"text":"  Hello Bob, how are you?"}`, group)
	friend := bot.Event{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 9}}
	mentionBot := withExt(hello, map[string]string{"s:mentioned_users": "5, 42"})
	mentionAll := withExt(hello, map[string]string{"s:mentioned_users": "0"})
	image := msgEvent(`{"__files":{}}`, group)
	image.Message.Type = im.MessageTypeImage

	tests := []struct {
		name       string
		m          Matcher
		ev         bot.Event
		want       bool
		wantWhy    string // substring of the reason when !want
		wantParams map[string]string
	}{
		{"kind/match", Kind(bot.EventMessage), weather, true, "", nil},
		{"kind/several", Kind(bot.EventFriendAdded, bot.EventMessage), friend, true, "", nil},
		{"kind/miss", Kind(bot.EventMessage), friend, false, "the event is friend added", nil},

		{"type/match", MessageType(im.MessageTypeText), weather, true, "", nil},
		{"type/miss", MessageType(im.MessageTypeText), image, false, "the message is Image", nil},
		{"type/no message", MessageType(im.MessageTypeText), friend, false, "no message", nil},

		{"conversation/single", InSingle(), weather, true, "", nil},
		{"conversation/group", InGroup(), hello, true, "", nil},
		{"conversation/live miss", InLive(), hello, false, "the conversation is Group", nil},
		{"conversation/several", InConversation(single, group), hello, true, "", nil},
		{"conversation/none", InGroup(), friend, false, "the event has no conversation", nil},

		{"mention/bot", MentionsBot(), mentionBot, true, "", nil},
		{"mention/bot not mentioned", MentionsBot(), mentionAll, false, "does not mention the bot", nil},
		{"mention/all", MentionsAll(), mentionAll, true, "", nil},
		{"mention/all miss", MentionsAll(), mentionBot, false, "does not mention everyone", nil},
		{"mention/no ext", MentionsAll(), hello, false, "does not mention everyone", nil},

		{"prefix/match", Prefix("Hello"), hello, true, "", nil},
		{"prefix/miss", Prefix("hello"), hello, false, "does not start with", nil},
		{"prefix/no message", Prefix("x"), friend, false, "no message", nil},

		{"keyword/fold", Keyword("BOB"), hello, true, "", nil},
		{"keyword/any of", Keyword("alice", "how are"), hello, true, "", nil},
		{"keyword/miss", Keyword("alice"), hello, false, "none of the keywords", nil},

		{"regex/plain", Regex(`^/weather \w+`), weather, true, "", nil},
		{"regex/named", Regex(`^/(?P<cmd>\w+) (?P<city>\w+)(?: (?P<days>\d+))?(?P<none>x)?`), weather, true, "",
			map[string]string{"cmd": "weather", "city": "paris", "days": "3"}},
		{"regex/compiled", Regexp(regexp.MustCompile(`(?i)hello (?P<name>\w+)`)), hello, true, "",
			map[string]string{"name": "Bob"}},
		{"regex/miss", Regex(`^/help`), weather, false, "does not match", nil},

		{"command/match", Command("/weather <city> [days:int]"), weather, true, "",
			map[string]string{"city": "paris", "days": "3"}},
		{"command/other", Command("/help"), weather, false, "the command is /weather", nil},
		{"command/not a command", Command("/help"), hello, false, "the text is not a command", nil},
		{"command/bad args alone", Command("/weather <city> <days:bool>"), weather, false, `"3" is not a bool`, nil},

		{"and/match", And(InSingle(), Kind(bot.EventMessage)), weather, true, "", nil},
		{"and/miss", And(InSingle(), Prefix("x")), weather, false, `prefix("x"): the text does not start`, nil},
		{"or/second", Or(InGroup(), Prefix("/weather")), weather, true, "", nil},
		{"or/none", Or(InGroup(), InLive()), weather, false,
			"none matched (conversation(Group): the conversation is OneToOne; conversation(MassChat): the conversation is OneToOne)", nil},
		{"not/match", Not(InGroup()), weather, true, "", nil},
		{"not/miss", Not(InSingle()), weather, false, "conversation(OneToOne) matched", nil},

		{"expr/match", MustExpr(`IsSingle && Text startsWith "/weather"`), weather, true, "", nil},
		{"expr/miss", MustExpr(`IsGroup`), weather, false, "false", nil},
		{"expr/kind", MustExpr(`Kind == "friend added" && Sender == 9`), friend, true, "", nil},

		{"func", MatcherFunc(func(c *bot.Context) (bool, string) {
			return c.Event.Message.Sender == 7, "not 7"
		}), weather, true, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Through the router's path, which knows the bot's id …
			c := newCtx(tt.ev)
			s := getState(c, &table{botUser: 42, hasBotUser: true})
			defer putState(s)
			ok, why := internal(tt.m).match(s, true)
			// … and alone, which agrees unless the bot's id is needed.
			if _, isMention := tt.m.(*mentionMatcher); !isMention || tt.m.(*mentionMatcher).all {
				alone, _ := tt.m.Match(newCtx(tt.ev))
				assert.Equal(t, ok, alone, "Match alone, against in a router")
			}
			require.Equal(t, tt.want, ok, "Match (%q)", why)
			if !ok {
				assert.Contains(t, why, tt.wantWhy, "why")
			}
			// The router records the parameters for the route; Match alone
			// sets them on the Context.
			if tt.wantParams != nil {
				assert.Equal(t, tt.wantParams, recorded(s), "recorded params")
			}
			if tt.wantParams != nil {
				alone := newCtx(tt.ev)
				tt.m.Match(alone)
				assert.Equal(t, tt.wantParams, alone.Params(), "params alone")
			}
		})
	}
}

// recorded returns the route parameters s recorded, the last of a name
// winning as it does on the Context.
func recorded(s *state) map[string]string {
	out := map[string]string{}
	for _, p := range s.params {
		out[p.name] = p.value
	}
	return out
}

func TestMentionsBotUser(t *testing.T) {
	t.Parallel()
	ev := withExt(msgEvent(`{"text":"hi"}`, group), map[string]string{"s:mentioned_users": "42"})

	// Alone, with no bot, the bot's id is unknown.
	ok, why := MentionsBot().Match(newCtx(ev))
	assert.False(t, ok, "alone: Match (%q), want false, unknown", why)
	assert.Contains(t, why, "unknown", "alone: Match, want false, unknown")

	// In a router, the BotUser option supplies it, for matchers and expr.
	for _, id := range []im.UserID{42, 43} {
		r := New(BotUser(id))
		var got []string
		r.OnFunc(MentionsBot(), func(*bot.Context) error { got = append(got, "matcher"); return ErrContinue })
		r.MustOnExpr(`Mentioned`, func(*bot.Context) error { got = append(got, "expr"); return nil })
		require.NoError(t, r.Handle(newCtx(ev)))
		want := ""
		if id == 42 {
			want = "matcher expr"
		}
		assert.Equal(t, want, strings.Join(got, " "), "BotUser(%d): ran", id)
	}
}

func TestMentions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		list string
		id   im.UserID
		want bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1,2,3", 2, true},
		{" 1 , 2 ", 2, true},
		{"1,,x,+2", 2, true},
		{"-5", -5, true},
		{"12", 1, false},
		{"99999999999999999999999", 1, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, mentions(tt.list, tt.id), "mentions(%q, %d)", tt.list, tt.id)
		m := &im.Message{Ext: map[string]string{"s:mentioned_users": tt.list}}
		assert.Equal(t, tt.want, slices.Contains(m.MentionedUsers(), tt.id), "table disagrees with im.Message.MentionedUsers for %q", tt.list)
	}
}

func TestMatcherPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"regex", func() { Regex(`(`) }, "router: regex \"(\""},
		{"kind", func() { Kind() }, "Kind needs at least one kind"},
		{"prefix", func() { Prefix("") }, "empty Prefix"},
		{"keyword", func() { Keyword("a", "") }, "non-empty words"},
		{"and", func() { And() }, "And needs at least one matcher"},
		{"or nil", func() { Or(InGroup(), nil) }, "nil matcher in Or"},
		{"expr", func() { MustExpr(`Nope`) }, "unknown name Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := mustPanic(t, tt.f)
			assert.Contains(t, msg, tt.want, "panic")
			assert.Contains(t, msg, "matchers_test.go:", "panic, want the caller's file:line")
		})
	}
}

// mustPanic runs f and returns its panic's message.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		v := recover()
		require.NotNil(t, v, "no panic")
		msg, _ = v.(string)
	}()
	f()
	return ""
}

// FuzzDispatch sends arbitrary message contents through a router with a
// route of every kind: nothing may panic, and Explain agrees with the
// dispatch about which route handles the event and its parameters.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`{"text":"/weather paris 3"}`, `{"text":"/weather \"new york"}`, `{"text":"/say  a b "}`,
		`{"text":"/set x 1e400"}`, `{"text":"hello 世界"}`, "/weather\u3000paris", `{"text":"/weather paris x"}`,
		`{"text":"!x?"}`,
	} {
		f.Add(s, int32(1))
	}
	f.Fuzz(func(t *testing.T, content string, ct int32) {
		ran := 0
		h := func(id int) bot.HandlerFunc { return func(*bot.Context) error { ran = id; return nil } }
		r := New(BotUser(42))
		r.OnCommand("/weather <city> [days:int]", h(1))
		r.OnFunc(And(Command("/weather <city> [days:int]"), InGroup()), h(2), Priority(1))
		r.OnCommand("/say <to> [text:rest]", h(3))
		r.OnCommand("/set <on:bool> <ratio:float> [n:int]", h(4))
		r.OnRegex(`^(?P<w>\w+) (?P<x>\w+)`, h(5))
		r.OnKeyword("hello", h(6))
		r.OnPrefix("!", h(7))
		r.OnFunc(MentionsBot(), h(8))
		r.MustOnExpr(`Text contains "?"`, h(9))
		r.OnMessage(h(10), Priority(-1))
		r.OnUsageError(func(*bot.Context, *UsageError) error { ran = -1; return nil })

		ev := withExt(msgEvent(content, im.ConversationType(ct)), map[string]string{"s:mentioned_users": content})
		cx, ch := newCtx(ev), newCtx(ev)
		ex := r.Explain(cx)
		require.NoError(t, r.Handle(ch), "Handle(%q)", content)
		// Both leave the parameters of the handling route only.
		require.Equal(t, ch.Params(), cx.Params(), "%q: params after Explain, against after Handle", content)
		want := ex.Handler
		for _, st := range ex.Steps {
			if st.Handles && st.Usage != nil {
				want = -1
			}
		}
		require.Equal(t, want, ran, "%q: route ran, against what Explain says (handler %d)", content, ex.Handler)
		require.NotZero(t, ex.Handler, "%q: Explain found no handler", content)
	})
}

func TestAnchoredPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{`^hello`, "hello"},
		{`^/weather (\w+)`, "/weather "},
		{`\Ahi there`, "hi there"},
		{`^ab+`, "a"},
		{`^é!`, "é!"},
		{`^a\x{FFFD}b`, "a"}, // U+FFFD also matches invalid bytes
		// Not anchored at the text's start, or no literal after the anchor.
		{`hello`, ""},
		{`(?i)^hello`, ""},
		{`^(?i)hello`, ""},
		{`(?m)^hello`, ""},
		{`^(hello)`, ""},
		{`^`, ""},
		{`^\w`, ""},
		{`a^b`, ""},
		{`^a|b`, ""},
		{`^ab|^ac`, ""}, // the parser keeps the alternation
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, anchoredPrefix(tt.pattern), "anchoredPrefix(%q)", tt.pattern)
		// The regexp agrees: it matches no text that does not start
		// with the prefix.
		if text := "\x00" + tt.want + "b"; tt.want != "" {
			assert.False(t, regexp.MustCompile(tt.pattern).MatchString(text), "%q matches %q", tt.pattern, text)
		}
	}
}
