package router

import (
	"fmt"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/callsite"
)

// Env is what an expr-lang expression (Expr, Router.OnExpr) sees: one
// event, as a struct value. Expressions are compiled and type-checked
// against it, so a misspelt field or a type error is reported at
// registration.
type Env struct {
	// Kind is the event's kind as bot.EventKind.String names it:
	// "message", "message recalled", "friend apply received", …
	Kind string
	// Type is the message's type as a number (im.MessageType: 10001 text,
	// 10003 image, 50001 command, …); 0 without a message.
	Type int
	// Content is the message's raw content (JSON for most types).
	Content string
	// Text is the message's text: the "text" member of its JSON content,
	// as for commands (see the package documentation).
	Text string
	// ConversationType is the conversation's type as a number
	// (im.ConversationType: 1 single, 2 group, 100 live); 0 without one.
	ConversationType int
	// ConversationID is the conversation's id.
	ConversationID string
	// Sender is the user the event came from (bot.Event.Sender).
	Sender int64
	// Mentioned reports that the message mentions the bot by its id, as
	// MentionsBot; MentionAll that it mentions everyone, as MentionsAll.
	Mentioned  bool
	MentionAll bool
	// IsGroup, IsSingle and IsLive report the conversation's type.
	IsGroup  bool
	IsSingle bool
	IsLive   bool
	// Ext is the message's ext map; a missing key reads as "".
	Ext map[string]string
}

// vmPool holds expr VMs for reuse: a VM keeps its stack between runs, so
// reusing one saves its allocations. A pool, not a VM per matcher, because
// a VM runs one program at a time.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

// Expr compiles an expr-lang expression (https://expr-lang.org) over Env
// into a Matcher; the expression must be a bool. A bad expression is an
// error whose text has its line:column and the source with a caret. The
// compiled program is safe for concurrent use; each run borrows a VM from
// a pool and gets the event as an Env value.
//
// An expression sees events of every kind (Text is "" without a message),
// so the index cannot narrow it: it is tried for every event unless the
// route adds Kind or another matcher. Test Kind when it matters:
//
//	Kind == "message" && IsGroup && Text contains "weather"
func Expr(src string) (Matcher, error) {
	prog, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("router: expr %q: %w", src, err)
	}
	return &exprMatcher{prog: prog, desc: "expr(" + src + ")", falseWhy: "false"}, nil
}

// MustExpr is Expr for expressions written in the code: a bad expression
// panics naming the caller's file:line.
func MustExpr(src string) Matcher {
	m, err := Expr(src)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, callsite.Caller(1)))
	}
	return m
}

type exprMatcher struct {
	prog     *vm.Program
	desc     string
	falseWhy string
}

func (m *exprMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *exprMatcher) String() string                      { return m.desc }
func (m *exprMatcher) hint() hint                          { return hint{} }
func (m *exprMatcher) match(s *state, _ bool) (bool, string) {
	env := s.exprEnv()
	v := vmPool.Get().(*vm.VM)
	out, err := v.Run(m.prog, env)
	vmPool.Put(v)
	if err != nil {
		return false, "expr failed: " + err.Error()
	}
	if ok, _ := out.(bool); ok {
		return true, ""
	}
	return false, m.falseWhy
}

// exprEnv returns the event as an Env, boxed once per dispatch.
func (s *state) exprEnv() any {
	if s.haveEnv {
		return s.envBox
	}
	ev := &s.c.Event
	e := &s.env
	e.Kind = ev.Kind.String()
	ct := s.convType()
	e.ConversationType = int(ct)
	e.IsSingle = ct == im.ConversationTypeOneToOne
	e.IsGroup = ct == im.ConversationTypeGroup
	e.IsLive = ct == im.ConversationTypeMassChat
	e.ConversationID = string(ev.ConversationRef.ID)
	e.Sender = int64(ev.Sender())
	if m := ev.Message; m != nil {
		if e.ConversationID == "" {
			e.ConversationID = string(m.ConversationID)
		}
		e.Type = int(m.Type)
		e.Content = m.Content
		e.Text = s.text()
		e.Ext = m.Ext
		list := m.Ext[string(im.InfoKeyMentionedUsers)]
		if id, ok := s.botUser(); ok {
			e.Mentioned = mentions(list, id)
		}
		e.MentionAll = mentions(list, 0)
	}
	s.envBox = s.env
	s.haveEnv = true
	return s.envBox
}
