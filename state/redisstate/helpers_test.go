package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

func TestMain(m *testing.M) {
	// The client logs each failed dial; the tests that stop Redis make
	// many, on purpose, and check the errors the calls return.
	redis.SetLogger(&logging.VoidLogger{})
	goleak.VerifyTestMain(m, ignoreRedial)
}

// ignoreRedial ignores the client's probe of a server it failed to
// dial: go-redis runs it after a failed dial and stops it within a
// second of the client's Close, which goleak does not wait for.
var ignoreRedial = goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")

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
	opts.DialerRetries = 1
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

// link is a dialer whose connections can be cut, as a network partition
// cuts a replica off from Redis: while cut, it closes the connections it
// made and refuses to dial.
type link struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

var errCut = errors.New("link cut")

func (l *link) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil, errCut
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		l.conns = append(l.conns, c)
	}
	return c, err
}

// set cuts the link, or mends it.
func (l *link) set(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for _, c := range l.conns {
			c.Close()
		}
		l.conns = nil
	}
}

// eventually calls fn every few milliseconds until it returns nil, and
// fails t with its last error if that takes longer than within.
func eventually(t testing.TB, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			require.NoError(t, err, "%s: not within %v", what, within)
			return
		case <-tick.C:
		}
	}
}

// ended waits up to within for ctx to end, and reports whether it did.
func ended(ctx context.Context, within time.Duration) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(within):
		return false
	}
}
