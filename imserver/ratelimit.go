package imserver

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/improto"
)

// This file holds the server's rate limits: requests per socket
// (Config.RequestRate) and message sends per user (Config.SendRate). A
// request over either is answered TOO_MANY_REQUESTS with the
// improto.HeaderRetryAfterMs header: how long until it would pass.

// reserveDelay takes a token from lim at now and returns zero, or, when
// there is none, takes nothing and returns how long until there is one.
func reserveDelay(lim *rate.Limiter, now time.Time) time.Duration {
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Duration(math.MaxInt64) // a burst of 0: never
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// tooManyRequests answers req with TOO_MANY_REQUESTS and the retry hint.
func tooManyRequests(req *improto.Request, wait time.Duration, format string, args ...any) *improto.Response {
	resp := failure(req, req.GetCmd(), errStatus(improto.StatusCode_TOO_MANY_REQUESTS, format, args...))
	resp.Headers = retryAfterHeader(wait)
	return resp
}

// retryAfterHeader is the Response header that tells an IM client to wait
// before it retries: wait in whole milliseconds, rounded up so that a
// client that waits exactly the hint finds its token.
func retryAfterHeader(wait time.Duration) map[string]string {
	ms := max(1, (wait+time.Millisecond-1)/time.Millisecond)
	return map[string]string{improto.HeaderRetryAfterMs: strconv.FormatInt(int64(ms), 10)}
}

// keyedLimits is a token bucket per key: per user for Config.SendRate,
// per remote address for Config.AddrRequestRate. A key's bucket is made at
// its first request and forgotten once it is full again, when it is no
// different from a new one: the map holds only the keys active recently.
type keyedLimits[K comparable] struct {
	limit rate.Limit
	burst int
	// refill is how long an empty bucket takes to fill: the age past which
	// sweep finds a bucket full.
	refill time.Duration

	mu    sync.Mutex
	keys  map[K]*rate.Limiter
	sweep time.Time // when to next forget full buckets
}

// sendLimits bounds message sends per user (Config.SendRate, SendBurst).
type sendLimits = keyedLimits[int64]

func newSendLimits(perSecond float64, burst int) *sendLimits {
	return newKeyedLimits[int64](perSecond, burst)
}

// newKeyedLimits returns the buckets, or nil (no limit) when perSecond is
// not positive.
func newKeyedLimits[K comparable](perSecond float64, burst int) *keyedLimits[K] {
	if perSecond <= 0 {
		return nil // off
	}
	return &keyedLimits[K]{
		limit:  rate.Limit(perSecond),
		burst:  burst,
		refill: time.Duration(float64(burst) / perSecond * float64(time.Second)),
		keys:   make(map[K]*rate.Limiter),
	}
}

// isSend reports the commands SendRate limits: sends to a conversation
// (100) and to a live chat (2007).
func isSend(cmd improto.IMCMD) bool {
	return cmd == improto.IMCMD_SEND_MESSAGE || cmd == improto.IMCMD_BROADCAST_SEND_MESSAGE
}

// wait takes a token of key at now; when there is none it returns how
// long until there is one. A nil keyedLimits lets everything through.
func (l *keyedLimits[K]) wait(key K, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.sweep) {
		for k, lim := range l.keys {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.keys, k)
			}
		}
		l.sweep = now.Add(max(l.refill, time.Minute))
	}
	lim := l.keys[key]
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	return reserveDelay(lim, now)
}

// empty reports how long until key's bucket holds a token again, or zero
// when it holds one now (or was never drawn on), without taking any.
func (l *keyedLimits[K]) empty(key K, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.keys[key]
	if lim == nil {
		return 0
	}
	if tokens := lim.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
	}
	return 0
}

// tracked returns how many keys' buckets are kept, for tests.
func (l *keyedLimits[K]) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// checkSendRate answers a send over the user's SendRate, or returns nil.
func (s *Server) checkSendRate(req *improto.Request, user int64) *improto.Response {
	if !isSend(improto.IMCMD(req.GetCmd())) {
		return nil
	}
	wait := s.sends.wait(user, s.cfg.Now())
	if wait == 0 {
		return nil
	}
	s.metrics.refusal(refusedSendRate)
	return tooManyRequests(req, wait, "user %d sends more than %g messages per second (burst %d)", user, s.cfg.SendRate, s.cfg.SendBurst)
}
