package router

import (
	"testing"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// goldenRouter registers one route of each shape the index knows.
func goldenRouter() *Router {
	noop := func(*bot.Context) error { return nil }
	r := New(BotUser(42))
	r.OnCommand("/weather <city> [days:int]", noop, Name("weather"))                                             // #1
	r.OnMessage(noop, Name("all messages"), Priority(-1))                                                        // #2
	r.OnFunc(And(Command("/weather <city> [days:int]"), InGroup()), noop, Name("group weather"), Priority(10))   // #3
	r.OnCommand("/help", noop, Name("help"))                                                                     // #4
	r.OnFunc(And(MentionsBot(), InConversation(single, group)), noop, Name("mention"))                           // #5
	r.OnRegex(`^hello`, noop, Name("hello"))                                                                     // #6
	r.OnEvent(bot.EventFriendApplyReceived, noop, Name("apply"))                                                 // #7
	r.MustOnExpr(`Kind == "friend added" || Text == "ping"`, noop, Name("expr"))                                 // #8
	r.OnFunc(InLive(), noop, Name("live"))                                                                       // #9
	r.OnFunc(Or(Kind(bot.EventFriendAdded), Kind(bot.EventFriendApplyReceived)), noop, Name("friends"))          // #10
	r.OnFunc(MessageType(im.MessageTypeImage), noop, Name("images"), Priority(5))                                // #11
	r.OnFunc(And(Command("/weather <city> [days:int]"), InSingle()), noop, Name("single weather"), Priority(10)) // #12
	return r
}

func TestIndexGolden(t *testing.T) {
	t.Parallel()
	const want = `message /help: #4
message /weather OneToOne: #12(p=10)
message /weather Group: #3(p=10)
message /weather: #1
message OneToOne: #5
message Group: #5
message: #11(p=5) #6 #2(p=-1)
friend apply received: #7 #10
friend added: #10
any kind MassChat: #9
any kind: #8
`
	if got := goldenRouter().Index(); got != want {
		t.Errorf("index:\n%s\nwant:\n%s", got, want)
	}
}

func TestIndexCandidates(t *testing.T) {
	t.Parallel()
	r := goldenRouter()
	tests := []struct {
		name string
		ev   bot.Event
		want []int // route numbers, in the order tried
	}{
		{"group weather", msgEvent(`{"text":"/weather paris"}`, group), []int{3, 11, 1, 5, 6, 8, 2}},
		{"single help", msgEvent(`{"text":" /help"}`, single), []int{11, 4, 5, 6, 8, 2}},
		{"live text", msgEvent(`{"text":"hello"}`, live), []int{11, 6, 8, 9, 2}},
		{"friend added", bot.Event{Kind: bot.EventFriendAdded}, []int{8, 10}},
		{"recalled", bot.Event{Kind: bot.EventMessageRecalled, ConversationRef: im.ConversationRef{Type: group}}, []int{8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := getState(newCtx(tt.ev), r.t)
			defer putState(s)
			r.t.idx.candidates(s, &s.it)
			var got []int
			for rt := s.it.next(); rt != nil; rt = s.it.next() {
				got = append(got, rt.id)
			}
			if !equalInts(got, tt.want) {
				t.Errorf("candidates %v, want %v", got, tt.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
