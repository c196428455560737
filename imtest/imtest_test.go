package imtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTB is an imtest.TB that records failures instead of failing the
// test, so that tests can check how the harness fails. Its Fatalf ends
// the calling goroutine, as testing's does: call the harness through run.
type fakeTB struct {
	mu       sync.Mutex
	cleanups []func()
	errors   []string
	fatals   []string
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

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with f on a goroutine of its own and waits for it, so that
// a Fatalf ends that goroutine and not the test's.
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

func (f *fakeTB) failures() (errs, fatals []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errors), slices.Clone(f.fatals)
}

func TestUsersExchangeMessages(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	conv := alice.CreateSingle(t, bob.ID())
	if again := bob.CreateSingle(t, alice.ID()); again != conv {
		t.Fatalf("bob's single chat with alice is %+v, alice's %+v", again, conv)
	}

	sent := alice.Send(t, conv, "hello")
	got := bob.WaitReply(t, conv)
	if got.ServerID != sent.ServerID || got.Sender != alice.ID() || got.Text() != "hello" {
		t.Fatalf("bob got %+v, want alice's %q (server id %v)", got, "hello", sent.ServerID)
	}
	bob.Send(t, conv, "hi alice")
	if got := alice.WaitReply(t, conv).Text(); got != "hi alice" {
		t.Fatalf("alice got %q, want %q: her own message must not count", got, "hi alice")
	}
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
	if got := bob.WaitReply(t, single).Text(); got != "single" {
		t.Fatalf("single chat: got %q", got)
	}
	var got []string
	for range 6 {
		got = append(got, bob.WaitReply(t, group).Text())
	}
	want := []string{"group 0", "group 1", "group 2", "group 3", "group 4", "from carol"}
	if !slices.Equal(got, want) {
		t.Fatalf("group: got %q, want %q", got, want)
	}
}

func TestLiveChat(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	live := alice.CreateLive(t)
	if live.Type != im.ConversationTypeMassChat {
		t.Fatalf("CreateLive made a %v", live.Type)
	}
	bob.JoinLive(t, live)
	bob.Send(t, live, "hello everyone")
	if got := alice.WaitReply(t, live).Text(); got != "hello everyone" {
		t.Fatalf("alice got %q", got)
	}
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
	errs, fatals := ft.failures()
	if returned || len(errs) != 0 || len(fatals) != 1 {
		t.Fatalf("WaitMessage returned=%v, errors %q, fatals %q; want one Fatalf", returned, errs, fatals)
	}
	for _, want := range []string{"user 1", string(conv.ID), "50ms"} {
		if !strings.Contains(fatals[0], want) {
			t.Errorf("Fatalf message %q does not name %q", fatals[0], want)
		}
	}
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
		t.Fatal("RunBot returned before the bot was ready")
	}
	select {
	case <-jobDone:
		t.Fatal("the bot stopped before the cleanup")
	default:
	}

	ft.cleanup()
	select {
	case <-jobDone: // the cleanup waited for Run, which waits for its jobs
	default:
		t.Fatal("the bot's job still runs after the cleanup")
	}
	if _, err := b.Client().ListConversations(context.Background(), im.ListConversationsOptions{}); !errors.Is(err, im.ErrClosed) {
		t.Fatalf("the bot's client after the cleanup: err = %v, want ErrClosed", err)
	}
	if errs, fatals := ft.failures(); len(errs)+len(fatals) != 0 {
		t.Fatalf("errors %q, fatals %q", errs, fatals)
	}
}

func TestRunBotFailsWhenRunFails(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	opts := s.BotOptions(100)
	opts.Client.Token = func(context.Context) (string, error) { return "", errors.New("no token today") }
	b, err := bot.New(opts)
	if err != nil {
		t.Fatal(err)
	}

	var ft fakeTB
	ft.run(func(tb imtest.TB) { s.RunBot(tb, b) })
	ft.cleanup()
	errs, fatals := ft.failures()
	if len(errs) != 0 || len(fatals) != 1 || !strings.Contains(fatals[0], "no token today") {
		t.Fatalf("errors %q, fatals %q; want one Fatalf naming Run's error", errs, fatals)
	}
}

func TestNewUnstartedServer(t *testing.T) {
	t.Parallel()
	s := imtest.NewUnstartedServer(t)
	s.Config.AppID = 7
	s.Start()
	if s.AppID() != 7 {
		t.Fatalf("AppID() = %d, want the tweaked 7", s.AppID())
	}
	// Options follow the tweak, and Token mints for it.
	alice := s.NewUser(t, 1)
	opts := s.Options(2)
	opts.Token = im.StaticToken(s.Token(2))
	bob, err := im.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	ctx, cancel := context.WithTimeout(context.Background(), imtest.DefaultTimeout)
	defer cancel()
	if err := bob.Init(ctx); err != nil {
		t.Fatalf("Init with a static s.Token: %v", err)
	}
	conv := alice.CreateSingle(t, 2)
	if _, err := bob.SendMessage(ctx, conv, im.OutgoingMessage{Content: im.TextContent("hi")}); err != nil {
		t.Fatal(err)
	}
	if got := alice.WaitReply(t, conv).Text(); got != "hi" {
		t.Fatalf("alice got %q", got)
	}
}

func TestStartTwicePanics(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "imtest:") {
			t.Fatalf("second Start: recover() = %v, want an imtest: panic", p)
		}
	}()
	s.Start()
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
		if want := []int{2, 3, 1}; !slices.Equal(order, want) {
			t.Fatalf("order %v, want %v", order, want)
		}
	})
	t.Run("Fatalf panics", func(t *testing.T) {
		var s imtest.Script
		defer func() {
			if p := recover(); fmt.Sprint(p) != "boom 1" {
				t.Fatalf("recover() = %v, want boom 1", p)
			}
		}()
		s.Fatalf("boom %d", 1)
	})
	t.Run("Close panics after Errorf", func(t *testing.T) {
		var s imtest.Script
		ran := false
		s.Cleanup(func() { ran = true })
		s.Errorf("bad %s", "thing")
		defer func() {
			if p := recover(); !ran || fmt.Sprint(p) != "bad thing" {
				t.Fatalf("recover() = %v, cleanup ran %v; want bad thing after the cleanup", p, ran)
			}
		}()
		s.Close()
	})
}
