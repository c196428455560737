package middleware

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/imbot-go/imbot/bot"
)

// Outcomes that [Logger] reports under the "outcome" key.
const (
	OutcomeOK      = "ok"      // the handler returned nil
	OutcomeError   = "error"   // the handler returned an error
	OutcomeTimeout = "timeout" // the error wraps context.DeadlineExceeded
	OutcomePanic   = "panic"   // the handler panicked (or called runtime.Goexit)
	OutcomeSkipped = "skipped" // a middleware let the event go (bot.Context.Skip); the line says why
)

// Logger returns middleware that logs one line per event to l when the
// handlers it wraps return: at Info when they return nil, at Error
// otherwise. The line's message is "event" and its attributes are:
//
//   - "event": the event's kind (bot.EventKind.String);
//   - "conversation": the conversation's id, for conversation events;
//   - "message": the message's server id, for message events;
//   - "sender": the user the event came from (bot.Event.Sender), when
//     there is one;
//   - "latency": how long the handlers took, a time.Duration;
//   - "outcome": [OutcomeOK], [OutcomeError], [OutcomeTimeout] or
//     [OutcomePanic];
//   - "route": the route that handled it (bot.Context.Route: the
//     route's Name option or its registration's file:line, as a router
//     sets it), when a router named one; the middleware of this
//     package between Logger and the router pass it on (see below);
//   - "err": the error, when there is one.
//
// It logs no route parameters (Context.Param): they are what users typed.
// Nothing in a Context carries a secret; the bot's token in particular is
// the IM client's and never logged.
//
// Logger is an access log, not the error sink: an error it logs still
// goes on to the bot's OnError hook, whose default logs it too. Give the
// bot an OnError that does something else (alerting, a reply) when one
// line per failure is wanted.
//
// Place Logger second, just inside [Recover]: inside it, Logger sees a
// panic unwinding and logs it as such (without recovering it, so Recover
// still gets the original stack); outside it, Logger would log a
// recovered panic as an ordinary error. Before the middleware that drop
// events (IgnoreSelf, Dedup, RateLimit), Logger logs dropped events too,
// as "skipped" with the reason (skipped=duplicate); put it after them to
// log only what reaches the handler.
//
// The route is the one a router inside named, through any copies of the
// Context middleware made in between (Context.WithContext shares it).
//
// Logger panics if l is nil. The middleware is safe for concurrent use.
func Logger(l *slog.Logger) bot.Middleware {
	if l == nil {
		panic("middleware: Logger(nil)")
	}
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) (err error) {
			start := time.Now()
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			returned := false
			defer func() {
				// Without recover: a panic goes on unwinding, stack intact.
				logEvent(ctx, l, c, time.Since(start), returned, err)
			}()
			err = next.Handle(c)
			returned = true
			return err
		})
	}
}

// logEvent writes Logger's line for c's event.
func logEvent(ctx context.Context, l *slog.Logger, c *bot.Context, latency time.Duration, returned bool, err error) {
	level, outcome := slog.LevelInfo, OutcomeOK
	switch {
	case !returned:
		level, outcome = slog.LevelError, OutcomePanic
	case errors.Is(err, context.DeadlineExceeded):
		level, outcome = slog.LevelError, OutcomeTimeout
	case err != nil:
		level, outcome = slog.LevelError, OutcomeError
	case c.Skipped() != "":
		outcome = OutcomeSkipped
	}
	if !l.Enabled(ctx, level) {
		return
	}
	ev := &c.Event
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", ev.Kind.String()))
	if ev.ConversationRef.ID != "" {
		attrs = append(attrs, slog.String("conversation", string(ev.ConversationRef.ID)))
	}
	if ev.Message != nil {
		attrs = append(attrs, slog.Int64("message", int64(ev.Message.ServerID)))
	}
	if s := ev.Sender(); s != 0 {
		attrs = append(attrs, slog.Int64("sender", int64(s)))
	}
	attrs = append(attrs, slog.Duration("latency", latency), slog.String("outcome", outcome))
	if r := c.Route(); r != "" {
		attrs = append(attrs, slog.String("route", r))
	}
	if r := c.Skipped(); r != "" {
		attrs = append(attrs, slog.String("skipped", r))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	l.LogAttrs(ctx, level, "event", attrs...)
}
