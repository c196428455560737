package imtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
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
	goleak.VerifyTestMain(m)
}

// imtest's helpers take what testing and testify take: a TB is a
// require.TestingT, and testing's T, B and F and a *Script are TBs.
var (
	_ require.TestingT = imtest.TB(nil)
	_ require.TestingT = (*imtest.Script)(nil)
	_ imtest.TB        = (*imtest.Script)(nil)
	_ imtest.TB        = (*testing.T)(nil)
	_ imtest.TB        = (*testing.B)(nil)
	_ imtest.TB        = (*testing.F)(nil)
)

// fakeTB is an imtest.TB that records failures instead of failing the
// test, so that tests can check how the harness fails. Its FailNow ends
// the calling goroutine, as testing's does: call the harness through run.
type fakeTB struct {
	mu       sync.Mutex
	cleanups []func()
	errors   []string
	failNows int
}

var _ imtest.TB = (*fakeTB)(nil)

func (*fakeTB) Helper() {}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) FailNow() {
	f.mu.Lock()
	f.failNows++
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with f on a goroutine of its own and waits for it, so that
// a FailNow ends that goroutine and not the test's.
func (f *fakeTB) run(fn func(tb imtest.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

// cleanup runs the registered cleanups, last first.
func (f *fakeTB) cleanup() {
	f.mu.Lock()
	fns := slices.Clone(f.cleanups)
	f.cleanups = nil
	f.mu.Unlock()
	slices.Reverse(fns)
	for _, fn := range fns {
		fn()
	}
}

func (f *fakeTB) failures() (errs []string, failNows int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errors), f.failNows
}

// panicValue calls fn and returns what it panicked with, nil if it
// returned.
func panicValue(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

func TestUsersExchangeMessages(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	conv := alice.CreateSingle(t, bob.ID())
	require.Equal(t, conv, bob.CreateSingle(t, alice.ID()), "bob's single chat with alice must be alice's")

	sent := alice.Send(t, conv, "hello")
	got := bob.WaitReply(t, conv)
	require.Equal(t, sent.ServerID, got.ServerID, "server id of the message bob got")
	require.Equal(t, alice.ID(), got.Sender, "sender of the message bob got")
	require.Equal(t, "hello", got.Text(), "text of the message bob got")
	bob.Send(t, conv, "hi alice")
	require.Equal(t, "hi alice", alice.WaitReply(t, conv).Text(), "alice got: her own message must not count")
}

// WaitMessage returns, in order, messages that arrived before it was
// called.
func TestWaitMessageKeepsEarlierMessages(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob, carol := s.NewUser(t, 1), s.NewUser(t, 2), s.NewUser(t, 3)
	group := alice.CreateGroup(t, bob.ID(), carol.ID())
	single := alice.CreateSingle(t, bob.ID())
	for i := range 5 {
		alice.Send(t, group, fmt.Sprint("group ", i))
	}
	alice.Send(t, single, "single")
	carol.Send(t, group, "from carol")

	// Waiting on the single chat first skips nothing of the group's.
	require.Equal(t, "single", bob.WaitReply(t, single).Text(), "single chat")
	var got []string
	for range 6 {
		got = append(got, bob.WaitReply(t, group).Text())
	}
	want := []string{"group 0", "group 1", "group 2", "group 3", "group 4", "from carol"}
	require.Equal(t, want, got, "group")
}

func TestLiveChat(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	live := alice.CreateLive(t)
	require.Equal(t, im.ConversationTypeMassChat, live.Type, "type of what CreateLive made")
	bob.JoinLive(t, live)
	bob.Send(t, live, "hello everyone")
	require.Equal(t, "hello everyone", alice.WaitReply(t, live).Text(), "alice got")
}

func TestWaitMessageTimeoutFails(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	conv := alice.CreateSingle(t, bob.ID())
	alice.Send(t, conv, "only alice speaks")

	var ft fakeTB
	returned := false
	ft.run(func(tb imtest.TB) {
		alice.WaitMessage(tb, conv, 50*time.Millisecond)
		returned = true
	})
	errs, failNows := ft.failures()
	require.False(t, returned, "WaitMessage returned after failing")
	require.Len(t, errs, 1, "WaitMessage's Errorf calls")
	require.Equal(t, 1, failNows, "WaitMessage's FailNow calls")
	for _, want := range []string{"user 1", string(conv.ID), "50ms"} {
		assert.Contains(t, errs[0], want, "the failure message must say what WaitMessage waited for")
	}

	// Through a Script, the panic says it.
	var script imtest.Script
	p := panicValue(func() { alice.WaitMessage(&script, conv, 50*time.Millisecond) })
	require.NotNil(t, p, "WaitMessage with a Script did not panic")
	for _, want := range []string{"user 1", string(conv.ID), "50ms"} {
		assert.Contains(t, fmt.Sprint(p), want, "the Script's panic must say what WaitMessage waited for")
	}
	script.Close()
}

func TestRunBotStopsTheBotAtCleanup(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100)
	jobDone := make(chan struct{})
	b.Go(func(ctx context.Context) error {
		<-ctx.Done()
		close(jobDone)
		return nil
	})

	var ft fakeTB
	ft.run(func(tb imtest.TB) { s.RunBot(tb, b) })
	select {
	case <-b.Ready():
	default:
		require.FailNow(t, "RunBot returned before the bot was ready")
	}
	select {
	case <-jobDone:
		require.FailNow(t, "the bot stopped before the cleanup")
	default:
	}

	ft.cleanup()
	select {
	case <-jobDone: // the cleanup waited for Run, which waits for its jobs
	default:
		require.FailNow(t, "the bot's job still runs after the cleanup")
	}
	_, err := b.Client().ListConversations(context.Background(), im.ListConversationsOptions{})
	require.ErrorIs(t, err, im.ErrClosed, "the bot's client after the cleanup")
	errs, failNows := ft.failures()
	require.Empty(t, errs, "RunBot's Errorf calls")
	require.Zero(t, failNows, "RunBot's FailNow calls")
}

func TestRunBotFailsWhenRunFails(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	opts := s.BotOptions(100)
	opts.Client.Token = func(context.Context) (string, error) { return "", errors.New("no token today") }
	b, err := bot.New(opts)
	require.NoError(t, err)

	var ft fakeTB
	ft.run(func(tb imtest.TB) { s.RunBot(tb, b) })
	ft.cleanup()
	errs, failNows := ft.failures()
	require.Len(t, errs, 1, "RunBot's Errorf calls")
	require.Equal(t, 1, failNows, "RunBot's FailNow calls")
	require.Contains(t, errs[0], "no token today", "RunBot's failure must name Run's error")
}

func TestNewUnstartedServer(t *testing.T) {
	t.Parallel()
	s := imtest.NewUnstartedServer(t)
	s.Config.AppID = 7
	s.Start()
	require.Equal(t, int64(7), s.AppID(), "AppID() must be the tweaked one")
	// Options follow the tweak, and Token mints for it.
	alice := s.NewUser(t, 1)
	opts := s.Options(2)
	opts.Token = im.StaticToken(s.Token(2))
	bob, err := im.New(opts)
	require.NoError(t, err)
	defer bob.Close()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout)
	defer cancel()
	require.NoError(t, bob.Init(ctx), "Init with a static s.Token")
	conv := alice.CreateSingle(t, 2)
	_, err = bob.SendMessage(ctx, conv, im.OutgoingMessage{Content: im.TextContent("hi")})
	require.NoError(t, err)
	require.Equal(t, "hi", alice.WaitReply(t, conv).Text(), "alice got")
}

func TestStartTwicePanics(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	p := panicValue(s.Start)
	require.NotNil(t, p, "second Start did not panic")
	require.Contains(t, fmt.Sprint(p), "imtest:", "second Start's panic must be imtest's")
}

func TestScript(t *testing.T) {
	t.Parallel()
	t.Run("cleanups run last first", func(t *testing.T) {
		var s imtest.Script
		var order []int
		s.Cleanup(func() { order = append(order, 1) })
		s.Cleanup(func() {
			order = append(order, 2)
			s.Cleanup(func() { order = append(order, 3) }) // registered during Close
		})
		s.Close()
		require.Equal(t, []int{2, 3, 1}, order, "cleanup order")
	})
	t.Run("FailNow panics", func(t *testing.T) {
		var s imtest.Script
		s.Errorf("boom %d", 1)
		require.PanicsWithValue(t, "boom 1", s.FailNow, "FailNow after Errorf")
		require.NotPanics(t, s.Close, "Close must not report again what FailNow did")
		require.PanicsWithValue(t, "imtest: Script.FailNow called", s.FailNow, "FailNow without Errorf")
	})
	t.Run("Close panics after Errorf", func(t *testing.T) {
		var s imtest.Script
		ran := false
		s.Cleanup(func() { ran = true })
		s.Errorf("bad %s", "thing")
		require.PanicsWithValue(t, "bad thing", s.Close, "Close after Errorf")
		require.True(t, ran, "the cleanup must run before Close panics")
	})
	t.Run("require fails through FailNow", func(t *testing.T) {
		var s imtest.Script
		p := panicValue(func() { require.NoError(&s, errors.New("no token today"), "logging in") })
		require.NotNil(t, p, "require.NoError on an error did not panic through the Script")
		assert.Contains(t, fmt.Sprint(p), "no token today", "the panic must carry require's message")
		assert.Contains(t, fmt.Sprint(p), "logging in", "the panic must carry require's msgAndArgs")
		require.NotPanics(t, s.Close, "Close must not report again what FailNow did")
	})
}
