package imserver_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/rawclient"
	"github.com/imbot-go/imbot/internal/syncio"
)

// These tests hold the server against slow and hostile clients: every
// phase of a connection has a deadline, and one address cannot take what
// the others need. Clients that play the attacker connect from loopback
// addresses other than 127.0.0.1 (the whole of 127.0.0.0/8 is loopback),
// so that the per-address limits tell them from the legitimate user.

// guardedEnv is a server served the way cmd/imserver serves it: on
// Server.HTTPServer over Server.LimitListener. Its log goes to logs.
type guardedEnv struct {
	*env
	logs *syncio.Buffer
}

func newGuardedEnv(t *testing.T, tweak func(*imserver.Config)) *guardedEnv {
	t.Helper()
	logs := &syncio.Buffer{}
	st := store.NewMemory()
	cfg := imserver.Config{AppID: testAppID, AppSecret: testSecret, Store: st,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := imserver.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(srv)
	hs.Config = srv.HTTPServer()
	hs.Listener = srv.LimitListener(hs.Listener)
	hs.Start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &guardedEnv{env: &env{t: t, srv: srv, hs: hs, store: st}, logs: logs}
}

// hostport is the server's address.
func (e *guardedEnv) hostport() string { return strings.TrimPrefix(e.hs.URL, "http://") }

// dialFrom opens a TCP connection to the server from the loopback address
// from (e.g. "127.0.0.2"); it is closed at cleanup.
func (e *guardedEnv) dialFrom(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: waitFor}
	c, err := d.Dial("tcp", e.hostport())
	require.NoError(t, err, "dial from %s", from)
	t.Cleanup(func() { c.Close() })
	return c
}

// httpFrom is an HTTP client whose connections come from the loopback
// address from.
func httpFrom(t *testing.T, from string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitFor}
}

// userFrom is e.user(user) over connections from the address from.
func (e *guardedEnv) userFrom(t *testing.T, user int64, from string) *rawclient.Client {
	c := e.user(user)
	c.HTTP = httpFrom(t, from)
	return c
}

// readResponse reads one HTTP response from c within waitFor.
func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "reading the server's answer")
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// requireClosed waits, within waitFor, for the server to close c, and
// returns how long that took.
func requireClosed(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(waitFor)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server still holds the connection after %v", waitFor)
	return time.Since(start)
}

// apiBody is an HTTP API request for route, ready to send.
func apiBody(t *testing.T, cmd improto.IMCMD, token string, body proto.Message) []byte {
	t.Helper()
	req, err := rawclient.Request(cmd, 1, token, 0, body)
	require.NoError(t, err)
	b, err := proto.Marshal(req)
	require.NoError(t, err)
	return b
}

// decodeRefusal reads a refusal's protobuf Response and checks what every
// refusal carries: a Retry-After header and the IM retry hint.
func decodeRefusal(t *testing.T, resp *http.Response, wantHTTP int, wantCode improto.StatusCode) *improto.Response {
	t.Helper()
	require.Equal(t, wantHTTP, resp.StatusCode, "HTTP status of the refusal")
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	assert.Positive(t, secs, "Retry-After")
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out improto.Response
	require.NoError(t, proto.Unmarshal(b, &out), "the refusal's body is a Response")
	assert.Equal(t, wantCode, improto.StatusCode(out.GetStatusCode()), "status of the refusal: %s", out.GetErrorDesc())
	assert.NotEmpty(t, out.GetHeaders()[improto.HeaderRetryAfterMs], "the refusal's retry hint")
	return &out
}

// TestSlowBodyIsCut trickles a request body a byte at a time after
// complete headers, the defect of the issue: the server answers 408 and
// closes the connection once RequestBodyTimeout has passed since the
// headers, however steadily the bytes keep coming.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	e := newGuardedEnv(t, func(c *imserver.Config) { c.RequestBodyTimeout = timeout })
	c := e.dialFrom(t, "127.0.0.2")
	start := time.Now()
	_, err := fmt.Fprintf(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	require.NoError(t, err)
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() { // a byte every 20ms until the server hangs up or the test ends
		defer close(trickled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-trickled }()

	resp := readResponse(t, c)
	took := time.Since(start)
	out := decodeRefusalBody(t, resp, http.StatusRequestTimeout)
	assert.Contains(t, out.GetErrorDesc(), "RequestBodyTimeout")
	assert.True(t, resp.Close, "the 408 says Connection: close")
	assert.GreaterOrEqual(t, took, timeout, "answered before the deadline")
	requireClosed(t, c)
}

// decodeRefusalBody reads the protobuf Response of an answer with status.
func decodeRefusalBody(t *testing.T, resp *http.Response, status int) *improto.Response {
	t.Helper()
	require.Equal(t, status, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out improto.Response
	require.NoError(t, proto.Unmarshal(b, &out))
	return &out
}

// TestLargeBodyInTimePasses sends a body near MaxRequestBytes at an even
// pace that finishes within RequestBodyTimeout: the deadline is for the
// whole body, so a slow but honest client is served.
func TestLargeBodyInTimePasses(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t, func(c *imserver.Config) { c.RequestBodyTimeout = 2 * time.Second })
	conv := createGroup(t, e.user(1001), 1002)
	text := strings.Repeat("y", 512<<10)
	body := apiBody(t, improto.IMCMD_SEND_MESSAGE, e.token(1001), textBody(conv, text))
	c := e.dialFrom(t, "127.0.0.1")
	_, err := fmt.Fprintf(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n", len(body))
	require.NoError(t, err)
	for chunk := range slices.Chunk(body, len(body)/10+1) { // ten pieces over about half a second
		_, err := c.Write(chunk)
		require.NoError(t, err)
		<-time.After(50 * time.Millisecond)
	}
	resp := readResponse(t, c)
	out := decodeRefusalBody(t, resp, http.StatusOK)
	assert.Zero(t, out.GetStatusCode(), "send: %s", out.GetErrorDesc())
}

// TestSlowHeadersAndIdleConnectionsAreCut holds connections that send
// nothing, trickle their headers, or stay idle after a request: each is
// closed by the server after its deadline.
func TestSlowHeadersAndIdleConnectionsAreCut(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	e := newGuardedEnv(t, func(c *imserver.Config) {
		c.ReadHeaderTimeout = timeout
		c.KeepAliveTimeout = timeout
	})
	t.Run("silent", func(t *testing.T) {
		c := e.dialFrom(t, "127.0.0.2")
		assert.GreaterOrEqual(t, requireClosed(t, c), timeout/2)
	})
	t.Run("trickled headers", func(t *testing.T) {
		c := e.dialFrom(t, "127.0.0.2")
		_, err := io.WriteString(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\n")
		require.NoError(t, err)
		for range 3 {
			_, err := io.WriteString(c, "X-Slow: 1\r\n")
			require.NoError(t, err)
			<-time.After(timeout / 4)
		}
		requireClosed(t, c)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := e.dialFrom(t, "127.0.0.2")
		_, err := io.WriteString(c, "GET /console/ HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp := readResponse(t, c)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		requireClosed(t, c)
	})
}

// TestSocketOutlivesHTTPDeadlines opens a socket under HTTP deadlines far
// shorter than its life: gorilla clears them on upgrade, so the socket
// goes on under its own IdleTimeout and WriteTimeout.
func TestSocketOutlivesHTTPDeadlines(t *testing.T) {
	t.Parallel()
	const short = 100 * time.Millisecond
	e := newGuardedEnv(t, func(c *imserver.Config) {
		c.ReadHeaderTimeout, c.RequestBodyTimeout, c.ResponseWriteTimeout = short, short, short
		c.KeepAliveTimeout, c.HandshakeTimeout = short, short
	})
	s := e.socket(1001, "web")
	for range 3 {
		<-time.After(2 * short) // the thing under test is time passing
		call[*improto.MessagesPerUserResponseBody](t, s, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	}
	select {
	case <-s.Done():
		t.Fatalf("socket closed: %v", s.Err())
	default:
	}
}

// TestConnectionLimits fills MaxConnsPerAddr from one address and
// MaxConns in all: the next connection is answered 503 with Retry-After
// and closed, the refusal is logged with the address, another address is
// still served, and a closed connection frees its slot.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t, func(c *imserver.Config) {
		c.MaxConnsPerAddr = 3
		c.MaxConns = 5
	})
	var held []net.Conn
	for range 3 {
		held = append(held, e.dialFrom(t, "127.0.0.2"))
	}
	over := e.dialFrom(t, "127.0.0.2")
	resp := readResponse(t, over)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	requireClosed(t, over)
	assert.Contains(t, e.logs.String(), "addr=127.0.0.2")
	assert.Contains(t, e.logs.String(), "MaxConnsPerAddr")

	// Another address is still served: connections 4 and 5 of 5.
	other := e.userFrom(t, 1001, "127.0.0.3")
	call[*improto.MessagesPerUserResponseBody](t, other, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	held = append(held, e.dialFrom(t, "127.0.0.4"))
	full := e.dialFrom(t, "127.0.0.5")
	resp = readResponse(t, full)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, e.logs.String(), "MaxConns (5 connections)")

	// Closing one frees its slot once the server has seen it close: retry
	// until then.
	require.NoError(t, held[0].Close())
	deadline := time.Now().Add(waitFor)
	for {
		again := e.dialFrom(t, "127.0.0.2")
		_, err := io.WriteString(again, "GET /console/ HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		status := readResponse(t, again).StatusCode
		if status == http.StatusOK {
			break
		}
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.True(t, time.Now().Before(deadline), "the closed connection's slot was not freed within %v", waitFor)
		<-time.After(10 * time.Millisecond)
	}
}

// dialSocketFrom opens a Frontier socket for user from the loopback
// address from and returns the handshake's HTTP answer when it fails.
func (e *guardedEnv) dialSocketFrom(t *testing.T, user int64, device, from string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return dialSocket(t, e.socketURL(e.token(user), device), from)
}

// dialSocket opens a WebSocket at url from the loopback address from; it
// is closed at cleanup.
func dialSocket(t *testing.T, url, from string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext,
		HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(url, nil)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	if resp != nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return ws, resp, err
}

// TestSocketLimits fills MaxSocketsPerAddr from one address and MaxSockets
// in all: the next handshake is refused (429, 503) with Retry-After and
// the IM status an im client retries on, and a closed socket frees its
// slot.
func TestSocketLimits(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t, func(c *imserver.Config) {
		c.MaxSocketsPerAddr = 2
		c.MaxSockets = 3
	})
	first, _, err := e.dialSocketFrom(t, 1001, "a", "127.0.0.2")
	require.NoError(t, err)
	_, _, err = e.dialSocketFrom(t, 1001, "b", "127.0.0.2")
	require.NoError(t, err)
	_, resp, err := e.dialSocketFrom(t, 1001, "c", "127.0.0.2")
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	out := decodeRefusal(t, resp, http.StatusTooManyRequests, improto.StatusCode_TOO_MANY_REQUESTS)
	assert.Contains(t, out.GetErrorDesc(), "MaxSocketsPerAddr")

	_, _, err = e.dialSocketFrom(t, 1002, "a", "127.0.0.3")
	require.NoError(t, err)
	_, resp, err = e.dialSocketFrom(t, 1003, "a", "127.0.0.4")
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	out = decodeRefusal(t, resp, http.StatusServiceUnavailable, improto.StatusCode_SERVER_ERR)
	assert.Contains(t, out.GetErrorDesc(), "MaxSockets")
	assert.Contains(t, e.logs.String(), "addr=127.0.0.4")

	// The server counts a socket off when its reader ends, just after the
	// close: retry the dial until then.
	require.NoError(t, first.Close())
	deadline := time.Now().Add(waitFor)
	for {
		_, resp, err = e.dialSocketFrom(t, 1001, "c", "127.0.0.2")
		if err == nil {
			break
		}
		// Refused by either limit while the closed socket still counts.
		require.Contains(t, []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}, resp.StatusCode)
		require.True(t, time.Now().Before(deadline), "the closed socket's slot was not freed within %v", waitFor)
		<-time.After(10 * time.Millisecond)
	}
}

// TestRequestsInFlightLimit holds MaxRequestsInFlight API requests open
// (their bodies not yet sent): one more is answered 503 with Retry-After;
// once they finish, the next is served.
func TestRequestsInFlightLimit(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t, func(c *imserver.Config) { c.MaxRequestsInFlight = 2 })
	conv := createGroup(t, e.user(1001), 1002)
	body := apiBody(t, improto.IMCMD_SEND_MESSAGE, e.token(1001), textBody(conv, "held"))
	var held []net.Conn
	for range 2 {
		c := e.dialFrom(t, "127.0.0.2")
		_, err := fmt.Fprintf(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
		require.NoError(t, err)
		held = append(held, c)
	}
	// Both held requests are in their handlers once a third is refused;
	// until then a third may still slip in before them, so retry.
	client := httpFrom(t, "127.0.0.1")
	deadline := time.Now().Add(waitFor)
	for {
		resp, err := client.Post(e.hs.URL+"/v1/message/get_by_user", "application/x-protobuf",
			bytes.NewReader(apiBody(t, improto.IMCMD_GET_MESSAGES_BY_USER, e.token(1001), &improto.MessagesPerUserRequestBody{})))
		require.NoError(t, err)
		if resp.StatusCode == http.StatusServiceUnavailable {
			out := decodeRefusal(t, resp, http.StatusServiceUnavailable, improto.StatusCode_SERVER_ERR)
			assert.Contains(t, out.GetErrorDesc(), "MaxRequestsInFlight")
			resp.Body.Close()
			break
		}
		resp.Body.Close()
		require.True(t, time.Now().Before(deadline), "no request was refused with 2 held in flight")
		<-time.After(10 * time.Millisecond)
	}
	for _, c := range held {
		_, err := c.Write(body)
		require.NoError(t, err)
		out := decodeRefusalBody(t, readResponse(t, c), http.StatusOK)
		assert.Zero(t, out.GetStatusCode(), "held send: %s", out.GetErrorDesc())
	}
	call[*improto.MessagesPerUserResponseBody](t, e.user(1001), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
}

// TestUnauthenticatedFailuresAreLimited sends garbage and forged tokens
// from one address until its UnauthBurst is spent: from then on that
// address is refused 429 before its requests are read, valid tokens
// included, while other addresses and valid clients are served as before.
func TestUnauthenticatedFailuresAreLimited(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t, func(c *imserver.Config) {
		c.UnauthRate = 0.5 // a token every 2s: none comes back during the test
		c.UnauthBurst = 4
	})
	bad := httpFrom(t, "127.0.0.2")
	post := func(c *http.Client, route string, body []byte) *http.Response {
		resp, err := c.Post(e.hs.URL+route, "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	forged := apiBody(t, improto.IMCMD_GET_MESSAGES_BY_USER, "imbot1.forged.sig", &improto.MessagesPerUserRequestBody{})
	failures := [][2]string{
		{"/v1/message/get_by_user", "\xff\xff garbage"},
		{"/v1/message/get_by_user", string(forged)},
		{"/no/such/route", ""},
	}
	for _, f := range failures {
		assert.NotEqual(t, http.StatusTooManyRequests, post(bad, f[0], []byte(f[1])).StatusCode, "failure %q refused early", f[0])
	}
	_, _, err := e.dialSocketFrom(t, 1001, "d", "127.0.0.2")
	require.NoError(t, err, "a valid socket spends nothing")
	// The fourth failure: a socket handshake with a forged token.
	_, resp, err := dialSocket(t, e.socketURL("forged", "d"), "127.0.0.2")
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Spent: everything from 127.0.0.2 is refused, a valid request too.
	valid := apiBody(t, improto.IMCMD_GET_MESSAGES_BY_USER, e.token(1001), &improto.MessagesPerUserRequestBody{})
	out := decodeRefusal(t, post(bad, "/v1/message/get_by_user", valid), http.StatusTooManyRequests, improto.StatusCode_TOO_MANY_REQUESTS)
	assert.Contains(t, out.GetErrorDesc(), "UnauthRate")
	_, resp, err = e.dialSocketFrom(t, 1001, "e", "127.0.0.2")
	require.Error(t, err)
	decodeRefusal(t, resp, http.StatusTooManyRequests, improto.StatusCode_TOO_MANY_REQUESTS)
	assert.Contains(t, e.logs.String(), "addr=127.0.0.2")

	// Other addresses are served, and a valid client never spends.
	for range 10 {
		assert.Equal(t, http.StatusOK, post(httpFrom(t, "127.0.0.1"), "/v1/message/get_by_user", valid).StatusCode)
	}
}

// TestHoldsUnderIdleFlood opens 2000 connections that send nothing,
// trickle headers or trickle a body, from eight addresses, while a
// legitimate user sends messages over its socket: every send is
// acknowledged, and its latency stays near the one measured before the
// flood in the same test.
func TestHoldsUnderIdleFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 connections")
	}
	e := newGuardedEnv(t, nil)
	alice := e.socket(1001, "web")
	conv := createGroup(t, e.user(1001), 1002)
	const sends = 200
	measure := func(label string) time.Duration {
		lat := make([]time.Duration, 0, sends)
		for i := range sends {
			start := time.Now()
			call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, textBody(conv, label+strconv.Itoa(i)))
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	before := measure("before ")

	const perAddr, addrs = 250, 8
	conns := make([]net.Conn, 0, perAddr*addrs)
	for a := range addrs {
		from := "127.0.0." + strconv.Itoa(a+2)
		for i := range perAddr {
			c := e.dialFrom(t, from)
			switch i % 3 {
			case 1: // headers begun, never finished
				_, _ = io.WriteString(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\n")
			case 2: // headers done, body never comes
				_, _ = io.WriteString(c, "POST /v1/message/send HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx")
			}
			conns = append(conns, c)
		}
	}
	during := measure("during ")
	// Every flood connection is still open: the limits let 250 an address
	// through, and none has reached its deadline yet (10s and 30s).
	for _, c := range conns[:10] {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Millisecond)))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "a flood connection was closed early: %v", err)
	}
	t.Logf("send p99 before the flood %v, with %d connections held %v", before, len(conns), during)
	// Latency on this shared machine is noisy: the bound says that the
	// flood does not stall the user, not that it costs nothing.
	assert.Less(t, during, max(10*before, 250*time.Millisecond), "p99 with the flood held")
}

// TestConfigDeadlineAndLimitDefaults checks the documented defaults
// through what the server does with them: HTTPServer carries the header
// and keep-alive deadlines.
func TestConfigDeadlineAndLimitDefaults(t *testing.T) {
	t.Parallel()
	srv, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	hs := srv.HTTPServer()
	assert.Equal(t, 10*time.Second, hs.ReadHeaderTimeout)
	assert.Equal(t, time.Minute, hs.IdleTimeout)
	assert.Same(t, srv, hs.Handler.(*imserver.Server))

	off, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(),
		ReadHeaderTimeout: -1, KeepAliveTimeout: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer off.Close()
	assert.Zero(t, off.HTTPServer().ReadHeaderTimeout, "negative means no deadline")
	assert.Zero(t, off.HTTPServer().IdleTimeout, "negative means no deadline")

	_, err = imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: store.NewMemory(), UnauthBurst: -1})
	require.ErrorContains(t, err, "UnauthBurst must not be negative")
}

// TestStalledReaderIsCut asks for an inbox page of megabytes and never
// reads it: once ResponseWriteTimeout has passed the server stops writing
// and closes the connection, so the client gets less than Content-Length.
func TestStalledReaderIsCut(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	e := newGuardedEnv(t, func(c *imserver.Config) { c.ResponseWriteTimeout = timeout })
	alice := e.user(1001)
	conv := createGroup(t, alice, 1002)
	text := strings.Repeat("z", 600<<10)
	// About 5 MiB: more than the server's socket send buffer grows to (4
	// MiB here) and the client's receive buffer, kept small below, hold.
	for range 9 {
		call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, textBody(conv, text))
	}
	d := net.Dialer{Timeout: waitFor, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", e.hostport())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	body := apiBody(t, improto.IMCMD_GET_MESSAGES_BY_USER, e.token(1002), &improto.MessagesPerUserRequestBody{Limit: proto.Int32(100)})
	_, err = fmt.Fprintf(c, "POST /v1/message/get_by_user HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
	require.NoError(t, err)
	_, err = c.Write(body)
	require.NoError(t, err)
	<-time.After(4 * timeout) // the thing under test is the client not reading

	resp := readResponse(t, c)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Greater(t, resp.ContentLength, int64(5<<20))
	n, err := io.Copy(io.Discard, resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the server wrote the whole answer (%d bytes) to a client that did not read", n)
	assert.Less(t, n, resp.ContentLength)
}
