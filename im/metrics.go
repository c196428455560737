package im

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/obs"
)

// metricsSubsystem is the client's part of the metric names:
// imbot_client_….
const metricsSubsystem = "client"

// transport is the way a request went to the server.
type transport uint8

const (
	transportHTTP transport = iota
	transportWebSocket
)

func (t transport) String() string {
	if t == transportWebSocket {
		return "websocket"
	}
	return "http"
}

// Request outcomes other than a server status, which is the status's name
// (improto.StatusCode): "ok" for OK, "TOO_MANY_REQUESTS", "NOT_FOUND" ….
// Lower case tells the client's own classes from the server's statuses.
const (
	outcomeOK            = "ok"
	outcomeNetwork       = "network"        // no answer: connection refused, reset, socket lost
	outcomeTimeout       = "timeout"        // Options.Timeout (or the caller's deadline) ran out
	outcomeCanceled      = "canceled"       // the caller's ctx was cancelled
	outcomeClosed        = "closed"         // the client is closed
	outcomeMalformed     = "malformed"      // an answer that is not a Response (or of another inbox type)
	outcomeUnknownStatus = "unknown_status" // a status improto does not name: bounded, unlike its number
	// outcomeRateLimited is the outcome of TOO_MANY_REQUESTS, which
	// rate_limited_total counts as well.
	outcomeRateLimited = "TOO_MANY_REQUESTS"
)

// Reasons a socket the client did not close went down.
const (
	lossServerClosed = "server_closed" // a close frame from the server
	lossTimeout      = "timeout"       // nothing heard for MaxHeartbeatEmptyWindow, or a write stalled
	lossReadLimit    = "read_limit"    // a frame over the read limit
	lossNetwork      = "network"       // any other read or write failure
)

// Sources of catch-up messages: the inbox stream (200) pulled at a
// reconnect, a gap, a resume or the PullInterval tick, and a
// conversation's gap filled from its own history (301).
const (
	catchUpPull = "pull"
	catchUpGap  = "gap"
)

// Reasons of a token failure (Options.TokenTimeout counts them).
const (
	tokenProviderFailed = "provider"   // the TokenProvider returned an error
	tokenSame           = "same_token" // it returned the expired token again
	tokenExpired        = "expired"    // the server said the token expired (and no new one came)
	tokenInvalid        = "invalid"    // the server refused the token
)

// metrics are the client's Prometheus metrics (Options.Metrics). A nil
// *metrics is off: every method does nothing, so that the request path
// pays one comparison. Safe for concurrent use.
type metrics struct {
	requests      *prometheus.CounterVec   // command, outcome
	duration      *prometheus.HistogramVec // command, transport
	rateLimited   *prometheus.CounterVec   // command
	connected     prometheus.Gauge
	reconnects    prometheus.Counter
	socketLost    *prometheus.CounterVec // reason
	syncLag       prometheus.GaugeFunc
	catchUp       *prometheus.CounterVec // source
	tokenFailures *prometheus.CounterVec // reason

	// commands holds, for every command improto knows, its label and
	// the series of its common observations, resolved at its first
	// request so that the hot path hashes no labels. Read-only after
	// newMetrics: requests look their command up without a lock.
	commands map[improto.IMCMD]*commandMetrics
	// catchUpPull and catchUpGap are catchUp's two series.
	catchUpPull, catchUpGap prometheus.Counter
	// serverCursor is the latest server position the client heard of,
	// for the sync lag.
	serverCursor atomic.Int64
}

// commandMetrics are one command's pre-resolved series.
type commandMetrics struct {
	name        string
	once        sync.Once
	ok          prometheus.Counter
	rateLimited prometheus.Counter
	http, ws    prometheus.Observer
}

// newMetrics builds the client's metrics and registers them with r; with
// a nil r it returns nil, nil: metrics off. cursor is the client's sync
// position, which the sync lag gauge reads when it is scraped.
func newMetrics(r prometheus.Registerer, cursor *atomic.Int64) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts(opts("requests_total",
			"Requests to the IM server (HTTP or over the socket) by command and outcome: ok, the server's status name, or network, timeout, canceled, closed, malformed, unknown_status.")),
			[]string{"command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: obs.Namespace, Subsystem: metricsSubsystem,
			Name: "request_duration_seconds", Help: "Time from sending a request to the IM server to its answer (or failure), by command and transport (http, websocket).",
			Buckets: obs.DurationBuckets}, []string{"command", "transport"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts(opts("rate_limited_total",
			"Requests the IM server answered TOO_MANY_REQUESTS (its rate limit), by command.")), []string{"command"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts(opts("connected",
			"1 while the client's Frontier socket is up, 0 while it is down."))),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts(opts("reconnects_total",
			"Frontier sockets opened again after one was lost."))),
		socketLost: prometheus.NewCounterVec(prometheus.CounterOpts(opts("socket_lost_total",
			"Frontier sockets lost (not closed by the client), by reason: server_closed, timeout, read_limit, network.")), []string{"reason"}),
		catchUp: prometheus.NewCounterVec(prometheus.CounterOpts(opts("catch_up_messages_total",
			"Inbox entries the client fetched rather than received as pushes, by source: pull (the inbox stream after a reconnect, a gap, a resume or the pull interval) or gap (a conversation's missing messages).")),
			[]string{"source"}),
		tokenFailures: prometheus.NewCounterVec(prometheus.CounterOpts(opts("token_failures_total",
			"Failures to get a token the server takes, by reason: provider, same_token, expired, invalid. Options.TokenTimeout of them in a row stops the client.")),
			[]string{"reason"}),
		commands: make(map[improto.IMCMD]*commandMetrics),
	}
	m.syncLag = prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("sync_lag",
		"Inbox entries (per-user cursor units) between the client's sync position and the latest server position it heard of: Init's per_user_cursor, a push's next_cursor, the end of a pull.")),
		func() float64 { return float64(max(0, m.serverCursor.Load()-cursor.Load())) })
	for _, cmd := range improto.Commands() {
		m.commands[cmd.Cmd] = &commandMetrics{name: cmd.Cmd.String()}
	}
	m.catchUpPull = m.catchUp.WithLabelValues(catchUpPull)
	m.catchUpGap = m.catchUp.WithLabelValues(catchUpGap)
	err := obs.Register(r, m.requests, m.duration, m.rateLimited, m.connected, m.reconnects, m.socketLost,
		m.syncLag, m.catchUp, m.tokenFailures)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// command returns cmd's series, resolving them at its first request; nil
// for a command improto does not know (callDecoded refuses those).
func (m *metrics) command(cmd improto.IMCMD) *commandMetrics {
	cm := m.commands[cmd]
	if cm == nil {
		return nil
	}
	cm.once.Do(func() {
		cm.ok = m.requests.WithLabelValues(cm.name, outcomeOK)
		cm.rateLimited = m.rateLimited.WithLabelValues(cm.name)
		cm.http = m.duration.WithLabelValues(cm.name, transportHTTP.String())
		cm.ws = m.duration.WithLabelValues(cm.name, transportWebSocket.String())
	})
	return cm
}

// request counts one request to the server and its duration in seconds.
func (m *metrics) request(cmd improto.IMCMD, tr transport, outcome string, seconds float64) {
	if m == nil {
		return
	}
	cm := m.command(cmd)
	if cm == nil {
		return
	}
	if tr == transportWebSocket {
		cm.ws.Observe(seconds)
	} else {
		cm.http.Observe(seconds)
	}
	switch outcome {
	case outcomeOK:
		cm.ok.Inc()
		return
	case outcomeRateLimited:
		cm.rateLimited.Inc()
	}
	m.requests.WithLabelValues(cm.name, outcome).Inc()
}

// socketUp notes a socket that came up; again says it replaces a lost one.
func (m *metrics) socketUp(again bool) {
	if m == nil {
		return
	}
	m.connected.Set(1)
	if again {
		m.reconnects.Inc()
	}
}

// socketDown notes the socket going down: lost because of cause, or
// closed by the client when cause is nil.
func (m *metrics) socketDown(cause error) {
	if m == nil {
		return
	}
	m.connected.Set(0)
	if cause != nil {
		m.socketLost.WithLabelValues(lossReason(cause)).Inc()
	}
}

// lossReason classifies why a socket died (socket.cause).
func lossReason(cause error) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(cause, websocket.ErrReadLimit):
		return lossReadLimit
	case errors.As(cause, &ce):
		return lossServerClosed
	case errors.As(cause, &ne) && ne.Timeout():
		return lossTimeout
	}
	return lossNetwork
}

// serverAt notes a server position the client heard of.
func (m *metrics) serverAt(cursor int64) {
	if m == nil {
		return
	}
	for {
		cur := m.serverCursor.Load()
		if cursor <= cur || m.serverCursor.CompareAndSwap(cur, cursor) {
			return
		}
	}
}

// caughtUp counts n inbox entries fetched by a pull (pulled) or a gap fill.
func (m *metrics) caughtUp(pulled bool, n int) {
	if m == nil || n == 0 {
		return
	}
	if pulled {
		m.catchUpPull.Add(float64(n))
	} else {
		m.catchUpGap.Add(float64(n))
	}
}

// tokenFailed counts a token failure.
func (m *metrics) tokenFailed(err error) {
	if m == nil {
		return
	}
	reason := tokenInvalid
	switch {
	case errors.Is(err, ErrTokenProvider):
		reason = tokenProviderFailed
	case errors.Is(err, ErrSameToken):
		reason = tokenSame
	case errors.Is(err, ErrExpiredToken):
		reason = tokenExpired
	}
	m.tokenFailures.WithLabelValues(reason).Inc()
}

// failureOutcome is the outcome label of a request that got no usable
// answer; malformed says the answer could not be decoded.
func failureOutcome(err error, malformed bool) string {
	var e *Error
	switch {
	case malformed:
		return outcomeMalformed
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.As(err, &e) && e.Type == ErrorTypeTimeout, errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.As(err, &e) && e.Type == ErrorTypeClosed:
		return outcomeClosed
	}
	return outcomeNetwork
}

// statusOutcome is the outcome label of a server answer with status.
func statusOutcome(status int32) string {
	if status == 0 {
		return outcomeOK
	}
	if name, ok := improto.StatusCode_name[status]; ok {
		return name
	}
	return outcomeUnknownStatus
}
