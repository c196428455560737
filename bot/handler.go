package bot

// Handler handles one event; returning nil means the event was handled.
// A failing handler runs again as the bot's Options.Retry says, and the
// final error goes to its error hook (Options.OnError).
//
// Handlers run on the bot's workers: events of one conversation one at a
// time and in order, events of different conversations in parallel. A
// Handler must therefore be safe for concurrent use across conversations.
type Handler interface {
	Handle(c *Context) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(c *Context) error

// Handle calls f(c).
func (f HandlerFunc) Handle(c *Context) error { return f(c) }

// Middleware wraps a Handler. A middleware's documentation says where in
// the chain it belongs.
type Middleware func(Handler) Handler

// Chain is a list of middleware, the first listed outermost.
type Chain []Middleware

// Then wraps h in the chain: Chain{m1, m2}.Then(h) is m1(m2(h)).
func (ch Chain) Then(h Handler) Handler {
	for i := len(ch) - 1; i >= 0; i-- {
		h = ch[i](h)
	}
	return h
}
