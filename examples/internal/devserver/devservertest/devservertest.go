// Package devservertest tests an example's run function as go run runs
// it, on the development server of package devserver: that -h prints the
// usage ([Help]), and that a serving run prints connect info another
// client logs in with ([Serve]).
package devservertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// RunFunc is an example's run: it runs the example with args until ctx
// ends, printing on stdout, and the usage on stderr.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Help checks that run with -h returns nil and prints nothing on stdout
// and, on stderr, the usage of name listing -addr and each of flags.
func Help(t *testing.T, run RunFunc, name string, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout) // should -h serve, it stops
	defer cancel()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"-h"}, &stdout, &stderr), "run -h")
	assert.Contains(t, stderr.String(), "Usage of "+name+":\n", "run -h: the usage")
	for _, f := range append([]string{"addr"}, flags...) {
		assert.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(f)+`( |$)`, stderr.String(), "run -h: the usage lists -%s", f)
	}
	assert.Empty(t, stdout.String(), "run -h: stdout")
}

// tokenPattern matches a token of the development server, capturing its
// claims.
const tokenPattern = `imbot1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+`

// connectInfo matches what devserver.Server.RunBot prints once the bot
// is ready, at the end of the output.
var connectInfo = regexp.MustCompile(`(?m)^Chat with the bot as user (\d+) in your browser \(the console link\)\n` +
	`or from another client:\n` +
	`  console:  (http://127\.0\.0\.1:\d+)/console/#token=` + tokenPattern + `\n` +
	`  api:      (http://127\.0\.0\.1:\d+)\n` +
	`  frontier: (ws://127\.0\.0\.1:\d+/\S+)\n` +
	`  app id:   (\d+)\n` +
	`  token:    (` + tokenPattern + `)\n` +
	`Press Ctrl-C to stop\.\n\z`)

// Serving is a run that serves, as Serve started it.
type Serving struct {
	// Output is what run printed up to the connect info, included.
	Output string
	// Options log in as the user the connect info is for, with the URLs,
	// app id and token it printed.
	Options im.Options
}

// Serve starts run with args on its own goroutine, waits until it prints
// the connect info, and checks it: the console link and the token are
// for the app and the user it names, on the API's host. t.Cleanup then
// cancels run's ctx and checks that run returns nil.
func Serve(t *testing.T, run RunFunc, args ...string) *Serving {
	t.Helper()
	seen := make(chan struct{})
	out := &watchWriter{want: "Press Ctrl-C to stop.\n", seen: seen}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var err error
	go func() { // ends when the cleanup cancels ctx
		defer close(exited)
		err = run(ctx, args, out, io.Discard)
	}()
	served := false
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
			if served {
				assert.NoError(t, err, "run after cancel")
			}
		case <-time.After(imtest.DefaultTimeout):
			t.Errorf("run did not return within %v of the cancel", imtest.DefaultTimeout)
		}
	})
	select {
	case <-seen:
		served = true
	case <-exited:
		t.Fatalf("run returned %v before serving:\n%s", err, out)
	case <-time.After(imtest.DefaultTimeout):
		t.Fatalf("run printed no %q within %v:\n%s", out.want, imtest.DefaultTimeout, out)
	}

	s := &Serving{Output: out.String()}
	info := connectInfo.FindStringSubmatch(s.Output)
	require.NotNil(t, info, "output lacks the dev console link and the connect info:\n%s", s.Output)
	user, consoleBase, consoleClaims, api, frontier, appID, token, claims := info[1], info[2], info[3], info[4], info[5], info[6], info[7], info[8]
	require.Equal(t, strconv.Itoa(devserver.AppID), appID, "app id")
	checkClaims(t, "console link", consoleClaims, appID, user)
	checkClaims(t, "token line", claims, appID, user)
	assert.Equal(t, api, consoleBase, "the console link must be on the API's base")
	assert.True(t, strings.HasPrefix(frontier, "ws"+strings.TrimPrefix(api, "http")+"/"), "frontier %s is not on the API's host %s", frontier, api)
	id, perr := strconv.ParseInt(user, 10, 64)
	require.NoError(t, perr, "the connect info's user")
	s.Options = im.Options{AppID: devserver.AppID, UserID: im.UserID(id), APIURL: api, FrontierURL: frontier,
		Token: im.StaticToken(token), Logger: slog.New(slog.DiscardHandler)}
	return s
}

// checkClaims fails t unless claims (base64url, as in a token) are for
// app appID and user.
func checkClaims(t *testing.T, what, claims, appID, user string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(claims)
	assert.NoError(t, err, "the %s's token claims", what)
	assert.True(t, strings.HasPrefix(string(raw), appID+":"+user+":"), "the %s's token is for %q, want app %s, user %s", what, raw, appID, user)
}

// Ask logs in with s.Options, sends text in the single chat with the bot
// botID and returns the message sent and the bot's first message after
// it.
func (s *Serving) Ask(t *testing.T, botID im.UserID, text string) (sent, reply *im.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout)
	defer cancel()
	c, err := im.New(s.Options)
	require.NoError(t, err, "im.New with the printed connect info")
	defer c.Close()
	fromBot := make(chan *im.Message, 16)
	sub := c.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			select {
			case fromBot <- e.Message:
			default: // never block the client's dispatcher; 16 holds what Init may deliver of earlier chats
			}
		}
	})
	defer sub.Unsubscribe()
	require.NoError(t, c.Init(ctx), "Init with the printed connect info")
	conv, err := c.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	require.NoError(t, err, "opening the chat with the bot")
	sent, err = c.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent(text)})
	require.NoError(t, err, "sending to the bot")
	for {
		select {
		case m := <-fromBot:
			if m.ConversationID == sent.ConversationID && m.Index > sent.Index {
				return sent, m
			}
		case <-ctx.Done():
			t.Fatalf("no answer from the bot to %q: %v", text, ctx.Err())
		}
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
