package redisstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// setRunScript records a last run: KEYS runs [, lease]; ARGV job, time
// [, lease value]. It returns 1, or 0 when the lease refused it.
var setRunScript = redis.NewScript(luaFence(1, 3) + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// LastRun returns when job last ran, as SetLastRun recorded it, and
// false if it never did. With SetLastRun, it is the cron plugin's Store
// (cron.Store).
func (s *Store) LastRun(ctx context.Context, job string) (t time.Time, ok bool, err error) {
	cmd, err := s.call(ctx, &op{args: []any{"HGET", s.keyRuns, job}})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redisstate: last run of %q: %w", job, err)
	}
	if errors.Is(cmd.Err(), redis.Nil) {
		return time.Time{}, false, nil
	}
	raw, _ := cmd.Text()
	if t, err = time.Parse(time.RFC3339Nano, raw); err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %s field %q holds %q", ErrFormat, s.keyRuns, job, raw)
	}
	return t, true, nil
}

// SetLastRun records that job ran at t (to the nanosecond, with its
// offset from UTC); the last call for a job wins. When ctx is the lead
// context of a [Leader], as the cron plugin's are, the record is made
// only while its lease is held, checked in the same script, and refused
// with ErrFenced otherwise.
func (s *Store) SetLastRun(ctx context.Context, job string, t time.Time) error {
	o := &op{script: setRunScript, keys: []string{s.keyRuns}, args: []any{job, t.Format(time.RFC3339Nano)}}
	if err := s.commit(ctx, o); err != nil {
		return fmt.Errorf("redisstate: set last run of %q: %w", job, err)
	}
	return nil
}
