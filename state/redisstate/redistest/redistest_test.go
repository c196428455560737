package redistest_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, ignoreRedial) }

// ignoreRedial ignores the client's probe of a server it failed to
// dial: go-redis runs it after a failed dial and stops it within a
// second of the client's Close, which goleak does not wait for.
var ignoreRedial = goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")

func TestStartRestartStop(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := srv.Options()
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err(), "SET on a started server")
	addr := srv.Addr()

	srv.Restart(t)
	require.Equal(t, addr, srv.Addr(), "Restart moved the server")
	// The connection in the pool died with the old server; the client
	// dials again on the next command.
	_ = c.Ping(ctx).Err()
	require.ErrorIs(t, c.Get(ctx, "k").Err(), redis.Nil, "a key kept across Restart; want no persistence")

	srv.Stop()
	require.Error(t, c.Ping(ctx).Err(), "PING after Stop")
	srv.Stop() // again: nothing
	srv.Restart(t)
	require.NoError(t, srv.Client(t).Ping(ctx).Err(), "PING after Restart of a stopped server")
}

// recorder is a testing.TB whose Skipf and Fatalf record their message
// and end the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skip, fatal string // read once the goroutine of Start has ended
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// startWithout runs Start on a recorder with an empty PATH.
func startWithout(t *testing.T) *recorder {
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { redistest.Start(r) })
	wg.Wait()
	return r
}

func TestMissingServerSkips(t *testing.T) {
	t.Setenv(redistest.RequireEnv, "")
	r := startWithout(t)
	assert.Contains(t, r.skip, "Debian package redis-server", "skip message")
	assert.Empty(t, r.fatal, "failed without %s=1", redistest.RequireEnv)
}

func TestMissingServerFailsWhenRequired(t *testing.T) {
	t.Setenv(redistest.RequireEnv, "1")
	r := startWithout(t)
	assert.Contains(t, r.fatal, "Debian package redis-server", "failure message")
	assert.Empty(t, r.skip, "skipped with %s=1", redistest.RequireEnv)
}
