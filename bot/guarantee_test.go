package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// handled records, per conversation, the indexes of the user messages a
// bot's handler finished, and signals each.
type handled struct {
	mu    sync.Mutex
	order map[im.ConversationID][]int64
	runs  map[im.MessageID]int
	total int
	more  chan struct{}
}

func newHandled() *handled {
	return &handled{order: map[im.ConversationID][]int64{}, runs: map[im.MessageID]int{}, more: make(chan struct{}, 1)}
}

func (h *handled) add(m *im.Message) {
	h.mu.Lock()
	h.order[m.ConversationID] = append(h.order[m.ConversationID], m.Index)
	h.runs[m.ServerID]++
	h.total++
	h.mu.Unlock()
	select {
	case h.more <- struct{}{}:
	default:
	}
}

func (h *handled) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// indexes returns the indexes handled in conv, in order.
func (h *handled) indexes(conv im.ConversationID) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.order[conv])
}

// waitFor waits until n messages were handled.
func (h *handled) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for h.count() < n {
		select {
		case <-h.more:
		case <-deadline.C:
			t.Fatalf("%d of %d messages handled within %v", h.count(), n, timeout)
		}
	}
}

// check asserts that every conversation's handled indexes are exactly
// first..first+n-1 in order (each once).
func (h *handled) check(t *testing.T, convs []im.ConversationRef, first map[im.ConversationID]int64, n int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, runs := range h.runs {
		assert.Equal(t, 1, runs, "times message %d was handled", id)
	}
	for _, ref := range convs {
		got := h.order[ref.ID]
		assert.Len(t, got, n, "%s: messages handled", ref.ID)
		for i, idx := range got {
			if !assert.Equal(t, first[ref.ID]+int64(i), idx, "%s: handled index at position %d", ref.ID, i) {
				break
			}
		}
	}
}

// recorder is a handler that records each user message in h.
func recorder(h *handled) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		if c.FromUser() {
			h.add(c.Event.Message)
		}
		return nil
	})
}

// start runs b until the returned stop is called; stop cancels Run's
// context and waits for Run to return.
func start(t *testing.T, b *bot.Bot) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }() // joined by stop
	select {
	case <-b.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(waitFor):
		cancel()
		t.Fatalf("bot not ready within %v", waitFor)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err, "Run")
			case <-time.After(2 * waitFor):
				assert.Fail(t, "Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRestartHandlesEachMessageOnce(t *testing.T) {
	s := imtest.NewServer(t)
	progress := &bot.MemoryProgress{}
	u := s.NewUser(t, 1)
	var convs []im.ConversationRef
	for range 3 {
		convs = append(convs, u.CreateGroup(t, botID))
	}
	h := newHandled()
	newBot := func() *bot.Bot {
		b := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = progress })
		b.Handle(recorder(h))
		return b
	}
	stop := start(t, newBot())
	for i := range 5 {
		for _, c := range convs {
			u.Send(t, c, strconv.Itoa(i))
		}
	}
	h.waitFor(t, 15, waitFor)
	stop()
	// Sent while no bot runs: the next run must handle these, and only
	// these.
	for i := 5; i < 10; i++ {
		for _, c := range convs {
			u.Send(t, c, strconv.Itoa(i))
		}
	}
	start(t, newBot())
	h.waitFor(t, 30, waitFor)
	first := map[im.ConversationID]int64{}
	for _, c := range convs {
		first[c.ID] = 1
	}
	h.check(t, convs, first, 10)
}

func TestExactlyOnceAcrossDisconnects(t *testing.T) {
	const convs, perConv, drops = 50, 100, 50
	s := imtest.NewServer(t)
	h := newHandled()
	b := s.NewBot(t, botID)
	b.Handle(recorder(h))
	start(t, b)
	senders := make([]*imtest.User, 10)
	for i := range senders {
		senders[i] = s.NewUser(t, im.UserID(1+i))
	}
	refs := make([]im.ConversationRef, convs)
	for i := range refs {
		refs[i] = senders[i%len(senders)].CreateGroup(t, botID)
	}
	connected := make(chan struct{}, 1)
	b.Client().OnConnectionState(func(st im.ConnectionState) {
		if st == im.ConnectionStateConnected {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	})
	// Rounds of sends; after each, while its messages are on their way
	// to the bot, its socket drops.
	perRound := perConv / drops
	for round := range drops {
		var wg sync.WaitGroup
		for si, u := range senders {
			wg.Go(func() {
				for n := range perRound {
					for ci := si; ci < convs; ci += len(senders) {
						_, err := u.Client.SendMessage(context.Background(), refs[ci],
							im.OutgoingMessage{Content: im.TextContent(fmt.Sprint(round*perRound + n))})
						if !assert.NoError(t, err, "send") {
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for !b.Client().DropConnection() {
			select {
			case <-connected:
			case <-time.After(waitFor):
				t.Fatalf("round %d: the bot did not reconnect within %v", round, waitFor)
			}
		}
	}
	h.waitFor(t, convs*perConv, 60*time.Second)
	first := map[im.ConversationID]int64{}
	for _, r := range refs {
		first[r.ID] = 1
	}
	h.check(t, refs, first, perConv)
}

func TestGracefulShutdownCommitsDrainedHandlers(t *testing.T) {
	s := imtest.NewServer(t)
	progress := &bot.MemoryProgress{}
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)
	started, release := make(chan int64, 1), make(chan struct{})
	var runs atomic.Int32
	b := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = progress })
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		runs.Add(1)
		started <- c.Event.Message.Index
		return block(c, release, "release")
	}))
	stop := start(t, b)
	u.Send(t, conv, "slow")
	index := wait(t, started, "the handler to start")
	stopped := make(chan struct{})
	go func() { // joined below
		stop()
		close(stopped)
	}()
	close(release) // the handler finishes during the drain
	wait(t, stopped, "Run to return")
	p, err := progress.LoadProgress(context.Background())
	require.NoError(t, err)
	require.GreaterOrEqual(t, p.Handled[conv.ID], index, "committed index of %s after the drain, want at least the message's", conv.ID)
	// A restart does not handle it again.
	h := newHandled()
	b2 := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = progress })
	b2.Handle(recorder(h))
	start(t, b2)
	u.Send(t, conv, "next")
	h.waitFor(t, 1, waitFor)
	got := h.indexes(conv.ID)
	require.Equal(t, index+1, got[0], "after restart handled %v, want only index %d", got, index+1)
	require.Equal(t, int32(1), runs.Load(), "runs of the first bot's handler")
}

func TestShutdownCutOffIsHandledAgainAfterRestart(t *testing.T) {
	s := imtest.NewServer(t)
	progress := &bot.MemoryProgress{}
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)
	started := make(chan int64, 1)
	b := s.NewBot(t, botID, func(o *bot.Options) {
		o.Progress = progress
		o.DrainTimeout = time.Millisecond
		o.OnError = func(*bot.Context, error) {}
	})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		started <- c.Event.Message.Index
		<-c.Context().Done() // never finishes by itself
		return c.Context().Err()
	}))
	stop := start(t, b)
	u.Send(t, conv, "cut off")
	index := wait(t, started, "the handler to start")
	stop()
	h := newHandled()
	b2 := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = progress })
	b2.Handle(recorder(h))
	start(t, b2)
	h.waitFor(t, 1, waitFor)
	got := h.indexes(conv.ID)
	require.Equal(t, index, got[0], "after restart handled %v; want first the cut-off message's index", got)
}

func TestRetryPolicy(t *testing.T) {
	errFlaky := errors.New("flaky")
	cases := []struct {
		name      string
		fail      func(run int) error // the error of the handler's run-th run (1-based)
		wantRuns  int32
		wantError bool
	}{
		{"succeeds on the third run", func(run int) error {
			if run < 3 {
				return errFlaky
			}
			return nil
		}, 3, false},
		{"fails every time", func(int) error { return errFlaky }, 3, true},
		{"permanent", func(int) error { return bot.Permanent(errFlaky) }, 1, true},
		{"panics", func(int) error { panic("boom") }, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := imtest.NewServer(t)
			u := s.NewUser(t, 1)
			conv := u.CreateGroup(t, botID)
			errs := make(chan error, 4)
			var runs atomic.Int32
			b := s.NewBot(t, botID, func(o *bot.Options) {
				o.Retry = bot.RetryPolicy{Backoff: time.Millisecond}
				o.OnError = func(_ *bot.Context, err error) { errs <- err }
			})
			b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
				if !c.FromUser() {
					return nil
				}
				if c.Event.Message.Text() == "after" {
					close(errs)
					return nil
				}
				_, err := c.Reply("attempt")
				if err != nil {
					return err
				}
				return tc.fail(int(runs.Add(1)))
			}))
			start(t, b)
			u.Send(t, conv, "go")
			u.Send(t, conv, "after") // handled once "go" is finished
			var got []error
			for err := range errs {
				got = append(got, err)
			}
			assert.Equal(t, tc.wantRuns, runs.Load(), "handler runs")
			assert.LessOrEqual(t, len(got), 1, "OnError got %v", got)
			assert.Equal(t, tc.wantError, len(got) == 1, "OnError got %v, want one error: %v", got, tc.wantError)
			// Every run replied; the reply's derived client id makes
			// the server keep one.
			msgs, err := u.Client.LoadMessages(context.Background(), conv, im.MessageDirectionOlder, 0, 50)
			require.NoError(t, err)
			replies := 0
			for _, m := range msgs.Messages {
				if m.Sender == botID {
					replies++
				}
			}
			assert.Equal(t, 1, replies, "replies in the conversation")
		})
	}
}

// A message changed (here, reacted to) while the bot was down, before the
// bot handled it, reaches the restarted bot as a new message: its inbox
// entry resolves to the changed message, which the client alone would
// take for a change to a message it had delivered.
func TestRestartHandlesMessageChangedWhileDown(t *testing.T) {
	s := imtest.NewServer(t)
	progress := &bot.MemoryProgress{}
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)
	h := newHandled()
	newBot := func() *bot.Bot {
		b := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = progress })
		b.Handle(recorder(h))
		return b
	}
	stop := start(t, newBot())
	u.Send(t, conv, "before")
	h.waitFor(t, 1, waitFor)
	stop()
	m := u.Send(t, conv, "while down")
	require.NoError(t, u.Client.React(context.Background(), conv, m.ServerID, "like", "1"))
	start(t, newBot())
	h.waitFor(t, 2, waitFor)
	h.check(t, []im.ConversationRef{conv}, map[im.ConversationID]int64{conv.ID: 1}, 2)
}
