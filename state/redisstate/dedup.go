package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Seen implements [middleware.DedupStore]: the key's record holds its
// expiry, to the nanosecond, and a key whose expiry is not after now is
// not seen, whether or not Redis has expired it yet. Calls made at the
// same time, by any goroutine, go to Redis in one round trip.
func (s *Store) Seen(ctx context.Context, key string, now time.Time) (bool, error) {
	k := s.dedupKey(key)
	cmd, err := s.call(ctx, &op{args: []any{"GET", k}})
	if err != nil {
		return false, fmt.Errorf("redisstate: dedup seen %q: %w", key, err)
	}
	if errors.Is(cmd.Err(), redis.Nil) {
		return false, nil
	}
	raw, _ := cmd.Text()
	exp, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return false, fmt.Errorf("%w: %s holds %q", ErrFormat, k, raw)
	}
	return exp > clampNano(now), nil
}

// Mark implements [middleware.DedupStore] with one SET … PXAT: Redis
// deletes the key at its expiry (on its own clock, to the millisecond,
// rounded up), and a key marked with an expiry already past is deleted
// at once. Calls made at the same time, by any goroutine, go to Redis in
// one round trip.
func (s *Store) Mark(ctx context.Context, key string, expires time.Time) error {
	k, exp := s.dedupKey(key), clampNano(expires)
	args := []any{"DEL", k}
	if ms := exp/int64(time.Millisecond) + 1; exp > 0 { // rounded up, and never 0
		args = []any{"SET", k, strconv.FormatInt(exp, 10), "PXAT", strconv.FormatInt(ms, 10)}
	}
	if _, err := s.call(ctx, &op{args: args}); err != nil {
		return fmt.Errorf("redisstate: dedup mark %q: %w", key, err)
	}
	return nil
}

func (s *Store) dedupKey(key string) string { return s.prefix + "dedup:" + key }
