package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// luaLess is a Lua function of the scripts: lt(a, b) reports a < b for
// integers in canonical decimal (strconv.FormatInt), compared as
// strings, since Lua's numbers are doubles, exact only up to 2^53.
const luaLess = `
local function lt(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na end
  if #a ~= #b then
    if na then return #a > #b end
    return #a < #b
  end
  if na then return a > b end
  return a < b
end
`

// luaFence is the start of a script that commits: when the caller gives
// the key of a lease (the KEYS after the script's own n) and its value
// (ARGV[m]), it returns 0, refusing the commit, unless the lease still
// holds that value.
func luaFence(n, m int) string {
	return fmt.Sprintf("if #KEYS > %d and redis.call('GET', KEYS[%d]) ~= ARGV[%d] then return 0 end\n", n, n+1, m)
}

// commitScript commits progress, keeping the maximum of each value:
// KEYS cursor, handled [, lease]; ARGV cursor, conversation, index
// [, lease value]. It returns 1, or 0 when the lease refused it.
var commitScript = redis.NewScript(luaLess + luaFence(2, 4) + `
local c = redis.call('GET', KEYS[1])
if not c or lt(c, ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then
  local i = redis.call('HGET', KEYS[2], ARGV[2])
  if not i or lt(i, ARGV[3]) then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
end
return 1
`)

// LoadProgress implements [bot.ProgressStore]. It reads the cursor and
// the conversations' indexes in one transaction (MULTI), so that they
// are of one moment.
func (s *Store) LoadProgress(ctx context.Context) (bot.Progress, error) {
	var cursor *redis.StringCmd
	var handled *redis.MapStringStringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		cursor = p.Get(ctx, s.keyCursor)
		handled = p.HGetAll(ctx, s.keyHandled)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return bot.Progress{}, fmt.Errorf("redisstate: load progress: %w", withContext(ctx, err))
	}
	p := bot.Progress{Handled: make(map[im.ConversationID]int64)}
	if errors.Is(cursor.Err(), redis.Nil) {
		return p, nil
	}
	if p.Cursor, err = strconv.ParseInt(cursor.Val(), 10, 64); err != nil {
		return bot.Progress{}, fmt.Errorf("%w: %s holds %q", ErrFormat, s.keyCursor, cursor.Val())
	}
	p.Saved = true
	for conv, raw := range handled.Val() {
		index, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return bot.Progress{}, fmt.Errorf("%w: %s field %q holds %q", ErrFormat, s.keyHandled, conv, raw)
		}
		p.Handled[im.ConversationID(conv)] = index
	}
	return p, nil
}

// CommitProgress implements [bot.ProgressStore]: one script keeps the
// maximum of the cursor and of the conversation's index, atomically.
// Commits made at the same time, by any goroutine, go to Redis in one
// round trip. When ctx is the lead context of a [Leader], the commit is
// made only while its lease is held, checked in the same script, and
// refused with ErrFenced otherwise.
func (s *Store) CommitProgress(ctx context.Context, c bot.Commit) error {
	o := &op{
		script: commitScript,
		keys:   []string{s.keyCursor, s.keyHandled},
		args:   []any{strconv.FormatInt(c.Cursor, 10), string(c.Conversation), strconv.FormatInt(c.Index, 10)},
	}
	if err := s.commit(ctx, o); err != nil {
		return fmt.Errorf("redisstate: commit progress %+v: %w", c, err)
	}
	return nil
}

// commit sends o, a script beginning with luaFence, under the lease of
// ctx if it has one.
func (s *Store) commit(ctx context.Context, o *op) error {
	if f, ok := ctx.Value(fenceKey{}).(fence); ok {
		o.keys = append(o.keys, f.key)
		o.args = append(o.args, f.value)
	}
	cmd, err := s.call(ctx, o)
	if err != nil {
		return err
	}
	switch n, err := cmd.Int64(); {
	case err != nil:
		return err
	case n != 1:
		return ErrFenced
	}
	return nil
}
