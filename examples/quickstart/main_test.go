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
	if err != nil || !strings.HasPrefix(string(raw), "1:1001:") {
		t.Errorf("the %s's token is for %q (%v), want app 1, user 1001", what, raw, err)
	}
}

func TestQuickstartScript(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-script-only"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"demo bot: user 100, ready",
		"user 1001 opened 0:1:100:1001 with the bot",
		"1001 → hello\n  100 → try /help",
		"1001 → /help\n  100 → commands: /echo <text>, /help",
		"1001 → /echo imbot works\n  100 → imbot works (quoting)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	link := regexp.MustCompile(`(?m)^  http://127\.0\.0\.1:\d+/console/#token=` + tokenPattern + `$`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("output lacks a dev console link with a token:\n%s", out.String())
	}
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
	if info == nil {
		t.Fatalf("output lacks the connect info:\n%s", out)
	}
	consoleBase, consoleClaims, api, frontier, appID, token, claims := info[1], info[2], info[3], info[4], info[5], info[6], info[7]
	checkClaims(t, "console link", consoleClaims)
	checkClaims(t, "token line", claims)
	if consoleBase != api {
		t.Errorf("the console link is on %s, the API on %s", consoleBase, api)
	}
	if !strings.HasPrefix(frontier, "ws"+strings.TrimPrefix(api, "http")+"/") {
		t.Errorf("frontier %s is not on the API's host %s", frontier, api)
	}
	if appID != "1" {
		t.Errorf("app id %s, want 1", appID)
	}

	talk(t, im.Options{AppID: 1, UserID: userID, APIURL: api, FrontierURL: frontier,
		Token: im.StaticToken(token), Logger: slog.New(slog.DiscardHandler)})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
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
	if err != nil {
		t.Fatalf("im.New with the printed connect info: %v", err)
	}
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
	if err := c.Init(ctx); err != nil {
		t.Fatalf("Init with the printed connect info: %v", err)
	}
	conv, err := c.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	if err != nil {
		t.Fatalf("opening the chat with the bot: %v", err)
	}
	sent, err := c.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent("/echo from another client")})
	if err != nil {
		t.Fatalf("sending to the bot: %v", err)
	}
	for {
		select {
		case m := <-fromBot:
			if m.Reference != nil && m.Reference.ReferencedMessageID == sent.ServerID {
				if m.Text() != "from another client" {
					t.Errorf("the bot answered %q, want %q", m.Text(), "from another client")
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("no answer from the bot quoting message %v: %v", sent.ServerID, ctx.Err())
		}
	}
}
