package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// probe GETs path on the bot's admin listener and returns the status and
// the Health it reports.
func probe(t *testing.T, b *bot.Bot, path string) (int, bot.Health) {
	t.Helper()
	addr := b.AdminAddr()
	require.NotNil(t, addr, "the admin listener's address")
	resp, err := http.Get("http://" + addr.String() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var h bot.Health
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h), "GET %s: the body is a Health", path)
	return resp.StatusCode, h
}

// waitState waits for the client's connection state to become want.
func waitState(t *testing.T, states <-chan im.ConnectionState, want im.ConnectionState) {
	t.Helper()
	for {
		select {
		case st := <-states:
			if st == want {
				return
			}
		case <-time.After(imtest.DefaultTimeout):
			require.FailNow(t, "state", "no %v within %v", want, imtest.DefaultTimeout)
		}
	}
}

// TestAdminProbesFollowTheLifecycle serves the admin endpoints over real
// HTTP and checks each probe in each state: running, socket down,
// draining, stopped.
func TestAdminProbesFollowTheLifecycle(t *testing.T) {
	s := imtest.NewServer(t)
	reconnect := make(chan struct{})
	b := s.NewBot(t, 100, func(o *bot.Options) {
		o.Admin = bot.AdminOptions{Addr: "127.0.0.1:0"}
		o.Client.ReconnectWait = func(int) time.Duration {
			select { // the socket stays down until the test lets it up
			case <-reconnect:
			case <-time.After(imtest.DefaultTimeout):
			}
			return 0
		}
	})
	assert.Equal(t, bot.PhaseNew, b.Health().Phase)
	assert.True(t, b.Health().Alive, "a new bot is alive")
	entered, release := make(chan struct{}), make(chan struct{})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.FromUser() && c.Event.Message.Text() == "hold" {
			close(entered)
			<-release
		}
		return nil
	}))
	states := make(chan im.ConnectionState, 64)
	b.Client().OnConnectionState(func(st im.ConnectionState) {
		select {
		case states <- st:
		default:
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "not ready")
	}

	code, h := probe(t, b, "/healthz")
	assert.Equal(t, http.StatusOK, code, "healthz while running")
	code, h = probe(t, b, "/readyz")
	assert.Equal(t, http.StatusOK, code, "readyz while running: %+v", h)
	assert.Equal(t, bot.Health{Phase: bot.PhaseRunning, Connection: "connected", Alive: true, Ready: true}, h)

	require.True(t, b.Client().DropConnection())
	waitState(t, states, im.ConnectionStateReconnecting)
	code, h = probe(t, b, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "readyz with the socket down")
	assert.Contains(t, h.Reason, "socket")
	code, _ = probe(t, b, "/healthz")
	assert.Equal(t, http.StatusOK, code, "healthz with the socket down")
	close(reconnect)
	waitState(t, states, im.ConnectionStateConnected)
	// Ready again once the reconnect's catch-up pull is done.
	require.Eventually(t, func() bool { code, _ := probe(t, b, "/readyz"); return code == http.StatusOK },
		imtest.DefaultTimeout, time.Millisecond, "readyz after the reconnect")

	alice := s.NewUser(t, 1001)
	alice.Send(t, alice.CreateSingle(t, 100), "hold")
	select {
	case <-entered:
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "the handler did not start")
	}
	cancel() // the drain waits for the held handler
	require.Eventually(t, func() bool { return b.Health().Phase == bot.PhaseDraining }, imtest.DefaultTimeout, time.Millisecond)
	code, h = probe(t, b, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "readyz while draining")
	assert.Equal(t, "the bot is draining", h.Reason)
	code, _ = probe(t, b, "/healthz")
	assert.Equal(t, http.StatusOK, code, "healthz while draining")
	addr := b.AdminAddr().String()
	close(release)
	require.NoError(t, <-done)

	assert.Equal(t, bot.PhaseStopped, b.Health().Phase)
	assert.False(t, b.Health().Alive)
	assert.Nil(t, b.AdminAddr(), "the listener outlived Run")
	_, err := http.Get("http://" + addr + "/healthz")
	assert.Error(t, err, "the admin listener still answers after Run returned")
}

// TestAdminPprofIsOptIn: the profiler is served only with Pprof.
func TestAdminPprofIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		s := imtest.NewServer(t)
		b := s.NewBot(t, 100, func(o *bot.Options) { o.Admin.Pprof = on })
		rec := httptestGet(t, b.AdminHandler(), "/debug/pprof/")
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		assert.Equal(t, want, rec, "GET /debug/pprof/ with Pprof %v", on)
	}
}

// TestAdminListenerBadAddr: a listener that cannot bind fails Run at once.
func TestAdminListenerBadAddr(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Admin.Addr = "256.0.0.1:0" })
	err := b.Run(t.Context())
	require.ErrorContains(t, err, "bot: admin listener")
	assert.Equal(t, bot.PhaseStopped, b.Health().Phase)
}

// httptestGet serves one GET of path by h and returns its status.
func httptestGet(t *testing.T, h http.Handler, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

// TestReadyzRefusedToken: a bot whose token the server refuses is not
// ready, and says why, before TokenTimeout ends it.
func TestReadyzRefusedToken(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s := imtest.NewUnstartedServer(t)
	s.Config.Now = clock
	s.Start()
	tok := s.Token(100) // valid for an hour of the server's clock
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Client.Token = im.StaticToken(tok) })
	s.RunBot(t, b)
	require.True(t, b.Health().Ready, "ready before the expiry: %+v", b.Health())

	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	require.True(t, b.Client().DropConnection())
	require.Eventually(t, func() bool { return !b.Client().TokenFailingSince().IsZero() }, imtest.DefaultTimeout, time.Millisecond)
	h := b.Health()
	assert.False(t, h.Ready)
	assert.Contains(t, h.Reason, "refused the token")
	assert.True(t, h.Alive)
}
