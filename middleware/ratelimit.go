package middleware

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// DefaultIdleTimeout is how long a [MemoryRateStore] keeps a bucket that
// is not used, when it is full again.
const DefaultIdleTimeout = 10 * time.Minute

// sweepPerAccess bounds the buckets a store's access examines for
// eviction, so that no event pays for a large sweep.
const sweepPerAccess = 8

// Limit is one token bucket of [RateLimit]: Rate events per second on
// average and Burst at once (as rate.Limiter counts them). The zero
// Limit, and a Rate of rate.Inf, is no limit. A Burst below 1 counts as 1
// when Rate is set.
type Limit struct {
	Rate  rate.Limit
	Burst int
}

// off reports whether l limits nothing.
func (l Limit) off() bool { return l.Rate == 0 || l.Rate == rate.Inf }

// LimitScope says what a [Limit] counts: one user's events, one
// conversation's, or all of them.
type LimitScope int

// Scopes of limits, in the order RateLimit applies them.
const (
	LimitPerUser LimitScope = iota + 1
	LimitPerConversation
	LimitGlobal
)

func (s LimitScope) String() string {
	switch s {
	case LimitPerUser:
		return "per user"
	case LimitPerConversation:
		return "per conversation"
	case LimitGlobal:
		return "global"
	}
	return "LimitScope(" + strconv.Itoa(int(s)) + ")"
}

// LimitPolicy says what [RateLimit] does with an event over a limit.
type LimitPolicy int

// Policies. Each takes a token from the [RateStore] at the event's time,
// and differs in what it does when the store has none:
const (
	// LimitDrop skips the handler and returns nil: the event is lost.
	// It reads the time from RateLimitOptions.Now, so that tests drive
	// it with a fake clock.
	LimitDrop LimitPolicy = iota
	// LimitDelay waits for a token, as long as the store says one takes
	// to come, on a timer with the event's context, and then takes it
	// (waiting again if another event took it first) and runs the
	// handler: no event is lost, but the wait holds the event's
	// conversation: the bot handles a conversation's events one at a
	// time, so its later events queue behind the waiting one, and the
	// wait occupies one of the bot's workers (bot.Options.Workers), so
	// that a tight global limit can occupy them all. Waiters are not
	// served in the order they came. LimitDelay reads the real clock.
	// When the event's context ends first, or its deadline is nearer
	// than the token, the handler does not run and the middleware
	// returns an error wrapping the context's error
	// (context.DeadlineExceeded for a deadline too near).
	LimitDelay
	// LimitHandle runs RateLimitOptions.Limited instead of the handler
	// (to answer "slow down", say; see ReplyOncePer), at the time of
	// RateLimitOptions.Now as LimitDrop. RateLimitedBy tells the Limited
	// handler which limit refused the event and when.
	LimitHandle
)

func (p LimitPolicy) String() string {
	switch p {
	case LimitDrop:
		return "drop"
	case LimitDelay:
		return "delay"
	case LimitHandle:
		return "handle"
	}
	return "LimitPolicy(" + strconv.Itoa(int(p)) + ")"
}

// RateLimitOptions configures [RateLimit]. The zero value limits nothing;
// RateLimit copies it.
type RateLimitOptions struct {
	// PerUser limits the events of each sender (bot.Event.Sender), across
	// conversations.
	PerUser Limit
	// PerConversation limits the events of each conversation; events
	// without one (friend events) are not counted.
	PerConversation Limit
	// Global limits all the counted events together.
	Global Limit
	// OnLimit is what happens to an event over a limit. Default
	// LimitDrop.
	OnLimit LimitPolicy
	// Limited handles the events over a limit with LimitHandle, which
	// requires it; it must be nil with the other policies.
	Limited bot.Handler
	// Now is the clock of LimitDrop and LimitHandle: the time passed to
	// the store, which the default store's eviction also goes by.
	// Default time.Now. It must be nil with LimitDelay, whose timers run
	// on the real clock.
	Now func() time.Time
	// Store keeps the buckets. Default a MemoryRateStore evicting them
	// after IdleTimeout; state.Open keeps them in a file. A store serves
	// one RateLimit: its keys do not say which limits they were made
	// for.
	Store RateStore
	// IdleTimeout is the default store's: how long a bucket is kept
	// unused (see MemoryRateStore). Default DefaultIdleTimeout. It must be
	// zero when Store is set.
	IdleTimeout time.Duration
}

// RateLimitInfo says why [RateLimit] refused an event.
type RateLimitInfo struct {
	// Scope is the limit that refused it.
	Scope LimitScope
	// At is the time RateLimit checked it (RateLimitOptions.Now).
	At time.Time
}

type rateInfoKey struct{}

// RateLimitedBy returns, in a Limited handler (LimitHandle), which limit
// refused c's event; false elsewhere.
func RateLimitedBy(c *bot.Context) (RateLimitInfo, bool) {
	ctx := c.Context()
	if ctx == nil {
		return RateLimitInfo{}, false
	}
	info, ok := ctx.Value(rateInfoKey{}).(RateLimitInfo)
	return info, ok
}

// RateLimit returns middleware that limits the events reaching its
// handler: per user, per conversation and globally, each limit a token
// bucket kept in a [RateStore]. An event takes a token from each limit
// that applies, user first, then conversation, then global; the first
// that has none refuses it, and opts.OnLimit says what happens then. A
// refused event takes no token from the limits after the one refusing it,
// but keeps the tokens it took from those before: an event dropped by the
// global limit still counts against its user.
//
// A refused event is marked skipped with reason [SkipRateLimited]
// ("rate_limited", bot.Context.Skip), whatever the policy: dropped
// (LimitDrop), handed to Limited instead of the handler (LimitHandle), or,
// with LimitDelay, given up on because the event's context ended or its
// deadline comes before the token. LimitDelay then also returns the
// error, so that the bot counts the event as failed (or cut off by a
// shutdown) and only its span gives the reason. An event that LimitDelay
// delays and then hands on is not marked.
//
// Only events that a user caused are counted (bot.Event.Sender is not
// 0): messages, recalls and property changes of messages, friend
// applies. The bot's own messages, and conversation and membership
// changes, pass uncounted: no user floods the bot with those, and
// dropping them would lose state that plugins keep.
//
// Place it after middleware that discards events (IgnoreSelf, Dedup), so
// that discarded events spend no tokens, and before the router; or on the
// routes to limit, with router.With. The middleware that one RateLimit
// call returns shares its buckets among every handler it wraps.
//
// When the store fails, the middleware returns its error, wrapped, and
// the handler does not run: an event is not handled unchecked.
//
// RateLimit panics, as a programmer error, when a Limit is negative, when
// OnLimit is unknown or disagrees with Limited, when Now is set with
// LimitDelay and when IdleTimeout is negative or set with Store.
//
// The middleware is safe for concurrent use.
func RateLimit(opts RateLimitOptions) bot.Middleware {
	for _, l := range []Limit{opts.PerUser, opts.PerConversation, opts.Global} {
		if l.Rate < 0 || l.Burst < 0 {
			panic("middleware: RateLimit: negative Limit")
		}
	}
	switch opts.OnLimit {
	case LimitDrop, LimitDelay:
		if opts.Limited != nil {
			panic("middleware: RateLimit: Limited is set but OnLimit is " + opts.OnLimit.String() + ", not LimitHandle")
		}
	case LimitHandle:
		if opts.Limited == nil {
			panic("middleware: RateLimit: LimitHandle without a Limited handler")
		}
	default:
		panic("middleware: RateLimit: unknown " + opts.OnLimit.String())
	}
	if opts.OnLimit == LimitDelay && opts.Now != nil {
		panic("middleware: RateLimit: Now cannot be used with LimitDelay, whose Wait reads the real clock")
	}
	if opts.IdleTimeout < 0 || (opts.IdleTimeout != 0 && opts.Store != nil) {
		panic("middleware: RateLimit: IdleTimeout must not be negative, and is only for the default store")
	}
	rl := &rateLimiter{opts: opts, now: opts.Now, store: opts.Store}
	if rl.now == nil {
		rl.now = time.Now
	}
	if rl.store == nil {
		rl.store = NewMemoryRateStore(opts.IdleTimeout)
	}
	for i, l := range []Limit{opts.PerUser, opts.PerConversation, opts.Global} {
		if !l.off() {
			rl.limits[i] = Limit{Rate: l.Rate, Burst: max(l.Burst, 1)}
		}
	}
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error { return rl.handle(c, next) })
	}
}

// rateLimiter is one RateLimit: its options and its store.
type rateLimiter struct {
	opts   RateLimitOptions
	now    func() time.Time
	store  RateStore
	limits [3]Limit // by scope-1; zero when off
}

// key returns the store key of scope for c's event, or false when the
// scope does not apply to it.
func (rl *rateLimiter) key(scope LimitScope, c *bot.Context) (RateKey, bool) {
	switch scope {
	case LimitPerUser:
		u := c.Event.Sender()
		return RateKey{Scope: scope, User: u}, u != 0
	case LimitPerConversation:
		id := c.Event.ConversationRef.ID
		return RateKey{Scope: scope, Conversation: id}, id != ""
	}
	return RateKey{Scope: LimitGlobal}, true
}

func (rl *rateLimiter) handle(c *bot.Context, next bot.Handler) error {
	if s := c.Event.Sender(); s == 0 || (c.Bot() != nil && s == c.Bot().UserID()) {
		return next.Handle(c) // no one's, or the bot's own: not counted
	}
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var now time.Time
	if rl.opts.OnLimit == LimitDelay {
		now = time.Now()
	} else {
		now = rl.now()
	}
	for i, limit := range rl.limits {
		if limit.off() {
			continue
		}
		scope := LimitScope(i + 1)
		key, ok := rl.key(scope, c)
		if !ok {
			continue
		}
		wait, err := rl.store.Take(ctx, key, limit, now)
		if err != nil {
			return fmt.Errorf("middleware: rate limit %v: %w", scope, err)
		}
		if wait <= 0 {
			continue
		}
		if rl.opts.OnLimit == LimitDelay {
			gaveUp, err := rl.delay(ctx, key, limit, wait)
			if gaveUp {
				c.Skip(SkipRateLimited)
			}
			if err != nil {
				return fmt.Errorf("middleware: rate limit %v: %w", scope, err)
			}
			continue
		}
		c.Skip(SkipRateLimited)
		if rl.opts.OnLimit == LimitHandle {
			return rl.opts.Limited.Handle(c.WithContext(context.WithValue(ctx, rateInfoKey{}, RateLimitInfo{Scope: scope, At: now})))
		}
		return nil
	}
	return next.Handle(c)
}

// delay waits wait, and then as long as the store says, until it takes
// a token from key's bucket; it gives up at once when ctx's deadline
// comes before the token. gaveUp tells that it stopped waiting (ctx's
// end or deadline), as opposed to the store failing.
func (rl *rateLimiter) delay(ctx context.Context, key RateKey, limit Limit, wait time.Duration) (gaveUp bool, err error) {
	for wait > 0 {
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return true, fmt.Errorf("the next token, in %v, comes after the deadline: %w", wait, context.DeadlineExceeded)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return true, ctx.Err()
		case <-timer.C:
		}
		if wait, err = rl.store.Take(ctx, key, limit, time.Now()); err != nil {
			return false, err
		}
	}
	return false, nil
}

// RateKey names one bucket of a [RateStore]: its scope and, for the
// per-user and per-conversation scopes, whose it is.
type RateKey struct {
	Scope        LimitScope
	User         im.UserID         // for LimitPerUser
	Conversation im.ConversationID // for LimitPerConversation
}

// RateStore keeps the token buckets of a [RateLimit], one per key, as
// [RateBucket] values or in any form that counts the same. The bucket
// of a key that the store does not hold is full.
//
// [MemoryRateStore] is the default; state.Open keeps the buckets in a
// file. Several replicas of a bot share one limit through a RateStore
// over a shared database (a Redis script doing RateBucket.Take, say),
// under the contract that statetest.TestRateStore checks.
// Implementations must be safe for concurrent use.
type RateStore interface {
	// Take takes one token from key's bucket (limit.Burst at most,
	// refilling at limit.Rate) at now, and returns 0. When the bucket
	// has none, it takes nothing and returns how long until it will have
	// one.
	Take(ctx context.Context, key RateKey, limit Limit, now time.Time) (wait time.Duration, err error)
}

// RateBucket is the state of one token bucket: it held Tokens at At.
// The zero RateBucket is full. Its methods are the token-bucket
// arithmetic of [RateStore] implementations, so that each counts as
// rate.Limiter does: a bucket gains limit.Rate tokens per second since
// At, up to limit.Burst (at least 1).
type RateBucket struct {
	Tokens float64
	At     time.Time
}

// TokensAt returns how many tokens b holds at now, under limit. A now
// before b.At counts as b.At: a clock that went back refills nothing.
func (b RateBucket) TokensAt(limit Limit, now time.Time) float64 {
	burst := float64(max(limit.Burst, 1))
	if b.At.IsZero() || limit.off() {
		return burst
	}
	elapsed := max(now.Sub(b.At), 0).Seconds()
	return min(b.Tokens+elapsed*float64(limit.Rate), burst)
}

// Take takes one token from b at now, under limit: it returns the
// bucket after the take and 0 or, when b has less than a token at now,
// b unchanged (so that the caller knows there is nothing to save) and
// how long until it has one, rounded up to whole nanoseconds.
func (b RateBucket) Take(limit Limit, now time.Time) (RateBucket, time.Duration) {
	if limit.off() {
		return b, 0
	}
	tokens := b.TokensAt(limit, now)
	if tokens >= 1 {
		return RateBucket{Tokens: tokens - 1, At: now}, 0
	}
	ns := math.Ceil((1 - tokens) / float64(limit.Rate) * float64(time.Second))
	if ns >= math.MaxInt64 { // a rate so slow that the wait overflows
		return b, time.Duration(math.MaxInt64)
	}
	return b, max(time.Duration(ns), 1)
}

// MemoryRateStore is a [RateStore] in memory that forgets idle buckets:
// one not used for its idle timeout that is full again. Dropping such a
// bucket loses nothing, since a bucket the store does not hold is full;
// a bucket still refilling is kept however long it idles, so that
// forgetting it never lets a user past the limit.
//
// Eviction runs on access, without a goroutine: each call to Take
// examines at most a few of the least recently used buckets, so that
// the cost stays bounded and the idle ones leave faster than new ones
// come. Time is what the callers pass in; the store reads no clock.
//
// A MemoryRateStore is safe for concurrent use.
type MemoryRateStore struct {
	idle time.Duration

	mu  sync.Mutex
	m   map[RateKey]*list.Element // of *rateEntry
	lru list.List                 // most recently used first
}

type rateEntry struct {
	key    RateKey
	limit  Limit // of the last Take, for the sweep to tell a full bucket
	bucket RateBucket
	used   time.Time
}

// NewMemoryRateStore returns a store that forgets a bucket idle for
// idleTimeout (DefaultIdleTimeout when it is 0) once it is full.
func NewMemoryRateStore(idleTimeout time.Duration) *MemoryRateStore {
	if idleTimeout <= 0 {
		idleTimeout = DefaultIdleTimeout
	}
	return &MemoryRateStore{idle: idleTimeout, m: make(map[RateKey]*list.Element)}
}

// Take implements [RateStore]; it never fails.
func (s *MemoryRateStore) Take(_ context.Context, key RateKey, limit Limit, now time.Time) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	var e *rateEntry
	if el, ok := s.m[key]; ok {
		e = el.Value.(*rateEntry)
		s.lru.MoveToFront(el)
	} else {
		e = &rateEntry{key: key}
		s.m[key] = s.lru.PushFront(e)
	}
	e.limit, e.used = limit, now
	var wait time.Duration
	e.bucket, wait = e.bucket.Take(limit, now)
	return wait, nil
}

// sweep examines up to sweepPerAccess of the least recently used
// buckets, from the oldest: it drops those idle and full, sends those
// idle but refilling to the front to be examined again later, and stops
// at the first that is not idle. The caller holds s.mu.
func (s *MemoryRateStore) sweep(now time.Time) {
	for range sweepPerAccess {
		el := s.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*rateEntry)
		if now.Sub(e.used) < s.idle {
			return
		}
		if e.bucket.TokensAt(e.limit, now) < float64(max(e.limit.Burst, 1)) {
			s.lru.MoveToFront(el)
			continue
		}
		s.lru.Remove(el)
		delete(s.m, e.key)
	}
}

// Len returns how many buckets the store holds.
func (s *MemoryRateStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// ReplyOncePer returns a handler for RateLimitOptions.Limited that replies
// text to a refused message, at most once per window for each sender, so
// that a user who floods the bot is told to slow down once rather than
// once per message. Other events, and further messages of a sender told
// within the window, it drops. It reads the time from RateLimitedBy (the
// RateLimit's clock), or time.Now outside a RateLimit.
//
// Its memory of senders forgets those told more than a window ago, a few
// at each call. The handler is safe for concurrent use.
func ReplyOncePer(window time.Duration, text string) bot.Handler {
	if window <= 0 {
		panic("middleware: ReplyOncePer: window must be positive")
	}
	return &onceReplier{window: window, text: text, told: make(map[im.UserID]time.Time)}
}

type onceReplier struct {
	window time.Duration
	text   string

	mu   sync.Mutex
	told map[im.UserID]time.Time // when each sender was last told
}

func (r *onceReplier) Handle(c *bot.Context) error {
	if c.Event.Kind != bot.EventMessage || c.Event.Message == nil {
		return nil
	}
	now := time.Now()
	if info, ok := RateLimitedBy(c); ok {
		now = info.At
	}
	user := c.Event.Message.Sender
	r.mu.Lock()
	n := 0
	for u, t := range r.told { // map order is random: a sample
		if n == sweepPerAccess {
			break
		}
		n++
		if now.Sub(t) >= r.window {
			delete(r.told, u)
		}
	}
	if t, ok := r.told[user]; ok && now.Sub(t) < r.window {
		r.mu.Unlock()
		return nil
	}
	r.told[user] = now
	r.mu.Unlock()
	_, err := c.Reply(r.text)
	return err
}
