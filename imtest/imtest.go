package imtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// Harness defaults.
const (
	// AppID is the app id of every Server.
	AppID = 1
	// DefaultTimeout bounds every wait of the harness that takes no
	// timeout of its own: one IM request, a bot becoming ready, WaitReply.
	DefaultTimeout = 10 * time.Second
	// tokenTTL is the life of the tokens Options mints.
	tokenTTL = time.Hour
	// stopTimeout bounds how long RunBot's cleanup waits for Run to return.
	stopTimeout = time.Minute
)

// TB is the part of testing.TB that imtest uses: testify's
// require.TestingT (Errorf and FailNow) and Helper and Cleanup. *testing.T,
// *testing.B and *testing.F implement it, and so does *Script, for code
// that runs outside a test (Examples); whatever imtest's helpers take,
// require's and assert's take too.
//
// A helper fails the test with Errorf, saying what failed, and then
// FailNow. FailNow must not return: testing's calls runtime.Goexit,
// Script's panics.
type TB interface {
	Helper()
	Cleanup(f func())
	Errorf(format string, args ...any)
	FailNow()
}

// Server is an embedded IM server (package imserver) on a loopback
// httptest server, with a memory store, app id [AppID], a random secret,
// a discarding logger, per-socket rate limits no test reaches, and no limit
// per remote address (every scripted user comes from 127.0.0.1).
//
// The methods of a started Server are safe for concurrent use.
type Server struct {
	// Config is the imserver configuration Start uses. NewUnstartedServer
	// callers may change it before Start; a Store set here is theirs to
	// close.
	Config imserver.Config

	t      TB
	mem    store.Store // the memory store NewUnstartedServer made
	srv    *imserver.Server
	hs     *httptest.Server
	closed sync.Once
}

// NewServer starts and returns a Server; t.Cleanup closes it.
func NewServer(t TB) *Server {
	t.Helper()
	s := NewUnstartedServer(t)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that is not started yet, so that the
// caller can change s.Config before calling Start; t.Cleanup closes it,
// started or not.
func NewUnstartedServer(t TB) *Server {
	t.Helper()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	mem := store.NewMemory()
	s := &Server{
		Config: imserver.Config{
			AppID:        AppID,
			AppSecret:    hex.EncodeToString(secret),
			Store:        mem,
			RequestRate:  1e6,
			RequestBurst: 1e6,
			// Every scripted user comes from 127.0.0.1: the limits per
			// address would count them as one client.
			MaxSocketsPerAddr: -1,
			UnauthRate:        -1,
			Logger:            slog.New(slog.DiscardHandler),
		},
		t:   t,
		mem: mem,
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server from NewUnstartedServer. It panics if the server
// was started already, as httptest's does.
func (s *Server) Start() {
	s.t.Helper()
	if s.srv != nil {
		panic("imtest: Server already started")
	}
	srv, err := imserver.New(s.Config)
	if err != nil {
		s.t.Errorf("imtest: imserver.New: %v", err)
		s.t.FailNow()
	}
	s.srv = srv
	s.hs = httptest.NewServer(srv)
}

// Close stops the server: the imserver (its sockets), then the httptest
// server, then the memory store. It is idempotent; t.Cleanup calls it.
func (s *Server) Close() {
	s.closed.Do(func() {
		if s.srv != nil {
			s.srv.Close()
			s.hs.Close()
		}
		s.mem.Close()
	})
}

// URL returns the base URL of the HTTP API, http://127.0.0.1:port.
func (s *Server) URL() string {
	if s.hs == nil {
		return ""
	}
	return s.hs.URL
}

// FrontierURL returns the URL of the Frontier WebSocket.
func (s *Server) FrontierURL() string {
	return "ws" + strings.TrimPrefix(s.hs.URL, "http") + imserver.FrontierPath
}

// AppID returns the app id the server serves.
func (s *Server) AppID() int64 { return s.Config.AppID }

// IMServer returns the imserver, for tests that act on the server itself
// (Shutdown, say).
func (s *Server) IMServer() *imserver.Server { return s.srv }

// Token returns a token for user, valid for an hour.
func (s *Server) Token(user im.UserID) string {
	s.t.Helper()
	tok, err := s.srv.Token(int64(user), tokenTTL)
	if err != nil {
		s.t.Errorf("imtest: %v", err)
		s.t.FailNow()
	}
	return tok
}

// Options returns client options for user against s: a token provider
// minting a fresh token whenever the client asks (so token refresh works)
// and imserver.TokenExpiry (so the client renews it before it expires),
// a discarding logger and a 10ms reconnect wait. Change them at will; the
// caller owns the copy.
func (s *Server) Options(user im.UserID) im.Options {
	return im.Options{
		AppID:       s.Config.AppID,
		UserID:      user,
		APIURL:      s.URL(),
		FrontierURL: s.FrontierURL(),
		Token: func(context.Context) (string, error) {
			return s.srv.Token(int64(user), tokenTTL)
		},
		TokenExpiry:   imserver.TokenExpiry,
		Logger:        slog.New(slog.DiscardHandler),
		ReconnectWait: func(int) time.Duration { return 10 * time.Millisecond },
	}
}

// BotOptions returns bot options for a bot logged in as user: Client is
// s.Options(user) and the logger discards. Errors that handlers return go
// to that logger unless the caller sets OnError.
func (s *Server) BotOptions(user im.UserID) bot.Options {
	return bot.Options{Client: s.Options(user), Logger: slog.New(slog.DiscardHandler)}
}

// NewBot returns a bot for s.BotOptions(user), adjusted by tweak, failing
// the test if New does. Unless a tweak sets Options.OnError, every error a
// handler returns (and every panic) fails the test with t.Errorf: the
// bot's own default logs to BotOptions' discarding logger, where a test
// would never see it. Configure the bot, then start it with RunBot.
func (s *Server) NewBot(t TB, user im.UserID, tweak ...func(*bot.Options)) *bot.Bot {
	t.Helper()
	opts := s.BotOptions(user)
	for _, f := range tweak {
		f(&opts)
	}
	if opts.OnError == nil {
		opts.OnError = func(c *bot.Context, err error) { t.Errorf("imtest: handler of %v: %v", c.Event.Kind, err) }
	}
	b, err := bot.New(opts)
	if err != nil {
		t.Errorf("imtest: bot.New: %v", err)
		t.FailNow()
	}
	return b
}

// RunBot runs b.Run on a goroutine that the test owns and waits until b is
// Ready, failing the test if Run returns first or DefaultTimeout passes.
// t.Cleanup cancels Run's context and waits for Run to return (so the
// bot drains its handlers), reporting an error Run returned.
func (s *Server) RunBot(t TB, b *bot.Bot) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { // joined by the cleanup below
		defer close(done)
		runErr = b.Run(ctx)
	}()
	var reported atomic.Bool // Run's error was reported already
	t.Cleanup(func() {
		cancel()
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-done:
			if runErr != nil && !reported.Load() {
				t.Errorf("imtest: bot %v: Run: %v", b.UserID(), runErr)
			}
		case <-timer.C:
			t.Errorf("imtest: bot %v: Run did not return within %v of its context's end; does a handler ignore its context?", b.UserID(), stopTimeout)
		}
	})
	timer := time.NewTimer(DefaultTimeout)
	defer timer.Stop()
	select {
	case <-b.Ready():
	case <-done:
		reported.Store(true)
		t.Errorf("imtest: bot %v: Run returned before the bot was ready: %v", b.UserID(), runErr)
		t.FailNow()
	case <-timer.C:
		t.Errorf("imtest: bot %v not ready within %v", b.UserID(), DefaultTimeout)
		t.FailNow()
	}
}

// NewUser returns user id logged in to s: a client that subscribed to
// OnMessageReceived before Init (so it misses nothing), has completed
// Init and has its socket up (so pushed-only events, such as live-chat
// messages, reach it). t.Cleanup closes it.
func (s *Server) NewUser(t TB, id im.UserID) *User {
	t.Helper()
	c, err := im.New(s.Options(id))
	if err != nil {
		t.Errorf("imtest: im.New for user %v: %v", id, err)
		t.FailNow()
	}
	u := &User{Client: c, id: id, inbox: make(map[im.ConversationID][]*im.Message), arrived: make(chan struct{})}
	connected := make(chan struct{})
	var once sync.Once
	subs := []im.Subscription{
		c.OnMessageReceived(u.receive),
		c.OnConnectionState(func(s im.ConnectionState) {
			if s == im.ConnectionStateConnected {
				once.Do(func() { close(connected) })
			}
		}),
	}
	t.Cleanup(func() {
		for _, sub := range subs {
			sub.Unsubscribe()
		}
		c.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if err := c.Init(ctx); err != nil {
		t.Errorf("imtest: user %v: Init: %v", id, err)
		t.FailNow()
	}
	// Pushed-only events (conversation and friend changes, live-chat
	// messages) reach a client whose socket is up: wait for it.
	select {
	case <-connected:
	case <-ctx.Done():
		t.Errorf("imtest: user %v: socket not connected within %v", id, DefaultTimeout)
		t.FailNow()
	}
	return u
}

// User is a logged-in IM user with helpers that fail the test on error.
// It keeps, per conversation, the messages other users sent there, in
// order, for WaitMessage and WaitReply to take one at a time.
//
// A User is safe for concurrent use, but two goroutines waiting on the
// same conversation take different messages.
type User struct {
	// Client is the user's client, for every operation the helpers do not
	// wrap.
	Client *im.Client

	id      im.UserID
	mu      sync.Mutex
	inbox   map[im.ConversationID][]*im.Message // from others, not yet taken
	arrived chan struct{}                       // closed and replaced when a message arrives
}

// ID returns the user's id.
func (u *User) ID() im.UserID { return u.id }

// receive is the OnMessageReceived callback. It runs on the client's
// dispatcher and never blocks.
func (u *User) receive(e im.MessageEvent) {
	if e.Message.Sender == u.id {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	id := e.Message.ConversationID
	u.inbox[id] = append(u.inbox[id], e.Message)
	close(u.arrived)
	u.arrived = make(chan struct{})
}

// CreateSingle opens the single chat with other (finding it if it exists).
func (u *User) CreateSingle(t TB, other im.UserID) im.ConversationRef {
	t.Helper()
	return u.create(t, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{other}})
}

// CreateGroup creates a group owned by u with members.
func (u *User) CreateGroup(t TB, members ...im.UserID) im.ConversationRef {
	t.Helper()
	return u.create(t, im.CreateConversationOptions{Type: im.ConversationTypeGroup, Participants: members})
}

// CreateLive creates a live chat owned by u, who is in it at once (the
// creator needs no JoinLive).
func (u *User) CreateLive(t TB) im.ConversationRef {
	t.Helper()
	return u.create(t, im.CreateConversationOptions{Type: im.ConversationTypeMassChat})
}

func (u *User) create(t TB, opts im.CreateConversationOptions) im.ConversationRef {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	conv, err := u.Client.CreateConversation(ctx, opts)
	if err != nil {
		t.Errorf("imtest: user %v: creating a %v conversation: %v", u.id, opts.Type, err)
		t.FailNow()
	}
	return conv.Ref()
}

// JoinLive joins a live chat, after which u gets its messages and may
// send to it.
func (u *User) JoinLive(t TB, ref im.ConversationRef) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if _, _, err := u.Client.JoinLiveChat(ctx, ref); err != nil {
		t.Errorf("imtest: user %v: joining live chat %v: %v", u.id, ref.ID, err)
		t.FailNow()
	}
}

// Send sends a text message to ref and returns it as the server accepted
// it.
func (u *User) Send(t TB, ref im.ConversationRef, text string) *im.Message {
	t.Helper()
	return u.SendMessage(t, ref, im.OutgoingMessage{Content: im.TextContent(text)})
}

// SendMessage sends out to ref and returns it as the server accepted it.
func (u *User) SendMessage(t TB, ref im.ConversationRef, out im.OutgoingMessage) *im.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	m, err := u.Client.SendMessage(ctx, ref, out)
	if err != nil {
		t.Errorf("imtest: user %v: sending to %v: %v", u.id, ref.ID, err)
		t.FailNow()
	}
	return m
}

// SendFile uploads data as the file f describes (what it leaves zero is
// read from the bytes, as im.Client.UploadFile does) and sends it to ref;
// it returns the message as the server accepted it.
func (u *User) SendFile(t TB, ref im.ConversationRef, f im.FileInfo, data []byte) *im.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	m, err := u.Client.SendFile(ctx, ref, im.Upload{File: f, Body: bytes.NewReader(data)}, im.OutgoingMessage{})
	if err != nil {
		t.Errorf("imtest: user %v: sending a file to %v: %v", u.id, ref.ID, err)
		t.FailNow()
	}
	return m
}

// Download returns the bytes of the file m carries, from a fresh URL
// (im.Client.OpenFile); it fails the test if m carries none or the
// download fails.
func (u *User) Download(t TB, m *im.Message) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	body, err := u.Client.OpenFile(ctx, m)
	if err == nil {
		defer body.Close()
		var data []byte
		if data, err = io.ReadAll(body); err == nil {
			return data
		}
	}
	t.Errorf("imtest: user %v: downloading the file of message %d: %v", u.id, m.ServerID, err)
	t.FailNow()
	return nil
}

// WaitMessage returns the next message another user sent to ref that this
// User has not returned yet, waiting up to timeout for it; it fails the
// test if none comes. Messages that arrived before the call count: none is
// missed between calls.
func (u *User) WaitMessage(t TB, ref im.ConversationRef, timeout time.Duration) *im.Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		u.mu.Lock()
		if q := u.inbox[ref.ID]; len(q) > 0 {
			m := q[0]
			q[0] = nil
			u.inbox[ref.ID] = q[1:]
			u.mu.Unlock()
			return m
		}
		arrived := u.arrived
		u.mu.Unlock()
		select {
		case <-arrived:
		case <-timer.C:
			t.Errorf("imtest: user %v: no message from another user in conversation %v within %v", u.id, ref.ID, timeout)
			t.FailNow()
			return nil // for a TB whose FailNow returns
		}
	}
}

// WaitReply is WaitMessage with DefaultTimeout.
func (u *User) WaitReply(t TB, ref im.ConversationRef) *im.Message {
	t.Helper()
	return u.WaitMessage(t, ref, DefaultTimeout)
}

// Script is a TB for code that runs outside a test, such as an Example,
// which gets no *testing.T. Errorf records its message; FailNow panics
// with the messages recorded so far (ending the Example, which then
// fails); Close runs the cleanups, last registered first, and then panics
// if Errorf was called since the last FailNow. A *Script is a
// require.TestingT, so an Example checks with testify as a test does.
// The zero Script is ready to use:
//
//	var t imtest.Script
//	defer t.Close()
//	s := imtest.NewServer(&t)
//	b, err := bot.New(s.BotOptions(100))
//	require.NoError(&t, err)
//
// A Script is safe for concurrent use.
type Script struct {
	mu       sync.Mutex
	cleanups []func()
	errs     []error
}

// Helper does nothing; it is there for TB.
func (*Script) Helper() {}

// Cleanup registers f for Close.
func (s *Script) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Errorf records a failure, which Close reports.
func (s *Script) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Errorf(format, args...))
}

// FailNow panics with the messages Errorf recorded, which Close then no
// longer reports, or with a message of its own if there are none.
func (s *Script) FailNow() {
	s.mu.Lock()
	err := errors.Join(s.errs...)
	s.errs = nil
	s.mu.Unlock()
	if err == nil {
		panic("imtest: Script.FailNow called")
	}
	panic(err.Error())
}

// Close runs the registered cleanups, last first, including any they
// register, and then panics if Errorf was called.
func (s *Script) Close() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			err := errors.Join(s.errs...)
			s.errs = nil
			s.mu.Unlock()
			if err != nil {
				panic(err.Error())
			}
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f()
	}
}
