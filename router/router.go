package router

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/callsite"
)

// ErrContinue, returned by a route's handler (or wrapped in its error),
// passes the event on: the next matching route runs, and when none is
// left the NotFound handler does. Any other return stops the dispatch and
// is what [Router.Handle] returns.
var ErrContinue = errors.New("router: continue with the next route")

// Interface guard: a Router is a bot.Handler, as chi's Mux is an
// http.Handler.
var _ bot.Handler = (*Router)(nil)

// Router dispatches events to the first matching route; see the package
// documentation for matching, precedence and the index.
//
// A Router and the groups made from it (Group, With) share one route
// table. Configure it (Use, On…, NotFound, OnUsageError) before it serves
// its first event: registration after that panics. Registration is
// guarded by a mutex; Handle and Explain are safe for concurrent use.
type Router struct {
	t      *table
	parent *Router
	mws    []bot.Middleware
	// used is set once a route was registered on this Router or on a
	// group made from it; Use panics then. Guarded by t.mu.
	used bool
}

// table is what a Router and its groups share.
type table struct {
	mu      sync.Mutex
	serving atomic.Bool // set by the first Handle; registration panics after

	// Written under mu before serving, read-only once serving.
	routes        []*route
	idx           index
	notFound      bot.Handler
	notFoundWhere string
	usage         UsageHandler
	botUser       im.UserID
	hasBotUser    bool
}

// Option configures a Router at construction.
type Option func(*table)

// BotUser sets the user id the mention matchers (and Env.Mentioned) take
// as the bot's when the Context has no bot (bot.NewContext, in tests and
// tools). A Context with a bot always uses c.Bot().UserID().
func BotUser(id im.UserID) Option {
	return func(t *table) { t.botUser, t.hasBotUser = id, true }
}

// New returns an empty Router: no routes, no middleware, a no-op NotFound
// and the default usage handler (DefaultUsageHandler).
func New(opts ...Option) *Router {
	t := &table{usage: DefaultUsageHandler}
	t.idx.init()
	for _, o := range opts {
		o(t)
	}
	return &Router{t: t}
}

// RouteOption configures one route.
type RouteOption func(*routeConfig)

type routeConfig struct {
	priority int
	name     string
}

// Priority sets a route's priority: routes with a higher priority are
// tried first. The default is 0; negative values are allowed.
func Priority(n int) RouteOption { return func(c *routeConfig) { c.priority = n } }

// Name names a route in Explain output and the index print; the default
// is where it was registered (file:line).
func Name(name string) RouteOption { return func(c *routeConfig) { c.name = name } }

// route is one registered route.
type route struct {
	id       int // registration number, from 1
	priority int
	name     string // Name option, or the base file:line
	where    string // full file:line of the registration
	desc     string // the matchers, for Explain and the index print
	ms       []matcher
	cmd      *CommandMatcher // the route's top-level command, or nil
	custom   bool            // a custom Matcher takes part (see restoreParams)
	hint     hint
	h        bot.Handler // the handler inside the route's middleware
	usage    bot.Handler // the usage handler inside the route's middleware
}

// before reports whether a is tried before b: higher priority first, then
// registration order.
func before(a, b *route) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return a.id < b.id
}

// match runs the route's matchers: the others first, then the command, so
// that a command with bad arguments only counts when the rest matched.
// ok with a non-nil UsageError means the usage handler runs. The route
// parameters the matchers find are recorded in s, for s.commit.
func (rt *route) match(s *state, explain bool) (ok bool, failed matcher, why string, uerr *UsageError) {
	s.dropParams(0)
	for _, m := range rt.ms {
		if ok, why := m.match(s, explain); !ok {
			return false, m, why, nil
		}
	}
	if rt.cmd != nil {
		nameOK, uerr := rt.cmd.parse(s)
		if !nameOK {
			why := ""
			if explain {
				why = rt.cmd.whyName(s)
			}
			return false, rt.cmd, why, nil
		}
		return true, nil, "", uerr
	}
	return true, nil, "", nil
}

// Handle dispatches c's event: it tries the candidate routes from the
// index in precedence order and runs the first that matches; a handler
// returning ErrContinue passes the event on to the next matching route.
// When no route handles the event, the NotFound handler runs (by default
// nothing does, and Handle returns nil).
//
// The matching route's parameters are set on c just before its handler
// runs, and stay there when Handle returns; a route that does not match
// sets none, and a route whose handler passes the event on has its
// parameters taken back (see the package documentation).
//
// The first call freezes the route table: registering afterwards panics.
func (r *Router) Handle(c *bot.Context) error {
	t := r.t
	if !t.serving.Load() {
		t.mu.Lock()
		t.serving.Store(true)
		t.mu.Unlock()
	}
	s := getState(c, t)
	defer putState(s)
	t.idx.candidates(s, &s.it)
	for rt := s.it.next(); rt != nil; rt = s.it.next() {
		var saved map[string]string
		if rt.custom {
			saved = c.Params()
		}
		ok, _, _, uerr := rt.match(s, false)
		if !ok {
			restoreParams(c, saved)
			continue
		}
		s.commit()
		c.SetRoute(rt.name)
		var err error
		if uerr != nil {
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			err = rt.usage.Handle(c.WithContext(context.WithValue(ctx, usageKey{}, uerr)))
		} else {
			err = rt.h.Handle(c)
		}
		if err == nil {
			return nil
		}
		if err == ErrContinue || errors.Is(err, ErrContinue) {
			s.undo()
			restoreParams(c, saved)
			continue
		}
		return err
	}
	if t.notFound != nil {
		c.SetRoute(NotFoundRoute)
		return t.notFound.Handle(c)
	}
	c.SetRoute("")
	return nil
}

// restoreParams gives c back the parameters saved, those it had before a
// route with a custom Matcher was tried: such a Matcher sets parameters
// on the Context at once, where the built-in ones record theirs for
// state.commit. A nil saved (a route without custom matchers) restores
// nothing.
func restoreParams(c *bot.Context, saved map[string]string) {
	if saved == nil {
		return
	}
	for name, v := range c.Params() {
		old, set := saved[name]
		switch {
		case !set:
			c.DeleteParam(name)
		case old != v:
			c.SetParam(name, old)
		}
	}
}

// NotFoundRoute is the route name (bot.Context.Route) of the NotFound
// handler.
const NotFoundRoute = "NotFound"

// On registers a route: events that m matches go to h, inside the
// Router's middleware. It panics, naming the caller's file:line, when h or
// m is nil, when m can never match (contradicting kinds or conversation
// types), when it is a command route that routes registered before leave
// no event (see Precedence in the package documentation), and when the
// router already serves.
func (r *Router) On(m Matcher, h bot.Handler, opts ...RouteOption) {
	r.register(callsite.Caller(1), m, h, opts)
}

// OnFunc is On with a function.
func (r *Router) OnFunc(m Matcher, h bot.HandlerFunc, opts ...RouteOption) {
	r.register(callsite.Caller(1), m, handlerOf(h), opts)
}

// OnMessage registers h for every message event.
func (r *Router) OnMessage(h bot.HandlerFunc, opts ...RouteOption) {
	r.register(callsite.Caller(1), Kind(bot.EventMessage), handlerOf(h), opts)
}

// OnEvent registers h for events of kind.
func (r *Router) OnEvent(kind bot.EventKind, h bot.HandlerFunc, opts ...RouteOption) {
	r.register(callsite.Caller(1), Kind(kind), handlerOf(h), opts)
}

// OnCommand registers h for the command spec, such as
// "/weather <city> [days:int]" (see [Command]). A bad spec panics naming
// the caller's file:line. A message naming the command with bad arguments
// goes to the usage handler instead of h (see [Router.OnUsageError]).
func (r *Router) OnCommand(spec string, h bot.HandlerFunc, opts ...RouteOption) {
	where := callsite.Caller(1)
	cmd, err := ParseCommand(spec)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, where))
	}
	r.register(where, cmd, handlerOf(h), opts)
}

// OnRegex registers h for messages whose text matches the regular
// expression pattern (see [Regex]); a bad pattern panics naming the
// caller's file:line.
func (r *Router) OnRegex(pattern string, h bot.HandlerFunc, opts ...RouteOption) {
	where := callsite.Caller(1)
	m, err := parseRegex(pattern)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, where))
	}
	r.register(where, m, handlerOf(h), opts)
}

// OnPrefix registers h for messages whose text starts with prefix (see
// [Prefix]).
func (r *Router) OnPrefix(prefix string, h bot.HandlerFunc, opts ...RouteOption) {
	r.register(callsite.Caller(1), Prefix(prefix), handlerOf(h), opts)
}

// OnKeyword registers h for messages whose text contains keyword (see
// [Keyword]).
func (r *Router) OnKeyword(keyword string, h bot.HandlerFunc, opts ...RouteOption) {
	r.register(callsite.Caller(1), Keyword(keyword), handlerOf(h), opts)
}

// OnFile registers h for messages carrying a file of the given types, or
// any file when none is given (see [File]).
func (r *Router) OnFile(h bot.HandlerFunc, types ...im.FileType) {
	r.register(callsite.Caller(1), File(types...), handlerOf(h), nil)
}

// OnExpr registers h for events the expr-lang expression src matches (see
// [Expr]; it sees every kind of event, so test Kind when it matters). A
// bad expression is an error, with its position, and nothing is
// registered.
func (r *Router) OnExpr(src string, h bot.HandlerFunc, opts ...RouteOption) error {
	where := callsite.Caller(1)
	m, err := Expr(src)
	if err != nil {
		return err
	}
	r.register(where, m, handlerOf(h), opts)
	return nil
}

// MustOnExpr is OnExpr for expressions written in the code: a bad
// expression panics naming the caller's file:line.
func (r *Router) MustOnExpr(src string, h bot.HandlerFunc, opts ...RouteOption) {
	where := callsite.Caller(1)
	m, err := Expr(src)
	if err != nil {
		panic(fmt.Sprintf("%v (at %s)", err, where))
	}
	r.register(where, m, handlerOf(h), opts)
}

// NotFound sets the handler that runs when no route handles an event,
// inside the Router's middleware. The default does nothing and Handle
// returns nil. Setting it twice panics.
func (r *Router) NotFound(h bot.HandlerFunc) {
	where := callsite.Caller(1)
	if h == nil {
		panic("router: nil NotFound handler (at " + where + ")")
	}
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mustConfigure(where)
	if t.notFound != nil {
		panic(fmt.Sprintf("router: NotFound set at %s, already set at %s", where, t.notFoundWhere))
	}
	t.notFound = bot.Chain(r.mws).Then(h)
	t.notFoundWhere = where
	r.markUsed()
}

// OnUsageError sets the handler that runs, in place of a command route's
// handler, when a message names the command with bad arguments. The
// default is DefaultUsageHandler. It runs inside the route's middleware,
// and may return ErrContinue like any route handler.
func (r *Router) OnUsageError(h UsageHandler) {
	where := callsite.Caller(1)
	if h == nil {
		panic("router: nil usage handler (at " + where + ")")
	}
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mustConfigure(where)
	t.usage = h
}

// Index returns a print of the route index, one bucket a line, for tests
// and debugging; see the package documentation.
func (r *Router) Index() string {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	return r.t.idx.String()
}

func (t *table) mustConfigure(where string) {
	if t.serving.Load() {
		panic("router: route registered after the router started serving (at " + where + ")")
	}
}

func (r *Router) markUsed() {
	for g := r; g != nil; g = g.parent {
		g.used = true
	}
}

func handlerOf(f bot.HandlerFunc) bot.Handler {
	if f == nil {
		return nil
	}
	return f
}

func (r *Router) register(where string, m Matcher, h bot.Handler, opts []RouteOption) {
	if h == nil {
		panic("router: nil handler (at " + where + ")")
	}
	if m == nil {
		panic("router: nil matcher (at " + where + ")")
	}
	var cfg routeConfig
	for _, o := range opts {
		o(&cfg)
	}
	rt := &route{priority: cfg.priority, name: cfg.name, where: where}
	if rt.name == "" {
		rt.name = shortWhere(where)
	}
	var err error
	rt.ms, rt.cmd, rt.hint, err = flatten(internal(m))
	if err != nil {
		panic(fmt.Sprintf("router: %v (at %s)", err, where))
	}
	rt.desc = describe(rt.ms, rt.cmd)
	rt.custom = slices.ContainsFunc(rt.ms, hasCustom)

	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mustConfigure(where)
	if rt.cmd != nil {
		if olds := t.idx.conflict(rt); olds != nil {
			wheres := make([]string, len(olds))
			for i, old := range olds {
				wheres[i] = old.where
			}
			panic(fmt.Sprintf("router: command %s registered at %s conflicts with %s", rt.cmd.name, where, strings.Join(wheres, " and ")))
		}
	}
	chain := bot.Chain(r.mws)
	rt.h = chain.Then(h)
	rt.usage = chain.Then(bot.HandlerFunc(t.runUsage))
	rt.id = len(t.routes) + 1
	t.routes = append(t.routes, rt)
	t.idx.add(rt)
	r.markUsed()
}

// shortWhere turns a full file:line into its base name and line.
func shortWhere(where string) string { return filepath.Base(where) }
