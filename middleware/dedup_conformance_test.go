package middleware_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imbot-go/imbot/middleware"
)

// testDedupStore checks that a DedupStore keeps the contract Dedup relies
// on, as testing/slogtest checks a slog.Handler: newStore returns an empty
// store for each subtest. It is meant to become an exported suite
// (a dedupstoretest.Run) once a second implementation exists.
//
// The times it passes are from an hour after the real clock on, to
// whole milliseconds, so that a store over a shared database that also
// lets the database expire keys on its own clock (Redis PXAT) keeps them
// for the length of the test.
func testDedupStore(t *testing.T, newStore func(t *testing.T) middleware.DedupStore) {
	t.Helper()
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ctx := context.Background()
	seen := func(t *testing.T, s middleware.DedupStore, key string, now time.Time) bool {
		t.Helper()
		ok, err := s.Seen(ctx, key, now)
		if err != nil {
			t.Fatalf("Seen(%q, %v): %v", key, now, err)
		}
		return ok
	}
	mark := func(t *testing.T, s middleware.DedupStore, key string, expires time.Time) {
		t.Helper()
		if err := s.Mark(ctx, key, expires); err != nil {
			t.Fatalf("Mark(%q, %v): %v", key, expires, err)
		}
	}

	t.Run("UnmarkedIsNotSeen", func(t *testing.T) {
		s := newStore(t)
		for range 2 { // and Seen marks nothing
			if seen(t, s, "100/c/1", at(0)) {
				t.Fatal("a key never marked is seen")
			}
		}
	})
	t.Run("SeenUntilExpiry", func(t *testing.T) {
		s := newStore(t)
		mark(t, s, "100/c/1", at(time.Minute))
		for _, tt := range []struct {
			now  time.Duration
			want bool
		}{
			{0, true},
			{time.Minute - time.Millisecond, true},
			{time.Minute, false}, // expired at its expiry
			{time.Hour, false},
		} {
			if got := seen(t, s, "100/c/1", at(tt.now)); got != tt.want {
				t.Errorf("marked until +1m: Seen at +%v = %v, want %v", tt.now, got, tt.want)
			}
		}
	})
	t.Run("ExpiredWhenMarked", func(t *testing.T) {
		s := newStore(t)
		mark(t, s, "100/c/1", at(-time.Minute))
		if seen(t, s, "100/c/1", at(0)) {
			t.Error("a key marked with a past expiry is seen")
		}
	})
	t.Run("LastMarkSetsExpiry", func(t *testing.T) {
		s := newStore(t)
		mark(t, s, "longer", at(time.Minute))
		mark(t, s, "longer", at(time.Hour))
		mark(t, s, "shorter", at(time.Hour))
		mark(t, s, "shorter", at(time.Minute))
		if !seen(t, s, "longer", at(30*time.Minute)) {
			t.Error("a key marked again with a later expiry expired at the first")
		}
		if seen(t, s, "shorter", at(30*time.Minute)) {
			t.Error("a key marked again with an earlier expiry kept the first")
		}
		// Forgetting the first mark's expiry does not forget the key.
		if !seen(t, s, "longer", at(time.Hour-time.Millisecond)) {
			t.Error("a key marked again was forgotten at the first mark's expiry")
		}
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"100/0:1:1:100/7", "100/0:1:1:100/70", "101/0:1:1:100/7", "100/0:1:1:101/7", strings.Repeat("k", 1000), "ключ/会话/1"}
		for i, k := range keys {
			mark(t, s, k, at(time.Duration(i+1)*time.Minute))
		}
		for i, k := range keys {
			// Each is seen before its own expiry and not after it, whatever
			// the others' expiries.
			if !seen(t, s, k, at(time.Duration(i+1)*time.Minute-time.Millisecond)) {
				t.Errorf("key %d not seen before its expiry", i)
			}
		}
		for i, k := range keys {
			if seen(t, s, k, at(time.Duration(i+1)*time.Minute)) {
				t.Errorf("key %d seen at its expiry", i)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const goroutines, keys = 8, 50
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range keys {
					k := fmt.Sprintf("%d/c/%d", g, i)
					if ok, err := s.Seen(ctx, k, at(0)); err != nil || ok {
						t.Errorf("Seen(%q) before Mark = %v, %v", k, ok, err)
					}
					if err := s.Mark(ctx, k, at(time.Minute)); err != nil {
						t.Errorf("Mark(%q): %v", k, err)
					}
				}
			})
		}
		wg.Wait()
		for g := range goroutines {
			for i := range keys {
				if k := fmt.Sprintf("%d/c/%d", g, i); !seen(t, s, k, at(time.Second)) {
					t.Errorf("key %q marked concurrently is not seen", k)
				}
			}
		}
	})
}
