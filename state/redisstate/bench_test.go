package redisstate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// store is what a handled message costs the state: the dedup check, a
// rate take, the dedup mark and the progress commit.
type store interface {
	bot.ProgressStore
	middleware.DedupStore
	middleware.RateStore
}

// BenchmarkMessage measures the state's cost per handled message, as
// the middleware and the bot pay it (Seen, Take, Mark, CommitProgress),
// on a Redis Store and on a state.File, against a bare PING round trip
// to the same redis-server, in one run: one conversation alone, and 50
// busy at once (a goroutine each, as the bot handles them). On Redis it
// reports the round trips per message (trips/msg); at the end it logs
// each one's cost in PING round trips.
//
//	go test -run '^$' -bench . ./state/redisstate/
func BenchmarkMessage(b *testing.B) {
	srv := redistest.Start(b)
	perOp := make(map[string]time.Duration)
	record := func(b *testing.B, name string) {
		perOp[name] = b.Elapsed() / time.Duration(b.N)
	}
	for _, goroutines := range []int{1, 50} {
		name := fmt.Sprintf("Ping/%d", goroutines)
		b.Run(name, func(b *testing.B) {
			c := client(b, srv, nil)
			parallel(b, goroutines, func(int, int64) error { return c.Ping(context.Background()).Err() })
			record(b, name)
		})
		// onRedis runs the messages on a Store of a client of its own,
		// with the context lead returns, and reports the round trips.
		onRedis := func(name string, dedup bool, lead func(*redisstate.Store) context.Context) {
			b.Run(name, func(b *testing.B) {
				c := client(b, srv, nil)
				var trips roundTrips
				c.AddHook(&trips)
				s := openOn(b, c, freshPrefix(), 0)
				ctx := lead(s)
				trips.n.Store(0)
				benchMessages(b, ctx, s, goroutines, dedup)
				b.ReportMetric(float64(trips.n.Load())/float64(b.N), "trips/msg")
				record(b, name)
			})
		}
		onRedis(fmt.Sprintf("Redis/%d", goroutines), true, func(*redisstate.Store) context.Context { return context.Background() })
		// A replica of a Cluster needs no Dedup: the partition's owner
		// alone handles a message, and the committed index skips what
		// was handled. Its commits are fenced by the partition's lease.
		onRedis(fmt.Sprintf("RedisCluster/%d", goroutines), false, func(s *redisstate.Store) context.Context {
			lead, release, err := s.Leader("part:0").Acquire(context.Background())
			require.NoError(b, err)
			b.Cleanup(release)
			return lead
		})
		name = fmt.Sprintf("File/%d", goroutines)
		b.Run(name, func(b *testing.B) {
			f, err := state.Open(filepath.Join(b.TempDir(), "state.db"), nil)
			require.NoError(b, err)
			defer f.Close()
			benchMessages(b, context.Background(), f, goroutines, true)
			record(b, name)
		})
	}
	for _, g := range []int{1, 50} {
		ping := perOp[fmt.Sprintf("Ping/%d", g)]
		rd, file := perOp[fmt.Sprintf("Redis/%d", g)], perOp[fmt.Sprintf("File/%d", g)]
		cl := perOp[fmt.Sprintf("RedisCluster/%d", g)]
		if ping > 0 && rd > 0 && file > 0 && cl > 0 {
			b.Logf("%d at once: a message costs %.2f PINGs on Redis, %.2f as a cluster replica (no Dedup, fenced commit); Redis/file %.2f, cluster/file %.2f",
				g, float64(rd)/float64(ping), float64(cl)/float64(ping), float64(rd)/float64(file), float64(cl)/float64(file))
		}
	}
}

// benchMessages handles b.N messages on s from goroutines goroutines,
// each its own conversation's, with ctx; without dedup it leaves Seen
// and Mark out.
func benchMessages(b *testing.B, ctx context.Context, s store, goroutines int, dedup bool) {
	limit := middleware.Limit{Rate: 1e9, Burst: 1 << 20} // a take that always succeeds
	parallel(b, goroutines, func(g int, i int64) error {
		conv := im.ConversationID(fmt.Sprint("0:1:", g, ":100"))
		now := time.Now()
		key := fmt.Sprint("100/", conv, "/", i)
		if dedup {
			if _, err := s.Seen(ctx, key, now); err != nil {
				return err
			}
		}
		if _, err := s.Take(ctx, middleware.RateKey{Scope: middleware.LimitPerConversation, Conversation: conv}, limit, now); err != nil {
			return err
		}
		if dedup {
			if err := s.Mark(ctx, key, now.Add(10*time.Minute)); err != nil {
				return err
			}
		}
		return s.CommitProgress(ctx, bot.Commit{Conversation: conv, Index: i, Cursor: i})
	})
}

// parallel runs fn b.N times in all from goroutines goroutines, passing
// the goroutine's number and the call's, from 1.
func parallel(b *testing.B, goroutines int, fn func(g int, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if !assert.NoError(b, fn(g, i)) {
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}
