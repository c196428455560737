package im_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// The tests run the real server on loopback. (imtest, which joins im and
// imserver for everyone above, builds on this package, so im's own tests
// join them here.)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testAppID  = 1
	testSecret = "test-secret"
	waitFor    = 10 * time.Second
)

type server struct {
	t   testing.TB
	srv *imserver.Server
	hs  *httptest.Server
}

func newServer(t testing.TB, tweak ...func(*imserver.Config)) *server {
	t.Helper()
	st := store.NewMemory()
	cfg := imserver.Config{AppID: testAppID, AppSecret: testSecret, Store: st, Logger: slog.New(slog.DiscardHandler),
		RequestRate: 1e6, RequestBurst: 1e6}
	for _, f := range tweak {
		f(&cfg)
	}
	srv, err := imserver.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &server{t: t, srv: srv, hs: hs}
}

// options returns client options for user against s.
func (s *server) options(user int64) im.Options {
	o := s.optionsFor(s.hs.URL, user)
	o.Token = func(context.Context) (string, error) { return s.srv.Token(user, time.Hour) }
	return o
}

// optionsFor returns client options for user against the server at base.
func (s *server) optionsFor(base string, user int64) im.Options {
	return im.Options{
		AppID:         testAppID,
		UserID:        im.UserID(user),
		APIURL:        base,
		FrontierURL:   strings.Replace(base, "http", "ws", 1) + imserver.FrontierPath,
		Token:         im.StaticToken("unused"),
		Logger:        slog.New(slog.DiscardHandler),
		ReconnectWait: func(int) time.Duration { return 10 * time.Millisecond },
	}
}

// unstarted returns a client for user that has not called Init yet, so a
// test can subscribe first; it is closed by t.Cleanup.
func (s *server) unstarted(user int64, tweak ...func(*im.Options)) *im.Client {
	s.t.Helper()
	o := s.options(user)
	for _, f := range tweak {
		f(&o)
	}
	c, err := im.New(o)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	return c
}

// start calls Init.
func start(t testing.TB, c *im.Client) *im.Client {
	t.Helper()
	require.NoError(t, c.Init(ctx(t)))
	return c
}

// client starts a client for user; it is closed by t.Cleanup.
func (s *server) client(user int64, tweak ...func(*im.Options)) *im.Client {
	s.t.Helper()
	return start(s.t, s.unstarted(user, tweak...))
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return c
}

// waitConnected waits until c's socket is up.
func waitConnected(t testing.TB, c *im.Client) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	states := make(chan im.ConnectionState, 16)
	sub := c.OnConnectionState(func(s im.ConnectionState) {
		select {
		case states <- s:
		default:
		}
	})
	defer sub.Unsubscribe()
	for c.ConnectionState() != im.ConnectionStateConnected {
		select {
		case <-states:
		case <-time.After(time.Until(deadline)):
			require.FailNow(t, "not connected", "not connected within %v", waitFor)
		}
	}
}
