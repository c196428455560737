package redisstate

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/bot"
)

// DefaultPartitions is the number of partitions of a Cluster when
// ClusterOptions.Partitions is zero.
const DefaultPartitions = 64

// maxPartitions bounds ClusterOptions.Partitions: each partition is a
// lease to renew, and the assignment ranks every member for each.
const maxPartitions = 4096

// ClusterOptions configures Store.Cluster, which copies it.
type ClusterOptions struct {
	// Partitions is the number of partitions the conversations are
	// divided into. It must be the same on every replica of a bot (a
	// replica with another number would hash keys elsewhere). Zero
	// means DefaultPartitions; it must be 1 to 4096.
	Partitions int
	// Replica is this replica's name among the members. Two live
	// replicas must not share one: they would count as one member, and
	// the partitions of that member would go to whichever took each
	// first. Empty means a random name (rand.Text), new at each
	// Store.Cluster.
	Replica string
	// Logger logs when Redis cannot be reached (Warn, once per outage)
	// and when it is reached again (Info). Nil means slog.Default().
	Logger *slog.Logger
}

// Cluster divides a bot's conversations among the replicas sharing a
// Store's prefix: it implements [bot.Cluster]. See the package doc,
// "Conversation ownership", for the members, the assignment, the
// leases and the timing.
//
// A Cluster is safe for concurrent use, but Run takes part in the
// cluster once at a time: a second Run while one runs returns an
// error. Run owns the goroutines it starts (one per partition held, to
// renew its lease) and has joined them all when it returns; a Claim's
// Release may be called from any goroutine, before or after Run
// returns.
type Cluster struct {
	s       *Store
	n       int
	replica string
	log     *slog.Logger
	members string // the key of the members

	running atomic.Bool
}

var _ bot.Cluster = (*Cluster)(nil)

// Cluster returns the Cluster of the replicas of the Store's prefix,
// or an error for bad options. It does no I/O: Run joins the cluster.
func (s *Store) Cluster(opts ClusterOptions) (*Cluster, error) {
	switch {
	case opts.Partitions == 0:
		opts.Partitions = DefaultPartitions
	case opts.Partitions < 1 || opts.Partitions > maxPartitions:
		return nil, fmt.Errorf("redisstate: Cluster: ClusterOptions.Partitions %d is not in 1..%d", opts.Partitions, maxPartitions)
	}
	if opts.Replica == "" {
		opts.Replica = rand.Text()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Cluster{s: s, n: opts.Partitions, replica: opts.Replica, log: opts.Logger, members: s.prefix + "members"}, nil
}

// Partition implements [bot.Cluster]: the 32-bit FNV-1a hash of key,
// modulo the number of partitions. It is part of the format: replicas
// of different versions must agree on it.
func (c *Cluster) Partition(key string) int {
	// hash/fnv's New32a would allocate on each of the bot's events.
	h := uint32(2166136261)
	for i := range len(key) {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(c.n))
}

// Replica returns this replica's name among the members.
func (c *Cluster) Replica() string { return c.replica }

// Owners returns, for each partition whose lease a replica holds now,
// that replica's name: what an operator (or a demo) reads to see how
// the partitions are split. It reads every lease in one command.
func (c *Cluster) Owners(ctx context.Context) (map[int]string, error) {
	args := make([]any, 0, c.n+1)
	args = append(args, "MGET")
	for p := range c.n {
		key, _ := c.s.leaseKeys(partName(p))
		args = append(args, key)
	}
	cmd, err := c.s.call(ctx, &op{args: args})
	if err != nil {
		return nil, fmt.Errorf("redisstate: cluster owners: %w", err)
	}
	values, err := cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstate: cluster owners: %w", err)
	}
	owners := make(map[int]string, len(values))
	for p, v := range values {
		value, ok := v.(string)
		if !ok {
			continue // nil: nobody holds it
		}
		// "<token>:<replica>/<random>"
		_, holder, _ := strings.Cut(value, ":")
		if i := strings.LastIndexByte(holder, '/'); i >= 0 {
			owners[p] = holder[:i]
		}
	}
	return owners, nil
}

// membersScript adds or refreshes a member and returns the live ones,
// on Redis's clock so that the replicas' clocks do not matter: KEYS
// members; ARGV replica, ttl (ms). A member's score is its expiry, ms
// since 1970; the key itself expires when no member refreshes it. The
// answer is "1" when the replica was not a member (it joins, or Redis
// lost the members, or its membership expired), else "0", then the
// members.
var membersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local added = redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, tostring(added))
return out
`)

// settleTicks is how many ticks a replica that (re)joined the members
// waits before it takes partitions: the others join meanwhile, so that
// after a Redis restart the first replica to tick does not take every
// partition for itself (to hand most back a tick later), and the old
// holders' renewals (every third of the TTL) find their leases gone
// and stop handling them before anyone takes them again.
const settleTicks = 2

// Run implements [bot.Cluster]. Every quarter of the lease TTL it
// refreshes this replica's membership, computes the assignment, ends
// the claims of partitions that moved away, and tries once to take
// each partition assigned here that it does not hold, calling claim
// for each one taken; claim should return soon, since the next tick
// waits for it. A Redis that cannot be reached is logged and tried
// again at the next tick. When ctx ends, it ends and releases the
// claims still held at once (a bot stops handling before it ends
// Run's context: commits made after are refused), leaves the members,
// and returns nil once the releases are done or have failed, within
// about a lease TTL (or the client's timeouts, when it does not honour
// a context's deadline).
func (c *Cluster) Run(ctx context.Context, claim func(bot.Claim)) error {
	if claim == nil {
		return errors.New("redisstate: Cluster.Run: nil claim")
	}
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("redisstate: Cluster.Run: replica %q runs already", c.replica)
	}
	defer c.running.Store(false)
	r := &run{c: c, base: context.WithoutCancel(ctx), held: make(map[int]*held)}
	defer r.leave()
	tick := time.NewTicker(c.s.leaseTTL / 4)
	defer tick.Stop()
	for {
		r.tick(ctx, claim)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// run is the state of one Run. Its goroutine alone touches the
// members, the assignment and down; held is shared with the Releases.
type run struct {
	c *Cluster
	// base is Run's context without its end: the calls to Redis go on
	// it, bounded by the lease TTL, so that a call under way when Run's
	// context ends is not cut off halfway (an acquisition that took a
	// lease without being told would leave it to expire).
	base context.Context

	members []string // sorted, as of the last tick that reached Redis
	mine    []bool   // the partitions assigned to this replica
	down    bool     // the last tick did not reach Redis
	settle  int      // ticks to wait before taking partitions (settleTicks)

	mu   sync.Mutex
	held map[int]*held // the partitions taken and not yet released
}

// held is a partition this replica took.
type held struct {
	lease   *heldLease
	moved   bool // its lease context ended with ErrPartitionMoved
	release func()
}

// tick is one round of Run.
func (r *run) tick(ctx context.Context, claim func(bot.Claim)) {
	c := r.c
	mctx, done := context.WithTimeout(r.base, c.s.leaseTTL)
	members, added, err := c.join(mctx)
	done()
	if err != nil {
		if !r.down {
			c.log.Warn("redisstate: cluster: cannot reach Redis", "replica", c.replica, "err", err)
		}
		r.down = true
		return
	}
	if r.down {
		c.log.Info("redisstate: cluster: Redis reached again", "replica", c.replica, "members", len(members))
		r.down = false
	}
	if added {
		r.settle = settleTicks
	} else if r.settle > 0 {
		r.settle--
	}
	if !slices.Equal(members, r.members) {
		r.members = members
		r.mine = r.mine[:0]
		for _, m := range assign(members, c.n) {
			r.mine = append(r.mine, m == c.replica)
		}
	}

	var want []int
	r.mu.Lock()
	for p, h := range r.held {
		if !r.mine[p] && !h.moved {
			h.moved = true
			h.lease.end(bot.ErrPartitionMoved) // the renewals go on until Release
		}
	}
	for p, mine := range r.mine {
		if _, ok := r.held[p]; mine && !ok {
			want = append(want, p)
		}
	}
	r.mu.Unlock()
	if len(want) == 0 || r.settle > 0 || ctx.Err() != nil {
		return
	}

	// The attempts go at once, so that the batcher sends them in a
	// round trip or two rather than one each.
	type taken struct {
		key, value string
		sent       time.Time
	}
	got := make([]taken, len(want))
	actx, done := context.WithTimeout(r.base, c.s.leaseTTL)
	defer done()
	holder := c.replica + "/" + rand.Text()
	var wg sync.WaitGroup
	for i, p := range want {
		wg.Go(func() {
			key, counter := c.s.leaseKeys(partName(p))
			value, _, sent, err := c.s.tryAcquire(actx, key, counter, holder)
			if err == nil && value != "" {
				got[i] = taken{key: key, value: value, sent: sent}
			}
			// Else another holds it, finishing or dead, or Redis
			// failed: the next tick tries again.
		})
	}
	wg.Wait()
	for i, p := range want {
		if got[i].value == "" {
			continue
		}
		// Each partition's lease renews on a goroutine of its own, as a
		// Leader's does, with its own timer to end it in time. The
		// renewals that fall due together share round trips in the
		// batcher: 64 partitions held take about 6 round trips each
		// third of the TTL, 512 about 20 (measured on loopback). One
		// script renewing them all at each tick would take one, but
		// would need the expiry and loss of each lease done again.
		h := &held{lease: c.s.hold(r.base, partName(p), got[i].key, got[i].value, got[i].sent)}
		h.release = func() {
			h.lease.end(bot.ErrPartitionMoved)
			h.lease.giveUp()
			r.forget(p, h)
		}
		r.mu.Lock()
		r.held[p] = h
		r.mu.Unlock()
		if ctx.Err() == nil { // else leave releases it at once
			claim(bot.Claim{Partition: p, Lease: h.lease.ctx, Release: h.release})
		}
	}
}

// forget takes h, released, out of the partitions held, so that the
// next tick may take p again.
func (r *run) forget(p int, h *held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[p] == h {
		delete(r.held, p)
	}
}

// leave ends and releases the claims still held, at once so that their
// releases share round trips, then takes this replica out of the
// members, so that the others rebalance at their next tick rather than
// once its membership expires.
func (r *run) leave() {
	r.mu.Lock()
	hs := make([]*held, 0, len(r.held))
	for _, h := range r.held {
		hs = append(hs, h)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(h.release)
	}
	wg.Wait()
	ctx, done := context.WithTimeout(r.base, r.c.s.leaseTTL)
	defer done()
	// When this fails, the membership expires on its own.
	_, _ = r.c.s.call(ctx, &op{args: []any{"ZREM", r.c.members, r.c.replica}})
}

// join refreshes this replica's membership and returns the live
// members, sorted.
func (c *Cluster) join(ctx context.Context) (members []string, added bool, err error) {
	cmd, err := c.s.call(ctx, &op{script: membersScript, keys: []string{c.members},
		args: []any{c.replica, strconv.FormatInt(c.s.leaseTTL.Milliseconds(), 10)}})
	if err != nil {
		return nil, false, err
	}
	reply, err := cmd.StringSlice()
	if err != nil || len(reply) < 2 || !slices.Contains(reply[1:], c.replica) {
		return nil, false, fmt.Errorf("%w: the members script answered %q (%v)", ErrFormat, reply, err)
	}
	members = reply[1:]
	slices.Sort(members)
	return members, reply[0] == "1", nil
}

// partName is the name of partition p's lease: its keys are those of
// Store.Leader(partName(p)).
func partName(p int) string { return "part:" + strconv.Itoa(p) }

// assign returns the owner of each of n partitions among members, the
// same on every replica that sees the same members. Each pair of a
// partition and a member has a rendezvous hash; going through the pairs
// from the highest hash down, a pair's member takes its partition when
// the partition has no owner yet and the member has room: n/m
// partitions for each of m members, and one more for the first n%m to
// reach that. So each member holds n/m partitions, rounded down or up,
// and a member that joins or leaves moves its share and a few more,
// since the other pairs keep their order: on average 24 of 64
// partitions when a fourth member joins three (its share is 16), and
// 27 when a third joins two (21), measured over random names. Taking
// the partitions in index order instead moves about as many and can
// leave a member short, below n/m.
func assign(members []string, n int) []string {
	owners := make([]string, n)
	m := len(members)
	if m == 0 {
		return owners
	}
	type pair struct {
		hash      uint64
		member, p int
	}
	pairs := make([]pair, 0, n*m)
	for p := range n {
		suffix := "/" + strconv.Itoa(p)
		for i, member := range members {
			pairs = append(pairs, pair{fnv64a(member + suffix), i, p})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(b.hash, a.hash), cmp.Compare(a.member, b.member), cmp.Compare(a.p, b.p))
	})
	floor, extra := n/m, n%m
	count := make([]int, m)
	left := n
	for _, pr := range pairs {
		if owners[pr.p] != "" {
			continue
		}
		switch k := count[pr.member]; {
		case k < floor:
		case k == floor && extra > 0:
			extra--
		default:
			continue
		}
		count[pr.member]++
		owners[pr.p] = members[pr.member]
		if left--; left == 0 {
			break
		}
	}
	return owners
}

// fnv64a is the 64-bit FNV-1a hash of s.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
