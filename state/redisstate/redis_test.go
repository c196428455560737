package redisstate_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// leaseTTL is the lease TTL of the lease tests: short, so that each
// expiry takes a fraction of a second.
const leaseTTL = 300 * time.Millisecond

// TestPrefixesAreApart keeps two bots' state in one Redis: neither sees
// the other's, and every key begins with its store's prefix.
func TestPrefixesAreApart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	a, b := open(t, srv, redisstate.BotPrefix(1, 100), leaseTTL), open(t, srv, redisstate.BotPrefix(1, 101), leaseTTL)
	now := time.Now()
	require.NoError(t, a.CommitProgress(ctx, bot.Commit{Conversation: "0:1:100:200", Index: 7, Cursor: 70}))
	require.NoError(t, a.Mark(ctx, "100/0:1:100:200/7", now.Add(time.Hour)))
	key := middleware.RateKey{Scope: middleware.LimitGlobal}
	one := middleware.Limit{Rate: 1, Burst: 1}
	wait, err := a.Take(ctx, key, one, now)
	require.NoError(t, err)
	require.Zero(t, wait, "a's first take")
	require.NoError(t, a.SetLastRun(ctx, "daily", now))
	lead, release, err := a.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "a's Acquire")
	defer release()

	p, err := b.LoadProgress(ctx)
	require.NoError(t, err)
	assert.False(t, p.Saved, "b sees a's progress: %+v", p)
	seen, err := b.Seen(ctx, "100/0:1:100:200/7", now)
	require.NoError(t, err)
	assert.False(t, seen, "b sees a's dedup mark")
	wait, err = b.Take(ctx, key, one, now)
	require.NoError(t, err)
	assert.Zero(t, wait, "b's first take waits on a's bucket")
	_, ok, err := b.LastRun(ctx, "daily")
	require.NoError(t, err)
	assert.False(t, ok, "b sees a's last run")
	blead, brelease, err := b.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "b's Acquire while a leads its own")
	brelease()
	assert.NoError(t, lead.Err(), "a's lead ended when b took its own")
	assert.Error(t, blead.Err(), "b's lead did not end at release")

	keys, err := srv.Client(t).Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, a.Prefix()) || strings.HasPrefix(k, b.Prefix()), "key %q of neither prefix", k)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := client(t, srv, nil)
	ctx := t.Context()
	for _, tt := range []struct {
		name    string
		opts    redisstate.Options
		wantErr string
	}{
		{"NoPrefix", redisstate.Options{}, "Prefix is empty"},
		{"NegativeTTL", redisstate.Options{Prefix: "p:", LeaseTTL: -time.Second}, "negative"},
		{"TinyTTL", redisstate.Options{Prefix: "p:", LeaseTTL: time.Millisecond}, "below 3ms"},
	} {
		_, err := redisstate.Open(ctx, c, tt.opts)
		require.ErrorContains(t, err, tt.wantErr, tt.name)
	}
	require.NoError(t, c.Set(ctx, "other:format", "something else 2", 0).Err())
	_, err := redisstate.Open(ctx, c, redisstate.Options{Prefix: "other:"})
	require.ErrorIs(t, err, redisstate.ErrFormat, "Open of a prefix of another format")
	open(t, srv, "mine:", 0)
	open(t, srv, "mine:", 0) // and again, as the next replica
	require.Equal(t, "imbot:{7:100}:", redisstate.BotPrefix(7, 100))
}

// TestLeaseExpiresWhenNotRenewed cuts a leader off from Redis: its lead
// ends, with ErrLeaseLost, before another replica takes the lease, which
// happens once the lease expires; the new holder's token is one more.
func TestLeaseExpiresWhenNotRenewed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := freshPrefix()
	var l link
	a := openOn(t, client(t, srv, l.dial), prefix, leaseTTL)
	b := open(t, srv, prefix, leaseTTL)
	ctx := t.Context()

	leadA, releaseA, err := a.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "a's Acquire")
	defer releaseA()
	tokenA, ok := redisstate.Fence(leadA)
	require.True(t, ok, "Fence of a lead context")
	// Renewals keep the lease for longer than its TTL.
	require.False(t, ended(leadA, 2*leaseTTL), "a's lead ended while a could renew it")

	l.set(true)
	cutAt := time.Now()
	var lostAt atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		<-leadA.Done()
		lostAt.Store(time.Now().UnixNano())
	})
	leadB, releaseB, err := b.Leader("cron").Acquire(ctx)
	acquiredAt := time.Now()
	require.NoError(t, err, "b's Acquire")
	defer releaseB()
	wg.Wait()
	require.NotZero(t, lostAt.Load())
	assert.True(t, time.Unix(0, lostAt.Load()).Before(acquiredAt), "a still led when b took the lease")
	assert.ErrorIs(t, context.Cause(leadA), redisstate.ErrLeaseLost, "the cause of a's end")
	assert.Less(t, acquiredAt.Sub(cutAt), 2*leaseTTL, "b took over %v after the cut; want within 2×TTL", acquiredAt.Sub(cutAt))
	tokenB, _ := redisstate.Fence(leadB)
	assert.Equal(t, tokenA+1, tokenB, "fencing token of the next holder")
}

// TestStaleLeaderIsFenced has a leader lose its lease while cut off, and
// commit once the link is back, with the context it led under (as a
// stalled replica would, not yet knowing): the store refuses its
// commits, and keeps the new leader's.
func TestStaleLeaderIsFenced(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := freshPrefix()
	var l link
	a := openOn(t, client(t, srv, l.dial), prefix, leaseTTL)
	b := open(t, srv, prefix, leaseTTL)
	ctx := t.Context()

	leadA, releaseA, err := a.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "a's Acquire")
	defer releaseA()
	at := time.Now().Truncate(time.Millisecond)
	require.NoError(t, a.SetLastRun(leadA, "daily", at), "the leader's commit")
	stale := context.WithoutCancel(leadA) // its values, the fence among them, without its end

	l.set(true)
	leadB, releaseB, err := b.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "b's Acquire")
	defer releaseB()
	require.NoError(t, b.SetLastRun(leadB, "daily", at.Add(time.Minute)), "the new leader's commit")
	require.NoError(t, b.CommitProgress(leadB, bot.Commit{Conversation: "c", Index: 5, Cursor: 50}))
	l.set(false)

	err = a.SetLastRun(stale, "daily", at.Add(2*time.Minute))
	require.ErrorIs(t, err, redisstate.ErrFenced, "a stale leader's SetLastRun")
	err = a.CommitProgress(stale, bot.Commit{Conversation: "c", Index: 9, Cursor: 90})
	require.ErrorIs(t, err, redisstate.ErrFenced, "a stale leader's CommitProgress")
	got, _, err := a.LastRun(ctx, "daily")
	require.NoError(t, err)
	assert.True(t, got.Equal(at.Add(time.Minute)), "last run %v, want the new leader's", got)
	p, err := a.LoadProgress(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 50, p.Cursor, "cursor, want the new leader's")
	assert.EqualValues(t, 5, p.Handled["c"], "index, want the new leader's")
	// After its release, b's lead commits nothing either.
	releaseB()
	require.ErrorIs(t, b.SetLastRun(context.WithoutCancel(leadB), "daily", at), redisstate.ErrFenced, "a commit under a released lease")
}

// TestRedisRestart stops Redis under a store, a lead and their callers:
// each call fails with an error naming it, the lead ends with
// ErrLeaseLost, and once Redis is back (empty), the calls succeed again
// and the lease can be had again.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openOn(t, client(t, srv, nil), freshPrefix(), leaseTTL)
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, s.CommitProgress(ctx, bot.Commit{Conversation: "c", Index: 1, Cursor: 1}))
	lead, release, err := s.Leader("cron").Acquire(ctx)
	require.NoError(t, err)
	defer release()

	srv.Stop()
	key := middleware.RateKey{Scope: middleware.LimitGlobal}
	limit := middleware.Limit{Rate: 1, Burst: 1}
	calls := map[string]func() error{
		"CommitProgress": func() error { return s.CommitProgress(ctx, bot.Commit{Conversation: "c", Index: 2, Cursor: 2}) },
		"LoadProgress":   func() error { _, err := s.LoadProgress(ctx); return err },
		"Seen":           func() error { _, err := s.Seen(ctx, "k", now); return err },
		"Mark":           func() error { return s.Mark(ctx, "k", now.Add(time.Hour)) },
		"Take":           func() error { _, err := s.Take(ctx, key, limit, now); return err },
		"LastRun":        func() error { _, _, err := s.LastRun(ctx, "daily"); return err },
		"SetLastRun":     func() error { return s.SetLastRun(ctx, "daily", now) },
		"Acquire": func() error {
			_, release, err := s.Leader("other").Acquire(ctx)
			if err == nil {
				release()
			}
			return err
		},
	}
	for name, call := range calls {
		err := call()
		require.Error(t, err, "%s with Redis down", name)
		assert.Contains(t, err.Error(), "redisstate:", "%s: the error names the package", name)
	}
	require.True(t, ended(lead, 2*leaseTTL), "the lead did not end with Redis down")
	assert.ErrorIs(t, context.Cause(lead), redisstate.ErrLeaseLost, "the cause of the lead's end")
	release()

	srv.Restart(t)
	for name, call := range calls {
		eventually(t, 5*time.Second, name+" after the restart", call)
	}
	p, err := s.LoadProgress(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, p.Handled["c"], "progress after the restart: only what was committed since")
	lead, release2, err := s.Leader("cron").Acquire(ctx)
	require.NoError(t, err, "Acquire after the restart")
	defer release2()
	token, _ := redisstate.Fence(lead)
	assert.EqualValues(t, 1, token, "the token after a restart that lost the data")
	require.NoError(t, s.SetLastRun(lead, "daily", now), "a fenced commit after the restart")
}

// TestContextErrors checks that a call on a canceled context, or one
// whose deadline passes while Redis does not answer, returns an error
// that errors.Is finds as the context's.
func TestContextErrors(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, freshPrefix(), leaseTTL)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.CommitProgress(canceled, bot.Commit{Cursor: 1})
	assert.ErrorIs(t, err, context.Canceled, "CommitProgress on a canceled context")
	_, err = s.Seen(canceled, "k", time.Now())
	assert.ErrorIs(t, err, context.Canceled, "Seen on a canceled context")
	_, _, err = s.Leader("cron").Acquire(canceled)
	assert.ErrorIs(t, err, context.Canceled, "Acquire on a canceled context")

	// A server that accepts and never answers; the client honours the
	// context's deadline (ContextTimeoutEnabled).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	mute := redis.NewClient(&redis.Options{Addr: l.Addr().String(), MaxRetries: -1, Protocol: 2, DisableIdentity: true, ContextTimeoutEnabled: true})
	defer mute.Close()
	ctx, cancelTimeout := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelTimeout()
	_, err = redisstate.Open(ctx, mute, redisstate.Options{Prefix: "p:"})
	require.ErrorIs(t, err, context.DeadlineExceeded, "Open on a server that does not answer, past its deadline")
}

// TestSharedRateLimit has three replicas take from one global limit as
// fast as they can for a second: together they get at most R·t + burst
// tokens, and about that many.
func TestSharedRateLimit(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := freshPrefix()
	const r, burst = 200, 20
	limit := middleware.Limit{Rate: r, Burst: burst}
	key := middleware.RateKey{Scope: middleware.LimitGlobal}
	stores := []*redisstate.Store{open(t, srv, prefix, 0), open(t, srv, prefix, 0), open(t, srv, prefix, 0)}
	var taken atomic.Int64
	start := time.Now()
	end := start.Add(time.Second)
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for now := time.Now(); now.Before(end); now = time.Now() {
				wait, err := s.Take(t.Context(), key, limit, now)
				if !assert.NoError(t, err, "Take") {
					return
				}
				if wait == 0 {
					taken.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	most := r*elapsed + burst
	t.Logf("3 replicas took %d tokens in %.3fs under %d/s, burst %d (at most %.0f)", taken.Load(), elapsed, r, burst, most)
	assert.LessOrEqual(t, float64(taken.Load()), most, "tokens taken by 3 replicas")
	assert.GreaterOrEqual(t, float64(taken.Load()), r*elapsed/2+burst, "tokens taken by 3 replicas: the limit let too few through")
}

// TestCommitsShareRoundTrips holds one commit's round trip until 49
// other conversations' commits have queued behind it: those 49 go in one
// pipeline, so that the 50 commits take 2 round trips, not 50.
func TestCommitsShareRoundTrips(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := client(t, srv, nil)
	s := openOn(t, c, freshPrefix(), 0)
	const convs = 50
	commit := func(i int) {
		conv := im.ConversationID(fmt.Sprint("0:1:", i, ":100"))
		assert.NoError(t, s.CommitProgress(t.Context(), bot.Commit{Conversation: conv, Index: int64(i + 1), Cursor: int64(i + 1)}))
	}
	commit(0) // loads the script, which a new Redis has not seen
	entered, gate := make(chan struct{}), make(chan struct{})
	trips := roundTrips{hold: func() {
		close(entered)
		<-gate
	}}
	c.AddHook(&trips)
	var wg sync.WaitGroup
	wg.Go(func() { commit(0) })
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		close(gate)
		require.FailNow(t, "the first commit's round trip did not start within 5s")
	}
	for i := 1; i < convs; i++ {
		wg.Go(func() { commit(i) })
	}
	eventually(t, 5*time.Second, "the other commits queued", func() error {
		if n := s.Queued(); n != convs-1 {
			return fmt.Errorf("%d of %d queued", n, convs-1)
		}
		return nil
	})
	close(gate)
	wg.Wait()
	assert.EqualValues(t, 2, trips.n.Load(), "round trips of %d commits, %d of them queued behind the first", convs, convs-1)
	p, err := s.LoadProgress(t.Context())
	require.NoError(t, err)
	require.Len(t, p.Handled, convs)
	for i := range convs {
		assert.EqualValues(t, i+1, p.Handled[im.ConversationID(fmt.Sprint("0:1:", i, ":100"))], "index of conversation %d", i)
	}
	assert.EqualValues(t, convs, p.Cursor, "cursor")
}

// TestConcurrentCommits has 50 conversations commit 20 indexes each at
// once, their round trips shared as they happen to meet: each
// conversation ends at its last index. How many round trips they take
// depends on the scheduling (a round trip faster than a caller's own
// work needs no company), so it is logged, not checked.
func TestConcurrentCommits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := client(t, srv, nil)
	var trips roundTrips
	c.AddHook(&trips)
	s := openOn(t, c, freshPrefix(), 0)
	trips.n.Store(0)
	const convs, each = 50, 20
	var wg sync.WaitGroup
	for i := range convs {
		wg.Go(func() {
			conv := im.ConversationID(fmt.Sprint("0:1:", i, ":100"))
			for n := range each {
				if !assert.NoError(t, s.CommitProgress(t.Context(), bot.Commit{Conversation: conv, Index: int64(n + 1), Cursor: int64(n + 1)})) {
					return
				}
			}
		})
	}
	wg.Wait()
	p, err := s.LoadProgress(t.Context())
	require.NoError(t, err)
	require.Len(t, p.Handled, convs)
	for conv, index := range p.Handled {
		assert.EqualValues(t, each, index, "index of %s", conv)
	}
	assert.EqualValues(t, each, p.Cursor, "cursor")
	t.Logf("%d commits in %d round trips", convs*each, trips.n.Load())
}

// roundTrips is a client hook counting round trips: commands, and
// pipelines.
type roundTrips struct {
	n    atomic.Int64
	hold func() // when set, the first round trip calls it before it is sent
	once sync.Once
}

// tripped counts a round trip, and holds the first if told to.
func (r *roundTrips) tripped() {
	r.n.Add(1)
	if r.hold != nil {
		r.once.Do(r.hold)
	}
}

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.tripped()
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.tripped()
		return next(ctx, cmds)
	}
}

// TestCallersGiveUp has many callers whose contexts end while their
// commands wait for a round trip, or are in one: each gets its
// context's error or its result, and the store goes on serving the
// others (no caller is left to lead a round trip that nobody sends).
func TestCallersGiveUp(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, srv, freshPrefix(), 0)
	const callers, each = 50, 40
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration((g*each+i)%300)*time.Microsecond)
				_, err := s.Seen(ctx, fmt.Sprint("k", g, "/", i), time.Now())
				cancel()
				if err != nil {
					assert.ErrorIs(t, err, context.DeadlineExceeded, "Seen on a context that ended")
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.CommitProgress(ctx, bot.Commit{Cursor: 1}), "a call after the callers gave up")
}
