package bot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	goleak.VerifyTestMain(m)
}

const (
	botID   = im.UserID(100)
	waitFor = 5 * time.Second // the deadline of every wait on an event
)

// echo replies "echo: <text>" to every user message.
func echo(c *bot.Context) error {
	if !c.FromUser() {
		return nil
	}
	_, err := c.Reply("echo: " + c.Event.Message.Text())
	return err
}

// wait returns the next value from ch, failing the test after waitFor.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, waitFor)
		panic("unreachable")
	}
}

// block waits for ch (a signal channel, closed or sent to) from a handler:
// it returns an error instead when the handler's context ends or waitFor
// passes, so that a broken test fails rather than hangs.
func block(c *bot.Context, ch <-chan struct{}, what string) error {
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-c.Context().Done():
		return fmt.Errorf("waiting for %s: %w", what, c.Context().Err())
	case <-timer.C:
		return fmt.Errorf("no %s within %v", what, waitFor)
	}
}

// wantReply waits for u's next message from another user in conv and
// checks its text.
func wantReply(t *testing.T, u *imtest.User, conv im.ConversationRef, want string) {
	t.Helper()
	require.Equal(t, want, u.WaitReply(t, conv).Text(), "what user %v got", u.ID())
}

// running is a bot run by the test itself, for tests that stop it.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// run runs b until stop or the end of the test, and waits until it is
// ready.
func run(t *testing.T, b *bot.Bot) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { // joined by wait, or by the cleanup
		defer close(r.done)
		r.err = b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case <-b.Ready():
	case <-r.done:
		t.Fatalf("Run: %v", r.err)
	case <-time.After(waitFor):
		t.Fatalf("bot not ready within %v", waitFor)
	}
	return r
}

// wait waits for Run to return and returns its error.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(waitFor):
		t.Fatalf("Run did not return within %v", waitFor)
		return nil
	}
}

// countTexts subscribes to the bot's client itself, so that a test knows
// when the bot has taken an event: the client runs all callbacks of one
// event before the next event's, so once it reports text, the bot has
// enqueued (or taken) every earlier message. Call it before Run.
func countTexts(b *bot.Bot) (count *atomic.Int64, seen func(text string) <-chan struct{}) {
	count = new(atomic.Int64)
	var mu sync.Mutex
	want := map[string]chan struct{}{}
	signal := func(text string) chan struct{} {
		if want[text] == nil {
			want[text] = make(chan struct{})
		}
		return want[text]
	}
	b.Client().OnMessageReceived(func(e im.MessageEvent) { // ends with the client
		count.Add(1)
		mu.Lock()
		defer mu.Unlock()
		ch := signal(e.Message.Text())
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
	return count, func(text string) <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return signal(text)
	}
}

func TestHandlerReplies(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(bot.HandlerFunc(echo))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "hi")
	wantReply(t, alice, conv, "echo: hi")
}

// Within a conversation, events are handled once each and in order, even
// when they queue up; across conversations, handlers run in parallel.
func TestOrderWithinConversationParallelAcross(t *testing.T) {
	t.Parallel()
	const n = 200
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	convA, convB := alice.CreateSingle(t, botID), bob.CreateSingle(t, botID)

	bHandled := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	got := map[im.ConversationID][]string{}
	finished := make(chan im.ConversationID, 2)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		id, text := c.Event.ConversationRef.ID, c.Event.Message.Text()
		if id == convA.ID && text == "0" {
			// Only a second worker, running B meanwhile, lets A go on;
			// A's messages queue up behind this one.
			if err := block(c, bHandled, "handled event of conversation B while A's handler ran"); err != nil {
				return err
			}
		}
		mu.Lock()
		got[id] = append(got[id], text)
		done := len(got[id]) == n
		mu.Unlock()
		if id == convB.ID {
			once.Do(func() { close(bHandled) })
		}
		if done {
			finished <- id
		}
		return nil
	}))
	s.RunBot(t, b)

	want := make([]string, n)
	for i := range n {
		want[i] = strconv.Itoa(i)
		alice.Send(t, convA, want[i])
		bob.Send(t, convB, want[i])
	}
	wait(t, finished, "conversation handled to the end")
	wait(t, finished, "second conversation handled to the end")
	mu.Lock()
	defer mu.Unlock()
	for _, conv := range []im.ConversationRef{convA, convB} {
		assert.Equal(t, want, got[conv.ID], "conversation %v handled %d messages, not 0…%d once each in order", conv.ID, len(got[conv.ID]), n-1)
	}
}

// With handlers blocked and the queue full, the bot stops taking events
// from the client instead of dropping them; once unblocked, it handles
// every message once, in order.
func TestBackpressureDropsNothing(t *testing.T) {
	t.Parallel()
	const n = 30
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID, func(o *bot.Options) {
		o.Workers = 1
		o.MaxQueued = 2
	})
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID) // before Run: no conversation event
	taken, seen := countTexts(b)
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	allHandled := make(chan struct{})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		if err := block(c, release, "release"); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c.Event.Message.Text())
		if len(got) == n {
			close(allHandled)
		}
		return nil
	}))
	s.RunBot(t, b)

	want := make([]string, n)
	for i := range n {
		want[i] = strconv.Itoa(i)
		alice.Send(t, conv, want[i])
	}
	// One event runs (blocked), two wait, and the client is stuck handing
	// over the fourth: whatever the order of its callbacks, the client
	// reports the third message and no more than the fourth.
	wait(t, seen("2"), "third message taken by the bot")
	require.LessOrEqual(t, taken.Load(), int64(4), "with one blocked handler and MaxQueued 2, the messages the client handed over")
	close(release)
	wait(t, allHandled, "handling of every message")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, want, got, "handled; want 0…%d once each in order", n-1)
}

func TestPanicGoesToOnErrorAndTheBotGoesOn(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	type failure struct {
		text string
		err  error
	}
	failures := make(chan failure, 1)
	b := s.NewBot(t, botID, func(o *bot.Options) {
		o.OnError = func(c *bot.Context, err error) { failures <- failure{c.Event.Message.Text(), err} }
	})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.FromUser() && c.Event.Message.Text() == "panic" {
			panic("boom")
		}
		return echo(c)
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	alice.Send(t, conv, "panic")
	f := wait(t, failures, "error from the panicking handler")
	var pe *bot.PanicError
	require.ErrorAs(t, f.err, &pe, "OnError's error for %q", f.text)
	require.Equal(t, "boom", pe.Value, "the PanicError's value")
	require.NotEmpty(t, pe.Stack, "the PanicError's stack")
	require.Equal(t, "panic", f.text, "the message OnError got the error of")
	assert.True(t, strings.HasPrefix(pe.Error(), "bot:"), "PanicError.Error() = %q, want a bot: prefix", pe.Error())
	alice.Send(t, conv, "still there?")
	wantReply(t, alice, conv, "echo: still there?")
}

// dialog is a handler with one dialog: "/ask" asks a name and greets the
// next message's sender by it; every other message is echoed.
func dialog(c *bot.Context) error {
	if !c.FromUser() || c.Event.Message.Text() != "/ask" {
		return echo(c)
	}
	if _, err := c.Reply("name?"); err != nil {
		return err
	}
	m, err := c.WaitNext(waitFor)
	if err != nil {
		return err
	}
	_, err = c.Reply("hi " + m.Text())
	return err
}

func TestWaitNextDialog(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(bot.HandlerFunc(dialog))
	s.RunBot(t, b)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	convA, convB := alice.CreateSingle(t, botID), bob.CreateSingle(t, botID)

	alice.Send(t, convA, "/ask")
	wantReply(t, alice, convA, "name?")
	// While alice's handler waits, bob's conversation goes on.
	bob.Send(t, convB, "ping")
	wantReply(t, bob, convB, "echo: ping")
	alice.Send(t, convA, "Ann")
	wantReply(t, alice, convA, "hi Ann")
	// "Ann" went to the dialog only: the next reply is to the next message.
	alice.Send(t, convA, "after")
	wantReply(t, alice, convA, "echo: after")
}

// Handlers waiting in WaitNext do not hold the workers: with one worker
// and two dialogs waiting, a third conversation is still answered, and
// both dialogs then finish.
func TestDialogsDoNotHoldWorkers(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID, func(o *bot.Options) { o.Workers = 1 })
	b.Handle(bot.HandlerFunc(dialog))
	s.RunBot(t, b)
	alice, bob, carol := s.NewUser(t, 1), s.NewUser(t, 2), s.NewUser(t, 3)
	convA, convB, convC := alice.CreateSingle(t, botID), bob.CreateSingle(t, botID), carol.CreateSingle(t, botID)

	alice.Send(t, convA, "/ask")
	wantReply(t, alice, convA, "name?")
	carol.Send(t, convC, "/ask")
	wantReply(t, carol, convC, "name?")
	bob.Send(t, convB, "ping")
	wantReply(t, bob, convB, "echo: ping")
	carol.Send(t, convC, "Cay")
	wantReply(t, carol, convC, "hi Cay")
	alice.Send(t, convA, "Ann")
	wantReply(t, alice, convA, "hi Ann")
	bob.Send(t, convB, "pong")
	wantReply(t, bob, convB, "echo: pong")
}

// A message that arrives while the handler is still busy, before it calls
// WaitNext, is queued behind it; WaitNext takes it from there.
func TestWaitNextTakesAQueuedMessage(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	_, seen := countTexts(b)
	asked, proceed := make(chan struct{}), make(chan struct{})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.FromUser() && c.Event.Message.Text() == "/ask" {
			close(asked)
			if err := block(c, proceed, "proceed"); err != nil {
				return err
			}
		}
		return dialog(c)
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	alice.Send(t, conv, "/ask")
	wait(t, asked, "/ask handled")
	alice.Send(t, conv, "Ann")
	alice.Send(t, conv, "later")
	wait(t, seen("later"), `"later" taken by the bot`) // so "Ann" is queued
	close(proceed)
	wantReply(t, alice, conv, "name?")
	wantReply(t, alice, conv, "hi Ann")
	wantReply(t, alice, conv, "echo: later")
}

func TestWaitNextTimeout(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	waited := make(chan error, 1)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() || c.Event.Message.Text() != "/ask" {
			return echo(c)
		}
		_, err := c.WaitNext(20 * time.Millisecond)
		waited <- err
		return nil
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	alice.Send(t, conv, "/ask")
	require.ErrorIs(t, wait(t, waited, "WaitNext to return"), bot.ErrWaitTimeout, "WaitNext")
	// The expired wait holds on to nothing: the next message is dispatched.
	alice.Send(t, conv, "x")
	wantReply(t, alice, conv, "echo: x")
}

// Stopping the bot, by Close or by cancelling Run's context, lets a running
// handler finish, and its reply go out, before Run returns.
func TestShutdownDrainsRunningHandler(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		stop func(b *bot.Bot, r *running)
	}{
		{"Close", func(b *bot.Bot, _ *running) { b.Close() }},
		{"cancel", func(_ *bot.Bot, r *running) { r.cancel() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			b := s.NewBot(t, botID)
			started, proceed, stopping := make(chan struct{}), make(chan struct{}), make(chan struct{})
			b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
				if !c.FromUser() {
					return nil
				}
				close(started)
				if err := block(c, proceed, "proceed"); err != nil {
					return err
				}
				_, err := c.Reply("done")
				return err
			}))
			b.Go(func(ctx context.Context) error { // tells when the shutdown began
				<-ctx.Done()
				close(stopping)
				return nil
			})
			r := run(t, b)
			alice := s.NewUser(t, 1)
			conv := alice.CreateSingle(t, botID)

			alice.Send(t, conv, "work")
			wait(t, started, "handler start")
			tt.stop(b, r)
			wait(t, stopping, "shutdown")
			close(proceed)
			wantReply(t, alice, conv, "done")
			require.NoError(t, r.wait(t), "Run")
		})
	}
}

// A handler still running at the drain deadline sees its context
// cancelled; events queued behind it are dropped, not run with a dead
// context.
func TestShutdownCancelsHandlersAtDrainTimeout(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID, func(o *bot.Options) { o.DrainTimeout = 20 * time.Millisecond })
	_, seen := countTexts(b)
	started := make(chan struct{})
	ctxErr := make(chan error, 1)
	var handled []string // by this conversation's handlers, one at a time
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		handled = append(handled, c.Event.Message.Text())
		if len(handled) == 1 {
			close(started)
			<-c.Context().Done()
			ctxErr <- c.Context().Err()
		}
		return nil
	}))
	r := run(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	alice.Send(t, conv, "stuck")
	wait(t, started, "handler start")
	alice.Send(t, conv, "queued")
	alice.Send(t, conv, "marker")
	wait(t, seen("marker"), `"marker" taken by the bot`) // so "queued" is queued
	r.cancel()
	require.ErrorIs(t, wait(t, ctxErr, "the stuck handler's context to end"), context.Canceled, "the end of the handler's context")
	require.NoError(t, r.wait(t), "Run")
	require.Equal(t, []string{"stuck"}, handled, "handled: queued events must be dropped at the deadline")
}

// A handler waiting for a next message when the bot shuts down gets
// ErrClosed at once: no message can come any more.
func TestWaitNextEndsAtShutdown(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	waiting := make(chan struct{})
	waited := make(chan error, 1)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		close(waiting)
		_, err := c.WaitNext(time.Hour)
		waited <- err
		return nil
	}))
	r := run(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	alice.Send(t, conv, "/ask")
	wait(t, waiting, "handler start")
	b.Close()
	require.ErrorIs(t, wait(t, waited, "WaitNext to return"), bot.ErrClosed, "WaitNext at shutdown")
	require.NoError(t, r.wait(t), "Run")
}

// mustPanic calls f and returns what it panicked with, failing the test if
// it did not.
func mustPanic(t *testing.T, name string, f func()) (msg string) {
	t.Helper()
	defer func() {
		p := recover()
		assert.NotNil(t, p, "%s did not panic", name)
		msg = fmt.Sprint(p)
	}()
	f()
	return ""
}

// The setup panics name the file:line of the call that erred. Each call
// is on the line thisLine reports.
func TestSetupPanicsNameTheCaller(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	var line int
	fresh := s.NewBot(t, botID)
	msg := mustPanic(t, "Handle(nil)", func() { line = thisLine(); fresh.Handle(nil) })
	wantAt(t, "Handle(nil)", msg, line)

	b := s.NewBot(t, botID)
	s.RunBot(t, b)
	mw := func(h bot.Handler) bot.Handler { return h }
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"Use", func() { line = thisLine(); b.Use(mw) }},
		{"Handle", func() { line = thisLine(); b.Handle(bot.HandlerFunc(echo)) }},
		{"Go", func() { line = thisLine(); b.Go(func(context.Context) error { return nil }) }},
		{"Plug", func() { line = thisLine(); _ = b.Plug(&testPlugin{}) }},
	} {
		msg := mustPanic(t, tt.name, tt.f)
		assert.True(t, strings.HasPrefix(msg, "bot: "+tt.name+" after Run"), "%s after Run panicked with %q, want a bot: %s after Run message", tt.name, msg, tt.name)
		wantAt(t, tt.name+" after Run", msg, line)
	}
	if err := b.Run(context.Background()); assert.Error(t, err, "second Run") {
		assert.True(t, strings.HasPrefix(err.Error(), "bot: "), "second Run: %v, want a bot: error", err)
	}
}

// thisLine returns the line it is called on.
func thisLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

// wantAt checks that a panic message names this file at line.
func wantAt(t *testing.T, what, msg string, line int) {
	t.Helper()
	want := fmt.Sprintf("bot_test.go:%d)", line)
	assert.Contains(t, filepath.ToSlash(msg), "/"+want, "%s panicked with a message that does not name %s", what, want)
}

func TestNewRejectsNegativeOptions(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	for _, tweak := range []func(*bot.Options){
		func(o *bot.Options) { o.Workers = -1 },
		func(o *bot.Options) { o.MaxQueued = -1 },
		func(o *bot.Options) { o.DrainTimeout = -1 },
	} {
		opts := s.BotOptions(botID)
		tweak(&opts)
		if _, err := bot.New(opts); assert.Error(t, err, "New(%+v)", opts) {
			assert.True(t, strings.HasPrefix(err.Error(), "bot: "), "New(%+v): %v, want a bot: error", opts, err)
		}
	}
	opts := s.BotOptions(botID)
	opts.Client.AppID = 0
	_, err := bot.New(opts)
	assert.Error(t, err, "New with bad client options")
}

// testPlugin adds a middleware that sets the "plugin" parameter and a
// background job that records its life.
type testPlugin struct {
	err                 error
	jobStarted, jobDone chan struct{}
}

func (p *testPlugin) Setup(b *bot.Bot) error {
	if p.err != nil {
		return p.err
	}
	b.Use(func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			c.SetParam("plugin", "seen")
			return next.Handle(c)
		})
	})
	b.Go(func(ctx context.Context) error {
		close(p.jobStarted)
		<-ctx.Done()
		close(p.jobDone)
		return nil
	})
	return nil
}

func TestPlugin(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	p := &testPlugin{jobStarted: make(chan struct{}), jobDone: make(chan struct{})}
	require.NoError(t, b.Plug(p))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		_, err := c.Reply("plugin " + c.Param("plugin"))
		return err
	}))
	r := run(t, b)
	wait(t, p.jobStarted, "plugin job start")
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "hi")
	wantReply(t, alice, conv, "plugin seen")

	select {
	case <-p.jobDone:
		require.FailNow(t, "the plugin's job ended before the shutdown")
	default:
	}
	r.cancel()
	require.NoError(t, r.wait(t), "Run")
	select {
	case <-p.jobDone: // Run waited for it
	default:
		require.FailNow(t, "Run returned before the plugin's job")
	}
}

func TestPlugError(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	setupErr := errors.New("no config")
	err := b.Plug(&testPlugin{err: setupErr})
	require.ErrorIs(t, err, setupErr, "Plug: want an error wrapping the Setup error")
	require.True(t, strings.HasPrefix(err.Error(), "bot: plugin *bot_test.testPlugin"), "Plug: %v, want a bot: plugin error", err)
}

func TestMiddlewareOrder(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	tag := func(name string) bot.Middleware {
		return func(next bot.Handler) bot.Handler {
			return bot.HandlerFunc(func(c *bot.Context) error {
				c.SetParam("trail", c.Param("trail")+name)
				return next.Handle(c)
			})
		}
	}
	b.Use(tag("1"), tag("2"))
	b.Use(tag("3"))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		_, err := c.Reply(c.Param("trail"))
		return err
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "hi")
	wantReply(t, alice, conv, "123") // the first added is outermost

	got := bot.Chain{tag("a"), tag("b")}.Then(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Param("trail") != "ab" {
			return fmt.Errorf("trail %q, want ab", c.Param("trail"))
		}
		return nil
	})).Handle(bot.NewContext(context.Background(), bot.Event{}))
	require.NoError(t, got, "Chain.Then")
}

func TestReadyAndLifecycle(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	select {
	case <-b.Ready():
		require.FailNow(t, "Ready before Run")
	default:
	}
	require.Equal(t, botID, b.UserID(), "UserID()")
	r := run(t, b) // returns once Ready is closed
	require.NoError(t, b.Close())
	require.NoError(t, b.Close()) // idempotent
	require.NoError(t, r.wait(t), "Run after Close")

	closed := s.NewBot(t, botID)
	closed.Close()
	require.ErrorIs(t, closed.Run(context.Background()), bot.ErrClosed, "Run of a closed bot")
}

// The bot's handler sees the other kinds of events, with their fields.
func TestOtherEvents(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	events := make(chan bot.Event, 256)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		select {
		case events <- c.Event:
			return nil
		case <-c.Context().Done():
			return c.Context().Err()
		}
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	next := func(kind bot.EventKind) bot.Event {
		t.Helper()
		for {
			if ev := wait(t, events, kind.String()+" event"); ev.Kind == kind {
				return ev
			}
		}
	}

	group := alice.CreateGroup(t, botID)
	ev := next(bot.EventConversationCreated)
	require.Equal(t, group, ev.ConversationRef, "conversation created: ref")
	require.NotNil(t, ev.Conversation, "conversation created: conversation")
	require.Equal(t, group.ID, ev.Conversation.ID, "conversation created: conversation")

	_, err := alice.Client.AddParticipants(ctx, group, 3)
	require.NoError(t, err)
	ev = next(bot.EventParticipantsAdded)
	require.Equal(t, group.ID, ev.ConversationRef.ID, "participants added: conversation")
	require.Equal(t, []im.UserID{3}, ev.Participants, "participants added: participants")

	_, err = alice.Client.SendFriendApply(ctx, botID, nil)
	require.NoError(t, err)
	ev = next(bot.EventFriendApplyReceived)
	require.NotNil(t, ev.FriendApply, "friend apply received: apply")
	require.Equal(t, alice.ID(), ev.FriendApply.FromUserID, "friend apply received: from")
	require.Equal(t, botID, ev.FriendApply.ToUserID, "friend apply received: to")
	require.Equal(t, alice.ID(), ev.Sender(), "friend apply received: sender")

	m := alice.Send(t, group, "oops")
	require.NoError(t, alice.Client.RecallMessage(ctx, group, m.ServerID))
	ev = next(bot.EventMessageRecalled)
	require.NotNil(t, ev.Message, "message recalled: message")
	require.Equal(t, m.ServerID, ev.Message.ServerID, "message recalled: message")
	require.True(t, ev.Message.IsRecalled(), "message recalled: %+v, want it recalled", ev.Message)
	require.Equal(t, group.ID, ev.ConversationRef.ID, "message recalled: conversation")
	require.Equal(t, alice.ID(), ev.Sender(), "message recalled: sender")
}

func TestEventKindString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind bot.EventKind
		want string
	}{
		{bot.EventMessage, "message"},
		{bot.EventFriendApplyReceived, "friend apply received"},
		{bot.EventKind(99), "EventKind(99)"},
	} {
		assert.Equal(t, tt.want, tt.kind.String(), "EventKind(%d).String()", int(tt.kind))
	}
}

func TestNewContextHasNoBot(t *testing.T) {
	t.Parallel()
	c := bot.NewContext(context.Background(), bot.Event{Kind: bot.EventMessage, Message: &im.Message{Sender: 7}})
	c.SetParam("city", "Paris")
	require.Equal(t, "Paris", c.Param("city"), "NewContext: param")
	require.Equal(t, "Paris", c.Params()["city"], "NewContext: params")
	require.Equal(t, im.UserID(7), c.Event.Sender(), "NewContext: sender")
	require.Nil(t, c.Client(), "NewContext: client")
	_, err := c.Reply("hi")
	assert.Error(t, err, "Reply on a Context of no bot")
	_, err = c.WaitNext(time.Millisecond)
	assert.Error(t, err, "WaitNext on a Context of no bot")
}
