package redisstate_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// TestCapSharedByReplicas has three replicas, each a Store of one prefix
// on a client of its own, take places under one cap at once: they get
// the limit between them, and the day's key expires two days after its
// first take.
func TestCapSharedByReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := client(t, srv, nil)
	prefix := freshPrefix()
	replicas := []*redisstate.Store{openOn(t, c, prefix, 0), open(t, srv, prefix, 0), open(t, srv, prefix, 0)}
	const takers, takes, limit = 10, 10, 50 // per replica
	var taken atomic.Int64
	var wg sync.WaitGroup
	for _, s := range replicas {
		for range takers {
			wg.Go(func() {
				for range takes {
					ok, err := s.TakeCap(t.Context(), "2026-03-01", limit)
					if assert.NoError(t, err, "TakeCap") && ok {
						taken.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	require.EqualValues(t, limit, taken.Load(), "places taken by 3 replicas × %d takers × %d takes", takers, takes)
	key := prefix + "caps:2026-03-01"
	require.Equal(t, "50", c.Get(t.Context(), key).Val(), "the day's count")
	ttl := c.PTTL(t.Context(), key).Val()
	require.InDelta(t, 48*time.Hour, ttl, float64(time.Minute), "the day's key's TTL")
	ok, err := replicas[1].TakeCap(t.Context(), "2026-03-02", limit)
	require.NoError(t, err, "TakeCap of the next day")
	require.True(t, ok, "TakeCap of the next day")
}

// A count that is not one is an ErrFormat error, for take and return.
func TestCapFormat(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := client(t, srv, nil)
	s := openOn(t, c, freshPrefix(), 0)
	for _, v := range []string{"many", "1.5"} {
		require.NoError(t, c.Set(t.Context(), s.Prefix()+"caps:2026-03-01", v, 0).Err())
		_, err := s.TakeCap(t.Context(), "2026-03-01", 5)
		require.ErrorIs(t, err, redisstate.ErrFormat, "TakeCap of a count %q", v)
		require.ErrorIs(t, s.ReturnCap(t.Context(), "2026-03-01"), redisstate.ErrFormat, "ReturnCap of a count %q", v)
	}
}
