package statetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/middleware"
)

// TestDedupStore checks that a [middleware.DedupStore] keeps the
// contract middleware.Dedup relies on: a key is seen from its Mark until
// its expiry, the last Mark of a key sets its expiry, keys are
// independent, and concurrent marks all count.
func TestDedupStore(t *testing.T, newStore func(t *testing.T) middleware.DedupStore) {
	t.Helper()
	b := base()
	at := func(d time.Duration) time.Time { return b.Add(d) }
	ctx := context.Background()
	t.Run("UnmarkedIsNotSeen", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for range 2 { // and Seen marks nothing
			require.False(t, seenAt(t, s, "100/c/1", at(0)), "a key never marked is seen")
		}
	})
	t.Run("SeenUntilExpiry", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		markUntil(t, s, "100/c/1", at(time.Minute))
		for _, tt := range []struct {
			now  time.Duration
			want bool
		}{
			{0, true},
			{time.Minute - time.Millisecond, true},
			{time.Minute, false}, // expired at its expiry
			{time.Hour, false},
		} {
			assert.Equal(t, tt.want, seenAt(t, s, "100/c/1", at(tt.now)), "marked until +1m: Seen at +%v", tt.now)
		}
	})
	t.Run("ExpiredWhenMarked", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		markUntil(t, s, "100/c/1", at(-time.Minute))
		assert.False(t, seenAt(t, s, "100/c/1", at(0)), "a key marked with a past expiry is seen")
	})
	t.Run("LastMarkSetsExpiry", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		markUntil(t, s, "longer", at(time.Minute))
		markUntil(t, s, "longer", at(time.Hour))
		markUntil(t, s, "shorter", at(time.Hour))
		markUntil(t, s, "shorter", at(time.Minute))
		assert.True(t, seenAt(t, s, "longer", at(30*time.Minute)), "a key marked again with a later expiry expired at the first")
		assert.False(t, seenAt(t, s, "shorter", at(30*time.Minute)), "a key marked again with an earlier expiry kept the first")
		// Forgetting the first mark's expiry does not forget the key.
		assert.True(t, seenAt(t, s, "longer", at(time.Hour-time.Millisecond)), "a key marked again was forgotten at the first mark's expiry")
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		keys := []string{"100/0:1:1:100/7", "100/0:1:1:100/70", "101/0:1:1:100/7", "100/0:1:1:101/7", strings.Repeat("k", 1000), "ключ/会话/1"}
		for i, k := range keys {
			markUntil(t, s, k, at(time.Duration(i+1)*time.Minute))
		}
		for i, k := range keys {
			// Each is seen before its own expiry and not after it, whatever
			// the others' expiries.
			assert.True(t, seenAt(t, s, k, at(time.Duration(i+1)*time.Minute-time.Millisecond)), "key %d not seen before its expiry", i)
		}
		for i, k := range keys {
			assert.False(t, seenAt(t, s, k, at(time.Duration(i+1)*time.Minute)), "key %d seen at its expiry", i)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const goroutines, keys = 8, 50
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range keys {
					k := fmt.Sprintf("%d/c/%d", g, i)
					ok, err := s.Seen(ctx, k, at(0))
					assert.NoError(t, err, "Seen(%q) before Mark", k)
					assert.False(t, ok, "Seen(%q) before Mark", k)
					assert.NoError(t, s.Mark(ctx, k, at(time.Minute)), "Mark(%q)", k)
				}
			})
		}
		wg.Wait()
		for g := range goroutines {
			for i := range keys {
				k := fmt.Sprintf("%d/c/%d", g, i)
				assert.True(t, seenAt(t, s, k, at(time.Second)), "key %q marked concurrently is not seen", k)
			}
		}
	})
}

// TestDurableDedupStore runs [TestDedupStore] and then checks that the
// marks are there after reopen, until their expiry.
func TestDurableDedupStore(t *testing.T, newStore func(t *testing.T) middleware.DedupStore, reopen func(t *testing.T, s middleware.DedupStore) middleware.DedupStore) {
	t.Helper()
	TestDedupStore(t, newStore)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		b := base()
		s := newStore(t)
		markUntil(t, s, "100/c/1", b.Add(time.Minute))
		markUntil(t, s, "100/c/2", b.Add(time.Hour))
		markUntil(t, s, "100/c/2", b.Add(2*time.Minute)) // the last mark counts
		s = reopen(t, s)
		for _, tt := range []struct {
			key  string
			now  time.Duration
			want bool
		}{
			{"100/c/1", 0, true},
			{"100/c/1", time.Minute, false},
			{"100/c/2", 2*time.Minute - time.Millisecond, true},
			{"100/c/2", 2 * time.Minute, false},
			{"100/c/3", 0, false},
		} {
			assert.Equal(t, tt.want, seenAt(t, s, tt.key, b.Add(tt.now)), "after reopen: Seen(%q) at +%v", tt.key, tt.now)
		}
	})
}

func seenAt(t *testing.T, s middleware.DedupStore, key string, now time.Time) bool {
	t.Helper()
	ok, err := s.Seen(context.Background(), key, now)
	require.NoError(t, err, "Seen(%q, %v)", key, now)
	return ok
}

func markUntil(t *testing.T, s middleware.DedupStore, key string, expires time.Time) {
	t.Helper()
	require.NoError(t, s.Mark(context.Background(), key, expires), "Mark(%q, %v)", key, expires)
}
