package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/router"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const aliceID = userID

// start runs a bot with r on a fresh server and returns a user and the
// user's single chat with the bot.
func start(t *testing.T, r *router.Router) (*imtest.Server, *imtest.User, im.ConversationRef) {
	t.Helper()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(r)
	s.RunBot(t, b)
	alice := s.NewUser(t, aliceID)
	return s, alice, alice.CreateSingle(t, botID)
}

func TestCommands(t *testing.T) {
	t.Parallel()
	s, alice, conv := start(t, newRouter())
	ask := func(text, want string) {
		t.Helper()
		alice.Send(t, conv, text)
		assert.Equal(t, want, alice.WaitReply(t, conv).Text(), "reply to %q", text)
	}
	ask("/weather paris 3", "weather in paris for 3 days: sunny")
	ask("/weather oslo", "weather in oslo for 1 day: snowy")
	ask("/weather", "usage: /weather <city> [days:int] (city: missing)")
	ask("/weather paris soon", "usage: /weather <city> [days:int] (days: \"soon\" is not an int)")
	ask("/help", helpText)

	// The dialog: the name goes to /register's handler, not the router.
	ask("/register", "your name?")
	ask("alice", "welcome, alice")

	// NotFound: silent for chatter, an answer for an unknown command. The
	// bot handles a conversation's messages in order, so the reply to
	// /dance proves "hello" got none.
	alice.Send(t, conv, "hello")
	ask("/dance", "unknown command, try /help")

	alice.Send(t, conv, "/explain /weather paris")
	assert.Contains(t, alice.WaitReply(t, conv).Text(), "#2 weather: command(/weather <city> [days:int]): matched [handles]", "/explain's reply")

	// In a group, a mention gets an answer and other chatter none.
	bob := s.NewUser(t, 1002)
	group := alice.CreateGroup(t, botID, bob.ID())
	bob.Send(t, group, "/dance")
	bob.SendMessage(t, group, im.OutgoingMessage{Content: im.TextContent("bot?"), Mentions: []im.UserID{botID}})
	m := bob.WaitReply(t, group)
	assert.Equal(t, botID, m.Sender, "mention: who replied")
	assert.Equal(t, "you called?", m.Text(), "mention: the reply")
}

func TestRegisterTimeout(t *testing.T) {
	t.Parallel()
	_, alice, conv := start(t, routes(10*time.Millisecond))
	alice.Send(t, conv, "/register")
	for _, want := range []string{"your name?", "too slow"} {
		assert.Equal(t, want, alice.WaitReply(t, conv).Text(), "reply to /register")
	}
}

// tokenPattern matches a token of the embedded server, capturing its
// claims.
const tokenPattern = `imbot1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+`

// go run ./examples/commands prints, once the bot is ready, the dev
// console link and how to connect as user 1001; a client logged in with
// what it printed gets an answer to /help; cancelling ctx makes run
// return nil.
func TestRun(t *testing.T) {
	t.Parallel()
	seen := make(chan struct{})
	out := &watchWriter{want: "Press Ctrl-C to stop.\n", seen: seen}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, out, &bytes.Buffer{}) }() // ends when cancel ends ctx
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("run returned %v before serving:\n%s", err, out)
	case <-time.After(imtest.DefaultTimeout):
		t.Fatalf("run printed no %q within %v:\n%s", out.want, imtest.DefaultTimeout, out)
	}

	info := regexp.MustCompile(`^commands bot \(user 100\) ready\. Chat with it as user 1001 .*\n.*\n` +
		`  console:  (http://127\.0\.0\.1:\d+)/console/#token=` + tokenPattern + `\n` +
		`  api:      (http://127\.0\.0\.1:\d+)\n` +
		`  frontier: (ws://127\.0\.0\.1:\d+/\S+)\n` +
		`  app id:   1\n` +
		`  token:    (` + tokenPattern + `)\n` +
		`Press Ctrl-C to stop\.\n$`).FindStringSubmatch(out.String())
	require.NotNil(t, info, "output lacks the dev console link and the connect info:\n%s", out)
	consoleBase, consoleClaims, api, frontier, token := info[1], info[2], info[3], info[4], info[5]
	checkClaims(t, "console link", consoleClaims)
	assert.Equal(t, api, consoleBase, "the console link must be on the API's base")

	talk(t, im.Options{AppID: 1, UserID: userID, APIURL: api, FrontierURL: frontier,
		Token: im.StaticToken(token), Logger: slog.New(slog.DiscardHandler)})

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "run after cancel")
	case <-time.After(imtest.DefaultTimeout):
		t.Fatalf("run did not return within %v of the cancel", imtest.DefaultTimeout)
	}
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout) // should -h serve, it stops
	defer cancel()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"-h"}, &stdout, &stderr), "run -h")
	assert.Contains(t, stderr.String(), "Usage of commands:\n  -addr string", "run -h: the usage")
	assert.Empty(t, stdout.String(), "run -h: stdout")
}

// checkClaims fails t unless claims (base64url, as in a token) are for
// app 1, user 1001.
func checkClaims(t *testing.T, what, claims string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(claims)
	assert.NoError(t, err, "the %s's token claims", what)
	assert.True(t, strings.HasPrefix(string(raw), "1:1001:"), "the %s's token is for %q, want app 1, user 1001", what, raw)
}

// talk logs in with opts, asks the bot for /help and waits for the
// answer.
func talk(t *testing.T, opts im.Options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout)
	defer cancel()
	c, err := im.New(opts)
	require.NoError(t, err, "im.New with the printed connect info")
	defer c.Close()
	fromBot := make(chan *im.Message, 16)
	sub := c.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			select {
			case fromBot <- e.Message:
			default: // never block the client's dispatcher
			}
		}
	})
	defer sub.Unsubscribe()
	require.NoError(t, c.Init(ctx), "Init with the printed connect info")
	conv, err := c.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	require.NoError(t, err, "opening the chat with the bot")
	_, err = c.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent("/help")})
	require.NoError(t, err, "sending to the bot")
	select {
	case m := <-fromBot:
		assert.Equal(t, helpText, m.Text(), "the bot's answer to /help")
	case <-ctx.Done():
		t.Fatalf("no answer from the bot: %v", ctx.Err())
	}
}

// watchWriter collects what run prints and closes seen once the output
// contains want. Unlike a bytes.Buffer it may be read while run writes.
type watchWriter struct {
	want string
	seen chan struct{}

	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
