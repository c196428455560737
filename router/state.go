package router

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// state is one dispatch (or one Explain, or one Matcher.Match): the
// Context and what the matchers compute from it once. States are pooled so
// that a dispatch allocates nothing.
type state struct {
	c *bot.Context
	t *table // nil for a matcher used alone

	txt     string
	haveTxt bool
	cmd     string // the command's name, or ""
	cmdRest string // the text after it
	haveCmd bool

	env     Env
	envBox  any
	haveEnv bool

	mentionsBot, mentionsAll bool
	haveMentions             bool

	// params are the route parameters the matchers of the route being
	// tried found, in the order they found them. The router sets them on
	// the Context only when the route matches (commit), so that a route
	// that does not match leaves none behind; old holds what commit
	// replaced, for undo. Both keep their capacity in the pool.
	params []param
	old    []oldParam

	it iter
}

// param is one route parameter.
type param struct{ name, value string }

var statePool = sync.Pool{New: func() any { return new(state) }}

func getState(c *bot.Context, t *table) *state {
	s := statePool.Get().(*state)
	s.c, s.t = c, t
	return s
}

func putState(s *state) {
	// Only params[:len] and old[:len] hold strings (dropParams and commit
	// clear what they cut off): clear them to let the event's text go.
	// The iterator's lists are cleared whole: next shortens them.
	clear(s.params)
	clear(s.old)
	clear(s.it.lists[:cap(s.it.lists)])
	params, old, lists := s.params[:0], s.old[:0], s.it.lists[:0]
	*s = state{}
	s.params, s.old, s.it.lists = params, old, lists
	statePool.Put(s)
}

// setParam records a route parameter for the route being tried.
func (s *state) setParam(name, value string) {
	s.params = append(s.params, param{name, value})
}

// dropParams forgets the parameters recorded since len(s.params) was
// mark: a matcher calls it when the part of it that found them does not
// count (a branch of Or that failed, the matcher under Not).
func (s *state) dropParams(mark int) {
	clear(s.params[mark:])
	s.params = s.params[:mark]
}

// oldParam is what a parameter was before commit set it.
type oldParam struct {
	value string
	set   bool
}

// commit sets the recorded parameters on the Context, remembering what
// they replace. Reading an old value costs next to nothing when the
// Context has no parameters yet (a new event); a parameter that already
// holds its value is not written again.
func (s *state) commit() {
	clear(s.old)
	s.old = s.old[:0]
	for _, p := range s.params {
		old, set := s.c.LookupParam(p.name)
		s.old = append(s.old, oldParam{old, set})
		if old != p.value || !set {
			s.c.SetParam(p.name, p.value)
		}
	}
}

// undo puts back what commit replaced, last first, so that a name
// recorded twice gets what it had before commit: its old value, or no
// parameter at all.
func (s *state) undo() {
	for i := len(s.params) - 1; i >= 0; i-- {
		if old := s.old[i]; old.set {
			s.c.SetParam(s.params[i].name, old.value)
		} else {
			s.c.DeleteParam(s.params[i].name)
		}
	}
}

// text returns the message's text (im.Message.Text), read once per event.
func (s *state) text() string {
	if !s.haveTxt {
		if m := s.c.Event.Message; m != nil {
			s.txt = m.Text()
		}
		s.haveTxt = true
	}
	return s.txt
}

// command returns the first word of the text when it starts with "/", or
// "".
func (s *state) command() string {
	if !s.haveCmd {
		s.cmd, s.cmdRest = splitCommand(s.text())
		s.haveCmd = true
	}
	return s.cmd
}

// mentions reports whether the message mentions the bot (as MentionsBot
// decides) and everyone (as MentionsAll), read once per event.
func (s *state) mentions() (toBot, toAll bool) {
	if !s.haveMentions {
		if m := s.c.Event.Message; m != nil {
			list := m.Ext[string(im.InfoKeyMentionedUsers)]
			if id, ok := s.botUser(); ok {
				s.mentionsBot = mentions(list, id)
			}
			s.mentionsAll = mentions(list, 0)
		}
		s.haveMentions = true
	}
	return s.mentionsBot, s.mentionsAll
}

// convType returns the type of the event's conversation.
func (s *state) convType() im.ConversationType {
	ev := &s.c.Event
	if ev.ConversationRef.Type != 0 {
		return ev.ConversationRef.Type
	}
	if ev.Message != nil {
		return ev.Message.ConversationType
	}
	if ev.Conversation != nil {
		return ev.Conversation.Type
	}
	return 0
}

// botUser returns the bot's user id: the Context's bot's, or the router's
// BotUser option.
func (s *state) botUser() (im.UserID, bool) {
	if b := s.c.Bot(); b != nil {
		return b.UserID(), true
	}
	if s.t != nil && s.t.hasBotUser {
		return s.t.botUser, true
	}
	return 0, false
}

// splitCommand splits text, white space trimmed, into its first word when
// that starts with "/" and the rest; name is "" when it does not.
func splitCommand(text string) (name, rest string) {
	text = trimLeftSpace(text)
	if len(text) < 2 || text[0] != '/' {
		return "", ""
	}
	i := indexSpace(text)
	if i < 0 {
		return text, ""
	}
	return text[:i], text[i:]
}

// spaceAt reports whether a white space rune starts at s[i], and its size.
func spaceAt(s string, i int) (bool, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiSpace[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
}

func trimLeftSpace(s string) string {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if !asciiSpace[c] {
				return s[i:]
			}
			i++
			continue
		}
		sp, size := spaceAt(s, i)
		if !sp {
			return s[i:]
		}
		i += size
	}
	return ""
}

func trimRightSpace(s string) string {
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}

// indexSpace returns the index of the first white space rune in s, or -1.
func indexSpace(s string) int {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if asciiSpace[c] {
				return i
			}
			i++
			continue
		}
		sp, size := spaceAt(s, i)
		if sp {
			return i
		}
		i += size
	}
	return -1
}

// asciiSpace marks the ASCII white space bytes.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}
