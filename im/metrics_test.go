package im_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/obs/obstest"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// withMetrics makes a client register its metrics with reg.
func withMetrics(reg prometheus.Registerer) func(*im.Options) {
	return func(o *im.Options) { o.Metrics = reg }
}

// TestMetricsRegistered checks that New registers every client metric
// with Options.Metrics, that a second client in the same registry fails
// with an error naming the remedy, and that one wrapped with a label of
// its own does not.
func TestMetricsRegistered(t *testing.T) {
	s := newServer(t)
	reg := prometheus.NewRegistry()
	c := s.unstarted(1, withMetrics(reg))
	require.NotNil(t, c)
	// The gauges and the pre-resolved catch-up series exist from the
	// start; the vectors appear with their first observation.
	n, err := testutil.GatherAndCount(reg, "imbot_client_connected", "imbot_client_reconnects_total",
		"imbot_client_sync_lag", "imbot_client_catch_up_messages_total")
	require.NoError(t, err)
	assert.Equal(t, 5, n, "series before the first request")

	o := s.options(2)
	o.Metrics = reg
	_, err = im.New(o)
	require.Error(t, err, "a second client in the same registry")
	assert.ErrorContains(t, err, "WrapRegistererWith")

	// Clients that share a registry each have a label of their own.
	labelled := prometheus.NewRegistry()
	for _, user := range []string{"1", "2"} {
		o.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"user": user}, labelled)
		other, err := im.New(o)
		require.NoError(t, err, "a client with the label user=%s", user)
		require.NoError(t, other.Close())
	}
	n, err = testutil.GatherAndCount(labelled, "imbot_client_connected")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "connected series of two labelled clients")
}

// TestRequestMetrics makes requests that end each way and checks
// requests_total by outcome and request_duration_seconds by transport.
func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	missing := im.ConversationRef{ID: "no-such-conversation", ShortID: 999999, Type: im.ConversationTypeGroup}
	// stalled accepts requests and answers none, as a network that went
	// quiet would. It reads the body first: only then does the server
	// notice the client hanging up and end the request's context.
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(stalled.Close)
	// garbage answers with bytes that are no Response.
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "not a protobuf Response")
	}))
	t.Cleanup(garbage.Close)
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close() // nothing listens there any more
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name      string
		level     im.WebSocketLevel
		api       string // APIURL, default the server's
		ctx       context.Context
		do        func(context.Context, *im.Client) error
		command   string
		outcome   string
		transport string
	}{
		{name: "ok over http", level: im.WebSocketLevelPushOnly, command: "SEND_MESSAGE", outcome: "ok", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.SendMessage(ctx, conv, im.OutgoingMessage{Content: im.TextContent("hi")})
				return err
			}},
		{name: "ok over the socket", level: im.WebSocketLevelAll, command: "SEND_MESSAGE", outcome: "ok", transport: "websocket",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.SendMessage(ctx, conv, im.OutgoingMessage{Content: im.TextContent("hi")})
				return err
			}},
		{name: "server status", level: im.WebSocketLevelPushOnly, command: "GET_CONVERSATION_INFO_V2", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.GetConversation(ctx, missing)
				return err
			}},
		{name: "network", level: im.WebSocketLevelDisable, api: refused.URL, command: "GET_CONVERSATION_INFO_V2", outcome: "network", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.GetConversation(ctx, conv)
				return err
			}},
		{name: "timeout", level: im.WebSocketLevelDisable, api: stalled.URL, command: "GET_CONVERSATION_INFO_V2", outcome: "timeout", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.GetConversation(ctx, conv)
				return err
			}},
		{name: "malformed", level: im.WebSocketLevelDisable, api: garbage.URL, command: "GET_CONVERSATION_INFO_V2", outcome: "malformed", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.GetConversation(ctx, conv)
				return err
			}},
		{name: "canceled", level: im.WebSocketLevelPushOnly, ctx: cancelled, command: "GET_CONVERSATION_INFO_V2", outcome: "canceled", transport: "http",
			do: func(ctx context.Context, c *im.Client) error {
				_, err := c.GetConversation(ctx, conv)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			o := s.options(1)
			o.Metrics, o.WebSocketLevel, o.MaxSendMsgRetryTimes = reg, tt.level, -1
			o.Timeout = 2 * time.Second
			if tt.api != "" {
				o.APIURL, o.Timeout = tt.api, 100*time.Millisecond
			}
			c, err := im.New(o)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			if tt.level == im.WebSocketLevelAll {
				start(t, c)
			}
			rctx := tt.ctx
			if rctx == nil {
				rctx = ctx(t)
			}
			err = tt.do(rctx, c)
			outcome := tt.outcome
			if outcome == "" { // the server's status, by name
				require.Error(t, err)
				outcome = im.StatusCodeOf(err).String()
				require.NotEqual(t, "OK", outcome, "a server status: %v", err)
			}
			if outcome == "ok" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_requests_total", "command", tt.command, "outcome", outcome),
				"requests_total{command=%q,outcome=%q}", tt.command, outcome)
			if outcome != "ok" {
				assert.Zero(t, obstest.Value(t, reg, "imbot_client_requests_total", "command", tt.command, "outcome", "ok"),
					"requests_total{command=%q,outcome=ok}", tt.command)
			}
			assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_request_duration_seconds", "command", tt.command, "transport", tt.transport),
				"request_duration_seconds{command=%q,transport=%q} observations", tt.command, tt.transport)
		})
	}
}

// TestRateLimitedMetric sends past the server's per-user send rate: the
// refusal counts in rate_limited_total and as a TOO_MANY_REQUESTS outcome.
func TestRateLimitedMetric(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *imserver.Config) { c.SendRate, c.SendBurst = 0.001, 1 })
	conv := groupWith(t, s, 1, 2)
	reg := prometheus.NewRegistry()
	c := s.unstarted(1, withMetrics(reg), func(o *im.Options) {
		o.WebSocketLevel, o.MaxSendMsgRetryTimes = im.WebSocketLevelPushOnly, -1
	})
	out := im.OutgoingMessage{Content: im.TextContent("hi")}
	_, err := c.SendMessage(ctx(t), conv, out)
	require.NoError(t, err, "the burst's send")
	_, err = c.SendMessage(ctx(t), conv, out)
	require.ErrorIs(t, err, im.ErrRateLimited, "the send past the burst")

	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_rate_limited_total", "command", "SEND_MESSAGE"), "rate_limited_total")
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_requests_total", "command", "SEND_MESSAGE", "outcome", "TOO_MANY_REQUESTS"),
		"requests_total{outcome=TOO_MANY_REQUESTS}")
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_requests_total", "command", "SEND_MESSAGE", "outcome", "ok"),
		"requests_total{outcome=ok}")
}

// reconnected drops nothing itself: it waits, on c's state changes, for
// the socket to go down and come up again.
func reconnected(t *testing.T, states <-chan im.ConnectionState) {
	t.Helper()
	for _, w := range []im.ConnectionState{im.ConnectionStateReconnecting, im.ConnectionStateConnecting, im.ConnectionStateConnected} {
		require.Equal(t, w, nextState(t, states), "reconnecting: state")
	}
}

// TestSocketMetricsAcrossDrop follows connected, socket_lost_total and
// reconnects_total through a socket that fails as a network does, and
// connected through Close.
func TestSocketMetricsAcrossDrop(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	reg := prometheus.NewRegistry()
	c := s.unstarted(1, withMetrics(reg))
	states := make(chan im.ConnectionState, 16)
	c.OnConnectionState(func(st im.ConnectionState) { states <- st })
	start(t, c)
	require.Equal(t, im.ConnectionStateConnecting, nextState(t, states))
	require.Equal(t, im.ConnectionStateConnected, nextState(t, states))
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_connected"), "connected while up")
	assert.EqualValues(t, 0, obstest.Value(t, reg, "imbot_client_reconnects_total"), "reconnects before a drop")

	require.True(t, c.DropConnection(), "a socket to drop")
	reconnected(t, states)
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_socket_lost_total", "reason", "network"), "socket_lost_total{reason=network}")
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_reconnects_total"), "reconnects after a drop")
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_connected"), "connected after the reconnect")

	require.NoError(t, c.Close())
	assert.EqualValues(t, 0, obstest.Value(t, reg, "imbot_client_connected"), "connected after Close")
	assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_socket_lost_total", "reason", "network"),
		"socket_lost_total after Close: the client's own close is no loss")
}

// TestSocketLostWhenServerCloses has the server close the socket of a
// client that says nothing for longer than its IdleTimeout (with a close
// frame): socket_lost_total{reason=server_closed}.
func TestSocketLostWhenServerCloses(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *imserver.Config) { c.IdleTimeout = 200 * time.Millisecond })
	reg := prometheus.NewRegistry()
	c := s.unstarted(1, withMetrics(reg)) // heartbeats every 15s: idle to the server
	states := make(chan im.ConnectionState, 64)
	c.OnConnectionState(func(st im.ConnectionState) { states <- st })
	start(t, c)
	require.Equal(t, im.ConnectionStateConnecting, nextState(t, states))
	require.Equal(t, im.ConnectionStateConnected, nextState(t, states))
	reconnected(t, states)
	assert.GreaterOrEqual(t, obstest.Value(t, reg, "imbot_client_socket_lost_total", "reason", "server_closed"), 1.0,
		"socket_lost_total{reason=server_closed}")
	assert.GreaterOrEqual(t, obstest.Value(t, reg, "imbot_client_reconnects_total"), 1.0, "reconnects_total")
}

// sendAs sends n text messages to conv as user, over the raw protocol.
func sendAs(t *testing.T, s *server, user int64, conv im.ConversationRef, n int) {
	t.Helper()
	tok, err := s.srv.Token(user, time.Hour)
	require.NoError(t, err)
	rc := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	for i := range n {
		resp, err := rc.Call(ctx(t), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: proto.String(string(conv.ID)), ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType: proto.Int32(int32(conv.Type)), MessageType: proto.Int32(10001),
			Content: proto.String(im.TextContent(fmt.Sprint("missed ", i)))})
		require.NoError(t, err)
		require.Zero(t, resp.GetStatusCode(), "send: %s", resp.GetErrorDesc())
	}
}

// TestSyncLagAndCatchUpMetrics resumes a client from cursor 0 with a
// backlog of 100 messages and holds its first event callback, which runs
// before the first page is applied in full: sync_lag is then the backlog
// (Init heard the server's position, the client is still at 0). Once it
// is released and caught up, sync_lag is 0 and catch_up_messages_total
// counts the pulled messages; a message that is pushed is not counted.
func TestSyncLagAndCatchUpMetrics(t *testing.T) {
	t.Parallel()
	const missed = 100 // more than an event batch (64), less than a page (1000)
	s := newServer(t)
	conv := groupWith(t, s, 2, 1)
	sendAs(t, s, 2, conv, missed)

	reg := prometheus.NewRegistry()
	c := s.unstarted(1, withMetrics(reg), func(o *im.Options) { o.Resume, o.Cursor = true, 0 })
	held, release := make(chan struct{}), make(chan struct{})
	got := make(chan im.MessageEvent, missed+1)
	first := true
	c.OnMessageReceived(func(e im.MessageEvent) { // one at a time: first needs no lock
		if first {
			first = false
			close(held)
			<-release
		}
		got <- e
	})
	start(t, c)
	select {
	case <-held:
	case <-time.After(waitFor):
		require.FailNow(t, "no message delivered")
	}
	lag := obstest.Value(t, reg, "imbot_client_sync_lag")
	close(release)
	for i := range missed {
		select {
		case <-got:
		case <-time.After(waitFor):
			require.FailNow(t, "backlog not delivered", "%d of %d messages delivered", i, missed)
		}
	}
	caughtUp := c.Cursor()
	assert.EqualValues(t, caughtUp, lag, "sync_lag while the first page is applied: the whole backlog")
	assert.GreaterOrEqual(t, lag, float64(missed), "sync_lag while the first page is applied")
	assert.EqualValues(t, 0, obstest.Value(t, reg, "imbot_client_sync_lag"), "sync_lag once caught up")
	pulled := obstest.Value(t, reg, "imbot_client_catch_up_messages_total", "source", "pull")
	assert.EqualValues(t, missed, pulled, "catch_up_messages_total{source=pull}")

	waitConnected(t, c)
	sendAs(t, s, 2, conv, 1)
	var e im.MessageEvent
	select {
	case e = <-got:
	case <-time.After(waitFor):
		require.FailNow(t, "the new message was not delivered")
	}
	want := pulled // a pushed message is no catch-up
	if e.Message.Source != im.MessageSourceOnline {
		want++ // it came while a pull was running (the connect's), and with it
	}
	assert.EqualValues(t, want, obstest.Value(t, reg, "imbot_client_catch_up_messages_total", "source", "pull"),
		"catch_up_messages_total after a message of source %v", e.Message.Source)
	assert.EqualValues(t, 0, obstest.Value(t, reg, "imbot_client_sync_lag"), "sync_lag after a push")
}

// TestTokenFailureMetric checks token_failures_total by reason: a
// provider that fails, and a token the server refuses.
func TestTokenFailureMetric(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	tests := []struct {
		name   string
		token  im.TokenProvider
		reason string
	}{
		{"provider", func(context.Context) (string, error) { return "", errors.New("vault unreachable") }, "provider"},
		{"invalid", im.StaticToken("not-a-token"), "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := s.unstarted(1, withMetrics(reg), func(o *im.Options) {
				o.Token, o.WebSocketLevel = tt.token, im.WebSocketLevelPushOnly
			})
			_, err := c.GetConversation(ctx(t), conv)
			require.Error(t, err)
			assert.EqualValues(t, 1, obstest.Value(t, reg, "imbot_client_token_failures_total", "reason", tt.reason),
				"token_failures_total{reason=%q}", tt.reason)
		})
	}
}

// TestMetricsAddNoAllocations checks that metrics on add no allocation to
// a request: their series are resolved at a command's first request. The
// real server's answer is served again by a bare handler, whose own
// allocations do not change from one request to the next (the server's
// do, as its state grows), so that only the client's are compared.
func TestMetricsAddNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts vary under the race detector (sync.Pool drops items at random)")
	}
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	tok, err := s.srv.Token(1, time.Hour)
	require.NoError(t, err)
	resp, err := (&rawclient.Client{BaseURL: s.hs.URL, Token: tok}).Call(ctx(t), improto.IMCMD_GET_CONVERSATION_INFO_V2,
		&improto.GetConversationInfoV2RequestBody{ConversationId: proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)), ConversationType: proto.Int32(int32(conv.Type))})
	require.NoError(t, err)
	require.Zero(t, resp.GetStatusCode(), "the real server's answer: %s", resp.GetErrorDesc())
	answer, err := proto.Marshal(resp)
	require.NoError(t, err)
	replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(replay.Close)

	client := func(reg prometheus.Registerer) *im.Client {
		o := s.optionsFor(replay.URL, 1)
		o.Metrics, o.WebSocketLevel = reg, im.WebSocketLevelPushOnly
		c, err := im.New(o)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.GetConversation(ctx(t), conv) // the first: a connection, the series
		require.NoError(t, err)
		return c
	}
	cx := ctx(t)
	allocs := func(c *im.Client) float64 {
		return testing.AllocsPerRun(200, func() {
			if _, err := c.GetConversation(cx, conv); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Other goroutines of the process (the server's, the runtime's) may
	// allocate during a run, never take allocations away: the least of a
	// few runs is the request's own.
	offClient, onClient := client(nil), client(prometheus.NewRegistry())
	off, on := math.Inf(1), math.Inf(1)
	for range 3 {
		off, on = min(off, allocs(offClient)), min(on, allocs(onClient))
	}
	t.Logf("allocations per request: metrics off %v, on %v", off, on)
	assert.LessOrEqual(t, on, off, "allocations per request with metrics on, against off")
}
