package redistest_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// TestProxy talks to a server through a proxy: commands pass, fail
// while the proxy is cut (the connections it had, and new ones), and
// pass again once it is restored. The proxy's goroutines stop at the
// test's cleanup (TestMain checks).
func TestProxy(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := redistest.StartProxy(t, srv.Addr())
	require.NotEqual(t, srv.Addr(), p.Addr())
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err(), "SET through the proxy")

	p.Cut()
	assert.Error(t, c.Get(ctx, "k").Err(), "GET on a connection the proxy cut")
	assert.Error(t, c.Get(ctx, "k").Err(), "GET on a new connection while cut")

	p.Restore()
	// The client may hold a connection closed by the cut: the first
	// command on it fails, and the next dials.
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for err := c.Get(ctx, "k").Err(); err != nil; err = c.Get(ctx, "k").Err() {
		select {
		case <-deadline.C:
			require.NoError(t, err, "GET through the restored proxy, within 2s")
		case <-tick.C:
		}
	}
	assert.Equal(t, "v", c.Get(ctx, "k").Val(), "the value, through the proxy, of the server's key")
}
