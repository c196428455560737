package router

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/internal/callsite"
)

// ArgType is the type of a command argument.
type ArgType int

// Argument types. A spec names them after a colon: <days:int>.
const (
	// ArgString is one word, or a "double-quoted phrase" (the default).
	ArgString ArgType = iota
	// ArgInt is a decimal integer (strconv.Atoi).
	ArgInt
	// ArgFloat is a finite number (strconv.ParseFloat).
	ArgFloat
	// ArgBool is a strconv.ParseBool value; the parameter is "true" or
	// "false".
	ArgBool
	// ArgRest is the rest of the text, white space trimmed; it must be the
	// last argument.
	ArgRest
)

var argTypeNames = [...]string{ArgString: "string", ArgInt: "int", ArgFloat: "float", ArgBool: "bool", ArgRest: "rest"}

// String returns the type's name in specs.
func (t ArgType) String() string {
	if t >= 0 && int(t) < len(argTypeNames) {
		return argTypeNames[t]
	}
	return "ArgType(" + strconv.Itoa(int(t)) + ")"
}

// Arg is one argument of a command.
type Arg struct {
	Name     string
	Type     ArgType
	Optional bool
}

// CommandMatcher matches a command: messages whose text's first word is
// the command's name. It is made from a spec by Command or ParseCommand,
// and is safe for concurrent use.
type CommandMatcher struct {
	spec  string // normalized
	name  string
	args  []Arg
	usage string // the spec without types: "/weather <city> [days]"
}

// Command parses a command spec and panics, naming the caller's file:line,
// when it is bad; see ParseCommand for the syntax.
func Command(spec string) *CommandMatcher {
	m, err := ParseCommand(spec)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, callsite.Caller(1)))
	}
	return m
}

// ParseCommand parses a command spec: the command's name, a "/" and one or
// more letters, digits, '_' or '-', then its arguments separated by
// spaces, each <name> (required) or [name] (optional) with an optional
// type after a colon: string (the default), int, float, bool or rest, as
// in
//
//	/weather <city> [days:int]
//	/say <text:rest>
//
// Argument names are letters, digits and '_', not starting with a digit,
// and distinct; required arguments come before optional ones, and a rest
// argument comes last. A spec without arguments, such as "/help", takes
// any text after the command's name and ignores it; one with arguments
// refuses text they leave (see the package documentation).
func ParseCommand(spec string) (*CommandMatcher, error) {
	bad := func(format string, args ...any) (*CommandMatcher, error) {
		return nil, fmt.Errorf("router: command spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	words := strings.Fields(spec)
	if len(words) == 0 {
		return bad("empty")
	}
	name := words[0]
	if len(name) < 2 || name[0] != '/' {
		return bad("the command must start with / and a name")
	}
	for _, r := range name[1:] {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			return bad("bad character %q in the command's name", r)
		}
	}
	m := &CommandMatcher{name: name}
	specParts, usageParts := []string{name}, []string{name}
	seen := map[string]bool{}
	for _, w := range words[1:] {
		if len(m.args) > 0 && m.args[len(m.args)-1].Type == ArgRest {
			return bad("argument %s follows the rest argument %s", w, m.args[len(m.args)-1].Name)
		}
		var a Arg
		switch {
		case len(w) > 2 && w[0] == '<' && w[len(w)-1] == '>':
		case len(w) > 2 && w[0] == '[' && w[len(w)-1] == ']':
			a.Optional = true
		default:
			return bad("argument %q is not <name>, <name:type>, [name] or [name:type]", w)
		}
		a.Name = w[1 : len(w)-1]
		if n, typ, ok := strings.Cut(a.Name, ":"); ok {
			a.Name = n
			found := false
			for t, tn := range argTypeNames {
				if typ == tn {
					a.Type, found = ArgType(t), true
				}
			}
			if !found {
				return bad("argument %s has unknown type %q (want string, int, float, bool or rest)", n, typ)
			}
		}
		if !isIdent(a.Name) {
			return bad("bad argument name %q", a.Name)
		}
		if seen[a.Name] {
			return bad("argument %s named twice", a.Name)
		}
		seen[a.Name] = true
		if !a.Optional && len(m.args) > 0 && m.args[len(m.args)-1].Optional {
			return bad("required argument %s follows an optional one", a.Name)
		}
		m.args = append(m.args, a)
		open, close := "<", ">"
		if a.Optional {
			open, close = "[", "]"
		}
		if a.Type == ArgString {
			specParts = append(specParts, open+a.Name+close)
		} else {
			specParts = append(specParts, open+a.Name+":"+a.Type.String()+close)
		}
		usageParts = append(usageParts, open+a.Name+close)
	}
	m.spec = strings.Join(specParts, " ")
	m.usage = strings.Join(usageParts, " ")
	return m, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// Name returns the command's name, with its "/".
func (m *CommandMatcher) Name() string { return m.name }

// Args returns the command's arguments.
func (m *CommandMatcher) Args() []Arg { return append([]Arg(nil), m.args...) }

// Usage returns the command's usage line: the spec without types, as in
// "/weather <city> [days]".
func (m *CommandMatcher) Usage() string { return m.usage }

// String returns "command(" and the spec, normalized, and ")".
func (m *CommandMatcher) String() string { return "command(" + m.spec + ")" }

func (m *CommandMatcher) hint() hint {
	h := messageOnly
	h.cmd = m
	return h
}

// Match reports whether c's message is the command with good arguments,
// and sets the arguments as route parameters. Used alone (or inside Or and
// Not) bad arguments are no match; as a route's matcher they are a match
// that runs the usage handler (see the package documentation).
func (m *CommandMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }

func (m *CommandMatcher) match(s *state, explain bool) (bool, string) {
	ok, uerr := m.parse(s)
	switch {
	case !ok:
		if explain {
			return false, m.whyName(s)
		}
		return false, ""
	case uerr != nil:
		return false, "bad arguments: " + uerr.Reason
	}
	return true, ""
}

func (m *CommandMatcher) whyName(s *state) string {
	if s.c.Event.Message == nil {
		return "no message"
	}
	if name := s.command(); name != "" {
		return "the command is " + name
	}
	return "the text is not a command"
}

// UsageError describes a message that names a command with bad
// arguments. The usage handler receives it.
type UsageError struct {
	// Command is the command's name, as "/weather".
	Command string
	// Usage is the command's usage line, as "/weather <city> [days]".
	Usage string
	// Spec is the command's spec, normalized, with the argument types
	// other than string, as "/weather <city> [days:int]".
	Spec string
	// Arg is the argument at fault; "" when there are too many.
	Arg string
	// Reason says what is wrong, as `"x" is not an int`.
	Reason string
}

// Error returns "router: ", the usage line and the reason.
func (e *UsageError) Error() string {
	if e.Arg == "" {
		return "router: " + e.Usage + ": " + e.Reason
	}
	return "router: " + e.Usage + ": " + e.Arg + ": " + e.Reason
}

// UsageHandler handles a command with bad arguments (see
// Router.OnUsageError).
type UsageHandler func(c *bot.Context, err *UsageError) error

// DefaultUsageHandler replies with the command's spec and what is wrong
// with the arguments, and returns the reply's error. The reply is
// "usage: ", the spec (UsageError.Spec), and in parentheses the
// argument at fault, ": " and the reason, or the reason alone when there
// are too many arguments:
//
//	usage: /weather <city> [days:int] (city: missing)
//	usage: /weather <city> [days:int] (days: "soon" is not an int)
//	usage: /weather <city> [days:int] (too many arguments)
func DefaultUsageHandler(c *bot.Context, err *UsageError) error {
	_, rerr := c.Reply(usageReply(err))
	return rerr
}

// usageReply is DefaultUsageHandler's reply to err.
func usageReply(err *UsageError) string {
	if err.Arg == "" {
		return "usage: " + err.Spec + " (" + err.Reason + ")"
	}
	return "usage: " + err.Spec + " (" + err.Arg + ": " + err.Reason + ")"
}

type usageKey struct{}

// runUsage is the innermost handler of a route's usage path: it hands the
// UsageError the dispatch put in the context to the usage handler.
func (t *table) runUsage(c *bot.Context) error {
	uerr, _ := c.Context().Value(usageKey{}).(*UsageError)
	return t.usage(c, uerr)
}

// parse matches the command's name and parses its arguments into route
// parameters, which it records in s (see state.commit). ok reports the
// name matched; uerr is set when the arguments are bad (the parameters
// parsed before the bad one are recorded, for the usage handler). A
// command without arguments takes any text after its name. It
// allocates nothing once the pooled state has room for the parameters.
func (m *CommandMatcher) parse(s *state) (ok bool, uerr *UsageError) {
	if s.c.Event.Message == nil || s.command() != m.name {
		return false, nil
	}
	rest := s.cmdRest
	for _, a := range m.args {
		rest = trimLeftSpace(rest)
		if rest == "" {
			if a.Optional {
				break
			}
			return true, m.usageError(a.Name, "missing")
		}
		if a.Type == ArgRest {
			s.setParam(a.Name, trimRightSpace(rest))
			rest = ""
			break
		}
		tok, next, ok := nextToken(rest)
		if !ok {
			return true, m.usageError(a.Name, "unterminated quote")
		}
		val, reason := convertArg(a.Type, tok)
		if reason != "" {
			return true, m.usageError(a.Name, strconv.Quote(tok)+" "+reason)
		}
		s.setParam(a.Name, val)
		rest = next
	}
	// A command without arguments ignores the text after its name; one
	// with arguments refuses text they leave.
	if len(m.args) > 0 && trimLeftSpace(rest) != "" {
		return true, m.usageError("", "too many arguments")
	}
	return true, nil
}

func (m *CommandMatcher) usageError(arg, reason string) *UsageError {
	return &UsageError{Command: m.name, Usage: m.usage, Spec: m.spec, Arg: arg, Reason: reason}
}

// nextToken returns the first word of s (which starts with no space), or
// the phrase inside double quotes when it starts with one, and the text
// after it.
func nextToken(s string) (tok, rest string, ok bool) {
	if s[0] == '"' {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", "", false
		}
		return s[1 : 1+end], s[2+end:], true
	}
	i := indexSpace(s)
	if i < 0 {
		return s, "", true
	}
	return s[:i], s[i:], true
}

// convertArg checks tok against the type and returns the parameter's
// value, or why it is bad.
func convertArg(t ArgType, tok string) (string, string) {
	switch t {
	case ArgInt:
		if !isInt(tok) {
			return "", "is not an int"
		}
	case ArgFloat:
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", "is not a number"
		}
	case ArgBool:
		b, err := strconv.ParseBool(tok)
		if err != nil {
			return "", "is not a bool (true or false)"
		}
		if b {
			return "true", ""
		}
		return "false", ""
	}
	return tok, ""
}

// isInt reports whether tok is a decimal int; it allocates no error for
// a token that is not a number at all.
func isInt(tok string) bool {
	digits := tok
	if digits != "" && (digits[0] == '-' || digits[0] == '+') {
		digits = digits[1:]
	}
	if digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(tok, 10, strconv.IntSize)
	return err == nil
}

// ParamInt returns the route parameter name as an int (a command's int
// argument); ok is false when it is absent or not an int.
func ParamInt(c *bot.Context, name string) (n int, ok bool) {
	n, err := strconv.Atoi(c.Param(name))
	return n, err == nil
}

// ParamFloat returns the route parameter name as a float64 (a command's
// float argument); ok is false when it is absent or not a number.
func ParamFloat(c *bot.Context, name string) (f float64, ok bool) {
	f, err := strconv.ParseFloat(c.Param(name), 64)
	return f, err == nil
}

// ParamBool returns the route parameter name as a bool (a command's bool
// argument); ok is false when it is absent or not a bool.
func ParamBool(c *bot.Context, name string) (b bool, ok bool) {
	b, err := strconv.ParseBool(c.Param(name))
	return b, err == nil
}
