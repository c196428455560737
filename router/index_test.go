package router

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// keyedRouter adds to goldenRouter one route of each shape the index
// files by a key, and of those it leaves plain.
func keyedRouter() *Router {
	noop := func(*bot.Context) error { return nil }
	r := goldenRouter()
	r.OnPrefix("!", noop, Name("bang"))                                                                        // #13
	r.OnPrefix("!help", noop, Name("bang help"), Priority(1))                                                  // #14
	r.OnKeyword("Weather", noop, Name("weather word"))                                                         // #15
	r.OnFunc(Keyword("rain", "café"), noop, Name("unindexed word"))                                            // #16
	r.OnFunc(And(InGroup(), MentionsAll()), noop, Name("everyone"))                                            // #17
	r.MustOnExpr(`Kind in ["friend added", "friend apply received"] && Sender > 0`, noop, Name("friend expr")) // #18
	r.OnRegex(`(?i)^hi`, noop, Name("folded regex"))                                                           // #19
	r.On(Regexp(regexp.MustCompile(`^hey`)), handlerOf(noop), Name("compiled regex"))                          // #20
	r.MustOnExpr(`Mentioned && Text != ""`, noop, Name("mention expr"))                                        // #21
	r.OnFunc(Or(Prefix("?"), Keyword("help")), noop, Name("or"))                                               // #22
	r.OnPrefix("é", noop, Name("accent"))                                                                      // #23
	return r
}

func TestIndexGolden(t *testing.T) {
	t.Parallel()
	const want = `message /help: #4
message /weather OneToOne: #12(p=10)
message /weather Group: #3(p=10)
message /weather: #1
message OneToOne mentions(bot): #5
message Group mentions(bot): #5
message Group mentions(all): #17
message prefix "!": #13
message prefix "!help": #14(p=1)
message prefix "?": #22
message prefix "é": #23
message regex prefix "hello": #6
message keyword "help": #22
message keyword "weather": #15
message: #11(p=5) #16 #19 #20 #2(p=-1)
friend apply received: #7 #10 #18
friend added: #10 #18
any kind MassChat: #9
any kind mentions(bot): #21
any kind: #8
`
	assert.Equal(t, want, keyedRouter().Index(), "index")
}

func TestIndexCandidates(t *testing.T) {
	t.Parallel()
	r := keyedRouter()
	tests := []struct {
		name string
		ev   bot.Event
		want []int // route numbers, in the order tried
	}{
		{"group weather", msgEvent(`{"text":"/weather paris"}`, group), []int{3, 11, 1, 8, 15, 16, 19, 20, 2}},
		{"single help", msgEvent(`{"text":" /help"}`, single), []int{11, 4, 8, 16, 19, 20, 22, 2}},
		{"live text", msgEvent(`{"text":"hello"}`, live), []int{11, 6, 8, 9, 16, 19, 20, 2}},
		{"prefixes", msgEvent(`{"text":"  !help me"}`, single), []int{11, 14, 8, 13, 16, 19, 20, 22, 2}},
		{"text spaced", msgEvent(`{"text":" hello"}`, single), []int{11, 8, 16, 19, 20, 2}},
		{"keys met twice", withExt(msgEvent(`{"text":"? help HELP"}`, group), map[string]string{"s:mentioned_users": "42,0"}), []int{11, 5, 8, 16, 17, 19, 20, 21, 22, 2}},
		{"friend added", bot.Event{Kind: bot.EventFriendAdded}, []int{8, 10, 18}},
		{"recalled", bot.Event{Kind: bot.EventMessageRecalled, ConversationRef: im.ConversationRef{Type: group}}, []int{8}},
		{"recalled, mentioning", func() bot.Event {
			ev := withExt(msgEvent(`{"text":"hello"}`, group), map[string]string{"s:mentioned_users": "42"})
			ev.Kind = bot.EventMessageRecalled
			return ev
		}(), []int{8, 21}},
		{"accent", msgEvent(`{"text":"éa"}`, single), []int{11, 8, 16, 19, 20, 23, 2}},
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
			assert.Equal(t, tt.want, got, "candidates")
		})
	}
}

// FuzzIndex is the index's oracle: for random routes of every shape the
// index knows (and shapes it must leave alone) and random events, the
// routes a dispatch runs, when every handler passes the event on, are
// exactly those a plain scan of all routes in precedence order finds
// matching, in that order; and Explain agrees.
func FuzzIndex(f *testing.F) {
	for i := range 200 {
		f.Add(uint64(i), "  !hi HELP é")
	}
	f.Add(uint64(7), "/x ab")
	f.Add(uint64(9), "ab\nhi")
	f.Fuzz(func(t *testing.T, seed uint64, text string) {
		rng := rand.New(rand.NewPCG(seed, 1))
		r, names := randomRouter(rng)
		sorted := slices.SortedFunc(slices.Values(r.t.routes), func(a, b *route) int {
			if before(a, b) {
				return -1
			}
			return 1
		})
		for i := range 8 {
			ev := randomEvent(rng, text, i == 0)
			var want []string
			for _, rt := range sorted {
				s := getState(newCtx(ev), r.t)
				if ok, _, _, _ := rt.match(s, false); ok {
					want = append(want, rt.name)
				}
				putState(s)
			}
			c := newCtx(ev)
			var ran []string
			*names = func(name string) { ran = append(ran, name) }
			require.NoError(t, r.Handle(c), "Handle")
			require.Equal(t, want, ran, "event %+v %+v: ran, against the scan; index:\n%s", ev, ev.Message, r.Index())
			var matched []string
			for _, st := range r.Explain(newCtx(ev)).Steps {
				if st.Matched {
					matched = append(matched, st.Name)
				}
			}
			require.Equal(t, want, matched, "event %+v %+v: Explain matched, against the scan", ev, ev.Message)
		}
	})
}

// fuzzTokens make up texts, prefixes and keywords that often overlap.
var fuzzTokens = []string{"a", "b", "ab", "/x", "!", "hi", "Hi", "HELP", "help", "é", "É", " ", "\n", "?"}

func fuzzString(rng *rand.Rand, max int) string {
	var sb strings.Builder
	for range 1 + rng.IntN(max) {
		sb.WriteString(fuzzTokens[rng.IntN(len(fuzzTokens))])
	}
	return sb.String()
}

var fuzzExprs = []string{
	`Kind == "message"`, `"friend added" == Kind`, `Kind in ["friend added", "message"]`, `Mentioned`,
	`MentionAll || Kind == "friend added"`, `Text contains "a"`, `Kind == "no such kind"`,
	`Kind == "message" && Text startsWith "!"`, `!(Kind == "message")`, `Kind != "message"`,
	`Mentioned && Kind == "message recalled"`, `Kind in ["message", Text]`,
}

var fuzzKinds = []bot.EventKind{bot.EventMessage, bot.EventMessageRecalled, bot.EventFriendAdded}

// randomMatcher makes a matcher of any shape, nested up to depth.
func randomMatcher(rng *rand.Rand, depth int) Matcher {
	n := 13
	if depth == 0 {
		n = 9
	}
	switch rng.IntN(n) {
	case 0:
		return Prefix(fuzzString(rng, 2))
	case 1:
		q := regexp.QuoteMeta(fuzzString(rng, 2))
		forms := []string{"^" + q, "(?i)^" + q, q, `\A` + q + `(?P<rest>.*)`, "(?m)^" + q, "^" + q + "|^b", "^(" + q + ")", "^" + q + `\w`}
		return Regex(forms[rng.IntN(len(forms))])
	case 2:
		return Keyword(fuzzString(rng, 2), fuzzString(rng, 1))
	case 3:
		return MentionsBot()
	case 4:
		return MentionsAll()
	case 5:
		return Kind(fuzzKinds[rng.IntN(len(fuzzKinds))])
	case 6:
		return InConversation(im.ConversationType(1 + rng.IntN(2)))
	case 7:
		return MustExpr(fuzzExprs[rng.IntN(len(fuzzExprs))])
	case 8:
		return Regexp(regexp.MustCompile("^" + regexp.QuoteMeta(fuzzString(rng, 1))))
	case 9:
		return Command("/x [a]")
	case 10:
		return And(randomMatcher(rng, depth-1), randomMatcher(rng, depth-1))
	case 11:
		return Or(randomMatcher(rng, depth-1), randomMatcher(rng, depth-1))
	default:
		return Not(randomMatcher(rng, depth-1))
	}
}

// randomRouter registers up to 16 random routes named by number, each of
// whose handlers (and the usage handler) reports its route to the
// function names points to and passes the event on. Routes whose
// registration panics (a command that an earlier one leaves no event,
// matchers that can never match together) are left out.
func randomRouter(rng *rand.Rand) (*Router, *func(string)) {
	report := new(func(string))
	r := New(BotUser(42))
	h := func(c *bot.Context) error { (*report)(c.Route()); return ErrContinue }
	r.OnUsageError(func(c *bot.Context, _ *UsageError) error { (*report)(c.Route()); return ErrContinue })
	for i := range 1 + rng.IntN(16) {
		m, p := randomMatcher(rng, 2), rng.IntN(3)-1
		func() {
			defer func() { _ = recover() }()
			r.OnFunc(m, h, Name(strconv.Itoa(i)), Priority(p))
		}()
	}
	return r, report
}

// randomEvent makes a message (mostly) or another event; with useText
// the message has text, else a random one.
func randomEvent(rng *rand.Rand, text string, useText bool) bot.Event {
	if !useText {
		text = fuzzString(rng, 4)
	}
	content, _ := json.Marshal(map[string]string{"text": text})
	ev := msgEvent(string(content), im.ConversationType(rng.IntN(3)))
	ev = withExt(ev, map[string]string{"s:mentioned_users": []string{"", "42", "0", "7, 42", "0,7"}[rng.IntN(5)]})
	// Other kinds carry no message here: the matchers of messages (a
	// prefix, a mention, …) would take one, though the index files them
	// for messages only, as documented.
	if k := fuzzKinds[rng.IntN(len(fuzzKinds))]; k != bot.EventMessage && rng.IntN(2) == 0 {
		ev.Kind, ev.Message = k, nil
	}
	return ev
}
