package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/syncio"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// outage is the world of the outage tests: an IM server, a Redis, a
// fleet whose logs are kept, a user in 20 conversations with the bot,
// and a view of the partitions' owners.
type outage struct {
	s    *imtest.Server
	r    *redistest.Server
	f    *fleet
	logs *syncio.Buffer
	c    *chat
	view *redisstate.Cluster
}

const (
	outageTTL   = time.Second
	outageConvs = 20
)

func newOutage(t *testing.T) *outage {
	o := &outage{s: imtest.NewServer(t), r: redistest.Start(t), logs: &syncio.Buffer{}}
	cfg := replicaConfig{APIURL: o.s.URL(), FrontierURL: o.s.FrontierURL(), AppSecret: o.s.Config.AppSecret, Redis: o.r.Addr(),
		Prefix: redisstate.BotPrefix(o.s.AppID(), botID), LeaseTTL: outageTTL}
	o.f = newFleet(testReplica, cfg, o.logs)
	t.Cleanup(func() {
		assert.NoError(t, o.f.close(), "stopping the replicas")
		if t.Failed() {
			t.Logf("the replicas' logs:\n%s", o.logs)
		}
	})
	rc := o.r.Client(t)
	st, err := redisstate.Open(t.Context(), rc, redisstate.Options{Prefix: cfg.Prefix, LeaseTTL: outageTTL})
	require.NoError(t, err)
	o.view, err = st.Cluster(redisstate.ClusterOptions{})
	require.NoError(t, err)
	return o
}

// open creates the user's conversations, once the replicas run.
func (o *outage) open(t *testing.T) {
	c, err := newChat(t.Context(), o.s.Options(userID), outageConvs)
	require.NoError(t, err)
	t.Cleanup(c.close)
	o.c = c
}

// stream sends messages, one every few milliseconds, on a goroutine
// that the returned stop ends and waits for; sent counts them.
func (o *outage) stream(t *testing.T, sent *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(3 * time.Millisecond) // the pace of the stream, not a wait for anything
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := o.c.send(ctx, i); err != nil {
				if ctx.Err() == nil {
					assert.NoError(t, err, "sending message %d", i)
				}
				return
			}
			sent.Add(1)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// awaitSent waits until n messages were sent.
func awaitSent(t *testing.T, sent *atomic.Int64, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return sent.Load() >= n }, imtest.DefaultTimeout, time.Millisecond, "%d messages sent", n)
}

// awaitOwners waits until the partitions' owners satisfy ok, and
// returns them.
func (o *outage) awaitOwners(t *testing.T, what string, within time.Duration, ok func(counts map[string]int, held int) bool) map[string]int {
	t.Helper()
	var counts map[string]int
	require.Eventually(t, func() bool {
		owners, err := o.view.Owners(t.Context())
		if err != nil {
			return false // Redis is down: not yet
		}
		counts = map[string]int{}
		for _, r := range owners {
			counts[r]++
		}
		return ok(counts, len(owners))
	}, within, 10*time.Millisecond, "%s; owners: %v", what, counts)
	return counts
}

// check waits for every reply and checks the outcome: each message
// answered once, each conversation's first handlings in order, no
// conversation handled by two replicas at once; it returns the report.
func (o *outage) check(t *testing.T, n int) report {
	t.Helper()
	require.NoError(t, awaitReplies(t.Context(), o.c, n, 30*time.Second))
	_, extra, _ := o.c.answered(n)
	assert.Zero(t, extra, "replies beyond one per message")
	hs, err := o.f.awaitHandlings(t.Context(), n, 10*time.Second)
	require.NoError(t, err)
	type key struct {
		conv  im.ConversationID
		index int64
	}
	seen := map[key]bool{}
	last := map[im.ConversationID]int64{}
	for _, h := range hs {
		k := key{h.Conv, h.Index}
		if seen[k] {
			continue
		}
		seen[k] = true
		assert.Greater(t, h.Index, last[h.Conv], "first handlings of %s in order", h.Conv)
		last[h.Conv] = h.Index
	}
	rep := summarize(hs, "", time.Time{})
	assert.Zero(t, rep.overlap, "time a conversation was handled by two replicas at once")
	return rep
}

// TestRedisPartition cuts one of two replicas off Redis (a proxy) for
// three lease TTLs while messages stream: it stops handling its
// partitions before the other starts them, the other takes them all,
// the cut one takes its share back once it reaches Redis again, and
// every message is answered once.
func TestRedisPartition(t *testing.T) {
	o := newOutage(t)
	proxy := redistest.StartProxy(t, o.r.Addr())
	o.f.base.Redis = proxy.Addr()
	require.NoError(t, o.f.start("r1", imtest.DefaultTimeout))
	o.f.base.Redis = o.r.Addr()
	require.NoError(t, o.f.start("r2", imtest.DefaultTimeout))
	split := func(counts map[string]int, held int) bool {
		return held == redisstate.DefaultPartitions && counts["r1"] == redisstate.DefaultPartitions/2
	}
	o.awaitOwners(t, "the partitions split", 10*outageTTL, split)
	o.open(t)
	var sent atomic.Int64
	stop := o.stream(t, &sent)
	awaitSent(t, &sent, 100)
	proxy.Cut()
	cutAt := time.Now()
	o.awaitOwners(t, "r2 holds every partition", 3*outageTTL, func(counts map[string]int, held int) bool {
		return counts["r2"] == redisstate.DefaultPartitions
	})
	takeover := time.Since(cutAt)
	awaitSent(t, &sent, sent.Load()+100)
	proxy.Restore()
	o.awaitOwners(t, "r1 takes its share back", 10*outageTTL, split)
	awaitSent(t, &sent, sent.Load()+100)
	stop()
	rep := o.check(t, int(sent.Load()))
	t.Logf("%d messages; handled by replica %v, %d again; r2 held all %v after the cut; %d moves of a conversation, longest overlap %v",
		sent.Load(), rep.byReplica, rep.again, takeover.Round(time.Millisecond), rep.moves, rep.overlap)
	assert.Regexp(t, `msg="bot: partitions let go" replica=r1 moved=\[\] lost="?\[\d`, o.logs.String(), "r1 logs the partitions it lost")
}

// TestRedisRestart restarts Redis, empty, while three replicas handle a
// stream: they report it, take their partitions again, and every message
// is answered once.
func TestRedisRestart(t *testing.T) {
	o := newOutage(t)
	for _, name := range []string{"r1", "r2", "r3"} {
		require.NoError(t, o.f.start(name, imtest.DefaultTimeout))
	}
	split := func(counts map[string]int, held int) bool {
		return held == redisstate.DefaultPartitions && len(counts) == 3
	}
	o.awaitOwners(t, "the partitions split", 10*outageTTL, split)
	o.open(t)
	var sent atomic.Int64
	stop := o.stream(t, &sent)
	awaitSent(t, &sent, 100)
	o.r.Restart(t)
	restartedAt := time.Now()
	o.awaitOwners(t, "the partitions split again", 10*outageTTL, split)
	resplit := time.Since(restartedAt)
	awaitSent(t, &sent, sent.Load()+100)
	stop()
	rep := o.check(t, int(sent.Load()))
	t.Logf("%d messages; handled by replica %v, %d again; split again %v after the restart",
		sent.Load(), rep.byReplica, rep.again, resplit.Round(time.Millisecond))
	assert.Regexp(t, `msg="bot: partitions let go" replica=r\d moved=\S+ lost="?\[\d`, o.logs.String(), "the replicas log the leases the restart lost")
}
