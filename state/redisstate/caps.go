package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// capTTL is how long a day's count of the friends plugin's daily cap
// lives after its first take: a day of any time zone is over within two
// days of any moment of it on Redis's clock, so that the count lasts as
// long as its day, and past days vanish on their own.
const capTTL = 48 * time.Hour

// takeCapScript counts one accept while fewer than a limit are counted:
// KEYS the day's count; ARGV limit (≥ 1), TTL (ms), set on the key's
// first take. It returns 1 for a place taken, 0 when the day is full, -1
// for a count that is not an integer.
var takeCapScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
  return 1
end
local n = tonumber(v)
if not n or n ~= math.floor(n) then
  return -1
end
if n >= tonumber(ARGV[1]) then
  return 0
end
redis.call('INCR', KEYS[1])
return 1
`)

// returnCapScript gives one place back: KEYS the day's count. It never
// takes the count below zero, nor creates a count that has expired. It
// returns 1, or -1 for a count that is not an integer.
var returnCapScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  return 1
end
local n = tonumber(v)
if not n or n ~= math.floor(n) then
  return -1
end
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return 1
`)

// TakeCap implements the friends plugin's CapStore (friends.CapStore):
// one script counts the accept in the day's counter, P caps:<day>, if
// fewer than limit are counted, atomically, so that the replicas sharing
// the prefix get no more than limit places between them. The counter
// expires two days after the day's first take. A limit of 0 or less
// takes nothing, and asks Redis nothing. Takes made at the same time, by
// any goroutine, go to Redis in one round trip.
func (s *Store) TakeCap(ctx context.Context, day string, limit int) (bool, error) {
	if limit <= 0 {
		return false, nil
	}
	k := s.capKey(day)
	cmd, err := s.call(ctx, &op{script: takeCapScript, keys: []string{k},
		args: []any{strconv.Itoa(limit), strconv.FormatInt(capTTL.Milliseconds(), 10)}})
	if err != nil {
		return false, fmt.Errorf("redisstate: cap take of %q: %w", day, err)
	}
	switch r, _ := cmd.Int64(); r {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return false, fmt.Errorf("%w: %s holds no count", ErrFormat, k)
}

// ReturnCap implements the friends plugin's CapStore: one script gives
// back a place that TakeCap took on day, for an accept that failed,
// unless the count is zero or has expired.
func (s *Store) ReturnCap(ctx context.Context, day string) error {
	k := s.capKey(day)
	cmd, err := s.call(ctx, &op{script: returnCapScript, keys: []string{k}})
	if err != nil {
		return fmt.Errorf("redisstate: cap return of %q: %w", day, err)
	}
	if r, _ := cmd.Int64(); r != 1 {
		return fmt.Errorf("%w: %s holds no count", ErrFormat, k)
	}
	return nil
}

func (s *Store) capKey(day string) string { return s.prefix + "caps:" + day }
