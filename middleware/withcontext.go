package middleware

import (
	"context"

	"github.com/imbot-go/imbot/bot"
)

// handleWith runs next on a copy of c carrying ctx (bot.Context.WithContext),
// for middleware that sets a deadline or a value, and gives c the route
// the copy was given (bot.Context.SetRoute). A router inside names its
// route on the Context it is handed, the copy, while the middleware
// outside, a Logger, reads c: without this the route would be lost at
// the copy. It does so when next panics too, since Logger logs a panic.
func handleWith(next bot.Handler, c *bot.Context, ctx context.Context) error {
	inner := c.WithContext(ctx)
	defer func() { c.SetRoute(inner.Route()) }()
	return next.Handle(inner)
}
