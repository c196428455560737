package router

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/callsite"
)

// Matcher decides whether a route takes an event.
//
// Match reports whether c's event matches and, when it does not, why, in a
// few words for Explain. The router calls Match on every dispatch and
// ignores the reason there, so a reason should cost nothing to make (a
// constant). A Matcher may set route parameters (c.SetParam) when it
// matches. It must be safe for concurrent use.
//
// The parameters a Matcher sets reach the Context at once, while the
// built-in matchers' wait until their route matches (see Route parameters
// in the package documentation). So before the router tries a route with
// a custom Matcher, it copies the Context's parameters (an allocation the
// built-in matchers avoid), and it sets them back when the route does not
// match or its handler passes the event on. Within a route that matches,
// though, it cannot tell a custom Matcher's parameters from a failed
// branch of Or or from under Not: set them only when returning true, and
// do not put a Matcher that sets them under Not.
//
// A Matcher that also implements fmt.Stringer is shown by its String in
// Explain output and the index print.
type Matcher interface {
	Match(c *bot.Context) (ok bool, why string)
}

// MatcherFunc adapts a function to a Matcher.
type MatcherFunc func(c *bot.Context) (ok bool, why string)

// Match calls f(c).
func (f MatcherFunc) Match(c *bot.Context) (bool, string) { return f(c) }

// matcher is what the built-in matchers implement: matching against the
// dispatch state, which caches what several matchers need (the text, the
// command name, the expr env), and producing a detailed reason only when
// explaining.
type matcher interface {
	Matcher
	fmt.Stringer
	match(s *state, explain bool) (ok bool, why string)
	hint() hint
}

// internal returns m as a matcher, wrapping a user's Matcher.
func internal(m Matcher) matcher {
	if bm, ok := m.(matcher); ok {
		return bm
	}
	return custom{m}
}

// matchAlone runs a built-in matcher outside a router, and sets the
// route parameters it found when it matches.
func matchAlone(m matcher, c *bot.Context) (bool, string) {
	s := getState(c, nil)
	defer putState(s)
	ok, why := m.match(s, true)
	if ok {
		s.commit()
	}
	return ok, why
}

// custom wraps a user's Matcher.
type custom struct{ m Matcher }

func (c custom) Match(ctx *bot.Context) (bool, string) { return c.m.Match(ctx) }
func (c custom) match(s *state, _ bool) (bool, string) { return c.m.Match(s.c) }
func (c custom) hint() hint                            { return hint{} }
func (c custom) String() string {
	if s, ok := c.m.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", c.m)
}

// hasCustom reports whether a custom Matcher takes part in m.
func hasCustom(m matcher) bool {
	return takesPart(m, func(m matcher) bool { _, ok := m.(custom); return ok })
}

// hasExprKinds reports whether an expression whose kinds the index knows
// takes part in m.
func hasExprKinds(m matcher) bool {
	return takesPart(m, func(m matcher) bool { e, ok := m.(*exprMatcher); return ok && e.h.kinds != nil })
}

// takesPart reports whether a matcher for which is holds takes part in m.
func takesPart(m matcher, is func(matcher) bool) bool {
	if is(m) {
		return true
	}
	part := func(m matcher) bool { return takesPart(m, is) }
	switch m := m.(type) {
	case *andMatcher:
		return slices.ContainsFunc(m.ms, part)
	case *orMatcher:
		return slices.ContainsFunc(m.ms, part)
	case *notMatcher:
		return part(m.m)
	}
	return false
}

// hint is what the index learns from a matcher: the event kinds and
// conversation types it can match (nil: any), its command, and the keys
// of which every event it matches meets one (nil: none known).
type hint struct {
	kinds []bot.EventKind
	convs []im.ConversationType
	cmd   *CommandMatcher
	keys  []key
}

// key is a condition on a message that the index can look up: the route
// is filed under it, and an event that does not meet it does not select
// the route.
type key struct {
	op keyOp
	s  string // the prefix or the word
}

type keyOp uint8

// The keys, most selective first (see pickKeys).
const (
	keyPrefix      keyOp = iota + 1 // the text, leading white space trimmed, starts with s
	keyRawPrefix                    // the text starts with s (an anchored regex)
	keyWord                         // the text holds s, lower-case ASCII, regardless of ASCII case
	keyMentionsBot                  // the message mentions the bot
	keyMentionsAll                  // the message mentions everyone
)

var messageOnly = hint{kinds: []bot.EventKind{bot.EventMessage}}

// messageKeys is the hint of a message matcher that needs one of keys.
func messageKeys(keys ...key) hint { return hint{kinds: messageOnly.kinds, keys: keys} }

// pickKeys returns one of two key sets that both hold for a route: the
// known one, or the one whose loosest key is the more selective.
func pickKeys(a, b []key) []key {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	loosest := func(ks []key) keyOp {
		return slices.MaxFunc(ks, func(x, y key) int { return int(x.op) - int(y.op) }).op
	}
	if loosest(b) < loosest(a) {
		return b
	}
	return a
}

// intersect combines the hints of matchers that must all match.
func intersect(a, b hint) (hint, error) {
	out := hint{kinds: intersectSet(a.kinds, b.kinds), convs: intersectSet(a.convs, b.convs), cmd: a.cmd, keys: pickKeys(a.keys, b.keys)}
	if b.cmd != nil {
		if a.cmd != nil {
			return out, fmt.Errorf("route has two commands, %s and %s", a.cmd.name, b.cmd.name)
		}
		out.cmd = b.cmd
	}
	return out, nil
}

func intersectSet[T comparable](a, b []T) []T {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []T{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// union combines the hints of matchers of which one must match; a
// command in either is dropped (Or's command is an ordinary matcher).
func union(a, b hint) hint {
	return hint{kinds: unionSet(a.kinds, b.kinds), convs: unionSet(a.convs, b.convs), keys: unionSet(a.keys, b.keys)}
}

func unionSet[T comparable](a, b []T) []T {
	if a == nil || b == nil {
		return nil
	}
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// flatten splits a route's matcher into its top-level conjuncts (nested
// And included) and its command, and computes the route's hint.
func flatten(m matcher) (ms []matcher, cmd *CommandMatcher, h hint, err error) {
	var walk func(m matcher)
	walk = func(m matcher) {
		if a, ok := m.(*andMatcher); ok {
			for _, c := range a.ms {
				walk(c)
			}
			return
		}
		if c, ok := m.(*CommandMatcher); ok && cmd == nil {
			cmd = c
			return
		}
		ms = append(ms, m)
	}
	walk(m)
	if cmd != nil {
		h = cmd.hint()
	}
	for _, m := range ms {
		if h, err = intersect(h, m.hint()); err != nil {
			return nil, nil, h, err
		}
	}
	// Kinds that an expression contradicts are no programmer's error: the
	// expression may come from a user. Such a route goes in no bucket.
	if h.kinds != nil && len(h.kinds) == 0 && !slices.ContainsFunc(ms, hasExprKinds) {
		return nil, nil, h, errors.New("route can never match: its matchers want different event kinds")
	}
	if h.convs != nil && len(h.convs) == 0 {
		return nil, nil, h, errors.New("route can never match: its matchers want different conversation types")
	}
	return ms, cmd, h, nil
}

// describe renders a route's matchers, command first.
func describe(ms []matcher, cmd *CommandMatcher) string {
	var parts []string
	if cmd != nil {
		parts = append(parts, cmd.String())
	}
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	return strings.Join(parts, " && ")
}

func joinStrings[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

// Kind matches events of the given kinds.
func Kind(kinds ...bot.EventKind) Matcher {
	if len(kinds) == 0 {
		panic("router: Kind needs at least one kind (at " + callsite.Caller(1) + ")")
	}
	return &kindMatcher{kinds: slices.Clone(kinds), desc: "kind(" + joinStrings(kinds) + ")"}
}

type kindMatcher struct {
	kinds []bot.EventKind
	desc  string
}

func (m *kindMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *kindMatcher) String() string                      { return m.desc }
func (m *kindMatcher) hint() hint                          { return hint{kinds: m.kinds} }
func (m *kindMatcher) match(s *state, explain bool) (bool, string) {
	if slices.Contains(m.kinds, s.c.Event.Kind) {
		return true, ""
	}
	if explain {
		return false, "the event is " + s.c.Event.Kind.String()
	}
	return false, ""
}

// MessageType matches messages of the given types.
func MessageType(types ...im.MessageType) Matcher {
	if len(types) == 0 {
		panic("router: MessageType needs at least one type (at " + callsite.Caller(1) + ")")
	}
	return &typeMatcher{types: slices.Clone(types), desc: "type(" + joinStrings(types) + ")"}
}

type typeMatcher struct {
	types []im.MessageType
	desc  string
}

func (m *typeMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *typeMatcher) String() string                      { return m.desc }
func (m *typeMatcher) hint() hint                          { return messageOnly }
func (m *typeMatcher) match(s *state, explain bool) (bool, string) {
	msg := s.c.Event.Message
	if msg == nil {
		return false, "no message"
	}
	if slices.Contains(m.types, msg.Type) {
		return true, ""
	}
	if explain {
		return false, "the message is " + msg.Type.String()
	}
	return false, ""
}

// File matches messages carrying a file of the given types
// (im.FileTypeImage, im.FileTypeVideo, im.FileTypeAudio, im.FileTypeFile),
// or of any of them when none is given. Each file type has its message
// type, so File(im.FileTypeImage) is MessageType(im.MessageTypeImage)
// under a name that says so; the handler reads the file with
// im.Message.File. An unknown file type panics, naming the caller.
func File(types ...im.FileType) Matcher {
	if len(types) == 0 {
		types = []im.FileType{im.FileTypeImage, im.FileTypeVideo, im.FileTypeAudio, im.FileTypeFile}
	}
	m := &typeMatcher{desc: "file(" + strings.Join(fileTypeNames(types), ",") + ")"}
	for _, t := range types {
		mt := t.MessageType()
		if mt == 0 {
			panic("router: File: unknown file type " + strconv.Quote(string(t)) + " (at " + callsite.Caller(1) + ")")
		}
		m.types = append(m.types, mt)
	}
	return m
}

func fileTypeNames(types []im.FileType) []string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return names
}

// InConversation matches events in conversations of the given types: the
// type of Event.ConversationRef, or of the message when the reference has
// none.
func InConversation(types ...im.ConversationType) Matcher {
	if len(types) == 0 {
		panic("router: InConversation needs at least one type (at " + callsite.Caller(1) + ")")
	}
	return &convMatcher{types: slices.Clone(types), desc: "conversation(" + joinStrings(types) + ")"}
}

// InSingle matches events in single (one-to-one) chats.
func InSingle() Matcher { return InConversation(im.ConversationTypeOneToOne) }

// InGroup matches events in group chats.
func InGroup() Matcher { return InConversation(im.ConversationTypeGroup) }

// InLive matches events in live chats (MassChat).
func InLive() Matcher { return InConversation(im.ConversationTypeMassChat) }

type convMatcher struct {
	types []im.ConversationType
	desc  string
}

func (m *convMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *convMatcher) String() string                      { return m.desc }
func (m *convMatcher) hint() hint                          { return hint{convs: m.types} }
func (m *convMatcher) match(s *state, explain bool) (bool, string) {
	ct := s.convType()
	if slices.Contains(m.types, ct) {
		return true, ""
	}
	if explain {
		if ct == 0 {
			return false, "the event has no conversation"
		}
		return false, "the conversation is " + ct.String()
	}
	return false, ""
}

// MentionsBot matches messages that mention the bot by its user id (ext
// s:mentioned_users lists it). A mention of everyone does not count: the
// seed's isMentioned is Or(MentionsBot(), MentionsAll()). The bot's id is
// c.Bot().UserID(), or the router's BotUser option when the Context has no
// bot; with neither, nothing matches.
func MentionsBot() Matcher { return &mentionMatcher{} }

// MentionsAll matches messages that mention everyone (ext
// s:mentioned_users lists 0).
func MentionsAll() Matcher { return &mentionMatcher{all: true} }

type mentionMatcher struct{ all bool }

func (m *mentionMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *mentionMatcher) hint() hint {
	if m.all {
		return messageKeys(key{op: keyMentionsAll})
	}
	return messageKeys(key{op: keyMentionsBot})
}
func (m *mentionMatcher) String() string {
	if m.all {
		return "mentions(all)"
	}
	return "mentions(bot)"
}
func (m *mentionMatcher) match(s *state, _ bool) (bool, string) {
	msg := s.c.Event.Message
	if msg == nil {
		return false, "no message"
	}
	toBot, toAll := s.mentions()
	if m.all {
		if toAll {
			return true, ""
		}
		return false, "the message does not mention everyone"
	}
	if _, ok := s.botUser(); !ok {
		return false, "the bot's user id is unknown (no bot, no BotUser option)"
	}
	if toBot {
		return true, ""
	}
	return false, "the message does not mention the bot"
}

// mentions reports whether the comma-separated id list holds id, as
// im.Message.MentionedUsers parses it, without allocating.
func mentions(list string, id im.UserID) bool {
	for list != "" {
		var f string
		f, list, _ = strings.Cut(list, ",")
		if n, ok := parseID(strings.TrimSpace(f)); ok && n == int64(id) {
			return true
		}
	}
	return false
}

// parseID parses a decimal int64 like strconv.ParseInt(s, 10, 64), but
// allocates no error.
func parseID(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && !(i == 0 && (c == '-' || c == '+') && len(s) > 1) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Prefix matches messages whose text (see the package documentation),
// leading white space removed, starts with prefix.
func Prefix(prefix string) Matcher {
	if prefix == "" {
		panic("router: empty Prefix (at " + callsite.Caller(1) + ")")
	}
	return &prefixMatcher{prefix: prefix, desc: "prefix(" + strconv.Quote(prefix) + ")"}
}

type prefixMatcher struct{ prefix, desc string }

func (m *prefixMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *prefixMatcher) String() string                      { return m.desc }
func (m *prefixMatcher) hint() hint                          { return messageKeys(key{keyPrefix, m.prefix}) }
func (m *prefixMatcher) match(s *state, _ bool) (bool, string) {
	if s.c.Event.Message == nil {
		return false, "no message"
	}
	if strings.HasPrefix(trimLeftSpace(s.text()), m.prefix) {
		return true, ""
	}
	return false, "the text does not start with the prefix"
}

// Keyword matches messages whose text contains one of words, compared
// without regard to case (strings.EqualFold over windows of the word's
// length).
func Keyword(words ...string) Matcher {
	if len(words) == 0 || slices.Contains(words, "") {
		panic("router: Keyword needs non-empty words (at " + callsite.Caller(1) + ")")
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return &keywordMatcher{words: slices.Clone(words), desc: "keyword(" + strings.Join(q, ", ") + ")", h: keywordHint(words)}
}

type keywordMatcher struct {
	words []string
	desc  string
	h     hint
}

// keywordHint files a Keyword under its words when they are all ASCII: a
// window of the text equal to an ASCII word under strings.EqualFold is
// that word in other ASCII case, as the runes outside ASCII that fold to
// ASCII letters (K for Kelvin, ſ) take more than one byte, so a window of
// the word's length holding one has fewer runes than the word. A word
// with other runes leaves the matcher unindexed.
func keywordHint(words []string) hint {
	keys := make([]key, len(words))
	for i, w := range words {
		for j := 0; j < len(w); j++ {
			if w[j] >= utf8.RuneSelf {
				return messageOnly
			}
		}
		keys[i] = key{keyWord, strings.ToLower(w)}
	}
	return messageKeys(keys...)
}

func (m *keywordMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *keywordMatcher) String() string                      { return m.desc }
func (m *keywordMatcher) hint() hint                          { return m.h }
func (m *keywordMatcher) match(s *state, _ bool) (bool, string) {
	if s.c.Event.Message == nil {
		return false, "no message"
	}
	text := s.text()
	for _, w := range m.words {
		if containsFold(text, w) {
			return true, ""
		}
	}
	return false, "the text contains none of the keywords"
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// Regex matches messages whose text matches the regular expression
// pattern; its named captures that took part in the match become route
// parameters. A bad pattern panics naming the caller's file:line; use
// Regexp with a compiled expression to handle the error. A pattern
// anchored at the start with literal text after the anchor, such as
// `^/weather (\w+)`, is indexed by that text.
func Regex(pattern string) Matcher {
	m, err := parseRegex(pattern)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, callsite.Caller(1)))
	}
	return m
}

// Regexp is Regex with a compiled expression. Unlike Regex's, its
// matcher is tried for every message (see Index in the package
// documentation): the index cannot tell which syntax re was parsed with.
func Regexp(re *regexp.Regexp) Matcher {
	if re == nil {
		panic("router: nil Regexp (at " + callsite.Caller(1) + ")")
	}
	return newRegex(re)
}

func parseRegex(pattern string) (*regexMatcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("router: regex %q: %w", pattern, err)
	}
	m := newRegex(re)
	m.prefix = anchoredPrefix(pattern)
	return m, nil
}

// anchoredPrefix returns the literal text that every match of the
// pattern, compiled with regexp.Compile, starts with at the beginning of
// the text: the case-sensitive literals after a leading ^ or \A (without
// the m flag), as in `^/weather (\w+)`; or "" when there is none.
// regexp's LiteralPrefix cannot say this: it does not tell whether the
// pattern is anchored, nor, for a compiled *regexp.Regexp, whether it
// was parsed with Perl's syntax (CompilePOSIX's ^ matches after any
// newline), which is why Regexp's matchers are not indexed.
func anchoredPrefix(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var sb strings.Builder
	for _, sub := range re.Sub[1:] {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			break
		}
		for _, r := range sub.Rune {
			if r == utf8.RuneError { // it also matches invalid bytes
				return sb.String()
			}
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func newRegex(re *regexp.Regexp) *regexMatcher {
	m := &regexMatcher{re: re, desc: "regex(" + re.String() + ")"}
	for _, n := range re.SubexpNames() {
		if n != "" {
			m.named = true
		}
	}
	return m
}

type regexMatcher struct {
	re     *regexp.Regexp
	named  bool
	desc   string
	prefix string // see anchoredPrefix; "" when not indexed
}

func (m *regexMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *regexMatcher) String() string                      { return m.desc }
func (m *regexMatcher) hint() hint {
	if m.prefix != "" {
		return messageKeys(key{keyRawPrefix, m.prefix})
	}
	return messageOnly
}
func (m *regexMatcher) match(s *state, _ bool) (bool, string) {
	if s.c.Event.Message == nil {
		return false, "no message"
	}
	text := s.text()
	if !m.named {
		if m.re.MatchString(text) {
			return true, ""
		}
		return false, "the text does not match"
	}
	loc := m.re.FindStringSubmatchIndex(text)
	if loc == nil {
		return false, "the text does not match"
	}
	for i, name := range m.re.SubexpNames() {
		if name != "" && loc[2*i] >= 0 {
			s.setParam(name, text[loc[2*i]:loc[2*i+1]])
		}
	}
	return true, ""
}

// And matches when all of ms match, tried in order. As a route's matcher
// its parts are the route's own (the index sees them, and a command among
// them has its usage path); see the package documentation.
func And(ms ...Matcher) Matcher {
	in := internals("And", ms)
	return &andMatcher{ms: in, desc: "and(" + joinStrings(in) + ")"}
}

// Or matches when one of ms matches, tried in order. A command inside Or
// is an ordinary matcher: bad arguments make it fail, with no usage reply.
func Or(ms ...Matcher) Matcher {
	in := internals("Or", ms)
	return &orMatcher{ms: in, desc: "or(" + joinStrings(in) + ")"}
}

// Not matches when m does not.
func Not(m Matcher) Matcher {
	if m == nil {
		panic("router: Not(nil) (at " + callsite.Caller(1) + ")")
	}
	in := internal(m)
	return &notMatcher{m: in, desc: "not(" + in.String() + ")", hit: in.String() + " matched"}
}

func internals(op string, ms []Matcher) []matcher {
	if len(ms) == 0 {
		panic("router: " + op + " needs at least one matcher (at " + callsite.Caller(2) + ")")
	}
	out := make([]matcher, len(ms))
	for i, m := range ms {
		if m == nil {
			panic("router: nil matcher in " + op + " (at " + callsite.Caller(2) + ")")
		}
		out[i] = internal(m)
	}
	return out
}

type andMatcher struct {
	ms   []matcher
	desc string
}

func (m *andMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *andMatcher) String() string                      { return m.desc }
func (m *andMatcher) hint() hint {
	var h hint
	for _, c := range m.ms {
		h, _ = intersect(h, c.hint())
	}
	return h
}
func (m *andMatcher) match(s *state, explain bool) (bool, string) {
	for _, c := range m.ms {
		if ok, why := c.match(s, explain); !ok {
			if explain {
				return false, c.String() + ": " + why
			}
			return false, why
		}
	}
	return true, ""
}

type orMatcher struct {
	ms   []matcher
	desc string
}

func (m *orMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *orMatcher) String() string                      { return m.desc }
func (m *orMatcher) hint() hint {
	h := m.ms[0].hint()
	for _, c := range m.ms[1:] {
		h = union(h, c.hint())
	}
	h.cmd = nil
	return h
}
func (m *orMatcher) match(s *state, explain bool) (bool, string) {
	var whys []string
	mark := len(s.params)
	for _, c := range m.ms {
		ok, why := c.match(s, explain)
		if ok {
			return true, ""
		}
		s.dropParams(mark) // a branch that failed may have found some
		if explain {
			whys = append(whys, c.String()+": "+why)
		}
	}
	if explain {
		return false, "none matched (" + strings.Join(whys, "; ") + ")"
	}
	return false, ""
}

type notMatcher struct {
	m         matcher
	desc, hit string
}

func (m *notMatcher) Match(c *bot.Context) (bool, string) { return matchAlone(m, c) }
func (m *notMatcher) String() string                      { return m.desc }
func (m *notMatcher) hint() hint                          { return hint{} }
func (m *notMatcher) match(s *state, explain bool) (bool, string) {
	mark := len(s.params)
	ok, _ := m.m.match(s, explain)
	s.dropParams(mark) // what matched, or partly matched, under Not gives no parameters
	if ok {
		return false, m.hit
	}
	return true, ""
}
