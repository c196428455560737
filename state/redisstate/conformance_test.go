package redisstate_test

import (
	"testing"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/friends"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
	"github.com/imbot-go/imbot/state/statetest"
)

// A Store is the cron plugin's Store, and its Leader the plugin's
// Leader; it is the friends plugin's CapStore.
var (
	_ cron.Store       = (*redisstate.Store)(nil)
	_ cron.Leader      = (*redisstate.Leader)(nil)
	_ friends.CapStore = (*redisstate.Store)(nil)
)

// conformanceTTL is the lease TTL of the Leader suite: short, so that
// waiting contenders poll often.
const conformanceTTL = 400 * time.Millisecond

// reopen returns a new Store of s's prefix on a new client, as the
// process that starts next opens it; the old client closes at the
// test's cleanup. Redis keeps the data: a reopened Store is durable.
func reopen(t *testing.T, srv *redistest.Server, s *redisstate.Store) *redisstate.Store {
	t.Helper()
	return open(t, srv, s.Prefix(), 0)
}

func TestProgressConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestDurableProgressStore(t,
		func(t *testing.T) bot.ProgressStore { return open(t, srv, freshPrefix(), 0) },
		func(t *testing.T, s bot.ProgressStore) bot.ProgressStore {
			return reopen(t, srv, s.(*redisstate.Store))
		})
}

func TestDedupConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestDurableDedupStore(t,
		func(t *testing.T) middleware.DedupStore { return open(t, srv, freshPrefix(), 0) },
		func(t *testing.T, s middleware.DedupStore) middleware.DedupStore {
			return reopen(t, srv, s.(*redisstate.Store))
		})
}

func TestRateConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestDurableRateStore(t,
		func(t *testing.T) middleware.RateStore { return open(t, srv, freshPrefix(), 0) },
		func(t *testing.T, s middleware.RateStore) middleware.RateStore {
			return reopen(t, srv, s.(*redisstate.Store))
		})
}

func TestRunConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestDurableRunStore(t,
		func(t *testing.T) statetest.RunStore { return open(t, srv, freshPrefix(), 0) },
		func(t *testing.T, s statetest.RunStore) statetest.RunStore {
			return reopen(t, srv, s.(*redisstate.Store))
		})
}

func TestCapConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestDurableCapStore(t,
		func(t *testing.T) statetest.CapStore { return open(t, srv, freshPrefix(), 0) },
		func(t *testing.T, s statetest.CapStore) statetest.CapStore {
			return reopen(t, srv, s.(*redisstate.Store))
		})
}

// TestLeaderConformance runs the Leader suite with each contender a
// replica: a Store of its own, on a client of its own, of one prefix.
func TestLeaderConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	statetest.TestLeader(t, func(t *testing.T, n int) []statetest.Leader {
		prefix := freshPrefix()
		ls := make([]statetest.Leader, n)
		for i := range ls {
			ls[i] = open(t, srv, prefix, conformanceTTL).Leader("cron")
		}
		return ls
	})
}
