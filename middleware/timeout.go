package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imbot-go/imbot/bot"
)

// Timeout returns middleware that gives the handlers it wraps a context
// with a deadline d from now (Context.WithContext): the IM calls a
// handler makes with it (Reply, Send, WaitNext, …) give up when it passes.
// A nearer deadline already on the context stays. The route a router
// inside names (Context.SetRoute) is set on the Context Timeout was
// given as well, so that a [Logger] outside logs it.
//
// Go cannot stop a goroutine, so a handler that ignores its context is
// not killed at the deadline: it runs to the end, holding its
// conversation (whose later events wait) and a worker. What Timeout does
// then is make its failure say so: an error returned after Timeout's
// deadline passed wraps context.DeadlineExceeded as well as the
// handler's own error, so that errors.Is(err, context.DeadlineExceeded)
// holds and a Logger reports the outcome "timeout". A handler that
// returns nil after the deadline still succeeded, and Timeout returns
// nil. An error after the bot's context ended (shutdown) or after an
// outer deadline is returned unchanged.
//
// Place Timeout last, innermost, just around the handler (the router):
// the middleware outside it then work on the event's own context, so
// that a handler that used up its deadline does not make Dedup's mark or
// AutoRead's read mark fail. Inside a router, router.With(middleware.Timeout(d)) gives
// one route its own deadline.
//
// Timeout panics if d is not positive. The middleware is safe for
// concurrent use.
func Timeout(d time.Duration) bot.Middleware {
	if d <= 0 {
		panic(fmt.Sprintf("middleware: Timeout(%v): the timeout must be positive", d))
	}
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			parent := c.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, cancel := context.WithTimeout(parent, d)
			defer cancel()
			err := next.Handle(c.WithContext(ctx))
			if err == nil || ctx.Err() != context.DeadlineExceeded || parent.Err() != nil {
				return err // in time, or not this deadline
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("middleware: handler timed out after %v: %w", d, err)
			}
			return fmt.Errorf("middleware: handler timed out after %v: %w: %w", d, context.DeadlineExceeded, err)
		})
	}
}
