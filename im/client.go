package im

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/internal/obs"
)

// Client is an IM Cloud client for one user: typed operations over HTTP and
// the Frontier socket, a sync engine that delivers every message once and
// in order within its conversation, and typed events.
//
// New does no I/O. Init connects, pulls, and starts the background work
// (the socket, its reconnects, compensating pulls, event dispatch), all of
// which Close ends. A Client is safe for concurrent use; event callbacks run
// one at a time, never on the socket's read loop (see Concurrency in the
// package documentation).
type Client struct {
	opts   Options
	log    *slog.Logger
	seq    atomic.Int64
	tokens tokenSource

	// sock is the live socket, nil while disconnected.
	sockMu sync.Mutex
	sock   *socket
	// sockUp is closed while sock is up, and replaced when it goes down:
	// with WebSocketLevelAll, requests wait on it for the socket.
	sockUp chan struct{}

	state   connState
	sync    *syncer
	events  *dispatcher
	cache   *cache
	started atomic.Bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	// lifeMu orders starting a goroutine against Close: a goroutine is
	// added to a WaitGroup only while the client is not closed, so that
	// none starts after Close has begun to wait.
	lifeMu   sync.Mutex
	wg       sync.WaitGroup // the socket's connect loop and the sync engine
	dispatch sync.WaitGroup // the event dispatcher, which outlives wg's
	// eventsCtx ends the dispatcher: Close cancels it after ctx, once
	// the last state change is queued.
	eventsCtx  context.Context
	stopEvents context.CancelFunc

	// metrics and tracer observe the client (Options.Metrics,
	// Options.TracerProvider); nil when off.
	metrics *metrics
	tracer  trace.Tracer

	// uploads caches the server's upload settings (UploadFile).
	uploads uploadConfigCache

	// stopped is closed, and stopErr set, when the client stops by
	// itself (stop).
	stopOnce sync.Once
	stopped  chan struct{}
	stopErr  error
}

// New returns a Client for opts. It validates the options (an error names
// the bad field) and does no I/O.
func New(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, log: o.Logger, sockUp: make(chan struct{}), stopped: make(chan struct{})}
	c.tokens = tokenSource{provide: o.Token, expiry: o.TokenExpiry, timeout: o.TokenTimeout}
	c.events = newDispatcher()
	c.cache = newCache(o.MaxMessageCount)
	c.sync = newSyncer(c)
	if c.metrics, err = newMetrics(o.Metrics, &c.sync.cursor); err != nil {
		return nil, err
	}
	c.tracer = obs.Tracer(o.TracerProvider, tracerName)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.eventsCtx, c.stopEvents = context.WithCancel(context.Background())
	return c, nil
}

// UserID returns the user the client logs in as.
func (c *Client) UserID() UserID { return c.opts.UserID }

// Options returns the client's options with defaults filled in.
func (c *Client) Options() Options { return c.opts }

func (c *Client) closed() bool { return c.ctx.Err() != nil }

// Stopped returns a channel that is closed when the client stops by
// itself, on a failure that retrying cannot cure: no valid token for
// Options.TokenTimeout (ErrNoValidToken), a token of another user
// (ErrWrongUser), a Frontier URL that is not a WebSocket
// (ErrFrontierRefused). Err says which. The client's loops have ended
// then and its operations fail; its owner still calls Close. Close alone
// does not close the channel.
func (c *Client) Stopped() <-chan struct{} { return c.stopped }

// Err returns why the client stopped by itself, or nil while it has not.
func (c *Client) Err() error {
	select {
	case <-c.stopped:
		return c.stopErr
	default:
		return nil
	}
}

// CaughtUp reports whether the client has applied everything the server
// had for it: its first pull after Init, and the pull after each time its
// socket came up again, got to the end of its inbox. It stays true while
// pushes and later pulls keep it current; a bot is not ready until it is
// (bot.Bot.Health).
func (c *Client) CaughtUp() bool { return c.sync.caughtUp.Load() }

// Synced is closed the first time the client has caught up (CaughtUp)
// with its socket up (or without one, under WebSocketLevelDisable): from
// then on, what it delivers is what happens now rather than what it
// missed.
func (c *Client) Synced() <-chan struct{} { return c.sync.synced }

// TokenFailingSince returns when the server began refusing the client's
// token (or the provider began failing), or the zero time while the token
// is taken. Past Options.TokenTimeout of it the client stops.
func (c *Client) TokenFailingSince() time.Time {
	if ns := c.tokens.failingSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// stop ends the client's loops for good because of err; it is safe to
// call from them, and only the first call counts.
func (c *Client) stop(err error) {
	c.stopOnce.Do(func() {
		c.log.Error("im: stopping: the client cannot go on", "err", err)
		c.stopErr = err
		c.lifeMu.Lock()
		c.cancel()
		c.lifeMu.Unlock()
		close(c.stopped)
	})
}

// tokenFailed counts err, a refused or unobtainable token, against
// Options.TokenTimeout, and stops the client once it has run out.
func (c *Client) tokenFailed(err error) {
	c.metrics.tokenFailed(err)
	if ferr := c.tokens.failed(err, time.Now()); ferr != nil {
		c.stop(ferr)
	}
}

// isTokenFailure reports errors that a new token would cure.
func isTokenFailure(err error) bool {
	return errors.Is(err, ErrExpiredToken) || errors.Is(err, ErrInvalidToken) ||
		errors.Is(err, ErrSameToken) || errors.Is(err, ErrTokenProvider)
}

// goUnlessClosed runs f on a goroutine that wg counts, unless the client
// is closed; it reports whether it did.
func (c *Client) goUnlessClosed(wg *sync.WaitGroup, f func()) bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed() {
		return false
	}
	wg.Go(f)
	return true
}

func errClientClosed() error {
	return &Error{Type: ErrorTypeClosed, Msg: "client closed", Inner: ErrClosed}
}

// Init logs in and syncs: it reports InitResultStart, pulls the
// conversation list and the sync position (or starts from Options.Cursor),
// opens the socket as Options.WebSocketLevel says, and reports
// InitResultSucceeded — or InitResultError and returns the error. With
// WebSocketLevelAll it opens the socket first and pulls over it, so that
// a socket that cannot be opened fails Init. After a successful Init the
// client keeps itself in sync until Close. Init may be called once. Close
// ends an Init in progress, which then fails with ErrClosed and starts
// nothing.
func (c *Client) Init(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return &Error{Type: ErrorTypeInvalidArgument, Msg: "Init called twice"}
	}
	if !c.goUnlessClosed(&c.dispatch, func() { c.events.run(c.eventsCtx) }) {
		return errClientClosed()
	}
	c.events.emitInit(InitResultStart, nil)
	var first *socket // the socket Init opened, handed to connectLoop
	var err error
	if c.opts.WebSocketLevel == WebSocketLevelAll {
		c.state.set(c, ConnectionStateConnecting)
		if first, err = c.dial(ctx); err == nil {
			c.setSocket(first)
		}
	}
	if err == nil {
		err = c.sync.init(ctx)
	}
	if err == nil {
		// Both start, or neither: Close may have come during the pull.
		c.lifeMu.Lock()
		if c.closed() {
			err = errClientClosed()
		} else {
			if c.opts.WebSocketLevel != WebSocketLevelDisable {
				c.wg.Go(func() { c.connectLoop(first) })
			}
			c.wg.Go(c.sync.run)
		}
		c.lifeMu.Unlock()
	} else if c.closed() {
		err = errClientClosed()
	}
	if err != nil && first != nil {
		c.clearSocket(first)
		first.close()
		<-first.done
	}
	if err != nil {
		c.events.emitInit(InitResultError, err)
		return err
	}
	c.events.emitInit(InitResultSucceeded, nil)
	c.log.Info("im: logged in", "user", c.opts.UserID, "app", c.opts.AppID, "device", c.opts.DeviceID,
		"api", redactedURL(c.opts.APIURL), "websocket", c.opts.WebSocketLevel.String(), "cursor", c.sync.cursor.Load())
	return nil
}

// Close stops the client: the socket, reconnects, pulls and the event
// dispatcher. OnConnectionState subscribers get ConnectionStateClosed,
// once, after the last other state. Close waits for every goroutine the
// client started, including callbacks in progress, so it must not be
// called from an event callback; it is idempotent. Operations called
// after Close fail with ErrClosed.
func (c *Client) Close() error {
	c.lifeMu.Lock()
	c.cancel()
	c.lifeMu.Unlock()
	c.sockMu.Lock()
	if c.sock != nil {
		c.sock.close()
	}
	c.sockMu.Unlock()
	c.wg.Wait()
	// Nothing else changes the state now; the dispatcher, still running,
	// delivers Closed before it stops.
	c.state.set(c, ConnectionStateClosed)
	c.stopEvents()
	c.dispatch.Wait()
	c.events.stop() // for a dispatcher that never ran
	return nil
}

// socketFor returns the socket a request should use, or nil for HTTP:
// the socket whenever it is up, unless the level keeps requests on HTTP.
// With WebSocketLevelAll it waits for the socket while it is down (Init,
// a reconnect) until ctx ends, and returns nil only then.
func (c *Client) socketFor(ctx context.Context) *socket {
	switch c.opts.WebSocketLevel {
	case WebSocketLevelPushOnly, WebSocketLevelDisable:
		return nil
	}
	for {
		c.sockMu.Lock()
		s, up := c.sock, c.sockUp
		c.sockMu.Unlock()
		if s != nil || c.opts.WebSocketLevel != WebSocketLevelAll {
			return s
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil
		case <-c.ctx.Done():
			return nil
		}
	}
}

// setSocket makes s the socket requests use.
func (c *Client) setSocket(s *socket) {
	c.sockMu.Lock()
	defer c.sockMu.Unlock()
	c.sock = s
	close(c.sockUp)
}

// clearSocket takes s, when it is the current socket, away from
// requests, which wait for the next one (WebSocketLevelAll) or use HTTP.
func (c *Client) clearSocket(s *socket) {
	c.sockMu.Lock()
	defer c.sockMu.Unlock()
	if c.sock == s {
		c.sock = nil
		c.sockUp = make(chan struct{})
	}
}

// connectLoop owns the socket: it dials (or starts with first, the one
// Init opened), waits until the socket dies (and logs why), and dials
// again after ReconnectWait, until Close. Each new socket triggers a pull,
// so nothing sent while it was down is missed.
func (c *Client) connectLoop(first *socket) {
	attempt := 0
	var lostAt time.Time // when the socket went down; zero before the first
	for {
		s, err := first, error(nil)
		if s == nil {
			c.state.set(c, ConnectionStateConnecting)
			s, err = c.dial(c.ctx)
		}
		if err == nil {
			tries := attempt // the failed dials before this one
			attempt = 0
			if c.closed() {
				c.clearSocket(s)
				s.close()
				<-s.done
				return
			}
			if first == nil {
				c.setSocket(s)
			}
			first = nil
			c.tokens.worked()
			if lostAt.IsZero() {
				c.log.Info("im: connected", "user", c.opts.UserID, "device", c.opts.DeviceID, "server", redactedURL(c.opts.FrontierURL))
			} else {
				c.sync.reconnected.Store(&outage{downtime: time.Since(lostAt), attempts: tries + 1})
			}
			c.metrics.socketUp(!lostAt.IsZero())
			c.sync.socketUp()
			c.state.set(c, ConnectionStateConnected)
			c.sync.kick()
			select {
			case <-s.done:
				s.logLoss()
			case <-c.ctx.Done():
				s.close()
				<-s.done
			}
			c.metrics.socketDown(s.cause) // nil when the client closed it
			lostAt = time.Now()
			c.clearSocket(s)
		} else if c.closed() {
			return
		} else {
			c.log.Warn("im: connecting the socket failed", "attempt", attempt+1, "err", err)
			switch {
			case errors.Is(err, ErrWrongUser), errors.Is(err, ErrFrontierRefused):
				c.stop(err)
				return
			case isTokenFailure(err):
				c.tokenFailed(err)
			}
		}
		if c.closed() {
			return // Close reports ConnectionStateClosed
		}
		c.state.set(c, ConnectionStateReconnecting)
		attempt++
		t := time.NewTimer(c.opts.ReconnectWait(attempt))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// dial opens a socket with the current token, refreshing it once when the
// server says it expired.
func (c *Client) dial(ctx context.Context) (*socket, error) {
	token, err := c.tokens.current(ctx)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	s, err := c.dialSocket(dctx, token)
	cancel()
	if errors.Is(err, ErrExpiredToken) {
		if err := c.tokens.refresh(ctx, token); err != nil {
			return nil, err
		}
		token, err = c.tokens.current(ctx)
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		return c.dialSocket(dctx, token)
	}
	return s, err
}

// DropConnection closes the current socket as a network failure would; the
// client reconnects and catches up. It exists for tests of the reconnect
// path and reports whether there was a socket to drop.
func (c *Client) DropConnection() bool {
	c.sockMu.Lock()
	s := c.sock
	c.sockMu.Unlock()
	if s == nil {
		return false
	}
	s.ws.NetConn().Close() // no close frame: a network failure
	return true
}

// defaultReconnectWait backs off exponentially from 100ms to 5s, with
// jitter so that many clients dropped together do not return together.
func defaultReconnectWait(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// tokenSource holds the current token and refreshes it through the
// provider, once per expiry. It also times how long the client has gone
// without a token the server takes (Options.TokenTimeout).
type tokenSource struct {
	provide TokenProvider
	expiry  func(string) time.Time // Options.TokenExpiry; may be nil
	timeout time.Duration
	mu      sync.Mutex
	token   string
	fetched bool
	// renewAt is when to ask the provider for the next token ahead of
	// the current one's expiry; zero when the expiry is not known.
	renewAt time.Time
	// failingSince is when the token, or the provider, began to fail, in
	// Unix nanoseconds; 0 while it works. Atomic: every answer reads it.
	failingSince atomic.Int64
}

// failed notes a token failure at now; it returns the error to stop with
// once failures have lasted the timeout.
func (t *tokenSource) failed(err error, now time.Time) error {
	since := t.failingSince.Load()
	if since == 0 {
		t.failingSince.CompareAndSwap(0, now.UnixNano())
		return nil
	}
	if t.timeout < 0 || now.Sub(time.Unix(0, since)) < t.timeout {
		return nil
	}
	return &Error{Type: ErrorTypeInvalidArgument, Inner: errors.Join(ErrNoValidToken, err),
		Msg: fmt.Sprintf("no token the server takes for %v (Options.TokenTimeout); the provider must return a new one", t.timeout)}
}

// worked notes that the server took the token.
func (t *tokenSource) worked() {
	if t.failingSince.Load() != 0 {
		t.failingSince.Store(0)
	}
}

func (t *tokenSource) current(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fetched {
		if !t.renewAt.IsZero() && !time.Now().Before(t.renewAt) {
			t.renew(ctx)
		}
		return t.token, nil
	}
	tok, err := t.provide(ctx)
	if err != nil {
		return "", &Error{Type: ErrorTypeInvalidArgument, Msg: "token provider failed", Inner: errors.Join(ErrTokenProvider, err)}
	}
	t.set(tok)
	return tok, nil
}

// renew asks the provider for the token that will follow the current one,
// which is still valid: a failure, or the same token again, keeps the
// current one and asks again at half its remaining life. t.mu is held.
func (t *tokenSource) renew(ctx context.Context) {
	tok, err := t.provide(ctx)
	if err == nil && tok != t.token {
		t.set(tok)
		return
	}
	left := time.Until(t.expiry(t.token))
	t.renewAt = time.Now().Add(max(left/2, time.Second))
}

// set makes tok the current token and plans its renewal. t.mu is held.
func (t *tokenSource) set(tok string) {
	t.token, t.fetched = tok, true
	t.renewAt = time.Time{}
	if t.expiry == nil {
		return
	}
	if exp := t.expiry(tok); !exp.IsZero() {
		t.renewAt = time.Now().Add(time.Until(exp) * 4 / 5)
	}
}

// refresh asks the provider for a new token because expired did; a
// concurrent caller that already refreshed it is not asked twice.
func (t *tokenSource) refresh(ctx context.Context, expired string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != expired {
		return nil // someone else refreshed it already
	}
	tok, err := t.provide(ctx)
	if err != nil {
		return &Error{Type: ErrorTypeInvalidArgument, Msg: "token provider failed", Inner: errors.Join(ErrTokenProvider, err)}
	}
	if tok == expired {
		return &Error{Type: ErrorTypeInvalidArgument, Msg: "the token provider returned the expired token again", Inner: ErrSameToken}
	}
	t.set(tok)
	return nil
}

// connState tracks the connection state and reports changes.
type connState struct {
	mu sync.Mutex
	v  ConnectionState
}

func (s *connState) set(c *Client, v ConnectionState) {
	s.mu.Lock()
	changed := s.v != v
	s.v = v
	s.mu.Unlock()
	if changed {
		c.events.emitConnection(v)
	}
}

// ConnectionState returns the socket's current state.
func (c *Client) ConnectionState() ConnectionState {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	return c.state.v
}
