package imserver_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/obs/obstest"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// serverMetrics are the names of every metric of the server's own.
var serverMetrics = []string{
	"imbot_server_requests_total",
	"imbot_server_request_duration_seconds",
	"imbot_server_sockets_open",
	"imbot_server_sockets_total",
	"imbot_server_socket_closes_total",
	"imbot_server_pushes_total",
	"imbot_server_fanout_duration_seconds",
	"imbot_server_store_tx_duration_seconds",
	"imbot_server_refused_total",
}

// withMetrics has the server register its metrics with a fresh registry,
// which it returns.
func withMetrics(reg **prometheus.Registry) func(*imserver.Config) {
	*reg = prometheus.NewRegistry()
	return func(c *imserver.Config) { c.Metrics = *reg }
}

// getMetrics GETs path and returns the status, Content-Type and body.
func getMetrics(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestMetricsDefaults: by default the server has a registry of its own,
// with the Go and process collectors, served at /metrics in the
// Prometheus text format; other methods are refused.
func TestMetricsDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	callRaw(t, e.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	// The request is counted once its answer is written: it may show in a
	// later GET.
	const counted = `imbot_server_requests_total{command="GET_MESSAGES_BY_USER",status="OK"} 1`
	deadline := time.Now().Add(waitFor)
	var body string
	for {
		code, ctype, b := getMetrics(t, e.hs.URL+"/metrics")
		require.Equal(t, http.StatusOK, code, b)
		require.True(t, strings.HasPrefix(ctype, "text/plain"), "Content-Type %q", ctype)
		if body = b; strings.Contains(body, counted) {
			break
		}
		require.True(t, time.Now().Before(deadline), "no %s within %v in:\n%s", counted, waitFor, body)
		<-time.After(5 * time.Millisecond)
	}
	for _, name := range append(serverMetrics, "go_goroutines", "process_cpu_seconds_total") {
		assert.Contains(t, body, "\n# TYPE "+name+" ", "GET /metrics")
	}

	resp, err := http.Post(e.hs.URL+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "POST /metrics")
}

// TestMetricsDisabled: DisableMetrics leaves /metrics a 404 and the
// Registerer untouched.
func TestMetricsDisabled(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *imserver.Config) { c.DisableMetrics, c.Metrics = true, reg })
	callRaw(t, e.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	code, _, _ := getMetrics(t, e.hs.URL+"/metrics")
	assert.Equal(t, http.StatusNotFound, code)
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Zero(t, n, "series registered with DisableMetrics")
}

// TestMetricsRegisterer: a Registerer of the user's gets the metrics; a
// Registry is served at /metrics (without the default collectors), any
// other Registerer is not. Two servers in one registry fail New unless
// they carry a label each.
func TestMetricsRegisterer(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg))
	callRaw(t, e.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	obstest.AwaitEqual(t, reg, waitFor, 1, "imbot_server_requests_total", "command", "GET_MESSAGES_BY_USER", "status", "OK")
	code, _, body := getMetrics(t, e.hs.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "imbot_server_requests_total{")
	assert.NotContains(t, body, "go_goroutines", "the default collectors went into the user's registry")

	_, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(), Metrics: reg})
	require.ErrorContains(t, err, "registered already")

	shared := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		wrapped := newEnv(t, func(c *imserver.Config) {
			c.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"server": name}, shared)
		})
		callRaw(t, wrapped.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
		obstest.AwaitEqual(t, shared, waitFor, 1, "imbot_server_requests_total", "server", name, "command", "GET_MESSAGES_BY_USER")
		code, _, _ = getMetrics(t, wrapped.hs.URL+"/metrics")
		assert.Equal(t, http.StatusNotFound, code, "a Registerer that cannot be gathered is not served")
	}
}

// TestMetricsPath: the metrics move to Config.MetricsPath; a path the
// server cannot serve them at fails New.
func TestMetricsPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *imserver.Config) { c.MetricsPath = "/internal/metrics" })
	code, _, body := getMetrics(t, e.hs.URL+"/internal/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "imbot_server_sockets_open 0")

	tests := []struct {
		path    string
		wantErr string
	}{
		{"metrics", "must start with /"},
		{imserver.HealthPath, "serves something else"},
		{imserver.FrontierPath, "serves something else"},
		{imserver.ConsolePath + "metrics", "dev console"},
		{"/v1/message/send", "HTTP API route"},
	}
	for _, tt := range tests {
		_, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(), MetricsPath: tt.path})
		assert.ErrorContains(t, err, tt.wantErr, "MetricsPath %q", tt.path)
	}
	_, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(), Logger: slog.New(slog.DiscardHandler),
		MetricsPath: imserver.ConsolePath + "metrics", DisableConsole: true})
	assert.NoError(t, err, "the console's path is free when it is off")
}

// TestRequestMetrics: each request, over HTTP and on a socket, counts
// under its command and the status of its answer, and its duration is
// observed; a route or cmd outside the table counts as "unknown".
func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg))
	const name = "imbot_server_requests_total"

	callRaw(t, e.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	obstest.AwaitEqual(t, reg, waitFor, 1, name, "command", "GET_MESSAGES_BY_USER", "status", "OK")

	forged := &rawclient.Client{BaseURL: e.hs.URL, Token: "forged"}
	callRaw(t, forged, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	obstest.AwaitEqual(t, reg, waitFor, 1, name, "command", "GET_MESSAGES_BY_USER", "status", "INVALID_TOKEN")

	resp, err := http.Post(e.hs.URL+"/v1/no/such/route", "application/x-protobuf", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	obstest.AwaitEqual(t, reg, waitFor, 1, name, "command", "unknown", "status", "INVALID_CMD")

	s := e.socket(1002, "web")
	callRaw(t, s, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	obstest.AwaitEqual(t, reg, waitFor, 2, name, "command", "GET_MESSAGES_BY_USER", "status", "OK")
	// A cmd outside the table, which rawclient will not send.
	payload, err := proto.Marshal(&improto.Request{Cmd: proto.Int32(999999), SequenceId: proto.Int64(1000), Token: proto.String(e.token(1002))})
	require.NoError(t, err)
	resp2, err := s.CallFrame(ctx(t), &improto.Frame{Seqid: proto.Uint64(1000), Payload: payload})
	require.NoError(t, err)
	require.Equal(t, int32(improto.StatusCode_INVALID_CMD), resp2.GetStatusCode(), resp2.GetErrorDesc())
	obstest.AwaitEqual(t, reg, waitFor, 2, name, "command", "unknown", "status", "INVALID_CMD")

	// Every request so far had its duration observed, under its command.
	obstest.AwaitEqual(t, reg, waitFor, 3, "imbot_server_request_duration_seconds", "command", "GET_MESSAGES_BY_USER")
	assert.Equal(t, 2.0, obstest.Value(t, reg, "imbot_server_request_duration_seconds", "command", "unknown"))
}

// TestSocketMetrics: sockets_open follows the sockets open, sockets_total
// counts them, and each close counts under its reason.
func TestSocketMetrics(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg))
	closes := func(reason string, want float64) {
		t.Helper()
		obstest.AwaitEqual(t, reg, waitFor, want, "imbot_server_socket_closes_total", "reason", reason)
	}

	// A socket counts as open from before its handshake's answer, and as
	// opened just after.
	a, b := e.socket(1001, "a"), e.socket(1001, "b")
	assert.Equal(t, 2.0, obstest.Value(t, reg, "imbot_server_sockets_open"))
	obstest.AwaitEqual(t, reg, waitFor, 2, "imbot_server_sockets_total")
	require.NoError(t, a.Close())
	closes("client", 1)
	obstest.AwaitEqual(t, reg, waitFor, 1, "imbot_server_sockets_open")

	require.NoError(t, b.WriteMessage(websocket.TextMessage, []byte("not a heartbeat")))
	closes("bad_frame", 1)
	obstest.AwaitEqual(t, reg, waitFor, 0, "imbot_server_sockets_open")

	e.socket(1001, "c")
	require.NoError(t, e.srv.Shutdown(t.Context()))
	closes("shutdown", 1)
	assert.Equal(t, 0.0, obstest.Value(t, reg, "imbot_server_sockets_open"))
	assert.Equal(t, 3.0, obstest.Value(t, reg, "imbot_server_sockets_total"))
	assert.Equal(t, 0.0, obstest.Value(t, reg, "imbot_server_socket_closes_total", "reason", "idle"))

	// A socket that sends nothing is let go after IdleTimeout.
	var idleReg *prometheus.Registry
	idle := newEnv(t, withMetrics(&idleReg), func(c *imserver.Config) { c.IdleTimeout = 50 * time.Millisecond })
	select {
	case <-idle.socket(1001, "d").Done():
	case <-time.After(waitFor):
		require.FailNow(t, "an idle socket is still open", "after %v", waitFor)
	}
	obstest.AwaitEqual(t, idleReg, waitFor, 1, "imbot_server_socket_closes_total", "reason", "idle")
}

// TestPushAndFanOutMetrics: a message to a user online counts one push
// per socket and one fan-out, both before the sender has its answer.
func TestPushAndFanOutMetrics(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg))
	alice := e.user(1001)
	conv := createSingle(t, alice, 1002)
	bob := e.socket(1002, "web")
	pushes := obstest.Value(t, reg, "imbot_server_pushes_total")
	fanouts := obstest.Value(t, reg, "imbot_server_fanout_duration_seconds")

	sendText(t, alice, conv, "hello")
	assert.Equal(t, pushes+1, obstest.Value(t, reg, "imbot_server_pushes_total"), "bob's one socket")
	assert.Equal(t, fanouts+1, obstest.Value(t, reg, "imbot_server_fanout_duration_seconds"))
	waitPush(t, bob, improto.IMCMD_NEW_MSG_NOTIFY)

	bob2 := e.socket(1002, "phone")
	sendText(t, alice, conv, "again")
	assert.Equal(t, pushes+3, obstest.Value(t, reg, "imbot_server_pushes_total"), "bob's two sockets")
	waitPush(t, bob2, improto.IMCMD_NEW_MSG_NOTIFY)
}

// TestStoreTxMetrics: a send runs a write transaction, a pull a read
// one.
func TestStoreTxMetrics(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg))
	const name = "imbot_server_store_tx_duration_seconds"
	alice := e.user(1001)
	conv := createSingle(t, alice, 1002)

	writes, reads := obstest.Value(t, reg, name, "kind", "write"), obstest.Value(t, reg, name, "kind", "read")
	sendText(t, alice, conv, "hello")
	assert.Greater(t, obstest.Value(t, reg, name, "kind", "write"), writes, "a send")
	writes = obstest.Value(t, reg, name, "kind", "write")
	pull(t, alice, 0)
	assert.Greater(t, obstest.Value(t, reg, name, "kind", "read"), reads, "a pull")
	assert.Equal(t, writes, obstest.Value(t, reg, name, "kind", "write"), "a pull writes nothing")
}

// TestRefusalMetrics: each limit's refusal counts under the Config field
// of the limit.
func TestRefusalMetrics(t *testing.T) {
	t.Parallel()
	const name = "imbot_server_refused_total"
	mustRefuse := func(t *testing.T, reg *prometheus.Registry, reason string) {
		t.Helper()
		assert.Equal(t, 1.0, obstest.Value(t, reg, name, "reason", reason))
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		assert.Equal(t, 9, n, "every reason has its series from the start")
	}
	t.Run("UnauthRate", func(t *testing.T) {
		t.Parallel()
		var reg *prometheus.Registry
		e := newEnv(t, withMetrics(&reg), func(c *imserver.Config) { c.UnauthRate, c.UnauthBurst = 0.001, 1 })
		forged := &rawclient.Client{BaseURL: e.hs.URL, Token: "forged"}
		wantStatus(t, forged, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{}, improto.StatusCode_INVALID_TOKEN)
		wantStatus(t, forged, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{}, improto.StatusCode_TOO_MANY_REQUESTS)
		mustRefuse(t, reg, "UnauthRate")
	})
	t.Run("SendRate", func(t *testing.T) {
		t.Parallel()
		var reg *prometheus.Registry
		e := newEnv(t, withMetrics(&reg), func(c *imserver.Config) { c.SendRate, c.SendBurst = 0.001, 1 })
		alice := e.user(1001)
		conv := createSingle(t, alice, 1002)
		sendText(t, alice, conv, "one")
		wantStatus(t, alice, improto.IMCMD_SEND_MESSAGE, textBody(conv, "two"), improto.StatusCode_TOO_MANY_REQUESTS)
		mustRefuse(t, reg, "SendRate")
		assert.Equal(t, 1.0, obstest.Value(t, reg, "imbot_server_requests_total", "command", "SEND_MESSAGE", "status", "TOO_MANY_REQUESTS"))
	})
	t.Run("RequestRate", func(t *testing.T) {
		t.Parallel()
		var reg *prometheus.Registry
		e := newEnv(t, withMetrics(&reg), func(c *imserver.Config) { c.RequestRate, c.RequestBurst = 0.001, 1 })
		s := e.socket(1001, "web")
		body := &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0)}
		wantStatus(t, s, improto.IMCMD_GET_MESSAGES_BY_USER, body, improto.StatusCode_OK)
		wantStatus(t, s, improto.IMCMD_GET_MESSAGES_BY_USER, body, improto.StatusCode_TOO_MANY_REQUESTS)
		mustRefuse(t, reg, "RequestRate")
	})
	t.Run("MaxSocketsPerAddr", func(t *testing.T) {
		t.Parallel()
		var reg *prometheus.Registry
		e := newEnv(t, withMetrics(&reg), func(c *imserver.Config) { c.MaxSocketsPerAddr = 1 })
		e.socket(1001, "a")
		_, resp, err := rawclient.Dial(ctx(t), e.socketURL(e.token(1001), "b"), e.token(1001), 0)
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		resp.Body.Close()
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		mustRefuse(t, reg, "MaxSocketsPerAddr")
	})
	t.Run("MaxConnsPerAddr", func(t *testing.T) {
		t.Parallel()
		var reg *prometheus.Registry
		e := newGuardedEnv(t, func(c *imserver.Config) {
			withMetrics(&reg)(c)
			c.MaxConnsPerAddr = 1
		})
		e.dialFrom(t, "127.0.0.2")
		over := e.dialFrom(t, "127.0.0.2")
		assert.Equal(t, http.StatusServiceUnavailable, readResponse(t, over).StatusCode)
		mustRefuse(t, reg, "MaxConnsPerAddr")
	})
}
