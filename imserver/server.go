package imserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Paths the server serves. The HTTP API sits at the root: POST /{route}.
const (
	FrontierPath = "/ws/v2"
	// HealthPath answers GET with 200 while the server runs (a liveness
	// probe); ReadyPath with 200 while it takes new sockets and 503 once
	// Shutdown has begun (a readiness probe). Both answer JSON.
	HealthPath = "/healthz"
	ReadyPath  = "/readyz"
)

// Server is an IM Cloud-compatible server: an http.Handler serving the
// HTTP API (one protobuf POST per route) and the Frontier WebSocket.
//
// A Server is safe for concurrent use. Serve it with any http.Server (or
// httptest.NewServer); call Close or Shutdown to end its WebSockets, which
// http.Server.Shutdown does not track, and the janitor that collects
// unsent files, which the first request starts.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	handlers map[improto.IMCMD]handler
	logID    atomic.Int64
	sends    *sendLimits // nil when Config.SendRate is off
	metrics  *metrics    // nil when off (metrics.go)
	// metricsHandler answers Config.MetricsPath; nil when nothing is
	// served there.
	metricsHandler http.Handler

	// writeMu serialises every state change with the pushes it causes, so
	// that pushes leave in commit order and a user's inbox cursors arrive
	// in order on each socket.
	writeMu sync.Mutex
	cache   stateCache // decoded hot records; under writeMu (cache.go)
	hub     hub

	// What bounds each client's share (limits.go).
	unauth               *keyedLimits[string] // nil when UnauthRate is off
	inFlight             atomic.Int64         // HTTP API requests being served
	uploads              atomic.Int64         // uploads being received (media.go)
	refusals             *refusalLog
	deadlinesUnsupported sync.Once // logs, once, a ResponseWriter without deadlines

	// The janitor (media_gc.go) starts at the first request and stops
	// when stop is cancelled, by Shutdown; sweepMu runs sweeps one at a
	// time.
	janitorOnce sync.Once
	stop        context.Context
	stopJanitor context.CancelFunc
	sweepMu     sync.Mutex

	mu          sync.Mutex
	closing     bool
	conns       map[*conn]struct{}
	addrSockets map[string]int // open sockets per remote address
	wg          sync.WaitGroup // one per socket goroutine
}

// New returns a Server for cfg. It does no I/O. It fails when cfg is
// invalid or its metrics cannot be registered with Config.Metrics.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, metricsHandler, err := metricsFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("imserver: %w", err)
	}
	s := &Server{
		cfg:            cfg,
		log:            cfg.Logger,
		conns:          make(map[*conn]struct{}),
		addrSockets:    make(map[string]int),
		hub:            hub{users: make(map[int64]map[*conn]struct{})},
		unauth:         newKeyedLimits[string](cfg.UnauthRate, cfg.UnauthBurst),
		refusals:       newRefusalLog(),
		metrics:        m,
		metricsHandler: metricsHandler,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: positive(cfg.HandshakeTimeout),
			Subprotocols:     []string{"pbbp2", "binary", "base64"},
			CheckOrigin:      func(*http.Request) bool { return true }, // token auth, not cookies
			ReadBufferSize:   4096,
			WriteBufferSize:  4096,
		},
	}
	s.stop, s.stopJanitor = context.WithCancel(context.Background())
	s.cache.reset()
	s.upgrader.Error = s.handshakeError
	s.handlers = s.commandHandlers()
	s.sends = newSendLimits(cfg.SendRate, cfg.SendBurst)
	return s, nil
}

// Token mints a token for userID valid for ttl, signed with the server's
// app secret.
func (s *Server) Token(userID int64, ttl time.Duration) (string, error) {
	if userID <= 0 {
		return "", fmt.Errorf("imserver: user id %d must be positive", userID)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("imserver: token ttl %v must be positive", ttl)
	}
	return MintToken(s.cfg.AppID, userID, s.cfg.AppSecret, s.cfg.Now().Add(ttl)), nil
}

// AppID returns the app id the server serves.
func (s *Server) AppID() int64 { return s.cfg.AppID }

// ServeHTTP implements http.Handler.
//
// Each request gets the deadlines of the Config's phases before anything
// else (see Config.RequestBodyTimeout); a handshake's are cleared once the
// socket is up.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.janitorOnce.Do(s.startJanitor)
	addr := hostOf(r.RemoteAddr)
	switch {
	case r.URL.Path == FrontierPath:
		s.setDeadlines(w, s.cfg.HandshakeTimeout, s.cfg.HandshakeTimeout)
		if s.admitUnauthenticated(w, addr) {
			s.serveFrontier(w, r, addr)
		}
	case r.URL.Path == HealthPath || r.URL.Path == ReadyPath:
		s.setDeadlines(w, s.cfg.RequestBodyTimeout, s.cfg.ResponseWriteTimeout)
		s.serveProbe(w, r)
	case r.URL.Path == s.cfg.MetricsPath:
		s.setDeadlines(w, s.cfg.RequestBodyTimeout, s.cfg.ResponseWriteTimeout)
		s.serveMetrics(w, r)
	case r.URL.Path == MediaUploadPath || strings.HasPrefix(r.URL.Path, MediaFilePath):
		s.setDeadlines(w, s.cfg.MediaTimeout, s.cfg.MediaTimeout)
		if !s.admitUnauthenticated(w, addr) {
			return
		}
		if r.URL.Path == MediaUploadPath {
			s.serveUpload(w, r, addr)
		} else {
			s.serveFile(w, r, addr)
		}
	case s.servesConsole(r.URL.Path):
		s.setDeadlines(w, s.cfg.RequestBodyTimeout, s.cfg.ResponseWriteTimeout)
		s.serveConsole(w, r)
	default:
		s.setDeadlines(w, s.cfg.RequestBodyTimeout, 0)
		if s.admitUnauthenticated(w, addr) && s.enterAPI(w, addr) {
			defer s.leaveAPI()
			s.serveAPI(w, r, addr)
		}
	}
}

// serveProbe answers HealthPath and ReadyPath.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, r.URL.Path+" takes GET", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	closing, sockets := s.closing, len(s.conns)
	s.mu.Unlock()
	status, code := "ok", http.StatusOK
	if closing && r.URL.Path == ReadyPath {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"status\":%q,\"sockets\":%d}\n", status, sockets)
}

// Close closes every WebSocket, stops the file janitor and waits for
// their goroutines. It does not close the Store. Close is idempotent.
func (s *Server) Close() error {
	return s.Shutdown(context.Background())
}

// Shutdown closes every WebSocket with a "going away" close frame and waits
// for their goroutines until ctx is done. New sockets are refused from the
// first call on. Stop the http.Server first (or alongside) so that no new
// HTTP requests arrive.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.stopJanitor()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(closeShutdown, websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { // ends when the last socket goroutine does
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveAPI answers POST /{route} with a protobuf Response. Logical errors
// are a 200 with a non-zero status_code, as IM Cloud answers them; requests
// the server cannot read at all also get an HTTP error status.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, addr string) {
	start := s.metrics.start()
	status, resp := s.answerAPI(w, r, addr)
	s.writeHTTP(w, status, resp)
	s.metrics.request(resp.GetCmd(), resp.GetStatusCode(), start)
}

// answerAPI serves an API request and returns the HTTP status and the
// Response to answer with.
func (s *Server) answerAPI(w http.ResponseWriter, r *http.Request, addr string) (int, *improto.Response) {
	authenticated := false
	defer func() {
		if !authenticated {
			s.failedAuth(addr)
		}
	}()
	route := strings.Trim(r.URL.Path, "/")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, failure(nil, 0,
			errStatus(improto.StatusCode_INVALID_REQUEST, "%s %s: the API takes POST", r.Method, r.URL.Path))
	}
	cmd, ok := improto.CommandForRoute(route)
	if !ok {
		return http.StatusNotFound, failure(nil, 0,
			errStatus(improto.StatusCode_INVALID_CMD, "unknown route %q", route))
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, failure(nil, int32(cmd.Cmd),
				errStatus(improto.StatusCode_INVALID_REQUEST, "request body exceeds %d bytes", tooBig.Limit))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection cannot carry another request: its read
			// deadline has passed in the middle of this one's body.
			w.Header().Set("Connection", "close")
			return http.StatusRequestTimeout, failure(nil, int32(cmd.Cmd),
				errStatus(improto.StatusCode_INVALID_REQUEST, "request body not received within %v (RequestBodyTimeout)", s.cfg.RequestBodyTimeout))
		}
		return http.StatusBadRequest, failure(nil, int32(cmd.Cmd),
			errStatus(improto.StatusCode_INVALID_REQUEST, "reading request body: %v", err))
	}
	req, body, err := decodeRequest(data)
	if err != nil {
		return http.StatusBadRequest, failure(nil, int32(cmd.Cmd),
			errStatus(improto.StatusCode_INVALID_REQUEST, "malformed Request: %v", err))
	}
	if req.GetCmd() != int32(cmd.Cmd) {
		return http.StatusBadRequest, failure(req, req.GetCmd(),
			errStatus(improto.StatusCode_INVALID_CMD, "cmd %d does not match route %s (cmd %d)", req.GetCmd(), route, cmd.Cmd))
	}
	user, err := s.authenticate(req.GetToken())
	if err != nil {
		return http.StatusOK, failure(req, req.GetCmd(), err)
	}
	authenticated = true
	return http.StatusOK, s.execute(r.Context(), req, body, user, nil)
}

// writeHTTP writes resp as the HTTP answer with status, within
// Config.ResponseWriteTimeout.
func (s *Server) writeHTTP(w http.ResponseWriter, status int, resp *improto.Response) {
	s.answerDeadline(w)
	// The body (setBody, attachEncoded) is resp's unknown field, which
	// proto writes last: it leaves as it is, after the rest, rather than
	// being copied into one buffer with it (a pull page is a megabyte).
	body := resp.ProtoReflect().GetUnknown()
	resp.ProtoReflect().SetUnknown(nil)
	b, err := proto.Marshal(resp)
	resp.ProtoReflect().SetUnknown(body)
	if err != nil {
		s.log.Error("imserver: encoding response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(b); err == nil {
		_, _ = w.Write(body)
	}
}

// authenticate maps a token to its user, or to an INVALID_TOKEN or
// EXPIRED_TOKEN status.
func (s *Server) authenticate(token string) (int64, error) {
	user, err := VerifyToken(token, s.cfg.AppID, s.cfg.AppSecret, s.cfg.Now())
	switch {
	case err == nil:
		return user, nil
	case errors.Is(err, ErrTokenExpired):
		return 0, &statusError{code: improto.StatusCode_EXPIRED_TOKEN, desc: err.Error()}
	default:
		return 0, &statusError{code: improto.StatusCode_INVALID_TOKEN, desc: err.Error()}
	}
}

// call is one request on its way through a handler.
type call struct {
	ctx   context.Context
	user  int64
	inbox int32
	cmd   improto.Command
	req   *improto.Request
	body  proto.Message // the command's request body; never nil in a handler
	conn  *conn         // the socket it came on; nil over HTTP
	now   time.Time
	// encoded is the response body of a handler that encoded it itself
	// (newEncodedBody) and returned nil.
	encoded []byte
	// headers, when a handler sets them, go into Response.headers.
	headers map[string]string
}

// handler serves one command and returns its response body (nil for the
// commands that answer with a status only).
type handler func(c *call) (proto.Message, error)

// execute runs an authenticated request, whose command's body
// decodeRequest read, and builds its Response.
func (s *Server) execute(ctx context.Context, req *improto.Request, body proto.Message, user int64, from *conn) *improto.Response {
	start := s.cfg.Now()
	cmd, _ := improto.LookupCommand(improto.IMCMD(req.GetCmd()))
	h := s.handlers[cmd.Cmd]
	if h == nil {
		return failure(req, req.GetCmd(), errStatus(improto.StatusCode_INVALID_CMD,
			"command %d (%v) is not served by this server", req.GetCmd(), improto.IMCMD(req.GetCmd())))
	}
	if req.GetInboxType() < 0 {
		return failure(req, req.GetCmd(), errStatus(improto.StatusCode_INVALID_REQUEST, "inbox_type %d is negative", req.GetInboxType()))
	}
	if body == nil {
		return failure(req, req.GetCmd(), errStatus(improto.StatusCode_INVALID_REQUEST,
			"missing body: %v carries its body in RequestBody field %d", cmd.Cmd, cmd.BodyField))
	}
	if resp := s.checkSendRate(req, user); resp != nil {
		return resp
	}
	c := &call{ctx: ctx, user: user, inbox: req.GetInboxType(), cmd: cmd, req: req, body: body, conn: from, now: start}
	out, err := s.safeCall(h, c)
	logID := strconv.FormatInt(s.logID.Add(1), 10)
	if err != nil {
		var se *statusError
		if !errors.As(err, &se) {
			s.log.Error("imserver: command failed", "cmd", cmd.Cmd.String(), "user", user, "log_id", logID, "err", err)
		}
		resp := failure(req, req.GetCmd(), err)
		resp.LogId = proto.String(logID)
		return resp
	}
	resp := &improto.Response{
		Cmd:                    proto.Int32(req.GetCmd()),
		SequenceId:             proto.Int64(req.GetSequenceId()),
		StatusCode:             proto.Int32(0),
		InboxType:              proto.Int32(req.GetInboxType()),
		LogId:                  proto.String(logID),
		StartTimeStamp:         proto.Int64(start.UnixMilli()),
		ServerExecutionEndTime: proto.Int64(s.cfg.Now().UnixMilli()),
	}
	resp.Headers = c.headers
	switch {
	case out != nil:
		if err := setBody(resp, cmd.BodyField, out); err != nil {
			s.log.Error("imserver: handler returned the wrong body type", "cmd", cmd.Cmd.String(), "err", err)
			return failure(req, req.GetCmd(), errStatus(improto.StatusCode_INTERNAL_ERROR, "internal error"))
		}
	case c.encoded != nil:
		attachEncoded(resp, cmd.BodyField, c.encoded)
	}
	return resp
}

// safeCall runs a handler and turns a panic into an INTERNAL_ERROR: a bug
// in one command must not take the connection, or the server, down.
func (s *Server) safeCall(h handler, c *call) (out proto.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("imserver: handler panicked", "cmd", c.cmd.Cmd.String(), "panic", p)
			out, err = nil, errStatus(improto.StatusCode_INTERNAL_ERROR, "internal error")
		}
	}()
	return h(c)
}

// statusError is a failure with the StatusCode the client should see.
type statusError struct {
	code improto.StatusCode
	desc string
}

func (e *statusError) Error() string { return e.code.String() + ": " + e.desc }

func errStatus(code improto.StatusCode, format string, args ...any) error {
	return &statusError{code: code, desc: fmt.Sprintf(format, args...)}
}

// failure builds the Response for a failed request. req may be nil when
// the request could not be read.
func failure(req *improto.Request, cmd int32, err error) *improto.Response {
	code, desc := improto.StatusCode_INTERNAL_ERROR, "internal error"
	var se *statusError
	if errors.As(err, &se) {
		code, desc = se.code, se.desc
	}
	return &improto.Response{
		Cmd:        proto.Int32(cmd),
		SequenceId: proto.Int64(req.GetSequenceId()),
		StatusCode: proto.Int32(int32(code)),
		ErrorDesc:  proto.String(desc),
		InboxType:  proto.Int32(req.GetInboxType()),
	}
}

// update runs fn in a store transaction and, once it has committed, sends
// the pushes fn queued. State changes go through here only.
func (s *Server) update(fn func(tx store.Tx, out *outbox) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var out outbox
	ctx := cachedTx{c: &s.cache}
	committed := false
	start := s.metrics.start()
	defer func() {
		// Rolled back (or panicked) after a write: the cache may hold it.
		if !committed && ctx.dirty {
			s.cache.reset()
		}
	}()
	err := s.cfg.Store.Update(func(tx store.Tx) error {
		out = outbox{}
		ctx.Tx, ctx.dirty = tx, false
		return fn(&ctx, &out)
	})
	end := s.metrics.storeTx(txWrite, start)
	if err != nil {
		return err
	}
	committed = true
	if len(out.pushes) > 0 {
		n := s.hub.deliver(s, out.pushes)
		s.metrics.fannedOut(n, end)
	}
	return nil
}

// view runs fn in a read-only store transaction.
func (s *Server) view(fn func(tx store.Tx) error) error {
	start := s.metrics.start()
	err := s.cfg.Store.View(fn)
	s.metrics.storeTx(txRead, start)
	return err
}
