package bot

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// Priority orders sends waiting in the bot's outbound queue: when a send
// slot frees, a waiting send of a more urgent priority goes before one of
// a less urgent priority, whenever it was queued; sends of one priority go
// in the order they were queued. Priority never reorders the sends of one
// conversation (see [SendOptions]).
type Priority int

// Priorities, the most urgent first.
const (
	// PriorityReply is a handler answering the event it handles
	// (Context.Reply, Quote, Send): first, so that a user is answered
	// promptly whatever else the bot is sending.
	PriorityReply Priority = iota + 1
	// PriorityNormal is the priority of Bot.Send by default.
	PriorityNormal
	// PriorityBulk is for broadcasts and announcements (plugins/cron):
	// last, so that they only use the slots nothing more urgent needs.
	PriorityBulk
)

var priorityNames = [...]string{PriorityReply: "Reply", PriorityNormal: "Normal", PriorityBulk: "Bulk"}

// String returns the priority's name ("Reply", "Normal", "Bulk"), or
// "Priority(n)" for a value that is none of them.
func (p Priority) String() string {
	if p.valid() {
		return priorityNames[p]
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

func (p Priority) valid() bool { return p >= PriorityReply && p <= PriorityBulk }

// Defaults of SendOptions.
const (
	DefaultSendMaxInFlight = 8
	DefaultSendMaxQueued   = 1024
	DefaultSendMaxRetries  = 3
)

// Retry backoff of the outbound queue: the n-th re-send of a message waits
// sendRetryBackoff·2ⁿ⁻¹, at most maxSendRetryBackoff, or longer when the
// server asks for longer.
const (
	sendRetryBackoff    = 100 * time.Millisecond
	maxSendRetryBackoff = 10 * time.Second
)

// Limit is a token bucket: Rate sends per second on average, Burst at
// once. The zero Limit is no limit, and so is a Rate of rate.Inf. Burst
// defaults to 1 when Rate is set.
type Limit struct {
	Rate  rate.Limit
	Burst int
}

// check validates l, naming it field in its error.
func (l Limit) check(field string) error {
	switch {
	case !(l.Rate >= 0): // NaN too
		return fmt.Errorf("bot: SendOptions.%s.Rate must be a number ≥ 0, got %v", field, l.Rate)
	case l.Burst < 0:
		return fmt.Errorf("bot: SendOptions.%s.Burst must not be negative, got %d", field, l.Burst)
	case l.Rate == 0 && l.Burst > 0:
		return fmt.Errorf("bot: SendOptions.%s.Burst (%d) is set without a Rate", field, l.Burst)
	}
	return nil
}

// limiter returns l's token bucket, or nil when l is no limit.
func (l Limit) limiter() *rate.Limiter {
	if l.Rate == 0 || l.Rate == rate.Inf {
		return nil
	}
	return rate.NewLimiter(l.Rate, max(l.Burst, 1))
}

// SendOptions configures the bot's outbound queue (Options.Send), through
// which every send of the bot goes: handlers' replies, Bot.Send, plugins.
// Zero values mean defaults.
//
// Sends to one conversation go out one at a time, in the order they were
// queued; a send being retried keeps its place, and the later sends to its
// conversation wait for it. Across conversations, when a slot frees, the
// waiting send with the most urgent [Priority] whose conversation is free
// and whose limits allow goes next, the oldest first among equals. A
// conversation's queue moves with the most urgent priority among its
// sends, so that a reply queued behind a broadcast in the same
// conversation pulls the broadcast along instead of waiting for every
// other conversation's broadcast.
//
// A send that fails because the server asked to slow down (status 429,
// with or without a retry-after-ms hint, [im.RetryAfter]), because the
// request got no answer (an [*im.Error] of type network or timeout) or
// because the server failed (SERVER_ERR, INTERNAL_ERROR,
// DEGRADATION_ERROR) is sent again, with the same client message id, after the longer of the
// server's hint and a backoff of 100ms doubling at each retry (at most
// 10s). A hint pauses every send, not only the conversation's: the
// servers that answer 429 (IM Cloud, imbot's own, which limits requests
// per socket) limit the client as a whole. A send that gets a logical
// answer (not a member, muted, rejected …), or whose context ends, or
// after the client closed, is not retried.
//
// A caller whose context ends while its send waits (for a place in the
// queue, a slot, a limit or a retry) gets an error that wraps ctx.Err()
// and says that the message was not sent; the send leaves the queue.
type SendOptions struct {
	// Global limits all sends, PerConversation the sends to each
	// conversation, and PerLiveChat the sends to each live chat instead of
	// PerConversation. A send waiting for a limit holds no slot and holds
	// up no other conversation whose limits allow. Default: no limit (the
	// server answers 429 with a hint when it limits).
	Global, PerConversation, PerLiveChat Limit
	// MaxInFlight bounds the sends on the wire at once. Default 8.
	MaxInFlight int
	// MaxQueued bounds the sends waiting for a slot. Beyond it a send
	// waits for a place (backpressure) until its context ends; places go
	// to the most urgent priority first. A send being retried keeps its
	// place. Default 1024.
	MaxQueued int
	// MaxRetries bounds the re-sends of a message after a rate-limit or
	// transient failure. Default 3, the IM client's own default, whose
	// retries the queue replaces: bot.New turns the client's
	// (im.Options.MaxSendMsgRetryTimes) off unless they are set, so that
	// a send is not retried by both. -1 means none.
	MaxRetries int
	// Now is the clock of the limits, for tests. Default time.Now.
	Now func() time.Time
}

// SendOption modifies one send of Bot.Send.
type SendOption func(*sendConfig)

type sendConfig struct {
	priority Priority
}

// WithPriority sets the priority of a send; Bot.Send's default is
// PriorityNormal. A value that is not one of the Priority constants makes
// the send fail.
func WithPriority(p Priority) SendOption {
	return func(c *sendConfig) { c.priority = p }
}

// sendConfigOf applies opts to Bot.Send's defaults.
func sendConfigOf(opts []SendOption) sendConfig {
	c := sendConfig{priority: PriorityNormal}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sendFunc sends one message: im.Client.SendMessage.
type sendFunc func(ctx context.Context, to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error)

// outbox is the bot's outbound queue (see SendOptions). It has no
// goroutine of its own: a send runs on its caller's goroutine once granted
// a slot. Whoever frees a slot, queues a send or leaves the queue
// dispatches the waiting sends under mu; a timer (stopped by close)
// dispatches when a limit or a retry delay is the only thing in the way.
//
// An outbox is safe for concurrent use.
type outbox struct {
	do          sendFunc
	maxInFlight int
	maxQueued   int
	maxRetries  int
	now         func() time.Time
	perConv     Limit
	perLive     Limit
	metrics     *botMetrics  // nil: off
	tracer      trace.Tracer // nil: off

	mu          sync.Mutex
	closed      bool
	global      *rate.Limiter // nil: no limit
	pausedUntil time.Time     // the server asked for a pause of all sends
	inFlight    int
	queued      int    // sends in the conversations' queues
	seq         uint64 // arrival order of sends
	convs       map[im.ConversationID]*convState
	sweepAt     int        // len(convs) at which idle states are swept
	ready       convHeap   // conversations that may send now, most urgent first
	parked      convHeap   // conversations waiting for a limit or a retry delay, earliest first
	placeWait   [3][]*send // sends waiting for a place, per priority
	timer       *time.Timer
	timerAt     time.Time // when timer fires; zero when it is not armed
}

// convState is the queue of one conversation. It is in ready when its
// head may go as soon as a slot frees, in parked when its head waits for
// a time (wake), in neither while one of its sends is in flight or it is
// empty.
type convState struct {
	id     im.ConversationID
	lim    *rate.Limiter // PerConversation or PerLiveChat; nil: no limit
	queue  []*send
	first  [1]*send // queue's first backing array: most conversations have one send at a time
	counts [3]int   // sends queued per priority
	active bool     // a send is in flight
	wake   time.Time
	ready  int // index in outbox.ready, -1 when not in it
	parked int // index in outbox.parked, -1 when not in it
}

type sendState int

const (
	stateWaitPlace sendState = iota // in outbox.placeWait
	stateQueued                     // in its conversation's queue
	stateGranted                    // holds a slot
	stateClosed                     // the outbox closed before it was granted
)

// send is one message on its way through the outbox.
type send struct {
	seq       uint64
	prio      Priority
	to        im.ConversationRef
	conv      *convState
	notBefore time.Time // a retry's earliest time
	state     sendState
	wake      chan struct{} // closed when the state leaves WaitPlace/Queued; nil until someone waits
}

// minSweep is the number of conversation states below which idle ones are
// not swept.
const minSweep = 64

// newOutbox returns an outbox for opts that sends with do; it validates
// opts and applies their defaults.
func newOutbox(opts SendOptions, do sendFunc) (*outbox, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxInFlight", opts.MaxInFlight}, {"MaxQueued", opts.MaxQueued}} {
		if f.v < 0 {
			return nil, fmt.Errorf("bot: SendOptions.%s must not be negative, got %d", f.name, f.v)
		}
	}
	if opts.MaxRetries < -1 {
		return nil, fmt.Errorf("bot: SendOptions.MaxRetries must be -1 (none) or more, got %d", opts.MaxRetries)
	}
	for _, l := range []struct {
		name string
		l    Limit
	}{{"Global", opts.Global}, {"PerConversation", opts.PerConversation}, {"PerLiveChat", opts.PerLiveChat}} {
		if err := l.l.check(l.name); err != nil {
			return nil, err
		}
	}
	o := &outbox{
		do:          do,
		maxInFlight: cmp.Or(opts.MaxInFlight, DefaultSendMaxInFlight),
		maxQueued:   cmp.Or(opts.MaxQueued, DefaultSendMaxQueued),
		maxRetries:  max(cmp.Or(opts.MaxRetries, DefaultSendMaxRetries), 0), // -1: none
		now:         opts.Now,
		perConv:     opts.PerConversation,
		perLive:     opts.PerLiveChat,
		global:      opts.Global.limiter(),
		convs:       make(map[im.ConversationID]*convState),
		sweepAt:     minSweep,
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.ready.less = func(a, b *convState) bool {
		pa, pb := a.priority(), b.priority()
		return pa < pb || pa == pb && a.queue[0].seq < b.queue[0].seq
	}
	o.ready.index = func(c *convState) *int { return &c.ready }
	o.parked.less = func(a, b *convState) bool { return a.wake.Before(b.wake) }
	o.parked.index = func(c *convState) *int { return &c.parked }
	return o, nil
}

// send sends out to to through the queue, with priority prio, and returns
// what do returned for the last attempt. When the caller left
// out.ClientID empty, send gives it a random one first, so that every
// attempt carries the same id and the server takes the message once.
func (o *outbox) send(ctx context.Context, prio Priority, to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error) {
	var start time.Time
	if o.metrics != nil {
		start = time.Now()
	}
	ctx, span := o.startSendSpan(ctx, prio, to)
	m, attempts, err := o.deliver(ctx, prio, to, out)
	o.metrics.sent(prio, err, start)
	if span != nil {
		span.SetAttributes(attrAttempts.Int(attempts))
		endSpan(span, err)
	}
	return m, err
}

// deliver is send without its metrics and span; it also returns the
// number of attempts made.
func (o *outbox) deliver(ctx context.Context, prio Priority, to im.ConversationRef, out im.OutgoingMessage) (_ *im.Message, attempts int, _ error) {
	if !prio.valid() {
		return nil, 0, fmt.Errorf("bot: send to %s: invalid priority %v", to.ID, prio)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("bot: send to %s not sent: %w", to.ID, err)
	}
	if out.ClientID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		out.ClientID = hex.EncodeToString(b[:])
	}
	s := &send{prio: prio, to: to}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, 0, fmt.Errorf("bot: send to %s not sent: %w", to.ID, ErrClosed)
	}
	o.seq++
	s.seq = o.seq
	if o.queued < o.maxQueued {
		o.enqueue(s)
		o.dispatch()
	} else {
		s.state = stateWaitPlace
		o.placeWait[prio-1] = append(o.placeWait[prio-1], s)
	}
	granted := s.state == stateGranted // the fast path: an idle outbox
	o.mu.Unlock()
	var lastErr error
	for attempt := 1; ; attempt++ {
		if !granted {
			if err := o.await(ctx, s); err != nil {
				if attempt == 1 {
					return nil, 0, fmt.Errorf("bot: send to %s not sent: %w", to.ID, err)
				}
				return nil, attempt - 1, fmt.Errorf("bot: send to %s given up after %d attempts: %w (last error: %w)", to.ID, attempt-1, err, lastErr)
			}
		}
		m, err := o.attempt(ctx, s, out)
		delay, hint, retry := o.retryDelay(ctx, err, attempt)
		o.mu.Lock()
		if !retry || o.closed {
			o.release(s.conv)
			o.dispatch()
			o.mu.Unlock()
			switch {
			case retry: // closed
				return m, attempt, fmt.Errorf("bot: send to %s failed after %d attempts, not retried (%w): %w", to.ID, attempt, ErrClosed, err)
			case err != nil && attempt > 1:
				return m, attempt, fmt.Errorf("bot: send to %s failed after %d attempts: %w", to.ID, attempt, err)
			}
			return m, attempt, err
		}
		now := o.now()
		if hint > 0 && now.Add(hint).After(o.pausedUntil) {
			o.pausedUntil = now.Add(hint)
		}
		o.metrics.sendRetried(errors.Is(err, im.ErrRateLimited) || hint > 0)
		o.requeue(s, now.Add(delay))
		o.dispatch()
		granted = s.state == stateGranted
		o.mu.Unlock()
		lastErr = err
	}
}

// waiting returns the number of sends queued, waiting for a slot or a
// place.
func (o *outbox) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.queued
	for _, w := range o.placeWait {
		n += len(w)
	}
	return n
}

// sending returns the number of sends in flight.
func (o *outbox) sending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inFlight
}

// attempt sends s, which holds a slot, once. If do panics (or ends its
// goroutine), the slot and the conversation are freed all the same, as
// the panic goes up to the caller: the outbox does not recover it.
func (o *outbox) attempt(ctx context.Context, s *send, out im.OutgoingMessage) (*im.Message, error) {
	done := false
	defer func() {
		if !done {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.release(s.conv)
			o.dispatch()
		}
	}()
	m, err := o.do(ctx, s.to, out)
	done = true
	return m, err
}

// retryDelay reports whether the failed attempt-th send of a message is
// retried, after how long, and the server's hint among that.
func (o *outbox) retryDelay(ctx context.Context, err error, attempt int) (delay, hint time.Duration, retry bool) {
	if err == nil || ctx.Err() != nil || attempt > o.maxRetries || errors.Is(err, im.ErrClosed) {
		return 0, 0, false
	}
	delay = doubling(sendRetryBackoff, maxSendRetryBackoff, attempt)
	if hint, ok := im.RetryAfter(err); ok {
		return max(delay, hint), hint, true
	}
	if errors.Is(err, im.ErrRateLimited) {
		return delay, 0, true
	}
	var e *im.Error
	if errors.As(err, &e) && !e.ReachServer && (e.Type == im.ErrorTypeNetwork || e.Type == im.ErrorTypeTimeout) {
		return delay, 0, true
	}
	switch im.StatusCodeOf(err) {
	case improto.StatusCode_SERVER_ERR, improto.StatusCode_INTERNAL_ERROR, improto.StatusCode_DEGRADATION_ERROR:
		return delay, 0, true
	}
	return 0, 0, false
}

// await waits until s is granted a slot. It returns ErrClosed when the
// outbox closed first, or ctx.Err() when ctx ended first, having taken s
// out of the queue.
func (o *outbox) await(ctx context.Context, s *send) error {
	o.mu.Lock()
	if s.state == stateClosed {
		o.mu.Unlock()
		return ErrClosed
	}
	if s.state != stateGranted {
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		o.mu.Lock()
	}
	defer o.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrClosed
	case stateGranted:
		if err := ctx.Err(); err != nil {
			// Granted as ctx ended: the send would fail at once.
			o.release(s.conv)
			o.dispatch()
			return err
		}
		return nil
	default:
		o.remove(s)
		o.dispatch()
		return ctx.Err()
	}
}

// enqueue appends s to its conversation's queue. The caller holds mu.
func (o *outbox) enqueue(s *send) {
	c := o.convs[s.to.ID]
	if c == nil {
		if len(o.convs) >= o.sweepAt {
			o.sweep()
		}
		lim := o.perConv
		if s.to.Type == im.ConversationTypeMassChat {
			lim = o.perLive
		}
		c = &convState{id: s.to.ID, lim: lim.limiter(), ready: -1, parked: -1}
		c.queue = c.first[:0]
		o.convs[c.id] = c
	}
	s.conv = c
	s.state = stateQueued
	c.queue = append(c.queue, s)
	c.counts[s.prio-1]++
	o.queued++
	o.update(c)
}

// requeue puts s, whose attempt failed, back at the head of its
// conversation's queue, not to go before notBefore, and frees its slot.
// The caller holds mu.
func (o *outbox) requeue(s *send, notBefore time.Time) {
	c := s.conv
	s.state = stateQueued
	s.wake = nil
	s.notBefore = notBefore
	c.queue = slices.Insert(c.queue, 0, s)
	c.counts[s.prio-1]++
	o.queued++ // even beyond maxQueued: a retry keeps its place
	c.active = false
	o.inFlight--
	o.update(c)
}

// release frees the slot of c's send in flight. The caller holds mu.
func (o *outbox) release(c *convState) {
	c.active = false
	o.inFlight--
	o.update(c)
}

// remove takes s, whose caller gave up, out of the queue. The caller
// holds mu.
func (o *outbox) remove(s *send) {
	if s.state == stateWaitPlace {
		w := &o.placeWait[s.prio-1]
		*w = slices.DeleteFunc(*w, func(x *send) bool { return x == s })
		return
	}
	c := s.conv
	c.queue = slices.DeleteFunc(c.queue, func(x *send) bool { return x == s })
	c.counts[s.prio-1]--
	o.queued--
	// Its head or priority may have changed: let dispatch look again.
	if c.parked >= 0 {
		heap.Remove(&o.parked, c.parked)
	}
	o.update(c)
	o.admit()
}

// update puts c in ready, or fixes its place there, when it has sends and
// none in flight; a parked c stays parked until its time. The caller
// holds mu.
func (o *outbox) update(c *convState) {
	switch {
	case c.active || c.parked >= 0:
	case len(c.queue) == 0:
		if c.ready >= 0 {
			heap.Remove(&o.ready, c.ready)
		}
	case c.ready >= 0:
		heap.Fix(&o.ready, c.ready)
	default:
		heap.Push(&o.ready, c)
	}
}

// idle reports whether c has nothing to send and nothing to remember: no
// send, and a limiter (if any) that has recovered all its tokens.
func (c *convState) idle(now *instant) bool {
	return len(c.queue) == 0 && !c.active && c.ready < 0 && c.parked < 0 &&
		(c.lim == nil || c.lim.TokensAt(now.get()) >= float64(c.lim.Burst()))
}

// sweep drops the idle conversation states, so that the map does not
// grow with every conversation ever sent to. It runs when a new
// conversation would make the map reach sweepAt, which it sets to twice
// the states left: sweeping costs O(1) per send, and the map holds at
// most about twice the conversations recently sent to. (Dropping a state
// as soon as it is idle would cost the fast path, a conversation sent to
// again and again, an allocation and two map writes per send.) The caller
// holds mu.
func (o *outbox) sweep() {
	now := &instant{now: o.now}
	for id, c := range o.convs {
		if c.idle(now) {
			delete(o.convs, id)
		}
	}
	o.sweepAt = max(minSweep, 2*len(o.convs))
}

// admit moves sends waiting for a place into the queue while there are
// places, the most urgent first. The caller holds mu.
func (o *outbox) admit() {
	for p := range o.placeWait {
		for len(o.placeWait[p]) > 0 && o.queued < o.maxQueued {
			s := o.placeWait[p][0]
			o.placeWait[p][0] = nil
			o.placeWait[p] = o.placeWait[p][1:]
			o.enqueue(s)
		}
	}
}

// dispatch grants free slots to waiting sends: the most urgent ready
// conversation whose limits allow goes first. When a limit or a retry
// delay is all that keeps a free slot unused, it arms the timer for the
// time it ends. The caller holds mu.
func (o *outbox) dispatch() {
	if o.closed || o.ready.Len() == 0 && o.parked.Len() == 0 {
		return
	}
	now := &instant{now: o.now}
	for o.parked.Len() > 0 && !o.parked.s[0].wake.After(now.get()) {
		heap.Push(&o.ready, heap.Pop(&o.parked))
	}
	var blocked time.Time // when the global pause or limit ends
	for o.inFlight < o.maxInFlight && o.ready.Len() > 0 {
		if blocked = o.globalWait(now); !blocked.IsZero() {
			break
		}
		c := heap.Pop(&o.ready).(*convState)
		if wake := c.wait(now); !wake.IsZero() {
			c.wake = wake
			heap.Push(&o.parked, c)
			continue
		}
		if c.lim != nil {
			c.lim.AllowN(now.get(), 1)
		}
		if o.global != nil {
			o.global.AllowN(now.get(), 1)
		}
		s := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = c.first[:0] // not a new array at each send of a conversation
		}
		c.counts[s.prio-1]--
		c.active = true
		o.inFlight++
		o.queued--
		s.state = stateGranted
		if s.wake != nil {
			close(s.wake)
		}
		o.admit()
	}
	if o.inFlight >= o.maxInFlight {
		return // a freed slot dispatches again
	}
	if blocked.IsZero() && o.parked.Len() > 0 {
		blocked = o.parked.s[0].wake
	}
	if !blocked.IsZero() {
		o.arm(blocked, now.get())
	}
}

// globalWait returns when the global pause or limit lets a send go, or
// zero if it does now.
func (o *outbox) globalWait(now *instant) time.Time {
	if !o.pausedUntil.IsZero() && now.get().Before(o.pausedUntil) {
		return o.pausedUntil
	}
	if d := tokenWait(o.global, now); d > 0 {
		return now.get().Add(d)
	}
	return time.Time{}
}

// wait returns when c's head may go as far as c is concerned (its retry
// delay, its conversation's limit), or zero if it may go now.
func (c *convState) wait(now *instant) time.Time {
	if t := c.queue[0].notBefore; !t.IsZero() && now.get().Before(t) {
		return t
	}
	if d := tokenWait(c.lim, now); d > 0 {
		return now.get().Add(d)
	}
	return time.Time{}
}

// tokenWait returns how long until l has a token, 0 if it has one now or
// is nil.
func tokenWait(l *rate.Limiter, now *instant) time.Duration {
	if l == nil {
		return 0
	}
	tokens := l.TokensAt(now.get())
	if tokens >= 1 {
		return 0
	}
	return max(time.Duration(math.Ceil((1-tokens)/float64(l.Limit())*float64(time.Second))), 1)
}

// priority is the most urgent priority among c's sends: its queue goes
// with it.
func (c *convState) priority() int {
	for p, n := range c.counts {
		if n > 0 {
			return p
		}
	}
	return len(c.counts)
}

// instant is the outbox's clock read once, when first needed: a send
// that no limit or retry concerns never reads it.
type instant struct {
	now func() time.Time
	t   time.Time
}

func (i *instant) get() time.Time {
	if i.t.IsZero() {
		i.t = i.now()
	}
	return i.t
}

// arm makes the timer dispatch at t, unless it will already by then. The
// caller holds mu.
func (o *outbox) arm(t, now time.Time) {
	if !o.timerAt.IsZero() && !o.timerAt.After(t) {
		return
	}
	o.timerAt = t
	if o.timer == nil {
		o.timer = time.AfterFunc(t.Sub(now), o.fire)
	} else {
		o.timer.Reset(t.Sub(now))
	}
}

// fire is the timer's: a limit or a retry delay has ended.
func (o *outbox) fire() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.timerAt = time.Time{}
	o.dispatch()
}

// close stops the outbox: later sends fail with ErrClosed, and so do the
// sends waiting in the queue, which it wakes; sends in flight finish (but
// are not retried).
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	fail := func(s *send) {
		s.state = stateClosed
		if s.wake != nil {
			close(s.wake)
		}
	}
	for p := range o.placeWait {
		for _, s := range o.placeWait[p] {
			fail(s)
		}
		o.placeWait[p] = nil
	}
	for _, c := range o.convs {
		for _, s := range c.queue {
			fail(s)
		}
		c.queue = nil
		c.counts = [3]int{}
		c.ready, c.parked = -1, -1
	}
	o.ready.s, o.parked.s = nil, nil
	o.queued = 0
}

// convHeap is a container/heap of conversation states ordered by less,
// each knowing its index through index.
type convHeap struct {
	s     []*convState
	less  func(a, b *convState) bool
	index func(c *convState) *int
}

func (h *convHeap) Len() int           { return len(h.s) }
func (h *convHeap) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }
func (h *convHeap) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	*h.index(h.s[i]) = i
	*h.index(h.s[j]) = j
}

func (h *convHeap) Push(x any) {
	c := x.(*convState)
	*h.index(c) = len(h.s)
	h.s = append(h.s, c)
}

func (h *convHeap) Pop() any {
	c := h.s[len(h.s)-1]
	h.s[len(h.s)-1] = nil
	h.s = h.s[:len(h.s)-1]
	*h.index(c) = -1
	return c
}
