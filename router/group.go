package router

import (
	"slices"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/internal/callsite"
)

// Use appends middleware to r's stack: it wraps every route registered on
// r afterwards (and on groups made from r afterwards), the first added
// outermost, as bot.Chain does. The stack is built into each route when
// it is registered, so Use after a route was registered on r or on one of
// its groups panics, as chi's does.
func (r *Router) Use(mws ...bot.Middleware) {
	where := callsite.Caller(1)
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.used {
		panic("router: Use after a route was registered (at " + where + ")")
	}
	for _, mw := range mws {
		if mw == nil {
			panic("router: nil middleware (at " + where + ")")
		}
	}
	r.mws = append(r.mws, mws...)
}

// With returns a Router for one route (or a few) with mws added inside
// r's middleware: r.With(auth).OnCommand(…). It shares r's route table;
// r's own stack is unchanged.
func (r *Router) With(mws ...bot.Middleware) *Router {
	for _, mw := range mws {
		if mw == nil {
			panic("router: nil middleware (at " + callsite.Caller(1) + ")")
		}
	}
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	return &Router{t: r.t, parent: r, mws: append(slices.Clone(r.mws), mws...)}
}

// Group calls fn with a Router that shares r's route table and starts with
// a copy of r's middleware stack: middleware fn adds with Use wraps only
// the group's routes. It returns that Router.
func (r *Router) Group(fn func(r *Router)) *Router {
	g := r.With()
	if fn != nil {
		fn(g)
	}
	return g
}
