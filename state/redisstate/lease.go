package redisstate

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript takes a lease that nobody holds, as SET NX PX would, and
// counts the hands it passed through: KEYS lease, counter; ARGV holder,
// ttl (ms). It returns {1, value}, the value being the new count (the
// fencing token) and the holder, "token:holder"; or {0, pttl} while
// another holds it.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local v = string.format('%d', redis.call('INCR', KEYS[2])) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return {1, v}
`)

// renewScript extends a lease that its holder still holds: KEYS lease;
// ARGV value, ttl (ms). It returns 1, or 0 when the lease is another's
// or expired.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript deletes a lease that its holder still holds: KEYS
// lease; ARGV value.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// fenceKey is the context key of a lead's fence.
type fenceKey struct{}

// fence is the lease a lead context was given under: the commits made
// with the context check that its key still holds its value.
type fence struct {
	key, value string
}

// Fence returns the fencing token of the lease under which ctx, a lead
// context of a [Leader] or one derived from it, leads: the count of the
// times the lease changed hands, which grows with each new holder (as
// long as Redis keeps its data). Another system can refuse the writes
// of a holder older than the newest it has seen. ok is false for other
// contexts.
func Fence(ctx context.Context) (token int64, ok bool) {
	f, ok := ctx.Value(fenceKey{}).(fence)
	if !ok {
		return 0, false
	}
	n, _, _ := strings.Cut(f.value, ":")
	token, err := strconv.ParseInt(n, 10, 64)
	return token, err == nil
}

// Leader elects one holder of a lease in Redis among the replicas
// sharing a Store's prefix: it implements the cron plugin's Leader
// (cron.Leader), and gives fencing to the Store's commits.
//
// Acquire takes the lease when nobody holds it (polling, at most every
// quarter of Options.LeaseTTL, while another does) and returns a lead
// context, renewing the lease every third of its TTL until release is
// called or the parent context ends. The lead ends, with ErrLeaseLost
// as its context.Cause, when the lease was taken (Redis lost it, or it
// expired while this replica could not reach Redis) or could not be
// renewed in time: a tenth of the TTL before Redis would expire it, a
// margin for timer delays and for the clocks. Each new holder gets a
// fencing token one more than the last ([Fence]).
//
// Commits made with a lead context (CommitProgress, SetLastRun: the
// cron plugin's records) are fenced: the script checks, atomically with
// the write, that the lease is still held under the same token, and the
// Store refuses the commit with ErrFenced otherwise. That closes the
// window in which a replica that lost its lease without knowing it yet
// (stalled, or cut off from Redis) would overwrite the new holder's work.
//
// Release gives the lease up: it stops the renewals, waits for the
// goroutine doing them, and deletes the lease if it is still held, so
// that another replica can take it at once. A Leader is safe for
// concurrent use; a lead's goroutine is owned by its release (or ends
// with its parent context).
type Leader struct {
	s       *Store
	name    string
	key     string // the lease
	counter string // the fencing token's counter
}

// Leader returns the Leader of the lease called name; Leaders of the
// same name and prefix, in any process, compete for one lease.
func (s *Store) Leader(name string) *Leader {
	return &Leader{s: s, name: name, key: s.prefix + "lease:" + name, counter: s.prefix + "fence:" + name}
}

// Acquire implements cron.Leader: it blocks until this replica holds
// the lease, or ctx ends (ctx's error is then returned), or Redis
// fails (the error is returned, wrapped).
func (l *Leader) Acquire(ctx context.Context) (lead context.Context, release func(), err error) {
	holder := rand.Text()
	ttl := l.s.leaseTTL
	for {
		sent := time.Now()
		cmd, err := l.s.call(ctx, &op{script: acquireScript, keys: []string{l.key, l.counter},
			args: []any{holder, strconv.FormatInt(ttl.Milliseconds(), 10)}})
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("redisstate: acquire lease %q: %w", l.name, err)
		}
		reply, err := cmd.Slice()
		if err != nil || len(reply) != 2 {
			return nil, nil, fmt.Errorf("%w: the lease script answered %q (%v)", ErrFormat, reply, err)
		}
		if got, _ := reply[0].(int64); got == 1 {
			value, _ := reply[1].(string)
			lead, release := l.hold(ctx, value, sent)
			return lead, release, nil
		}
		wait := ttl / 4
		if pttl, _ := reply[1].(int64); pttl > 0 {
			wait = min(wait, time.Duration(pttl)*time.Millisecond)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// hold returns the lead context of the lease held as value since sent,
// and its release, and starts the goroutine that renews it.
func (l *Leader) hold(ctx context.Context, value string, sent time.Time) (context.Context, func()) {
	lead, cancel := context.WithCancelCause(context.WithValue(ctx, fenceKey{}, fence{key: l.key, value: value}))
	stopped := make(chan struct{})
	go func() { // owned by release, which waits for it; ends with lead
		defer close(stopped)
		l.renew(lead, cancel, value, sent)
	}()
	release := sync.OnceFunc(func() {
		cancel(nil)
		<-stopped
		rctx, done := context.WithTimeout(context.WithoutCancel(ctx), l.s.leaseTTL)
		defer done()
		// When this fails, the lease expires on its own.
		_, _ = l.s.call(rctx, &op{script: releaseScript, keys: []string{l.key}, args: []any{value}})
	})
	return lead, release
}

// renew renews the lease held as value since sent until lead ends, and
// ends lead when the lease is lost: at once when the lease is another's,
// and when the time to renew it passes, by a timer, however long a
// renewal under way takes (a dial that hangs, say).
func (l *Leader) renew(lead context.Context, cancel context.CancelCauseFunc, value string, sent time.Time) {
	ttl := l.s.leaseTTL
	margin := ttl / 10
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	var lastErr atomic.Pointer[error]
	expiry := time.AfterFunc(time.Until(sent.Add(ttl-margin)), func() {
		why := "no renewal"
		if err := lastErr.Load(); err != nil {
			why = (*err).Error()
		}
		cancel(fmt.Errorf("%w: %q not renewed within %v (%s)", ErrLeaseLost, l.name, ttl-margin, why))
	})
	defer expiry.Stop()
	next := time.NewTimer(ttl / 3)
	defer next.Stop()
	for {
		select {
		case <-lead.Done():
			return
		case <-next.C:
		}
		start := time.Now()
		cmd, err := l.s.call(lead, &op{script: renewScript, keys: []string{l.key}, args: []any{value, ms}})
		if err == nil {
			var n int64
			if n, err = cmd.Int64(); err == nil && n != 1 {
				cancel(fmt.Errorf("%w: %q is no longer held by this replica", ErrLeaseLost, l.name))
				return
			}
		}
		if err != nil {
			lastErr.Store(&err)
			next.Reset(margin) // try again soon; the expiry ends the lead
			continue
		}
		if !expiry.Stop() {
			return // expired meanwhile: the lead has ended
		}
		expiry.Reset(time.Until(start.Add(ttl - margin)))
		next.Reset(ttl / 3)
	}
}
