package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// DefaultAutoReadInterval is how often AutoRead marks a conversation read
// at most, by default.
const DefaultAutoReadInterval = time.Second

// markTimeout bounds each mark-read that AutoRead's own goroutine makes.
const markTimeout = 10 * time.Second

// AutoReadOptions configures [NewAutoRead]. The zero value means the
// defaults; NewAutoRead copies it.
type AutoReadOptions struct {
	// Interval is the least time between two marks of one conversation:
	// a conversation's messages handled meanwhile are marked at once, by
	// the newest index. Default DefaultAutoReadInterval.
	Interval time.Duration
	// Skip, when set, is called before the handler; when it reports true,
	// the event is not marked read.
	Skip func(c *bot.Context) bool
	// Now is the clock that times Interval. Default time.Now. Tests
	// combine a long Interval with Flush.
	Now func() time.Time
}

// AutoRead moves the bot's read index up to the messages its handler
// handled: after the handler returns nil for a message from another user,
// it marks the message's conversation read up to the message (im.Client
// MarkRead), so that users see their messages read by the bot. A handler
// error, a message whose ext says "s:do_not_move_read_index"
// (im.Message.MovesReadIndex), AutoReadOptions.Skip, [SkipAutoRead] and
// [NoAutoRead] each keep a message from being marked.
//
// # Coalescing
//
// Marks are coalesced per conversation: the first message handled in a
// conversation starts a wait of Interval, the messages handled meanwhile
// join it, and at its end AutoRead marks the conversation once, up to the
// newest of them. A conversation is thus marked at most once per
// Interval, and the mark comes up to Interval after the handler. The
// marks are made by one goroutine that Run runs; [AutoRead.Flush] makes
// the pending marks at once.
//
// # Use
//
// AutoRead is a [bot.Plugin]: b.Plug(a) adds a.Middleware() to the bot's
// chain and a.Run as a background job (bot.Bot.Go), which starts and
// stops with the bot. Plug it where the middleware belongs: after
// Recover, Logger and RateLimit (Use them before Plug), so that a
// recovered panic counts as a failure and a dropped event is not marked
// read; before Timeout, so that its handler's deadline does not bound the
// mark. To place the middleware elsewhere, such as on some routes only
// (router.With), use a.Middleware() there and b.Go(a.Run) instead of
// Plug.
//
// Without Run, the middleware collects marks until Flush. Once Run has
// returned (the bot is shutting down), it marks at once, in the handler's
// goroutine, so that the messages handled during the bot's drain are
// marked too.
//
// An AutoRead is safe for concurrent use.
type AutoRead struct {
	interval time.Duration
	skip     func(*bot.Context) bool
	now      func() time.Time
	wake     chan struct{} // a new conversation waits; capacity 1

	mu      sync.Mutex
	pending map[readKey]*pendingRead
	state   runState
	setUp   bool
}

var _ bot.Plugin = (*AutoRead)(nil)

type runState int

const (
	notRunning runState = iota // collecting, no goroutine
	running                    // Run marks when marks are due
	stopped                    // Run returned: marks are made at once
)

// readKey names a conversation of a client: a middleware may serve more
// than one bot.
type readKey struct {
	client *im.Client
	conv   im.ConversationID
}

// pendingRead is a mark waiting for its conversation's Interval.
type pendingRead struct {
	client *im.Client
	ref    im.ConversationRef
	index  int64
	due    time.Time
	log    *slog.Logger // the newest event's, for a failure
}

// NewAutoRead returns an AutoRead for opts. It panics, as a programmer
// error, when opts.Interval is negative.
func NewAutoRead(opts AutoReadOptions) *AutoRead {
	if opts.Interval < 0 {
		panic("middleware: NewAutoRead: negative Interval")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultAutoReadInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &AutoRead{
		interval: opts.Interval,
		skip:     opts.Skip,
		now:      opts.Now,
		wake:     make(chan struct{}, 1),
		pending:  make(map[readKey]*pendingRead),
	}
}

// Setup adds a.Middleware() to b's chain and a.Run to its background
// jobs. An AutoRead serves one bot: a second Setup returns an error.
func (a *AutoRead) Setup(b *bot.Bot) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.setUp {
		return errors.New("middleware: AutoRead set up twice; make one per bot")
	}
	a.setUp = true
	b.Use(a.Middleware())
	b.Go(a.Run)
	return nil
}

// readCtx is the event's context.Context inside AutoRead: it carries the
// flag that SkipAutoRead sets (one allocation for both).
type readCtx struct {
	context.Context
	skip atomic.Bool
}

type readCtxKey struct{}

func (c *readCtx) Value(key any) any {
	if key == (readCtxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// SkipAutoRead keeps the AutoRead middleware around c's handler from
// marking c's event read: a handler, or a route's middleware, calls it
// (see also [NoAutoRead]). It works through copies of c
// (bot.Context.WithContext), since the middleware puts a flag in the
// event's context.Context for it to set. Outside AutoRead it does nothing.
func SkipAutoRead(c *bot.Context) {
	ctx := c.Context()
	if ctx == nil {
		return
	}
	if rc, ok := ctx.Value(readCtxKey{}).(*readCtx); ok {
		rc.skip.Store(true)
	}
}

// NoAutoRead is middleware that turns AutoRead off for the handler it
// wraps, such as a route (router.With(middleware.NoAutoRead)): it calls
// [SkipAutoRead] before the handler. It must sit inside AutoRead.
func NoAutoRead(next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		SkipAutoRead(c)
		return next.Handle(c)
	})
}

// Middleware returns the middleware that collects the marks. Each call
// returns middleware feeding the same AutoRead.
func (a *AutoRead) Middleware() bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			if !a.wants(c) {
				return next.Handle(c)
			}
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			rc := &readCtx{Context: ctx}
			if err := next.Handle(c.WithContext(rc)); err != nil {
				return err
			}
			if rc.skip.Load() {
				return nil
			}
			return a.add(c)
		})
	}
}

// wants reports whether c's event is a message to mark once handled.
func (a *AutoRead) wants(c *bot.Context) bool {
	m := c.Event.Message
	if c.Event.Kind != bot.EventMessage || m == nil || m.Index <= 0 || !m.MovesReadIndex() {
		return false
	}
	if b := c.Bot(); b == nil || m.Sender == b.UserID() {
		return false // no client, or the bot's own message
	}
	return a.skip == nil || !a.skip(c)
}

// add records the mark of c's message, or makes it at once once Run has
// returned.
func (a *AutoRead) add(c *bot.Context) error {
	client, ref, index := c.Client(), c.Event.ConversationRef, c.Event.Message.Index
	a.mu.Lock()
	if a.state == stopped {
		a.mu.Unlock()
		if err := client.MarkRead(c.Context(), ref, index); err != nil {
			return fmt.Errorf("middleware: auto read: %w", err)
		}
		return nil
	}
	k := readKey{client, ref.ID}
	p, ok := a.pending[k]
	if !ok {
		p = &pendingRead{client: client, ref: ref, due: a.now().Add(a.interval)}
		a.pending[k] = p
	}
	p.index = max(p.index, index)
	p.log = c.Logger()
	a.mu.Unlock()
	if !ok {
		select {
		case a.wake <- struct{}{}:
		default: // Run is woken already
		}
	}
	return nil
}

// take removes and returns the pending marks due at now (all of them when
// all is true), and when the next of the others is due.
func (a *AutoRead) take(all bool) (due []*pendingRead, next time.Time, more bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for k, p := range a.pending {
		if all || !p.due.After(now) {
			due = append(due, p)
			delete(a.pending, k)
			continue
		}
		if !more || p.due.Before(next) {
			next, more = p.due, true
		}
	}
	return due, next, more
}

// Flush makes every pending mark now, whatever its Interval, and returns
// the errors of those that failed (which are not retried: the next
// message handled marks its conversation again). Tests call it with a
// long Interval to see the coalesced marks without waiting.
func (a *AutoRead) Flush(ctx context.Context) error {
	due, _, _ := a.take(true)
	var errs []error
	for _, p := range due {
		if err := p.client.MarkRead(ctx, p.ref, p.index); err != nil {
			errs = append(errs, fmt.Errorf("middleware: auto read of %v up to %d: %w", p.ref.ID, p.index, err))
		}
	}
	return errors.Join(errs...)
}

// Run makes the marks as they come due, until ctx ends; then it makes the
// pending ones and returns nil, and from then on the middleware marks at
// once. A failed mark is logged with the logger of the conversation's
// newest event. Run may be called once; Setup arranges it.
func (a *AutoRead) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.state != notRunning {
		a.mu.Unlock()
		return errors.New("middleware: AutoRead.Run called twice")
	}
	a.state = running
	a.mu.Unlock()
	// The marks outlive ctx by markTimeout: at shutdown the bot closes
	// its client only once its jobs have returned.
	markCtx := context.WithoutCancel(ctx)
	timer := time.NewTimer(0)
	timer.Stop()
	defer timer.Stop()
	for {
		due, next, more := a.take(false)
		a.mark(markCtx, due)
		var tick <-chan time.Time
		if more {
			timer.Reset(max(next.Sub(a.now()), 0))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.state = stopped
			a.mu.Unlock()
			due, _, _ := a.take(true)
			a.mark(markCtx, due)
			return nil
		case <-a.wake:
		case <-tick:
		}
		timer.Stop()
	}
}

// mark makes the marks, logging failures.
func (a *AutoRead) mark(ctx context.Context, due []*pendingRead) {
	for _, p := range due {
		ctx, cancel := context.WithTimeout(ctx, markTimeout)
		err := p.client.MarkRead(ctx, p.ref, p.index)
		cancel()
		if err != nil {
			p.log.Warn("middleware: auto read failed", "index", p.index, "err", err)
		}
	}
}
