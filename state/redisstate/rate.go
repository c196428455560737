package redisstate

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/middleware"
)

// rateForget is how long after a bucket is full again Redis keeps it:
// a margin for the clocks of the replicas, which pass the times, and of
// Redis, which expires the keys. Forgetting a full bucket loses nothing.
const rateForget = time.Minute

// takeScript takes a token from a bucket, as middleware.RateBucket.Take
// counts: KEYS bucket; ARGV now (µs since 1970), rate (per second),
// burst, forget (ms). The bucket is a hash of its tokens (t) at its time
// (a, µs). A bucket never goes back in time: a now before its time
// counts as its time, so that replicas whose clocks differ count as the
// one furthest ahead, rather than refilling each time their takes
// alternate. It returns {1} for a token, or {0, tokens, time} when there
// is none: the tokens at the bucket's time (or now, if later).
var takeScript = redis.NewScript(luaLess + `
local now, r, burst = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens, at = burst, now
if b[1] then
  tokens = tonumber(b[1])
  if lt(now, b[2]) then
    at = b[2]
  else
    tokens = tokens + (tonumber(now) - tonumber(b[2])) / 1e6 * r
  end
  tokens = math.min(tokens, burst)
end
if tokens < 1 then
  return {0, string.format('%.17g', tokens), at}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'a', at)
local ttl = math.min(math.ceil((burst - tokens) / r * 1000) + tonumber(ARGV[4]), 1e13)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {1}
`)

// Take implements [middleware.RateStore]: one script takes the token,
// atomically, from the bucket that every replica sharing the prefix
// shares. Takes made at the same time, by any goroutine, go to Redis in
// one round trip. Times count to the microsecond. A bucket expires once
// it has been full again for a minute. Unlike a rate.Limiter, a bucket
// never goes back in time: a take at a now before the bucket's last
// take counts at that take's time (see the package doc).
func (s *Store) Take(ctx context.Context, key middleware.RateKey, limit middleware.Limit, now time.Time) (time.Duration, error) {
	if limit.Rate == 0 || limit.Rate == rate.Inf {
		return 0, nil // no limit
	}
	burst := max(limit.Burst, 1)
	cmd, err := s.call(ctx, &op{
		script: takeScript,
		keys:   []string{s.rateKey(key)},
		args: []any{strconv.FormatInt(now.UnixMicro(), 10), strconv.FormatFloat(float64(limit.Rate), 'g', -1, 64),
			strconv.Itoa(burst), strconv.FormatInt(rateForget.Milliseconds(), 10)},
	})
	if err != nil {
		return 0, fmt.Errorf("redisstate: rate take %+v: %w", key, err)
	}
	wait, err := takeWait(cmd, limit, now)
	if err != nil {
		return 0, fmt.Errorf("redisstate: rate take %+v: %w", key, err)
	}
	return wait, nil
}

// takeWait returns the wait that a reply of takeScript means at now.
func takeWait(cmd *redis.Cmd, limit middleware.Limit, now time.Time) (time.Duration, error) {
	reply, err := cmd.Slice()
	if err != nil {
		return 0, err
	}
	if len(reply) == 1 {
		return 0, nil
	}
	bad := fmt.Errorf("%w: the rate script answered %q", ErrFormat, reply)
	if len(reply) != 3 {
		return 0, bad
	}
	ts, _ := reply[1].(string)
	as, _ := reply[2].(string)
	tokens, err1 := strconv.ParseFloat(ts, 64)
	us, err2 := strconv.ParseInt(as, 10, 64)
	if err1 != nil || err2 != nil || math.IsNaN(tokens) {
		return 0, bad
	}
	at := time.UnixMicro(us)
	_, wait := middleware.RateBucket{Tokens: tokens, At: at}.Take(limit, at)
	if ahead := at.Sub(now); ahead > 0 && wait < time.Duration(math.MaxInt64)-ahead {
		wait += ahead
	}
	return wait, nil
}

// rateKey returns the key of k's bucket: its scope, its user and its
// conversation, the one part of any length last.
func (s *Store) rateKey(k middleware.RateKey) string {
	return s.prefix + "rate:" + strconv.Itoa(int(k.Scope)) + ":" + strconv.FormatInt(int64(k.User), 10) + ":" + string(k.Conversation)
}
