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
	key, counter := s.leaseKeys(name)
	return &Leader{s: s, name: name, key: key, counter: counter}
}

// leaseKeys returns the keys of the lease called name: the lease, and
// the counter of its fencing tokens.
func (s *Store) leaseKeys(name string) (key, counter string) {
	return s.prefix + "lease:" + name, s.prefix + "fence:" + name
}

// Acquire implements cron.Leader: it blocks until this replica holds
// the lease, or ctx ends (ctx's error is then returned), or Redis
// fails (the error is returned, wrapped).
func (l *Leader) Acquire(ctx context.Context) (lead context.Context, release func(), err error) {
	holder := rand.Text()
	for {
		value, left, sent, err := l.s.tryAcquire(ctx, l.key, l.counter, holder)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("redisstate: acquire lease %q: %w", l.name, err)
		}
		if value != "" {
			h := l.s.hold(ctx, l.name, l.key, value, sent)
			return h.ctx, sync.OnceFunc(func() {
				h.end(nil)
				h.giveUp()
			}), nil
		}
		wait := l.s.leaseTTL / 4
		if left > 0 {
			wait = min(wait, left)
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

// tryAcquire makes one attempt to take the lease key, whose tokens
// counter counts, for holder. It returns the lease's value when it took
// it, and when it sent the attempt (the lease lasts its TTL from no
// earlier than that); or "" and the time the lease has left (zero when
// Redis does not say) while another holds it.
func (s *Store) tryAcquire(ctx context.Context, key, counter, holder string) (value string, left time.Duration, sent time.Time, err error) {
	sent = time.Now()
	cmd, err := s.call(ctx, &op{script: acquireScript, keys: []string{key, counter},
		args: []any{holder, strconv.FormatInt(s.leaseTTL.Milliseconds(), 10)}})
	if err != nil {
		return "", 0, sent, err
	}
	reply, err := cmd.Slice()
	if err != nil || len(reply) != 2 {
		return "", 0, sent, fmt.Errorf("%w: the lease script answered %q (%v)", ErrFormat, reply, err)
	}
	if got, _ := reply[0].(int64); got == 1 {
		value, _ = reply[1].(string)
		return value, 0, sent, nil
	}
	if pttl, _ := reply[1].(int64); pttl > 0 {
		left = time.Duration(pttl) * time.Millisecond
	}
	return "", left, sent, nil
}

// heldLease is a lease this replica took, and the goroutine renewing
// it. Its context and its renewals are apart, because a Cluster ends
// the context of a partition that moves while it goes on renewing the
// lease, until the bot has finished the partition's handlers.
type heldLease struct {
	// ctx carries the lease's fence. It ends when the lease is lost,
	// with ErrLeaseLost as its cause, or by end, or with the parent.
	ctx context.Context
	end context.CancelCauseFunc
	// giveUp stops the renewals, waits for the goroutine doing them,
	// and deletes the lease if it is still held, so that another
	// replica can take it at once. Calling it again does nothing.
	giveUp func()
}

// hold starts renewing the lease key, called name, held as value since
// sent, until giveUp is called or parent ends.
func (s *Store) hold(parent context.Context, name, key, value string, sent time.Time) *heldLease {
	ctx, end := context.WithCancelCause(context.WithValue(parent, fenceKey{}, fence{key: key, value: value}))
	keep, stop := context.WithCancel(parent)
	stopped := make(chan struct{})
	go func() { // owned by giveUp, which waits for it; ends with keep
		defer close(stopped)
		s.renew(keep, name, key, value, sent, end)
	}()
	return &heldLease{ctx: ctx, end: end, giveUp: sync.OnceFunc(func() {
		stop()
		<-stopped
		rctx, done := context.WithTimeout(context.WithoutCancel(parent), s.leaseTTL)
		defer done()
		// When this fails, the lease expires on its own.
		_, _ = s.call(rctx, &op{script: releaseScript, keys: []string{key}, args: []any{value}})
	})}
}

// renew renews the lease key, called name, held as value since sent,
// until ctx ends or the lease is lost, which it tells lost: at once
// when the lease is another's, and when the time to renew it passes, by
// a timer, however long a renewal under way takes (a dial that hangs,
// say).
func (s *Store) renew(ctx context.Context, name, key, value string, sent time.Time, lost context.CancelCauseFunc) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	ttl := s.leaseTTL
	margin := ttl / 10
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	var lastErr atomic.Pointer[error]
	expiry := time.AfterFunc(time.Until(sent.Add(ttl-margin)), func() {
		why := "no renewal"
		if err := lastErr.Load(); err != nil {
			why = (*err).Error()
		}
		lost(fmt.Errorf("%w: %q not renewed within %v (%s)", ErrLeaseLost, name, ttl-margin, why))
		stop()
	})
	defer expiry.Stop()
	next := time.NewTimer(ttl / 3)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
		}
		start := time.Now()
		cmd, err := s.call(ctx, &op{script: renewScript, keys: []string{key}, args: []any{value, ms}})
		if err == nil {
			var n int64
			if n, err = cmd.Int64(); err == nil && n != 1 {
				lost(fmt.Errorf("%w: %q is no longer held by this replica", ErrLeaseLost, name))
				return
			}
		}
		if err != nil {
			lastErr.Store(&err)
			next.Reset(margin) // try again soon; the expiry ends the lease
			continue
		}
		if !expiry.Stop() {
			return // expired meanwhile: the lease is lost
		}
		expiry.Reset(time.Until(start.Add(ttl - margin)))
		next.Reset(ttl / 3)
	}
}
