//go:build browser

package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// Budgets of the browser tests: every wait on the page has waitFor, the
// whole run browserBudget.
const (
	waitFor       = 10 * time.Second
	browserBudget = 100 * time.Second
	botID         = im.UserID(100)
	userID        = im.UserID(1001)
)

// chromium returns the browser to drive: $IMBOT_CHROMIUM, or the first of
// Debian's and Google's names on PATH.
func chromium(t *testing.T) string {
	if p := os.Getenv("IMBOT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	require.FailNow(t, "no Chromium found: install it (Debian: apt-get install chromium) or set IMBOT_CHROMIUM; these tests run with -tags browser only")
	return ""
}

// artifacts returns the directory for screenshots: $IMBOT_ARTIFACTS, or
// testdata/artifacts (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("IMBOT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// cutListener is a listener whose connections the test can cut, as a
// network failure would, and refuse for a while.
type cutListener struct {
	net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refused bool
}

func (l *cutListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		refused := l.refused
		if !refused {
			l.conns[c] = struct{}{}
		}
		l.mu.Unlock()
		if refused {
			c.Close()
			continue
		}
		return c, nil
	}
}

// cut closes every connection accepted so far; with refuse, new ones are
// closed at once until restore.
func (l *cutListener) cut(refuse bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused = refuse
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

func (l *cutListener) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused = false
}

// clock is the server's Config.Now, moved forward by the test.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// world is a server with dev login, a demo bot, and a headless Chromium.
// The page reaches the server through a cuttable listener (page); the bot
// and the test's own clients through another (direct).
type world struct {
	srv    *imserver.Server
	page   *httptest.Server
	direct *httptest.Server
	cut    *cutListener
	clock  *clock
	bot    *bot.Bot
	got    chan *im.Message // what users sent the bot
	ctx    context.Context  // the browser tab
	posts  atomic.Int64     // uploads (POST MediaUploadPath) the page's listener saw
	refuse atomic.Int64     // how many of the next uploads to answer 503
}

// newWorld starts the world; each configure may change the server's
// Config.
func newWorld(t *testing.T, configure ...func(*imserver.Config)) *world {
	w := &world{clock: &clock{}, got: make(chan *im.Message, 64)}
	st := store.NewMemory()
	cfg := imserver.Config{AppID: testAppID, AppSecret: testSecret, Store: st, DevLogin: true,
		Now: w.clock.Now, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := imserver.New(cfg)
	require.NoError(t, err)
	w.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w.cut = &cutListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	w.page = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == imserver.MediaUploadPath {
			w.posts.Add(1)
			if w.refuse.Add(-1) >= 0 {
				http.Error(rw, "test: storage busy", http.StatusServiceUnavailable)
				return
			}
			w.refuse.Store(0)
		}
		srv.ServeHTTP(rw, r)
	}))
	w.page.Listener.Close()
	w.page.Listener = w.cut
	w.page.Start()
	w.direct = httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		w.page.Close()
		w.direct.Close()
		st.Close()
	})

	// OnError runs on the bot's goroutines: assert, not require.
	w.bot, err = bot.New(bot.Options{Client: w.clientOptions(botID), Logger: slog.New(slog.DiscardHandler),
		OnError: func(c *bot.Context, err error) { assert.Fail(t, "demo bot", "%v: %v", c.Event.Kind, err) }})
	require.NoError(t, err)
	w.bot.Handle(demoBot(w.got))
	botCtx, stopBot := context.WithCancel(context.Background())
	botDone := make(chan error, 1)
	go func() { botDone <- w.bot.Run(botCtx) }() // joined at cleanup
	t.Cleanup(func() {
		stopBot()
		assert.NoError(t, <-botDone, "demo bot: Run")
	})
	select {
	case <-w.bot.Ready():
	case err := <-botDone:
		require.FailNowf(t, "demo bot stopped", "Run returned %v", err)
	case <-time.After(waitFor):
		require.FailNow(t, "demo bot not ready")
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true))
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that call: tab, not the budget below.
	require.NoError(t, chromedp.Do(tab), "starting %s", chromium(t))
	ctx, cancelBudget := context.WithTimeout(tab, browserBudget)
	t.Cleanup(cancelBudget)
	w.ctx = ctx
	return w
}

func (w *world) clientOptions(user im.UserID) im.Options {
	return im.Options{
		AppID: testAppID, UserID: user, APIURL: w.direct.URL,
		FrontierURL: "ws" + strings.TrimPrefix(w.direct.URL, "http") + imserver.FrontierPath,
		Token: func(context.Context) (string, error) {
			return w.srv.Token(int64(user), time.Hour)
		},
		Logger:        slog.New(slog.DiscardHandler),
		ReconnectWait: func(int) time.Duration { return 10 * time.Millisecond },
	}
}

// demoBot is the quick start's bot: /echo <text> answers the text,
// quoting; friend applies are accepted. It marks what it handles read and
// hands every user message to got.
func demoBot(got chan<- *im.Message) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind == bot.EventFriendApplyReceived {
			_, _, err := c.Client().ReplyFriendApply(c.Context(), im.ReplyFriendAttitudeAccept, c.Event.FriendApply.FromUserID)
			return err
		}
		if !c.FromUser() {
			return nil
		}
		m := c.Event.Message
		select {
		case got <- m:
		default:
		}
		if err := c.MarkRead(); err != nil {
			return err
		}
		if text, ok := strings.CutPrefix(m.Text(), "/echo "); ok {
			_, err := c.Quote(text)
			return err
		}
		return nil
	})
}

// botGot waits for the bot to receive a message with text.
func (w *world) botGot(t *testing.T, text string) *im.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-w.got:
			if m.Text() == text {
				return m
			}
		case <-deadline:
			require.FailNowf(t, "the bot did not receive a message", "%q within %v", text, waitFor)
			return nil
		}
	}
}

// run runs browser actions, failing the test with what it was doing and
// the page's text.
func (w *world) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(w.ctx, steps...); err != nil {
		w.fail(t, what, err)
	}
}

func (w *world) fail(t *testing.T, what string, err error) {
	t.Helper()
	body, _ := chromedp.Run(w.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.FailNowf(t, what, "%v\npage text:\n%s", err, body)
}

// wait polls a JavaScript expression until it is truthy.
func (w *world) wait(t *testing.T, what, expr string) {
	t.Helper()
	w.run(t, "waiting until "+what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitFor), chromedp.WithPollingInterval(20*time.Millisecond))(ctx, tg)
		return chromedp.Void{}, err
	})
}

// exec runs a JavaScript statement in the page.
func (w *world) exec(t *testing.T, what, stmt string) {
	t.Helper()
	if _, err := chromedp.Run(w.ctx, chromedp.Evaluate[bool](stmt+`; true`)); err != nil {
		w.fail(t, what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, w *world, expr string) T {
	t.Helper()
	v, err := chromedp.Run(w.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		w.fail(t, "evaluating "+expr, err)
	}
	return v
}

// send types text into the composer and sends it.
func (w *world) send(t *testing.T, text string) {
	t.Helper()
	w.run(t, "sending "+text,
		chromedp.SetValue(chromedp.CSS(`.compose textarea`), text),
		chromedp.Click(chromedp.CSS(`.compose button[type=submit]`)))
}

// texts returns the texts of the open conversation's messages, in order.
const textsJS = `[...document.querySelectorAll('.messages .msg .text')].map(e => e.textContent)`

// msgJS finds the last message element whose text is the argument.
func msgJS(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.messages .msg')].filter(m => m.querySelector('.text') && m.querySelector('.text').textContent === %q).pop()`, text)
}

func TestConsole(t *testing.T) {
	w := newWorld(t)
	start := time.Now()
	tok, err := w.srv.Token(int64(userID), time.Hour)
	require.NoError(t, err)

	// Log in through the quick start's kind of link.
	loadStart := time.Now()
	w.run(t, "opening the console", chromedp.Navigate(w.page.URL+imserver.ConsolePath+"#token="+tok))
	w.wait(t, "the main view shows", `document.querySelector('.shell .me strong')?.textContent === 'User 1001'`)
	w.wait(t, "the socket is up", `document.querySelector('.status')?.textContent === 'Online'`)
	t.Logf("console loaded and online in %v", time.Since(loadStart).Round(time.Millisecond))
	loadMs := eval[float64](t, w, `performance.getEntriesByType('navigation')[0].loadEventEnd`)
	assert.Greater(t, loadMs, 0.0, "the page's load time (ms), from the navigation timing")
	assert.LessOrEqual(t, loadMs, 1000.0, "the page took %.0fms to load, want under a second", loadMs)
	assert.Empty(t, eval[string](t, w, `location.hash`), "the token stays in the address bar")

	t.Run("echo", func(t *testing.T) {
		w.run(t, "creating a chat with the bot",
			chromedp.Click(chromedp.CSS(`.actions button.primary`)),
			chromedp.SetValue(chromedp.CSS(`.dialog input[name=participants]`), "100"),
			chromedp.Click(chromedp.CSS(`.dialog button[type=submit]`)))
		w.wait(t, "the chat is open", `document.querySelector('.conv-head h2')?.textContent === 'User 100'`)
		w.send(t, "/echo hi")
		w.wait(t, "the bot's answer shows, quoting", msgJS("hi")+`?.querySelector('.quote')?.textContent.includes('/echo hi')`)
		w.botGot(t, "/echo hi")
		w.wait(t, "the bot's read index marks it read", msgJS("/echo hi")+`?.querySelector('.state')?.textContent === 'Read'`)
	})

	t.Run("reply", func(t *testing.T) {
		w.exec(t, "replying to the answer", msgJS("hi")+`.querySelector('.tools button[title=Reply]').click()`)
		w.wait(t, "the reply bar shows", `document.querySelector('.quote-bar:not(.hidden)')?.textContent.includes('Replying to User 100')`)
		w.send(t, "thanks @100")
		w.wait(t, "the reply shows its quote", msgJS("thanks @100")+`?.querySelector('.quote')?.textContent.includes('hi')`)
		w.wait(t, "the mention is marked", msgJS("thanks @100")+`?.querySelector('.mention')?.textContent === '@100'`)
		m := w.botGot(t, "thanks @100")
		if assert.NotNil(t, m.Reference, "the bot got the reply without a quote") {
			assert.NotZero(t, m.Reference.ReferencedMessageID, "the bot got the reply without a quote: %+v", m.Reference)
		}
		assert.True(t, m.IsMentioned(botID), "the bot got the reply without its mention: s:mentioned_users %q", m.Ext["s:mentioned_users"])
	})

	t.Run("react", func(t *testing.T) {
		w.exec(t, "reacting", msgJS("hi")+`.querySelector('.tools button[title="React 👍"]').click()`)
		w.wait(t, "the reaction shows", msgJS("hi")+`?.querySelector('.reactions .chip.mine')?.textContent === '👍 1'`)
		w.exec(t, "taking the reaction back", msgJS("hi")+`.querySelector('.reactions .chip.mine').click()`)
		w.wait(t, "the reaction is gone", `!`+msgJS("hi")+`?.querySelector('.reactions')`)
		w.exec(t, "reacting again", msgJS("hi")+`.querySelector('.tools button[title="React 🎉"]').click()`)
		w.wait(t, "the new reaction shows", msgJS("hi")+`?.querySelector('.reactions .chip.mine')?.textContent === '🎉 1'`)
	})

	t.Run("recall", func(t *testing.T) {
		w.send(t, "oops")
		w.wait(t, "the message is sent", msgJS("oops")+`?.dataset.id > 0`)
		w.exec(t, "recalling", msgJS("oops")+`.querySelector('.tools button[title=Recall]').click()`)
		w.wait(t, "it shows recalled", `[...document.querySelectorAll('.messages .msg.recalled .text')].some(e => e.textContent === 'Message recalled')`)
		w.wait(t, "its text is gone", `!`+msgJS("oops"))
	})

	var before []string
	t.Run("reload", func(t *testing.T) {
		before = eval[[]string](t, w, textsJS)
		w.run(t, "reloading", chromedp.Reload())
		w.wait(t, "the conversation is open again", `document.querySelector('.conv-head h2')?.textContent === 'User 100'`)
		w.wait(t, "the same history shows", fmt.Sprintf(`JSON.stringify(%s) === %q`, textsJS, mustJSON(before)))
		w.wait(t, "the socket is up", `document.querySelector('.status')?.textContent === 'Online'`)
	})

	t.Run("catch-up", func(t *testing.T) {
		conv := w.singleChat(t)
		w.cut.cut(true)
		w.wait(t, "the page says it is reconnecting", `document.querySelector('.status')?.textContent === 'Reconnecting…'`)
		w.send(t, "sent offline")
		w.wait(t, "the send shows failed with a retry", `document.querySelector('.msg.pending.failed .state button')?.textContent === 'Retry'`)
		for i := range 3 {
			w.botSend(t, conv, fmt.Sprintf("while away %d", i))
		}
		w.cut.restore()
		w.wait(t, "the socket is back", `document.querySelector('.status')?.textContent === 'Online'`)
		w.wait(t, "the missed messages show", msgJS("while away 2"))
		w.run(t, "retrying the failed send", chromedp.Click(chromedp.CSS(`.msg.pending.failed .state button`)))
		w.wait(t, "the retried message is sent", msgJS("sent offline")+`?.dataset.id > 0 && !document.querySelector('.msg.pending')`)
		w.botGot(t, "sent offline")
		w.botSend(t, conv, "after the catch-up")
		w.wait(t, "a pushed message shows", msgJS("after the catch-up"))
		texts := eval[[]string](t, w, textsJS)
		ids := eval[[]string](t, w, `[...document.querySelectorAll('.messages .msg[data-id]')].map(m => m.dataset.id)`)
		count := map[string]int{}
		for _, s := range texts {
			count[s]++
		}
		for _, s := range []string{"while away 0", "while away 1", "while away 2", "sent offline", "after the catch-up"} {
			assert.Equal(t, 1, count[s], "%q shows, want once; messages: %q", s, texts)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			assert.False(t, seen[id], "message %s shows twice", id)
			seen[id] = true
		}
		w.screenshot(t, "console-main.png")
	})

	t.Run("group", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		g, err := w.bot.Client().CreateConversation(ctx, im.CreateConversationOptions{
			Type: im.ConversationTypeGroup, Participants: []im.UserID{userID, 1002}, Name: "Launch team"})
		require.NoError(t, err)
		w.botSend(t, g.Ref(), "welcome")
		w.botSend(t, g.Ref(), "agenda at 10")
		w.wait(t, "the group shows two unread, with its last message",
			`(() => { const c = document.querySelector('.conv[data-kind=group]'); return c && c.querySelector('.unread')?.textContent === '2' && c.querySelector('.conv-last').textContent === 'agenda at 10' && c.querySelector('.conv-name').textContent === 'Launch team'; })()`)
		w.run(t, "opening the group", chromedp.Click(chromedp.CSS(`.conv[data-kind=group]`)))
		w.wait(t, "its history shows and the badge is gone", msgJS("agenda at 10")+` && !document.querySelector('.conv[data-kind=group] .unread')`)
		w.send(t, "@everyone hello team")
		m := w.botGot(t, "@everyone hello team")
		assert.True(t, m.MentionsAll(), "@everyone reached the bot as mentions %q", m.Ext["s:mentioned_users"])
		w.wait(t, "the group read receipt counts the bot", msgJS("@everyone hello team")+`?.querySelector('.state')?.textContent === 'Read by 1'`)
	})

	t.Run("live", func(t *testing.T) {
		w.run(t, "creating a live chat",
			chromedp.Click(chromedp.CSS(`.actions button.primary`)),
			chromedp.SetValue(chromedp.CSS(`.dialog select[name=type]`), "100"),
			chromedp.SetValue(chromedp.CSS(`.dialog input[name=name]`), "Town hall"),
			chromedp.Click(chromedp.CSS(`.dialog button[type=submit]`)))
		w.wait(t, "the live chat is open", `document.querySelector('.conv-head h2')?.textContent === 'Town hall' && document.querySelector('.conv.active')?.dataset.kind === 'live'`)
		w.send(t, "live hello")
		w.wait(t, "the message comes back through the live push", msgJS("live hello")+`?.dataset.id > 0 && !document.querySelector('.msg.pending')`)
	})

	t.Run("1000 messages", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*waitFor)
		defer cancel()
		g, err := w.bot.Client().CreateConversation(ctx, im.CreateConversationOptions{
			Type: im.ConversationTypeGroup, Participants: []im.UserID{userID}, Name: "Busy"})
		require.NoError(t, err)
		const n = 1000
		seedStart := time.Now()
		for i := range n {
			_, err := w.bot.Client().SendMessage(ctx, g.Ref(), im.OutgoingMessage{Content: im.TextContent(fmt.Sprintf("busy %d", i+1))})
			require.NoError(t, err, "seeding message %d", i+1)
		}
		t.Logf("seeded %d messages in %v", n, time.Since(seedStart).Round(time.Millisecond))
		w.wait(t, "the list shows the last one", `[...document.querySelectorAll('.conv')].some(c => c.querySelector('.conv-last')?.textContent === 'busy 1000')`)
		// The page has every message it was online for; after a reload it
		// has the first sync's few and pages the rest in as it scrolls.
		w.run(t, "reloading", chromedp.Reload())
		w.wait(t, "the list is back", `[...document.querySelectorAll('.conv')].some(c => c.querySelector('.conv-last')?.textContent === 'busy 1000')`)
		w.exec(t, "opening it", `[...document.querySelectorAll('.conv')].find(c => c.querySelector('.conv-name').textContent === 'Busy').click()`)
		w.wait(t, "its latest page shows", msgJS("busy 1000")+` && document.querySelector('.older').textContent === ''`)
		scrollStart := time.Now()
		for pages := 0; ; pages++ {
			require.LessOrEqual(t, pages, n/50+2, "still not at the beginning after %d pages", pages)
			count := eval[int](t, w, `document.querySelectorAll('.messages .msg').length`)
			if count >= n {
				break
			}
			w.exec(t, "scrolling to the top", `document.querySelector('.messages').scrollTop = 0`)
			w.wait(t, "older messages load", fmt.Sprintf(`document.querySelectorAll('.messages .msg').length > %d`, count))
		}
		w.wait(t, "the whole history shows", msgJS("busy 1")+` && document.querySelector('.older').textContent === 'Beginning of the conversation'`)
		t.Logf("scrolled back through %d messages in %v", n, time.Since(scrollStart).Round(time.Millisecond))

		// The work one update does with n messages on screen: sending
		// renders the list and the conversation at once, synchronously.
		sendMs := eval[float64](t, w, `(() => {
			const t0 = performance.now();
			document.querySelector('.compose textarea').value = 'still quick';
			document.querySelector('.compose').requestSubmit();
			document.querySelector('.messages').offsetHeight; // layout included
			return performance.now() - t0;
		})()`)
		w.wait(t, "the message is sent", msgJS("still quick")+`?.dataset.id > 0`)
		w.botSend(t, g.Ref(), "busy reply")
		w.wait(t, "a pushed message shows", msgJS("busy reply"))
		t.Logf("one update with %d messages shown: %.1fms", n, sendMs)
		assert.LessOrEqual(t, sendMs, 100.0, "an update with %d messages shown took %.0fms, want under 100ms", n, sendMs)
	})

	t.Run("friend apply", func(t *testing.T) {
		w.run(t, "sending the bot a friend apply",
			chromedp.Click(chromedp.CSS(`.actions button:not(.primary)`)),
			chromedp.SetValue(chromedp.CSS(`.dialog input[name=user]`), "100"),
			chromedp.Click(chromedp.CSS(`.dialog button[type=submit]`)))
		w.wait(t, "the apply shows accepted", `document.querySelector('.dialog li[data-user="100"] .apply-status')?.textContent === 'accepted'`)
		w.wait(t, "the bot is a friend", `[...document.querySelectorAll('.dialog section')].pop().textContent.includes('User 100')`)
		w.screenshot(t, "console-friends.png")
		w.run(t, "closing the dialog", chromedp.Click(chromedp.CSS(`.dialog header button`)))
	})

	t.Run("expired token", func(t *testing.T) {
		w.clock.advance(imserver.DevLoginTTL + 2*time.Hour)
		w.cut.cut(false)
		w.wait(t, "the page asks to log in again", `document.querySelector('.login .error')?.textContent.includes('session expired')`)
		w.screenshot(t, "console-login.png")
		w.run(t, "logging in as user 1002",
			chromedp.SetValue(chromedp.CSS(`.login input[name=user]`), "1002"),
			chromedp.Click(chromedp.CSS(`.login button[type=submit]`)))
		w.wait(t, "user 1002 sees the group", `document.querySelector('.shell .me strong')?.textContent === 'User 1002' && document.querySelector('.conv[data-kind=group] .conv-name')?.textContent === 'Launch team'`)
	})
	t.Logf("browser tests took %v", time.Since(start).Round(time.Millisecond))
}

// singleChat returns the bot's single chat with the user.
func (w *world) singleChat(t *testing.T) im.ConversationRef {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := w.bot.Client().CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{userID}})
	require.NoError(t, err)
	return c.Ref()
}

func (w *world) botSend(t *testing.T, to im.ConversationRef, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := w.bot.Client().SendMessage(ctx, to, im.OutgoingMessage{Content: im.TextContent(text)})
	require.NoError(t, err, "the bot sending %q", text)
}

func (w *world) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(w.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		w.fail(t, "taking a screenshot", err)
	}
	path := filepath.Join(artifacts(t), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

func mustJSON(v []string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a []string always encodes
	}
	return string(b)
}

// testPNG encodes a w×h PNG.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 200, 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// testWAV encodes n samples of 8-bit mono PCM at rate.
func testWAV(rate, n int) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(rate)) // bytes per second
	le(uint16(1))    // block align
	le(uint16(8))    // bits per sample
	b.WriteString("data")
	le(uint32(n))
	for i := range n {
		b.WriteByte(byte(128 + 60*((i/8)%2*2-1)))
	}
	return b.Bytes()
}

// botGotFile waits for the bot to receive a message of type typ named
// name.
func (w *world) botGotFile(t *testing.T, typ im.MessageType, name string) *im.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-w.got:
			if f, ok := m.File(); ok && m.Type == typ && f.Name == name {
				return m
			}
		case <-deadline:
			require.FailNowf(t, "the bot did not receive the file", "%v %q within %v", typ, name, waitFor)
			return nil
		}
	}
}

// download reads the file of m as the bot.
func (w *world) download(t *testing.T, m *im.Message) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	body, err := w.bot.Client().OpenFile(ctx, m)
	require.NoError(t, err, "the bot opening the file of message %d", m.ServerID)
	defer body.Close()
	data, err := io.ReadAll(body)
	require.NoError(t, err, "the bot reading the file of message %d", m.ServerID)
	return data
}

// fileMsgJS finds the last sent (not pending) message whose file is named
// name.
func fileMsgJS(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.messages .msg:not(.pending)')].filter(m => m.querySelector('.file .file-name, .file.image img') && (m.querySelector('.file .file-name')?.textContent === %[1]q || m.querySelector('.file.image img')?.alt === %[1]q)).pop()`, name)
}

const maxUploadBytes = 64 << 10

func TestConsoleFiles(t *testing.T) {
	w := newWorld(t, func(c *imserver.Config) { c.MaxUploadBytes = maxUploadBytes })
	tok, err := w.srv.Token(int64(userID), 24*time.Hour) // outlives the clock moved in "stale link"
	require.NoError(t, err)
	w.run(t, "opening the console", chromedp.Navigate(w.page.URL+imserver.ConsolePath+"#token="+tok))
	w.wait(t, "the main view shows", `document.querySelector('.shell .me strong')?.textContent === 'User 1001'`)
	conv := w.singleChat(t)
	w.botSend(t, conv, "send me files")
	w.wait(t, "the chat with the bot shows", `[...document.querySelectorAll('.conv')].some(c => c.querySelector('.conv-last')?.textContent === 'send me files')`)
	w.exec(t, "opening it", `[...document.querySelectorAll('.conv')].find(c => c.querySelector('.conv-last')?.textContent === 'send me files').click()`)
	w.wait(t, "the chat is open", `document.querySelector('.conv-head h2')?.textContent === 'User 100'`)
	dir := t.TempDir()

	t.Run("attach", func(t *testing.T) {
		pic := testPNG(t, 48, 36)
		path := filepath.Join(dir, "attached.png")
		require.NoError(t, os.WriteFile(path, pic, 0o644))
		// The progress bar lives only while the upload does: record the
		// highest percentage it shows.
		w.exec(t, "watching the progress", `window.maxProgress = -1; new MutationObserver(() => {
			for (const e of document.querySelectorAll('.msg.pending[data-progress]')) window.maxProgress = Math.max(window.maxProgress, Number(e.dataset.progress));
		}).observe(document.querySelector('.messages'), { subtree: true, childList: true, attributes: true, attributeFilter: ['data-progress'] })`)
		w.run(t, "attaching the PNG", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the image shows in the chat", fileMsgJS("attached.png")+`?.querySelector('.file.image img')?.naturalWidth === 48`)
		assert.Equal(t, 100, eval[int](t, w, `window.maxProgress`), "the highest upload progress shown (%)")
		assert.Equal(t, 36, eval[int](t, w, fileMsgJS("attached.png")+`.querySelector('.file.image img').naturalHeight`))
		m := w.botGotFile(t, im.MessageTypeImage, "attached.png")
		f, _ := m.File()
		assert.Len(t, f.Key, 64, "the file's key: %+v", f)
		assert.Equal(t, "image/png", f.MimeType)
		assert.Equal(t, int64(len(pic)), f.Size)
		assert.Equal(t, 48, f.Width)
		assert.Equal(t, 36, f.Height)
		assert.Equal(t, pic, w.download(t, m), "the bytes the bot downloads")
		assert.Equal(t, int64(1), w.posts.Load(), "uploads the page made")
	})

	t.Run("drop", func(t *testing.T) {
		pic := testPNG(t, 20, 10)
		w.exec(t, "dropping a PNG on the conversation", fmt.Sprintf(`(() => {
			const bytes = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0));
			const dt = new DataTransfer();
			dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
			const pane = document.querySelector('main.pane');
			for (const type of ['dragenter', 'dragover', 'drop']) pane.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
		})()`, base64.StdEncoding.EncodeToString(pic)))
		w.wait(t, "the dropped image shows", fileMsgJS("dropped.png")+`?.querySelector('.file.image img')?.naturalWidth === 20`)
		m := w.botGotFile(t, im.MessageTypeImage, "dropped.png")
		assert.Equal(t, pic, w.download(t, m), "the bytes the bot downloads")
	})

	t.Run("received", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		pic := testPNG(t, 40, 30)
		m, err := w.bot.Client().SendFile(ctx, conv, im.Upload{File: im.FileInfo{Name: "from-go.png"}, Body: bytes.NewReader(pic)}, im.OutgoingMessage{})
		require.NoError(t, err)
		sel := fmt.Sprintf(`document.querySelector('.messages .msg[data-id="%d"]')`, m.ServerID)
		w.wait(t, "the bot's image loads", sel+`?.querySelector('.file.image img')?.complete && `+sel+`.querySelector('.file.image img').naturalWidth > 0`)
		assert.Equal(t, []int{40, 30}, eval[[]int](t, w, sel+`.querySelector('.file.image img') && [`+sel+`.querySelector('.file.image img').naturalWidth, `+sel+`.querySelector('.file.image img').naturalHeight]`), "the image's natural size")
		w.screenshot(t, "console-files.png")

		text := []byte("notes from Go\nline two\n")
		m, err = w.bot.Client().SendFile(ctx, conv, im.Upload{File: im.FileInfo{Name: "notes.txt"}, Body: bytes.NewReader(text)}, im.OutgoingMessage{})
		require.NoError(t, err)
		assert.Equal(t, im.MessageTypeFile, m.Type)
		sel = fmt.Sprintf(`document.querySelector('.messages .msg[data-id="%d"] a.file.download')`, m.ServerID)
		w.wait(t, "the download link has its URL", sel+`?.href.startsWith('http')`)
		assert.Equal(t, "notes.txt", eval[string](t, w, sel+`.download`))
		got, err := chromedp.Run(w.ctx, chromedp.Evaluate[string](sel+`.href && fetch(`+sel+`.href).then((r) => r.ok ? r.text() : 'HTTP ' + r.status)`, chromedp.EvalAwaitPromise))
		if err != nil {
			w.fail(t, "fetching the link", err)
		}
		assert.Equal(t, string(text), got, "what the download link fetches")
	})

	t.Run("custom", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		m, err := w.bot.Client().SendMessage(ctx, conv, im.OutgoingMessage{Type: im.MessageTypeCustom, Content: `{"card":"weather","temp":21}`})
		require.NoError(t, err)
		sel := fmt.Sprintf(`document.querySelector('.messages .msg[data-id="%d"] .bubble.custom')`, m.ServerID)
		w.wait(t, "the custom message shows folded", sel+`?.querySelector('details:not([open]) summary')`)
		assert.Equal(t, fmt.Sprint(int(im.MessageTypeCustom)), eval[string](t, w, sel+`.dataset.type`))
		assert.Contains(t, eval[string](t, w, sel+`.querySelector('summary').textContent`), "Custom message")
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(eval[string](t, w, sel+`.querySelector('details pre').textContent`)), &v), "the folded JSON")
		assert.Equal(t, map[string]any{"card": "weather", "temp": 21.0}, v)
		w.wait(t, "the list previews it", `document.querySelector('.conv.active .conv-last')?.textContent === '[custom]'`)
	})

	t.Run("refused and retried", func(t *testing.T) {
		pic := testPNG(t, 16, 16)
		path := filepath.Join(dir, "retried.png")
		require.NoError(t, os.WriteFile(path, pic, 0o644))
		before := w.posts.Load()
		w.refuse.Store(1)
		w.run(t, "attaching a PNG the server refuses", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the refusal shows with a retry", `document.querySelector('.msg.pending.failed .upload-error')?.textContent.includes('storage busy') && document.querySelector('.msg.pending.failed .state button')?.textContent === 'Retry'`)
		client := eval[string](t, w, `document.querySelector('.msg.pending.failed').dataset.client`)
		w.run(t, "retrying", chromedp.Click(chromedp.CSS(`.msg.pending.failed .state button`)))
		w.wait(t, "the retried image shows", fileMsgJS("retried.png")+`?.querySelector('.file.image img')?.naturalWidth === 16 && !document.querySelector('.msg.pending')`)
		m := w.botGotFile(t, im.MessageTypeImage, "retried.png")
		assert.Equal(t, client, m.Ext["s:client_message_id"], "the retry's client message id")
		assert.Equal(t, pic, w.download(t, m), "the bytes the bot downloads")
		assert.Equal(t, before+2, w.posts.Load(), "uploads: the refused one and the retry")
	})

	t.Run("audio", func(t *testing.T) {
		wav := testWAV(8000, 4000) // half a second
		path := filepath.Join(dir, "beep.wav")
		require.NoError(t, os.WriteFile(path, wav, 0o644))
		w.run(t, "attaching a WAV", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the audio shows in a player that loads it", fileMsgJS("beep.wav")+`?.querySelector('.file.audio audio')?.duration > 0`)
		assert.InDelta(t, 0.5, eval[float64](t, w, fileMsgJS("beep.wav")+`.querySelector('.file.audio audio').duration`), 0.01, "the player's duration (s)")
		m := w.botGotFile(t, im.MessageTypeAudio, "beep.wav")
		f, _ := m.File()
		assert.InDelta(t, 500*time.Millisecond, f.Duration, float64(10*time.Millisecond), "the duration the bot reads: %+v", f)
		assert.Equal(t, "audio/wave", f.MimeType, "the type the page declares for the browser's audio/wav: the server's name")
		assert.Equal(t, wav, w.download(t, m), "the bytes the bot downloads")
	})

	t.Run("ogg", func(t *testing.T) {
		// Not a stream a player decodes: the page sends it without a
		// duration, as audio of the type the server sniffs.
		ogg := append([]byte("OggS\x00\x02"), bytes.Repeat([]byte{0}, 200)...)
		path := filepath.Join(dir, "clip.ogg")
		require.NoError(t, os.WriteFile(path, ogg, 0o644))
		w.run(t, "attaching an OGG", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the audio shows in a player", fileMsgJS("clip.ogg")+`?.querySelector('.file.audio audio')`)
		m := w.botGotFile(t, im.MessageTypeAudio, "clip.ogg")
		f, _ := m.File()
		assert.Equal(t, "application/ogg", f.MimeType)
		assert.Equal(t, ogg, w.download(t, m), "the bytes the bot downloads")
	})

	t.Run("lightbox", func(t *testing.T) {
		w.run(t, "opening the image", chromedp.Click(chromedp.CSS(`.messages .msg .file.image`)))
		w.wait(t, "the lightbox shows it full size", `document.querySelector('.lightbox img')?.naturalWidth > 0`)
		w.run(t, "closing it", chromedp.KeyEvent("\x1b"))
		w.wait(t, "the lightbox is gone", `!document.querySelector('.lightbox')`)
	})

	t.Run("reload", func(t *testing.T) {
		w.run(t, "reloading", chromedp.Reload())
		w.wait(t, "the chat is open again", `document.querySelector('.conv-head h2')?.textContent === 'User 100'`)
		for _, name := range []string{"attached.png", "dropped.png", "retried.png", "from-go.png"} {
			w.wait(t, name+" loads again", fileMsgJS(name)+`?.querySelector('.file.image img')?.naturalWidth > 0`)
		}
		w.wait(t, "the link has its URL again", fileMsgJS("notes.txt")+`?.querySelector('a.file.download')?.href.startsWith('http')`)
	})

	t.Run("too large", func(t *testing.T) {
		before := w.posts.Load()
		path := filepath.Join(dir, "big.bin")
		require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("x"), maxUploadBytes+1), 0o644))
		pending := eval[int](t, w, `document.querySelectorAll('.msg.pending').length`)
		w.run(t, "attaching a file over the cap", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the refusal shows", `document.querySelector('.attach-error')?.textContent.includes('"big.bin"') && document.querySelector('.attach-error').offsetParent !== null`)
		assert.Contains(t, eval[string](t, w, `document.querySelector('.attach-error').textContent`), "at most 64 KB")
		assert.Equal(t, pending, eval[int](t, w, `document.querySelectorAll('.msg.pending').length`), "pending messages")
		time.Sleep(200 * time.Millisecond) // an upload started by mistake would be on its way
		assert.Equal(t, before, w.posts.Load(), "uploads the page made")
	})

	t.Run("live chat", func(t *testing.T) {
		pic := testPNG(t, 24, 12)
		path := filepath.Join(dir, "live.png")
		require.NoError(t, os.WriteFile(path, pic, 0o644))
		w.run(t, "creating a live chat",
			chromedp.Click(chromedp.CSS(`.actions button.primary`)),
			chromedp.SetValue(chromedp.CSS(`.dialog select[name=type]`), "100"),
			chromedp.SetValue(chromedp.CSS(`.dialog input[name=name]`), "Photo wall"),
			chromedp.Click(chromedp.CSS(`.dialog button[type=submit]`)))
		w.wait(t, "the live chat is open", `document.querySelector('.conv-head h2')?.textContent === 'Photo wall'`)
		w.run(t, "attaching a PNG", chromedp.SetUploadFiles(chromedp.CSS(`.compose input[type=file]`), []string{path}, chromedp.NodeReady))
		w.wait(t, "the image shows in the live chat", fileMsgJS("live.png")+`?.querySelector('.file.image img')?.naturalWidth === 24 && !document.querySelector('.msg.pending')`)
		w.exec(t, "going back to the bot", `[...document.querySelectorAll('.conv')].find(c => c.querySelector('.conv-name')?.textContent === 'User 100').click()`)
		w.wait(t, "the chat is open", `document.querySelector('.conv-head h2')?.textContent === 'User 100'`)
	})

	t.Run("stale link", func(t *testing.T) {
		// Two hours on, for the server and the page: the link's URL has
		// expired, and a click renews it before following it.
		link := fileMsgJS("notes.txt") + `.querySelector('a.file.download')`
		old := eval[string](t, w, link+`.href`)
		w.clock.advance(2 * time.Hour)
		w.exec(t, "moving the page's clock", `{ const now = Date.now.bind(Date); Date.now = () => now() + 2 * 3600e3; }`)
		status, err := chromedp.Run(w.ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, { cache: 'no-store' }).then((r) => r.status)`, old), chromedp.EvalAwaitPromise))
		if err != nil {
			w.fail(t, "fetching the old URL", err)
		}
		assert.GreaterOrEqual(t, status, 400, "the old URL's status after its expiry")
		w.exec(t, "clicking the link", link+`.click()`)
		w.wait(t, "the link has a new URL", fmt.Sprintf(`%s.href !== %q`, link, old))
		got, err := chromedp.Run(w.ctx, chromedp.Evaluate[string](`fetch(`+link+`.href).then((r) => r.ok ? r.text() : 'HTTP ' + r.status)`, chromedp.EvalAwaitPromise))
		if err != nil {
			w.fail(t, "fetching the new URL", err)
		}
		assert.Equal(t, "notes from Go\nline two\n", got, "what the renewed link fetches")
	})
}
