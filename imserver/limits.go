package imserver

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/improto"
)

// This file holds what bounds one client's share of the server: deadlines
// on each phase of an HTTP connection, open connections and sockets per
// remote address and in total, HTTP requests in flight, and the request
// rate per address of requests that fail before authentication (Config's
// "Deadlines" and "Limits" fields).

// HTTPServer returns an http.Server whose Handler is s, with the
// deadlines that only an http.Server can enforce taken from s's Config:
// ReadHeaderTimeout, and KeepAliveTimeout as its IdleTimeout. Its ErrorLog
// goes to the Config's Logger at Warn. Serve it on [Server.LimitListener]
// to have the connection limits as well:
//
//	hs := srv.HTTPServer()
//	err := hs.Serve(srv.LimitListener(ln))
//
// Whoever serves s with an http.Server of their own should set those two
// deadlines on it; ServeHTTP sets the body, response and handshake
// deadlines itself.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: positive(s.cfg.ReadHeaderTimeout),
		IdleTimeout:       positive(s.cfg.KeepAliveTimeout),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// positive turns the Config's "negative means none" into http.Server's
// "zero means none".
func positive(d time.Duration) time.Duration { return max(d, 0) }

// LimitListener returns ln with Config.MaxConns and MaxConnsPerAddr
// enforced: a connection beyond either is answered "503 Service
// Unavailable" with Retry-After and closed before any request is read,
// and the refusal is logged with the address. A connection counts until
// it is closed, hijacked WebSockets included.
func (s *Server) LimitListener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, s: s, perAddr: make(map[string]int)}
}

type limitListener struct {
	net.Listener
	s *Server

	mu      sync.Mutex
	total   int
	perAddr map[string]int
}

// refusedConnReply is what a connection over the limits gets instead of
// service: a complete HTTP response, so that a client sees why.
const refusedConnReply = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: 42\r\n\r\nimserver: too many connections, try later\n"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr().String())
		if limit, why := l.admit(addr); why != "" {
			l.s.metrics.refusal(limit)
			l.s.refusals.log(l.s.log, addr, why)
			// The reply fits any socket's send buffer; the deadline only
			// guards the accept loop against the impossible.
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write([]byte(refusedConnReply))
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

// admit counts a new connection from addr, or says which limit refuses it
// and why.
func (l *limitListener) admit(addr string) (refusal, string) {
	cfg := &l.s.cfg
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case cfg.MaxConns >= 0 && l.total >= cfg.MaxConns:
		return refusedMaxConns, "MaxConns (" + strconv.Itoa(cfg.MaxConns) + " connections) reached"
	case cfg.MaxConnsPerAddr >= 0 && l.perAddr[addr] >= cfg.MaxConnsPerAddr:
		return refusedMaxConnsPerAddr, "MaxConnsPerAddr (" + strconv.Itoa(cfg.MaxConnsPerAddr) + " connections from one address) reached"
	}
	l.total++
	l.perAddr[addr]++
	return 0, ""
}

func (l *limitListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// limitedConn gives its slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	l        *limitListener
	addr     string
	released atomic.Bool
}

func (c *limitedConn) Close() error {
	if !c.released.Swap(true) {
		c.l.release(c.addr)
	}
	return c.Conn.Close()
}

// hostOf is the address part of a host:port (RemoteAddr), by which the
// limits count clients.
func hostOf(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

// setDeadlines bounds the phases of the request ServeHTTP is serving: the
// body's arrival (read) and, for the console and the handshake, the whole
// answer (write). An API answer gets its own write deadline once it is
// ready (answerDeadline).
func (s *Server) setDeadlines(w http.ResponseWriter, read, write time.Duration) {
	rc := http.NewResponseController(w)
	now := time.Now()
	err := errors.Join(setDeadline(rc.SetReadDeadline, now, read), setDeadline(rc.SetWriteDeadline, now, write))
	if errors.Is(err, http.ErrNotSupported) {
		s.deadlinesUnsupported.Do(func() {
			s.log.Warn("imserver: the ResponseWriter cannot set deadlines, so a slow client can hold a request open; " +
				"let ServeHTTP see the http.Server's ResponseWriter (or one with Unwrap), or set ReadTimeout and WriteTimeout on the http.Server")
		})
	}
}

func setDeadline(set func(time.Time) error, now time.Time, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return set(now.Add(d))
}

// answerDeadline starts the ResponseWriteTimeout of an API answer.
func (s *Server) answerDeadline(w http.ResponseWriter) {
	s.setDeadlines(w, 0, s.cfg.ResponseWriteTimeout)
}

// admitUnauthenticated refuses, with 429, a request from an address that
// has spent its UnauthBurst on failures, and reports false; failedAuth
// spends from it.
func (s *Server) admitUnauthenticated(w http.ResponseWriter, addr string) bool {
	wait := s.unauth.empty(addr, s.cfg.Now())
	if wait == 0 {
		return true
	}
	s.refuse(w, addr, refusedUnauthRate, http.StatusTooManyRequests, improto.StatusCode_TOO_MANY_REQUESTS, wait,
		"more than "+strconv.FormatFloat(s.cfg.UnauthRate, 'g', -1, 64)+" failed requests per second from "+addr+" (UnauthRate)")
	return false
}

// failedAuth counts a request from addr that failed before a valid token.
func (s *Server) failedAuth(addr string) { s.unauth.wait(addr, s.cfg.Now()) }

// enterAPI takes one of the MaxRequestsInFlight slots, or answers 503 and
// reports false. leaveAPI gives it back.
func (s *Server) enterAPI(w http.ResponseWriter, addr string) bool {
	if n := s.inFlight.Add(1); s.cfg.MaxRequestsInFlight >= 0 && n > int64(s.cfg.MaxRequestsInFlight) {
		s.inFlight.Add(-1)
		s.refuse(w, addr, refusedMaxRequestsInFlight, http.StatusServiceUnavailable, improto.StatusCode_SERVER_ERR, time.Second,
			"server busy: "+strconv.Itoa(s.cfg.MaxRequestsInFlight)+" requests in flight (MaxRequestsInFlight)")
		return false
	}
	return true
}

func (s *Server) leaveAPI() { s.inFlight.Add(-1) }

// admitSocket counts a new socket from addr under MaxSockets and
// MaxSocketsPerAddr, or answers the refusal and reports false. The caller
// holds s.mu; dropSocket undoes it.
func (s *Server) admitSocket(w http.ResponseWriter, addr string) bool {
	cfg := &s.cfg
	switch {
	case cfg.MaxSockets >= 0 && len(s.conns) >= cfg.MaxSockets:
		s.refuse(w, addr, refusedMaxSockets, http.StatusServiceUnavailable, improto.StatusCode_SERVER_ERR, time.Second,
			"server busy: "+strconv.Itoa(cfg.MaxSockets)+" sockets open (MaxSockets)")
		return false
	case cfg.MaxSocketsPerAddr >= 0 && s.addrSockets[addr] >= cfg.MaxSocketsPerAddr:
		s.refuse(w, addr, refusedMaxSocketsPerAddr, http.StatusTooManyRequests, improto.StatusCode_TOO_MANY_REQUESTS, time.Second,
			strconv.Itoa(cfg.MaxSocketsPerAddr)+" sockets open from "+addr+" (MaxSocketsPerAddr)")
		return false
	}
	s.addrSockets[addr]++
	return true
}

// dropSocket forgets a socket admitSocket counted; the caller holds s.mu.
func (s *Server) dropSocket(addr string) {
	if s.addrSockets[addr]--; s.addrSockets[addr] <= 0 {
		delete(s.addrSockets, addr)
	}
}

// refusal names the limit that refused a client: the Config field that
// sets it, as the refused_total metric labels it.
type refusal uint8

const (
	refusedMaxConns refusal = iota
	refusedMaxConnsPerAddr
	refusedMaxSockets
	refusedMaxSocketsPerAddr
	refusedMaxRequestsInFlight
	refusedUnauthRate
	refusedRequestRate // per socket (ratelimit.go)
	refusedSendRate    // per user (ratelimit.go)
	refusedMaxUploadsInFlight
	numRefusals
)

var refusalNames = [numRefusals]string{
	refusedMaxConns: "MaxConns", refusedMaxConnsPerAddr: "MaxConnsPerAddr",
	refusedMaxSockets: "MaxSockets", refusedMaxSocketsPerAddr: "MaxSocketsPerAddr",
	refusedMaxRequestsInFlight: "MaxRequestsInFlight", refusedUnauthRate: "UnauthRate",
	refusedRequestRate: "RequestRate", refusedSendRate: "SendRate",
	refusedMaxUploadsInFlight: "MaxUploadsInFlight",
}

// refuse answers a request that the limit turns away: the HTTP status
// with Retry-After in seconds, and a protobuf Response whose status and
// retry-after-ms header say the same to an IM client.
func (s *Server) refuse(w http.ResponseWriter, addr string, limit refusal, httpStatus int, code improto.StatusCode, wait time.Duration, why string) {
	s.metrics.refusal(limit)
	s.refusals.log(s.log, addr, why)
	w.Header().Set("Retry-After", strconv.FormatInt(int64(max(1, (wait+time.Second-1)/time.Second)), 10))
	resp := failure(nil, 0, errStatus(code, "%s", why))
	resp.Headers = retryAfterHeader(wait)
	s.writeHTTP(w, httpStatus, resp)
}

// refusalLog logs refusals with their address, at most a few a second: a
// flood must not turn into a flood of log lines. The lines it drops are
// counted in the next one it writes.
type refusalLog struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

func newRefusalLog() *refusalLog {
	return &refusalLog{lim: rate.NewLimiter(5, 10)}
}

func (r *refusalLog) log(log *slog.Logger, addr, why string) {
	if !r.lim.Allow() {
		r.dropped.Add(1)
		return
	}
	log.Warn("imserver: refused a client", "addr", addr, "reason", why, "refusals_not_logged", r.dropped.Swap(0))
}
