package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// parts is the number of partitions of the cluster tests: not a
// multiple of 2 or 3, so that the balance rounds.
const parts = 25

func TestPartitionGolden(t *testing.T) {
	t.Parallel()
	s := open(t, redistest.Start(t), freshPrefix(), leaseTTL)
	for _, tt := range []struct {
		partitions int
		key        string
		want       int
	}{
		// The values are part of the format: replicas of different
		// versions must agree on them.
		{0, "", 5},
		{0, "0:1:100:200", 43},
		{0, bot.FriendKey(42), 19},
		{0, "0:2:7:9", 37},
		{7, "0:1:100:200", 6},
		{7, "friend:42", 3},
		{4096, "0:1:100:200", 2731},
		{4096, "0:2:7:9", 613},
		{1, "0:1:100:200", 0},
	} {
		c, err := s.Cluster(redisstate.ClusterOptions{Partitions: tt.partitions})
		require.NoError(t, err)
		assert.Equal(t, tt.want, c.Partition(tt.key), "Partition(%q) of %d", tt.key, tt.partitions)
	}
	c, err := s.Cluster(redisstate.ClusterOptions{})
	require.NoError(t, err)
	for i := range 1000 {
		key := fmt.Sprint("0:1:", i, ":100")
		h := fnv.New32a()
		h.Write([]byte(key))
		p := c.Partition(key)
		require.Equal(t, int(h.Sum32()%redisstate.DefaultPartitions), p, "Partition(%q): want FNV-1a 32 mod %d", key, redisstate.DefaultPartitions)
		require.True(t, p >= 0 && p < redisstate.DefaultPartitions, "Partition(%q) = %d", key, p)
	}
}

func TestClusterOptions(t *testing.T) {
	t.Parallel()
	s := open(t, redistest.Start(t), freshPrefix(), leaseTTL)
	for _, tt := range []struct {
		name    string
		opts    redisstate.ClusterOptions
		wantErr string
	}{
		{"Negative", redisstate.ClusterOptions{Partitions: -1}, "not in 1..4096"},
		{"TooMany", redisstate.ClusterOptions{Partitions: 4097}, "not in 1..4096"},
		{"One", redisstate.ClusterOptions{Partitions: 1}, ""},
		{"Most", redisstate.ClusterOptions{Partitions: 4096}, ""},
	} {
		_, err := s.Cluster(tt.opts)
		if tt.wantErr == "" {
			assert.NoError(t, err, tt.name)
		} else {
			assert.ErrorContains(t, err, tt.wantErr, tt.name)
		}
	}
	a, err := s.Cluster(redisstate.ClusterOptions{})
	require.NoError(t, err)
	b, err := s.Cluster(redisstate.ClusterOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, a.Replica(), "the default replica name")
	assert.NotEqual(t, a.Replica(), b.Replica(), "two default replica names")
	named, err := s.Cluster(redisstate.ClusterOptions{Replica: "host-1"})
	require.NoError(t, err)
	assert.Equal(t, "host-1", named.Replica())
	assert.ErrorContains(t, named.Run(t.Context(), nil), "nil claim")
}

// TestAssign checks the assignment every replica computes: balanced to
// within one, the same for the same members, and moving little more
// than the joiner's share when a member joins.
func TestAssign(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 7, parts, 64, 256} {
		for m := 1; m <= 9; m++ {
			members := names("r", m)
			owners := redisstate.Assign(members, n)
			count := map[string]int{}
			for p, o := range owners {
				require.Contains(t, members, o, "owner of partition %d of %d among %d", p, n, m)
				count[o]++
			}
			for _, member := range members {
				k := count[member]
				assert.True(t, k == n/m || k == (n+m-1)/m, "%s holds %d of %d partitions among %d members", member, k, n, m)
			}
			assert.Equal(t, owners, redisstate.Assign(slices.Clone(members), n), "a second assignment")
		}
	}
	// Over a few sets of names, a fourth member joining three moves on
	// average its share (16 of 64) and less than as much again.
	const n, sets = 64, 20
	moved := 0
	for set := range sets {
		before := names(fmt.Sprint("s", set, "-"), 3)
		after := append(slices.Clone(before), fmt.Sprint("s", set, "-new"))
		slices.Sort(after)
		x, y := redisstate.Assign(before, n), redisstate.Assign(after, n)
		for p := range n {
			if x[p] != y[p] {
				moved++
			}
		}
	}
	t.Logf("a fourth member joining three moves %.1f of %d partitions on average (its share: %d)", float64(moved)/sets, n, n/4)
	assert.Less(t, float64(moved)/sets, 2.0*n/4, "partitions moved on average when a fourth member joins")
}

// names returns m member names, sorted.
func names(prefix string, m int) []string {
	var out []string
	for i := range m {
		out = append(out, fmt.Sprintf("%s%02d", prefix, i))
	}
	return out
}

// TestClusterDivides runs three replicas: each partition is claimed by
// exactly one, the one the assignment names, so that each holds 8 or 9
// of the 25.
func TestClusterDivides(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, name := range []string{"a", "b", "c"} {
		w.start(name, nil)
	}
	w.settle(2*time.Second, "a", "b", "c")
	counts := map[string]int{}
	for _, owner := range w.live() {
		counts[owner[0]]++
	}
	for name, k := range counts {
		assert.True(t, k == parts/3 || k == parts/3+1, "%s holds %d of %d partitions", name, k, parts)
	}
	w.checkTokens(0)
	// Owners reads the same split from the leases.
	view, err := open(t, w.srv, w.prefix, leaseTTL).Cluster(redisstate.ClusterOptions{Partitions: parts})
	require.NoError(t, err)
	owners, err := view.Owners(t.Context())
	require.NoError(t, err)
	want := map[int]string{}
	for p, holders := range w.live() {
		want[p] = holders[0]
	}
	assert.Equal(t, want, owners, "Owners")
}

// TestClusterLeave stops one of three replicas: its claims end as
// moved, its Run returns nil, its membership is gone at once, and the
// other two take its partitions within 2×TTL.
func TestClusterLeave(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.start("a", nil)
	w.start("b", nil)
	c := w.start("c", nil)
	w.settle(2*time.Second, "a", "b", "c")
	left := time.Now()
	c.stop()
	select {
	case err := <-c.done:
		require.NoError(t, err, "Run of the replica that left")
	case <-time.After(2 * leaseTTL):
		require.FailNow(t, "Run did not return within 2×TTL of its context's end")
	}
	_, err := w.redis.ZScore(t.Context(), w.prefix+"members", "c").Result()
	require.ErrorIs(t, err, redis.Nil, "the membership of the replica that left")
	for _, cl := range w.of("c") {
		require.Error(t, cl.Lease.Err(), "a claim of partition %d outlived Run", cl.Partition)
		assert.ErrorIs(t, context.Cause(cl.Lease), bot.ErrPartitionMoved, "the cause of the end of partition %d's claim", cl.Partition)
	}
	w.settle(2*leaseTTL, "a", "b")
	t.Logf("c's partitions taken over %v after it left", time.Since(left))
}

// TestClusterJoin starts a third replica beside two, whose moved claims
// are released only when the test says: the partitions that move (to
// the joiner, and any between the two) are each claimed only after
// their old holder released them, while the old holder's lease,
// renewed past its TTL, still lets its commits pass the fence.
func TestClusterJoin(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.start("a", nil), w.start("b", nil)
	w.settle(2*time.Second, "a", "b")
	held := w.liveClaims()
	hold := w.holdReleases()
	before := redisstate.Assign([]string{"a", "b"}, parts)
	after := redisstate.Assign([]string{"a", "b", "c"}, parts)
	var moves []int
	for p := range parts {
		if before[p] != after[p] {
			moves = append(moves, p)
		}
	}
	require.NotEmpty(t, moves)

	since := w.mark()
	w.start("c", nil)
	eventually(t, 2*time.Second, "the moved claims end", func() error {
		var ended []int
		for _, cl := range held {
			if errors.Is(context.Cause(cl.Lease), bot.ErrPartitionMoved) {
				ended = append(ended, cl.Partition)
			}
		}
		slices.Sort(ended)
		if !slices.Equal(ended, moves) {
			return fmt.Errorf("moved: %v, want %v", ended, moves)
		}
		return nil
	})
	// While the old holders finish (they hold their Release), their
	// leases outlive their TTL and nobody takes the partitions.
	select {
	case cl := <-w.claimed:
		require.FailNow(t, "claimed while its old holder had not released it", "%s claimed partition %d", cl.replica, cl.Partition)
	case <-time.After(2 * leaseTTL):
	}
	stores := map[string]*redisstate.Store{"a": a.st, "b": b.st}
	for _, cl := range held {
		if cl.Lease.Err() != nil {
			err := stores[cl.replica].CommitProgress(context.WithoutCancel(cl.Lease), bot.Commit{Cursor: 1})
			require.NoError(t, err, "a commit under the moved, unreleased lease of partition %d", cl.Partition)
		}
	}
	close(hold)
	w.settle(2*time.Second, "a", "b", "c")

	var claimed []int
	for _, cl := range w.all() {
		if cl.seq <= since {
			continue
		}
		claimed = append(claimed, cl.Partition)
		old := held[cl.Partition]
		released := w.released(old)
		require.NotZero(t, released, "%s never released partition %d", old.replica, cl.Partition)
		assert.Less(t, released, cl.seq, "%s claimed partition %d before %s released it", cl.replica, cl.Partition, old.replica)
		err := stores[old.replica].CommitProgress(context.WithoutCancel(old.Lease), bot.Commit{Cursor: 2})
		assert.ErrorIs(t, err, redisstate.ErrFenced, "a commit under %s's released lease of partition %d", old.replica, cl.Partition)
	}
	slices.Sort(claimed)
	assert.Equal(t, moves, claimed, "the partitions claimed since c joined: once each of those that moved")
}

// TestClusterCutOff cuts one of two replicas off from Redis: each of its
// claims ends with ErrLeaseLost before the other claims the partition,
// and once the link is back, a commit under the lost lease is fenced.
func TestClusterCutOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var l link
	a := w.start("a", l.dial)
	w.start("b", nil)
	w.settle(2*time.Second, "a", "b")
	var lost []*claim
	for _, cl := range w.liveClaims() {
		if cl.replica == "a" {
			lost = append(lost, cl)
		}
	}
	require.NotEmpty(t, lost)

	l.set(true)
	w.settle(2*time.Second, "b")
	for _, cl := range lost {
		require.Error(t, cl.Lease.Err(), "a's claim of partition %d", cl.Partition)
		assert.ErrorIs(t, context.Cause(cl.Lease), redisstate.ErrLeaseLost, "the cause of the end of a's claim of partition %d", cl.Partition)
		var next *claim
		for _, o := range w.of("b") {
			if o.Partition == cl.Partition {
				next = o
			}
		}
		require.NotNil(t, next, "b's claim of partition %d", cl.Partition)
		endedAt := w.ended(cl)
		assert.True(t, endedAt.Before(next.at), "partition %d: a's lease ended at %v, after b claimed it at %v",
			cl.Partition, endedAt.Format(time.StampMicro), next.at.Format(time.StampMicro))
	}

	l.set(false)
	for _, cl := range lost {
		stale := context.WithoutCancel(cl.Lease)
		eventually(t, 2*time.Second, "a's commit under its lost lease", func() error {
			err := a.st.CommitProgress(stale, bot.Commit{Cursor: 9})
			require.Error(t, err, "a commit under a's lost lease of partition %d passed", cl.Partition)
			if !errors.Is(err, redisstate.ErrFenced) {
				return err // the client redials
			}
			return nil
		})
	}
}

// TestClusterRedisRestart stops Redis under two replicas: their claims
// end with ErrLeaseLost, each logs the outage once, and once Redis is
// back (empty) each partition is claimed again, its fencing tokens
// counted from 1 again.
func TestClusterRedisRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.start("a", nil), w.start("b", nil)
	w.settle(2*time.Second, "a", "b")
	first := w.liveClaims()

	w.srv.Stop()
	for _, cl := range first {
		require.True(t, ended(cl.Lease, 2*leaseTTL), "%s's claim of partition %d did not end with Redis down", cl.replica, cl.Partition)
		assert.ErrorIs(t, context.Cause(cl.Lease), redisstate.ErrLeaseLost, "the cause of the end of partition %d's claim", cl.Partition)
	}
	for _, r := range []*replica{a, b} {
		eventually(t, 2*time.Second, r.name+" logs the outage", func() error { return r.logs.want(slog.LevelWarn, 1) })
	}

	since := w.mark() // Redis is down: no claim comes between
	w.srv.Restart(t)
	w.settle(5*time.Second, "a", "b")
	for _, r := range []*replica{a, b} {
		eventually(t, 2*time.Second, r.name+" logs Redis back", func() error { return r.logs.want(slog.LevelInfo, 1) })
		assert.NoError(t, r.logs.want(slog.LevelWarn, 1), "%s's warnings", r.name)
	}
	w.checkTokens(since) // counted again from 1
}

// TestClusterRunTwice runs one Cluster twice at once: the second Run is
// refused; after the first returns, Run may be called again.
func TestClusterRunTwice(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c, err := open(t, srv, freshPrefix(), leaseTTL).Cluster(redisstate.ClusterOptions{Partitions: 4, Logger: discard})
	require.NoError(t, err)
	claimed := make(chan bot.Claim, 4) // as many as the partitions
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(cl bot.Claim) { claimed <- cl }) }()
	receive(t, claimed, "a first claim")
	require.ErrorContains(t, c.Run(t.Context(), func(bot.Claim) {}), "runs already", "a second Run at once")
	cancel()
	require.NoError(t, receive(t, done, "Run's return"))

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	claimed = make(chan bot.Claim, 4)
	go func() { done <- c.Run(ctx, func(cl bot.Claim) { claimed <- cl }) }()
	receive(t, claimed, "a claim of the second Run")
	cancel()
	require.NoError(t, receive(t, done, "the second Run's return"))
}

// TestClusterLeavesNoGoroutine runs a Cluster, releasing one claim
// from another goroutine and leaving the rest to Run's end: once Run
// has returned, no goroutine it started is left, and a Release after
// that does nothing. It is not parallel, so that the goroutines of
// other tests do not count.
func TestClusterLeavesNoGoroutine(t *testing.T) {
	srv := redistest.Start(t)
	rc := client(t, srv, nil)
	st := openOn(t, rc, freshPrefix(), leaseTTL)
	c, err := st.Cluster(redisstate.ClusterOptions{Partitions: 8, Logger: discard})
	require.NoError(t, err)
	require.NoError(t, rc.Ping(t.Context()).Err()) // the pool's connection
	ignore := goleak.IgnoreCurrent()

	claimed := make(chan bot.Claim, 8)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(cl bot.Claim) { claimed <- cl }) }()
	var claims []bot.Claim
	for range 8 {
		claims = append(claims, receive(t, claimed, "a claim"))
	}
	released := make(chan struct{})
	go func() {
		claims[0].Release()
		close(released)
	}()
	receive(t, released, "a Release from another goroutine")
	cancel()
	require.NoError(t, receive(t, done, "Run's return"))
	for _, cl := range claims {
		require.Error(t, cl.Lease.Err(), "partition %d's claim after Run", cl.Partition)
		cl.Release()
	}
	goleak.VerifyNone(t, ignore, ignoreRedial)
}

// world is a cluster of replicas of one prefix on one Redis, each run
// as a bot would run it, recording every claim.
type world struct {
	t      *testing.T
	srv    *redistest.Server
	redis  *redis.Client // to look at the keys
	prefix string
	// claimed gets every claim after the first settle; the tests that
	// care read it.
	claimed chan *claim

	mu     sync.Mutex
	seq    int64         // orders the claims and releases of all replicas
	claims []*claim      // every claim, in order
	quiet  bool          // no claims go to claimed yet
	hold   chan struct{} // when not nil, the Release of a claim that moves waits for it to close
}

// claim is a Claim one replica got.
type claim struct {
	bot.Claim
	replica string
	seq     int64     // its place among the claims and releases
	at      time.Time // when it was claimed

	// Under world.mu.
	ended    time.Time // when its Lease was seen to end
	released int64     // the seq of its Release, 0 before
}

func newWorld(t *testing.T) *world {
	srv := redistest.Start(t)
	return &world{t: t, srv: srv, redis: client(t, srv, nil), prefix: freshPrefix(), claimed: make(chan *claim, 1024), quiet: true}
}

// replica is one replica of a world.
type replica struct {
	name string
	w    *world
	st   *redisstate.Store
	logs *logs

	stop   context.CancelFunc
	done   chan error    // Run's return
	exited chan struct{} // closed once Run has returned
	wg     sync.WaitGroup
}

// start starts a replica called name, whose client dials with dial
// when it is not nil, and stops it at the test's cleanup.
func (w *world) start(name string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *replica {
	w.t.Helper()
	st := openOn(w.t, client(w.t, w.srv, dial), w.prefix, leaseTTL)
	lg := &logs{}
	c, err := st.Cluster(redisstate.ClusterOptions{Partitions: parts, Replica: name, Logger: slog.New(lg)})
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{name: name, w: w, st: st, logs: lg, stop: cancel, done: make(chan error, 1), exited: make(chan struct{})}
	r.wg.Go(func() {
		defer close(r.exited)
		r.done <- c.Run(ctx, r.claim)
	})
	w.t.Cleanup(func() { // before the client closes
		cancel()
		r.wg.Wait()
	})
	return r
}

// claim records cl and releases it once its Lease ends, as a bot does.
func (r *replica) claim(cl bot.Claim) {
	w := r.w
	w.mu.Lock()
	w.seq++
	c := &claim{Claim: cl, replica: r.name, seq: w.seq, at: time.Now()}
	w.claims = append(w.claims, c)
	if !w.quiet {
		w.claimed <- c
	}
	w.mu.Unlock()
	r.wg.Go(func() {
		<-cl.Lease.Done()
		w.mu.Lock()
		c.ended = time.Now()
		hold := w.hold
		w.mu.Unlock()
		// A bot finishes the partition's handlers before it releases
		// a partition that moves.
		if hold != nil && errors.Is(context.Cause(cl.Lease), bot.ErrPartitionMoved) {
			select {
			case <-hold:
			case <-r.exited: // Run released it
			}
		}
		w.mu.Lock()
		w.seq++
		c.released = w.seq
		w.mu.Unlock()
		cl.Release()
	})
}

// all returns the claims so far.
func (w *world) all() []*claim {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.claims)
}

// of returns the claims of one replica so far.
func (w *world) of(name string) []*claim {
	var out []*claim
	for _, c := range w.all() {
		if c.replica == name {
			out = append(out, c)
		}
	}
	return out
}

// liveClaims returns the live claims by partition.
func (w *world) liveClaims() map[int]*claim {
	out := map[int]*claim{}
	for _, c := range w.all() {
		if c.Lease.Err() == nil {
			out[c.Partition] = c
		}
	}
	return out
}

// holdReleases makes the Releases of the claims that move from now on
// wait until the channel it returns is closed.
func (w *world) holdReleases() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hold = make(chan struct{})
	return w.hold
}

// mark returns the seq of the last claim or release so far.
func (w *world) mark() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// ended returns when c's Lease was seen to end, zero if not yet.
func (w *world) ended(c *claim) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return c.ended
}

// released returns the seq of c's Release, zero if not yet.
func (w *world) released(c *claim) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return c.released
}

// checkTokens checks the fencing token of each live claim: one more
// for each claim of its partition after the seq since, as each holder
// counts one.
func (w *world) checkTokens(since int64) {
	w.t.Helper()
	holders := map[int]int64{}
	for _, c := range w.all() {
		if c.seq > since {
			holders[c.Partition]++
		}
	}
	for p, c := range w.liveClaims() {
		token, ok := redisstate.Fence(c.Lease)
		assert.True(w.t, ok, "Fence of partition %d's lease", p)
		assert.Equal(w.t, holders[p], token, "the fencing token of partition %d's holder", p)
	}
}

// live returns the replicas whose claim of each partition is live.
func (w *world) live() map[int][]string {
	out := map[int][]string{}
	for _, c := range w.all() {
		if c.Lease.Err() == nil {
			out[c.Partition] = append(out[c.Partition], c.replica)
		}
	}
	return out
}

// settle waits until each partition has one live claim, by the replica
// that the assignment among members names; after it, new claims go to
// w.claimed.
func (w *world) settle(within time.Duration, members ...string) {
	w.t.Helper()
	owners := redisstate.Assign(members, parts)
	eventually(w.t, within, fmt.Sprintf("the partitions claimed by %v", members), func() error {
		live := w.live()
		var wrong []string
		for p := range parts {
			if got := live[p]; len(got) != 1 || got[0] != owners[p] {
				wrong = append(wrong, fmt.Sprintf("%d: %v, want %s", p, got, owners[p]))
			}
		}
		if len(wrong) > 0 {
			return errors.New(strings.Join(wrong, "; "))
		}
		return nil
	})
	w.mu.Lock()
	w.quiet = false
	w.mu.Unlock()
}

// receive waits up to 2 s for a value of ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Second):
		require.FailNow(t, what+": none within 2s")
	}
	var zero T
	return zero
}

// discard is a logger for the tests that do not read the logs.
var discard = slog.New(slog.DiscardHandler)

// logs is a slog.Handler that counts records by level.
type logs struct {
	mu     sync.Mutex
	levels map[slog.Level]int
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.levels == nil {
		l.levels = map[slog.Level]int{}
	}
	l.levels[r.Level]++
	return nil
}

// want reports an error unless n records of level were logged.
func (l *logs) want(level slog.Level, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if got := l.levels[level]; got != n {
		return fmt.Errorf("%d records at %v, want %d", got, level, n)
	}
	return nil
}
