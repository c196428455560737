package friends_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/friends"
	"github.com/imbot-go/imbot/state/statetest"
)

// The suite's CapStore is the plugin's, method for method.
var (
	_ statetest.CapStore = friends.CapStore(nil)
	_ friends.CapStore   = statetest.CapStore(nil)
)

func TestMemoryCaps(t *testing.T) {
	t.Parallel()
	statetest.TestCapStore(t, func(*testing.T) statetest.CapStore { return new(friends.MemoryCaps) })
}

// A MemoryCaps keeps the latest day only: a take for an earlier day
// counts towards it, and a place given back for an earlier day is not
// given to it.
func TestMemoryCapsKeepsTheLatestDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var m friends.MemoryCaps
	take := func(day string) bool {
		t.Helper()
		ok, err := m.TakeCap(ctx, day, 2)
		require.NoError(t, err, "TakeCap(%q)", day)
		return ok
	}
	require.True(t, take("2026-03-01"))
	require.True(t, take("2026-03-02"))
	require.True(t, take("2026-03-01"), "a take of the day before, counted towards the latest")
	require.False(t, take("2026-03-01"), "the latest day is full")
	require.False(t, take("2026-03-02"), "the latest day is full")
	require.NoError(t, m.ReturnCap(ctx, "2026-03-01"))
	require.False(t, take("2026-03-02"), "a place given back for the day before")
	require.True(t, take("2026-03-03"), "the next day")
}

// errStore is the error of a CapStore that is down.
var errStore = errors.New("cap store down")

// flakyCaps is a MemoryCaps whose first takeFails takes and first
// returnFails returns fail with errStore.
type flakyCaps struct {
	friends.MemoryCaps
	takeFails, returnFails atomic.Int32
}

func (f *flakyCaps) TakeCap(ctx context.Context, day string, limit int) (bool, error) {
	if f.takeFails.Add(-1) >= 0 {
		return false, errStore
	}
	return f.MemoryCaps.TakeCap(ctx, day, limit)
}

func (f *flakyCaps) ReturnCap(ctx context.Context, day string) error {
	if f.returnFails.Add(-1) >= 0 {
		return errStore
	}
	return f.MemoryCaps.ReturnCap(ctx, day)
}

// errorsTo returns a tweak that sends the errors of the bot's handlers
// to the returned channel, in place of failing the test.
func errorsTo() (func(*bot.Options), <-chan error) {
	errs := make(chan error, 10)
	return func(o *bot.Options) {
		o.OnError = func(_ *bot.Context, err error) { errs <- err }
	}, errs
}

// A CapStore that fails accepts nothing and refuses nothing: the apply
// is left waiting, undecided, with the error in the audit line, and is
// decided again, by the bot's retry of the push or, once its attempts
// are spent (the error at OnError), by a listing RetryWait later; the
// failed take counted no place, and no decision.
func TestCapStoreFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		attempts  int           // bot.Options.Retry.Attempts
		retryWait time.Duration // Options.RetryWait
		source    string        // of the accept
	}{
		{"the bot retries", 0, 0, "push"}, // 100ms later, long before the listing
		{"a listing retries", 1, 10 * time.Millisecond, "list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			caps := new(flakyCaps)
			caps.takeFails.Store(1)
			reg := prometheus.NewRegistry()
			onError, errs := errorsTo()
			b, log := newBot(t, s, friends.Options{All: true, DailyCap: 1, CapStore: caps, RetryWait: tc.retryWait},
				func(o *bot.Options) {
					onError(o)
					o.Metrics = reg
					o.Retry.Attempts = tc.attempts
				})
			runBot(t, s, b, log)
			alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
			apply(t, alice, nil)
			ln := log.decision(t, alice.ID())
			assert.Equal(t, slog.LevelError, ln.Level, "alice's first audit line %v", ln.Attrs)
			for k, want := range map[string]string{"decision": "pending", "rule": "cap", "outcome": "failed", "source": "push"} {
				assert.Equal(t, want, ln.Attrs[k], "alice's first audit line %v: %s", ln.Attrs, k)
			}
			assert.Contains(t, ln.Attrs["err"], errStore.Error(), "alice's first audit line %v: err", ln.Attrs)
			if tc.source == "list" {
				select {
				case err := <-errs:
					require.ErrorIs(t, err, errStore, "the error at OnError")
				case <-time.After(wait):
					require.FailNow(t, "no error at OnError")
				}
				ln = log.scanned(t, 2)
				require.Equal(t, "retry", ln.Attrs["scan"], "scan line %v, want a retry's with alice's apply", ln.Attrs)
				require.Equal(t, "1", ln.Attrs["listed"], "scan line %v, want a retry's with alice's apply", ln.Attrs)
			}
			ln = log.waitNth(t, "alice's second audit line", 2, func(ln line) bool {
				return ln.Msg == "friends: apply decided" && ln.Attrs["from"] == alice.ID().String()
			})
			for k, want := range map[string]string{"decision": "accept", "rule": "all", "outcome": "done", "source": tc.source} {
				assert.Equal(t, want, ln.Attrs[k], "alice's second audit line %v: %s", ln.Attrs, k)
			}
			require.Equal(t, im.FriendApplyStatusAgree, status(t, alice), "alice's apply on the server")

			apply(t, bob, nil) // the cap of 1 is alice's: the failed take counted nothing
			wantDecision(t, log, bob, friends.Pending, friends.RuleCap)
			assert.Equal(t, map[string]float64{"accept": 1, "reject": 0, "pending": 1}, decisions(t, reg), "decisions: alice's accept, bob's cap")
			select {
			case err := <-errs:
				require.FailNow(t, "an unexpected error at OnError", "%v", err)
			default:
			}
		})
	}
}

// halfCluster is a bot.Cluster of two replicas that hold half of the
// partitions each, for good: replica i holds partition i, that of the
// applicants whose user id is i modulo 2 (and of every conversation).
type halfCluster int

func (h halfCluster) Partition(key string) int {
	user, ok := strings.CutPrefix(key, "friend:")
	id, err := strconv.ParseInt(user, 10, 64)
	if !ok || err != nil {
		return 0
	}
	return int(id % 2)
}

func (h halfCluster) Run(ctx context.Context, claim func(bot.Claim)) error {
	lease, end := context.WithCancelCause(context.Background())
	claim(bot.Claim{Partition: int(h), Lease: lease, Release: func() {}})
	<-ctx.Done()
	end(bot.ErrPartitionMoved)
	return nil
}

// TestCapSharedByReplicas runs two replicas of the bot that divide the
// applicants between them (bot.Options.Cluster): with one CapStore they
// accept DailyCap applies a day together; with the default, each counts
// its own.
func TestCapSharedByReplicas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		caps    func() friends.CapStore // nil: each its own MemoryCaps
		accepts int
	}{
		{"shared", func() friends.CapStore { return new(friends.MemoryCaps) }, 3},
		{"each its own", nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			var shared friends.CapStore
			if tc.caps != nil {
				shared = tc.caps()
			}
			progress := new(bot.MemoryProgress) // the replicas share their store
			logs := make([]*auditLog, 2)
			for i := range logs {
				var b *bot.Bot
				b, logs[i] = newBot(t, s, friends.Options{All: true, DailyCap: 3, CapStore: shared}, func(o *bot.Options) {
					o.Client.DeviceID = fmt.Sprint("replica-", i)
					o.Cluster = halfCluster(i)
					o.Progress = progress
				})
				runBot(t, s, b, logs[i])
			}
			accepted := 0
			for id := im.UserID(1); id <= 6; id++ { // the replicas take turns
				u := s.NewUser(t, id)
				apply(t, u, nil)
				owner := logs[id%2]
				ln := owner.decision(t, id)
				want, rule := friends.Accept, friends.RuleAll
				if accepted == tc.accepts {
					want, rule = friends.Pending, friends.RuleCap
				}
				wantDecision(t, owner, u, want, rule)
				if ln.Attrs["decision"] == "accept" {
					accepted++
				}
			}
			require.Equal(t, tc.accepts, accepted, "applies accepted by the two replicas")
			for i, log := range logs {
				for _, ln := range log.decisions() {
					id, _ := strconv.Atoi(ln.Attrs["from"])
					assert.Equal(t, i, id%2, "replica %d decided the apply of user %d, another's", i, id)
				}
			}
		})
	}
}

// By default each Plugin counts in a MemoryCaps of its own, and lists
// again DefaultRetryWait after a CapStore error.
func TestCapDefaults(t *testing.T) {
	t.Parallel()
	var stores []friends.CapStore
	for range 2 {
		p, err := friends.New(friends.Options{All: true, DailyCap: 1})
		require.NoError(t, err)
		opts := friends.OptionsOf(p)
		require.IsType(t, new(friends.MemoryCaps), opts.CapStore, "the default CapStore")
		require.Equal(t, 30*time.Second, opts.RetryWait, "the default RetryWait")
		require.Equal(t, friends.DefaultRetryWait, opts.RetryWait, "the default RetryWait")
		stores = append(stores, opts.CapStore)
	}
	require.NotSame(t, stores[0], stores[1], "two Plugins' default CapStores")
}
