package redisstate_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prefixes numbers the prefixes of the tests, so that the stores of
// one server are apart.
var prefixes atomic.Int64

// freshPrefix returns a prefix no other store of this process uses.
func freshPrefix() string { return fmt.Sprintf("test:{%d}:", prefixes.Add(1)) }

// client returns a client of srv that does not retry, so that an outage
// shows at once, closed at t's cleanup; dial, when not nil, dials.
func client(t testing.TB, srv *redistest.Server, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *redis.Client {
	t.Helper()
	opts := srv.Options()
	opts.MaxRetries = -1
	opts.Dialer = dial
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// open opens a Store of prefix on a client of its own.
func open(t testing.TB, srv *redistest.Server, prefix string, ttl time.Duration) *redisstate.Store {
	t.Helper()
	return openOn(t, client(t, srv, nil), prefix, ttl)
}

func openOn(t testing.TB, c redis.UniversalClient, prefix string, ttl time.Duration) *redisstate.Store {
	t.Helper()
	s, err := redisstate.Open(context.Background(), c, redisstate.Options{Prefix: prefix, LeaseTTL: ttl})
	require.NoError(t, err, "Open(%q)", prefix)
	return s
}
