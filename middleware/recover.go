package middleware

import (
	"errors"
	"runtime/debug"

	"github.com/imbot-go/imbot/bot"
)

// ErrAbort is the panic value with which a handler deliberately abandons
// an event, as net/http's ErrAbortHandler does a request: [Recover]
// re-panics it instead of recovering it, so that the middleware between
// the handler and Recover unwinds and Recover's hook does not run.
//
// The bot's own last-resort recovery then turns the panic into a
// *bot.PanicError whose Value is ErrAbort, for the bot's OnError hook,
// which can tell it from a crash with [IsAbort] and stay quiet.
var ErrAbort = errors.New("middleware: handler aborted")

// IsAbort reports whether err is [ErrAbort], wraps it, or is a
// *bot.PanicError (or wraps one) whose Value is or wraps ErrAbort: what
// an OnError hook receives when a handler panicked with ErrAbort.
func IsAbort(err error) bool {
	if errors.Is(err, ErrAbort) {
		return true
	}
	var pe *bot.PanicError
	if !errors.As(err, &pe) {
		return false
	}
	v, ok := pe.Value.(error)
	return ok && errors.Is(v, ErrAbort)
}

// Recover returns middleware that turns a panic in the handlers it wraps
// into a *bot.PanicError carrying the panic value and the stack of the
// panicking goroutine, which it returns as the handler's error: the error
// goes up through the middleware outside Recover and reaches the bot's
// OnError hook like any other. A panic with [ErrAbort] (or an error
// wrapping it) is not recovered but re-panicked.
//
// Recover belongs outermost, first in the chain: a panic unwinds through
// every middleware inside it without returning, so middleware outside
// Recover (a Logger, say) would see no error but the panic itself. The
// bot recovers panics too, as a last resort, but only Recover hands the
// error to the middleware outside it and to [RecoverWith]'s hook.
//
// The middleware is safe for concurrent use.
func Recover() bot.Middleware { return RecoverWith(nil) }

// RecoverWith is [Recover] with a hook: fn, when not nil, is called with
// the event's Context and the *bot.PanicError before Recover returns that
// error (to tell the user "something went wrong", or count crashes). fn
// must not panic; it is not called for [ErrAbort]. Recover's doc on
// placement applies.
func RecoverWith(fn func(c *bot.Context, pe *bot.PanicError)) bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) (err error) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if e, ok := p.(error); ok && errors.Is(e, ErrAbort) {
					panic(p)
				}
				pe := &bot.PanicError{Value: p, Stack: debug.Stack()}
				if fn != nil {
					fn(c, pe)
				}
				err = pe
			}()
			return next.Handle(c)
		})
	}
}
