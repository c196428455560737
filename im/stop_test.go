package im_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
)

// serverClock is the embedded server's clock, moved by the test so that
// tokens expire without waiting for them.
type serverClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *serverClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *serverClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newClockedServer is newServer on a clock the test moves.
func newClockedServer(t *testing.T) (*server, *serverClock) {
	clk := &serverClock{now: time.Now()}
	return newServer(t, func(c *imserver.Config) { c.Now = clk.Now }), clk
}

// waitStopped waits for c to stop by itself and returns its error.
func waitStopped(t *testing.T, c *im.Client) error {
	t.Helper()
	select {
	case <-c.Stopped():
		return c.Err()
	case <-time.After(waitFor):
		require.FailNow(t, "client still running", "not stopped within %v", waitFor)
		return nil
	}
}

// TestExpiredStaticTokenStopsTheClient gives the client a fixed token that
// expires while it runs: once its socket drops, it cannot reconnect, and
// after TokenTimeout it stops with ErrNoValidToken instead of retrying
// forever.
func TestExpiredStaticTokenStopsTheClient(t *testing.T) {
	s, clk := newClockedServer(t)
	tok, err := s.srv.Token(1001, time.Hour)
	require.NoError(t, err)
	const timeout = 300 * time.Millisecond
	c := s.unstarted(1001, func(o *im.Options) {
		o.Token = im.StaticToken(tok)
		o.TokenTimeout = timeout
	})
	start(t, c)
	waitConnected(t, c)
	assert.NoError(t, c.Err(), "a running client has no stop error")

	clk.Advance(2 * time.Hour)
	began := time.Now()
	require.True(t, c.DropConnection())
	err = waitStopped(t, c)
	require.ErrorIs(t, err, im.ErrNoValidToken)
	require.ErrorIs(t, err, im.ErrSameToken, "the cause: the provider returned the expired token again")
	assert.Contains(t, err.Error(), "TokenTimeout")
	assert.GreaterOrEqual(t, time.Since(began), timeout, "stopped before TokenTimeout")

	_, err = c.ListConversations(ctx(t), im.ListConversationsOptions{})
	require.Error(t, err, "an operation of a stopped client")
}

// TestTokenRecoveryResetsTheTimeout: a provider that fails a few times and
// then mints a new token within TokenTimeout keeps the client going.
func TestTokenRecoveryResetsTheTimeout(t *testing.T) {
	s, clk := newClockedServer(t)
	var calls atomic.Int32
	var expired atomic.Bool
	first, err := s.srv.Token(1001, time.Hour)
	require.NoError(t, err)
	c := s.unstarted(1001, func(o *im.Options) {
		o.TokenTimeout = 5 * time.Second
		o.Token = func(context.Context) (string, error) {
			if !expired.Load() {
				return first, nil
			}
			if calls.Add(1) <= 2 { // twice the expired one: the client retries
				return first, nil
			}
			return s.srv.Token(1001, time.Hour)
		}
	})
	states := make(chan im.ConnectionState, 64)
	sub := c.OnConnectionState(func(st im.ConnectionState) {
		select {
		case states <- st:
		default:
		}
	})
	defer sub.Unsubscribe()
	start(t, c)
	waitConnected(t, c)
	clk.Advance(2 * time.Hour)
	expired.Store(true)
	require.True(t, c.DropConnection())
	// Reconnecting, refused twice, then connected again.
	for lost, back := false, false; !back; {
		select {
		case st := <-states:
			lost = lost || st == im.ConnectionStateReconnecting
			back = lost && st == im.ConnectionStateConnected
		case <-c.Stopped():
			require.FailNow(t, "stopped", "the client stopped: %v", c.Err())
		case <-time.After(waitFor):
			require.FailNow(t, "not reconnected", "not reconnected within %v", waitFor)
		}
	}
	assert.GreaterOrEqual(t, calls.Load(), int32(3), "provider calls after the expiry")
	assert.NoError(t, c.Err())
	select {
	case <-c.Stopped():
		require.FailNow(t, "stopped", "the client stopped: %v", c.Err())
	default:
	}
}

// TestWrongFrontierPathStopsTheClient points FrontierURL at /ws instead of
// /ws/v2: the server there answers HTTP 405, not a handshake, and the
// client stops with ErrFrontierRefused, naming the URL without its token.
func TestWrongFrontierPathStopsTheClient(t *testing.T) {
	s := newServer(t)
	c := s.unstarted(1001, func(o *im.Options) {
		o.FrontierURL = strings.TrimSuffix(o.FrontierURL, imserver.FrontierPath) + "/ws"
	})
	start(t, c) // the HTTP API works; the socket comes after Init
	err := waitStopped(t, c)
	require.ErrorIs(t, err, im.ErrFrontierRefused)
	assert.Contains(t, err.Error(), "/ws answered HTTP 405")
	assert.NotContains(t, err.Error(), "token=", "the error shows the token")
}

// TestFrontierRefusalWhileBusyIsRetried: a socket refused as over a limit
// (429 with Retry-After) is not a permanent refusal; the client retries
// and connects once there is room.
func TestFrontierRefusalWhileBusyIsRetried(t *testing.T) {
	s := newServer(t, func(c *imserver.Config) { c.MaxSocketsPerAddr = 1 })
	holder := s.client(1002)
	waitConnected(t, holder)
	c := s.unstarted(1001)
	retries := make(chan struct{}, 16)
	sub := c.OnConnectionState(func(st im.ConnectionState) {
		if st == im.ConnectionStateReconnecting {
			select {
			case retries <- struct{}{}:
			default:
			}
		}
	})
	defer sub.Unsubscribe()
	start(t, c)
	for range 2 { // two refused attempts
		select {
		case <-retries:
		case <-c.Stopped():
			require.FailNow(t, "stopped", "refused for a limit, the client stopped: %v", c.Err())
		case <-time.After(waitFor):
			require.FailNow(t, "no retry", "no reconnect attempt within %v", waitFor)
		}
	}
	assert.NoError(t, c.Err(), "refused for a limit: retried, not stopped")
	require.NoError(t, holder.Close())
	waitConnected(t, c)
}

// TestTokenTimeoutDefault: a minute, as documented; negative is kept.
func TestTokenTimeoutDefault(t *testing.T) {
	s := newServer(t)
	assert.Equal(t, time.Minute, im.DefaultTokenTimeout)
	assert.Equal(t, im.DefaultTokenTimeout, s.unstarted(1001).Options().TokenTimeout)
	never := s.unstarted(1001, func(o *im.Options) { o.TokenTimeout = -1 })
	assert.Equal(t, time.Duration(-1), never.Options().TokenTimeout)
}
