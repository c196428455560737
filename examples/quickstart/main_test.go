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
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tokenPattern matches a token of the embedded server, capturing its
// claims.
const tokenPattern = `imbot1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+`

// checkClaims fails t unless claims (base64url, as in a token) are for
// app 1, user 1001.
func checkClaims(t *testing.T, what, claims string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(claims)
	assert.NoError(t, err, "the %s's token claims", what)
	assert.True(t, strings.HasPrefix(string(raw), "1:1001:"), "the %s's token is for %q, want app 1, user 1001", what, raw)
}

func TestQuickstartScript(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-script-only"}, &out)
	require.NoError(t, err, "run:\n%s", out.String())
	for _, want := range []string{
		"demo bot: user 100, ready",
		"user 1001 opened 0:1:100:1001 with the bot",
		"1001 → hello\n  100 → try /help",
		"1001 → /help\n  100 → commands: /echo <text>, /help",
		"1001 → /echo imbot works\n  100 → imbot works (quoting)",
	} {
		assert.Contains(t, out.String(), want, "output")
	}
	link := regexp.MustCompile(`(?m)^  http://127\.0\.0\.1:\d+/console/#token=` + tokenPattern + `$`).FindStringSubmatch(out.String())
	require.NotNil(t, link, "output lacks a dev console link with a token:\n%s", out.String())
	checkClaims(t, "console link", link[1])
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

// The default mode: after the script, run keeps serving and prints how
// to connect; a second client logged in with the printed URLs, app id and
// token talks to the bot; cancelling ctx makes run return nil.
func TestQuickstartServes(t *testing.T) {
	seen := make(chan struct{})
	out := &watchWriter{want: "Press Ctrl-C to stop.\n", seen: seen}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, out) }() // ends when cancel ends ctx
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("run returned %v before serving:\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("run printed no %q within 30s:\n%s", out.want, out)
	}

	info := regexp.MustCompile(`(?m)^Still serving\. Chat with the bot as user 1001 .*\n.*\n` +
		`  console:  (http://127\.0\.0\.1:\d+)/console/#token=` + tokenPattern + `\n` +
		`  api:      (http://127\.0\.0\.1:\d+)\n` +
		`  frontier: (ws://127\.0\.0\.1:\d+/\S+)\n` +
		`  app id:   (\d+)\n` +
		`  token:    (` + tokenPattern + `)\n` +
		`Press Ctrl-C to stop\.\n$`).FindStringSubmatch(out.String())
	require.NotNil(t, info, "output lacks the connect info:\n%s", out)
	consoleBase, consoleClaims, api, frontier, appID, token, claims := info[1], info[2], info[3], info[4], info[5], info[6], info[7]
	checkClaims(t, "console link", consoleClaims)
	checkClaims(t, "token line", claims)
	assert.Equal(t, api, consoleBase, "the console link must be on the API's base")
	assert.True(t, strings.HasPrefix(frontier, "ws"+strings.TrimPrefix(api, "http")+"/"), "frontier %s is not on the API's host %s", frontier, api)
	assert.Equal(t, "1", appID, "app id")

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

// talk logs in with opts, asks the bot to echo, and checks the bot quotes
// that very message.
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
			default: // never block the client's dispatcher; 16 holds the script's answers, should Init deliver them
			}
		}
	})
	defer sub.Unsubscribe()
	require.NoError(t, c.Init(ctx), "Init with the printed connect info")
	conv, err := c.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	require.NoError(t, err, "opening the chat with the bot")
	sent, err := c.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent("/echo from another client")})
	require.NoError(t, err, "sending to the bot")
	for {
		select {
		case m := <-fromBot:
			if m.Reference != nil && m.Reference.ReferencedMessageID == sent.ServerID {
				assert.Equal(t, "from another client", m.Text(), "the bot's answer")
				return
			}
		case <-ctx.Done():
			t.Fatalf("no answer from the bot quoting message %v: %v", sent.ServerID, ctx.Err())
		}
	}
}
