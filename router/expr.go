package router

import (
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
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
	// FromSelf reports that the event's message was sent by the bot (its
	// Context's bot, or the router's BotUser), as bot.Context.FromSelf.
	// A bot skips its own new messages unless Options.HandleOwnMessages.
	FromSelf bool
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
	// FileType is the kind of file the message carries (im.FileType:
	// "image", "video", "audio", "object"), "" without one; FileName,
	// FileSize (bytes) and MimeType describe it, as im.Message.File
	// reads them.
	FileType string
	FileName string
	FileSize int64
	MimeType string
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
// so test Kind when it matters:
//
//	Kind == "message" && IsGroup && Text contains "weather"
//
// The index reads the kinds from the expression: one that holds only
// when Kind == "name", or Kind in ["name", …], for kinds that exist
// (alone, in a conjunct of &&, or in every branch of ||), is tried only
// for events of those kinds; one that holds only when Mentioned (or
// MentionAll) is true, only for messages that mention the bot (or
// everyone). Any other expression is tried for every event.
func Expr(src string) (Matcher, error) {
	prog, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("router: expr %q: %w", src, err)
	}
	var h hint
	if tree, err := parser.Parse(src); err == nil { // it compiled, so it parses
		h = exprHint(tree.Node)
	}
	if h.kinds != nil && len(h.kinds) == 0 {
		// It never holds, for want of a kind (Kind == "no such kind"):
		// file it as before, not as a route that cannot match, which
		// registration rejects.
		h = hint{}
	}
	return &exprMatcher{prog: prog, desc: "expr(" + src + ")", falseWhy: "false", h: h}, nil
}

// exprHint is what an expression's syntax tells the index: the kinds
// (and mention keys) without which it cannot hold.
func exprHint(n ast.Node) hint {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			h, _ := intersect(exprHint(n.Left), exprHint(n.Right)) // no commands, no error
			return h
		case "||", "or":
			return union(exprHint(n.Left), exprHint(n.Right))
		case "==":
			if isKind(n.Left) {
				return kindHint(n.Right)
			}
			if isKind(n.Right) {
				return kindHint(n.Left)
			}
		case "in":
			if a, ok := n.Right.(*ast.ArrayNode); ok && isKind(n.Left) {
				h := hint{kinds: []bot.EventKind{}}
				for _, el := range a.Nodes {
					eh := kindHint(el)
					if eh.kinds == nil {
						return hint{}
					}
					h = union(h, eh)
				}
				return h
			}
		}
	case *ast.IdentifierNode:
		switch n.Value {
		// Mentioned is true for an event of any kind whose message
		// mentions the bot: no kind, only the key.
		case "Mentioned":
			return hint{keys: []key{{op: keyMentionsBot}}}
		case "MentionAll":
			return hint{keys: []key{{op: keyMentionsAll}}}
		}
	}
	return hint{}
}

func isKind(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == "Kind"
}

// kindHint is the hint of Kind == n: the kind named by the string n, no
// kind for a name no kind has, or nothing known when n is not a string.
func kindHint(n ast.Node) hint {
	str, ok := n.(*ast.StringNode)
	if !ok {
		return hint{}
	}
	if k, ok := kindNames()[str.Value]; ok {
		return hint{kinds: []bot.EventKind{k}}
	}
	if strings.HasPrefix(str.Value, "EventKind(") { // the name of a kind without one
		return hint{}
	}
	return hint{kinds: []bot.EventKind{}}
}

// kindNames maps Env.Kind's names (bot.EventKind.String) to the kinds,
// which are numbered from EventMessage on.
var kindNames = sync.OnceValue(func() map[string]bot.EventKind {
	names := make(map[string]bot.EventKind)
	for k := bot.EventMessage; !strings.HasPrefix(k.String(), "EventKind("); k++ {
		names[k.String()] = k
	}
	return names
})

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
	h        hint
}

func (m *exprMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *exprMatcher) String() string                      { return m.desc }
func (m *exprMatcher) hint() hint                          { return m.h }
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
		e.Mentioned, e.MentionAll = s.mentions()
		self, ok := s.botUser()
		e.FromSelf = ok && m.Sender == self
		if f, ok := m.File(); ok {
			e.FileType, e.FileName, e.FileSize, e.MimeType = string(f.Type), f.Name, f.Size, f.MimeType
		}
	}
	s.envBox = s.env
	s.haveEnv = true
	return s.envBox
}
