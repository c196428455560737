package middleware_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/router"
)

const (
	arBotID = im.UserID(100)
	arWait  = 5 * time.Second // the deadline of every wait on an event
)

// handledTexts is middleware that signals, per message text, that the
// chain inside it has returned for a message with that text: put it
// outermost to know that AutoRead has recorded a message.
type handledTexts struct {
	mu    sync.Mutex
	ch    map[string]chan struct{}
	index map[string]int64 // of the messages handled
}

func newHandledTexts() *handledTexts {
	return &handledTexts{ch: make(map[string]chan struct{}), index: make(map[string]int64)}
}

func (h *handledTexts) signal(text string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch[text] == nil {
		h.ch[text] = make(chan struct{})
	}
	return h.ch[text]
}

func (h *handledTexts) middleware(next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		err := next.Handle(c)
		if c.Event.Kind == bot.EventMessage {
			m := c.Event.Message
			h.mu.Lock()
			h.index[m.Text()] = m.Index
			h.mu.Unlock()
			ch := h.signal(m.Text())
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		return err
	})
}

// wait waits until a message with text has been handled and returns its
// index in its conversation.
func (h *handledTexts) wait(t *testing.T, text string) int64 {
	t.Helper()
	timer := time.NewTimer(arWait)
	defer timer.Stop()
	select {
	case <-h.signal(text):
	case <-timer.C:
		require.Failf(t, "timed out", "message %q not handled within %v", text, arWait)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.index[text]
}

var errFirst = errors.New("the first message fails")

// arBot starts a bot whose outermost middleware is the returned
// handledTexts, then AutoRead (plugged: its Run runs with the bot), then
// h. Handler errors other than errFirst fail the test.
func arBot(t *testing.T, s *imtest.Server, ar *middleware.AutoRead, h bot.Handler) *handledTexts {
	t.Helper()
	opts := s.BotOptions(arBotID)
	opts.OnError = func(c *bot.Context, err error) { // off the test's goroutine: assert
		if !errors.Is(err, errFirst) {
			assert.Failf(t, "handler error", "handler of %v: %v", c.Event.Kind, err)
		}
	}
	b, err := bot.New(opts)
	require.NoError(t, err)
	handled := newHandledTexts()
	b.Use(handled.middleware)
	require.NoError(t, b.Plug(ar))
	b.Handle(h)
	s.RunBot(t, b)
	return handled
}

// noop handles every event successfully.
var noop = bot.HandlerFunc(func(*bot.Context) error { return nil })

// botReads subscribes to u's reports of the bot's read index in conv,
// which the server sends as the index moves.
func botReads(t *testing.T, u *imtest.User, conv im.ConversationRef) <-chan int64 {
	t.Helper()
	ch := make(chan int64, 64)
	sub := u.Client.OnReadIndexChanged(func(e im.ReadIndexEvent) {
		if e.UserID != arBotID || e.ConversationID != conv.ID {
			return
		}
		select {
		case ch <- e.ReadIndex:
		default:
			assert.Failf(t, "too many events", "more than %d read index events", cap(ch))
		}
	})
	t.Cleanup(sub.Unsubscribe)
	return ch
}

// nextRead returns the next read index reported, failing after arWait.
func nextRead(t *testing.T, reads <-chan int64) int64 {
	t.Helper()
	timer := time.NewTimer(arWait)
	defer timer.Stop()
	select {
	case i := <-reads:
		return i
	case <-timer.C:
		require.Failf(t, "timed out", "the bot's read index did not move within %v", arWait)
		return 0
	}
}

func flush(t *testing.T, ar *middleware.AutoRead) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arWait)
	defer cancel()
	require.NoError(t, ar.Flush(ctx), "Flush")
}

// Three messages handled within an Interval make one mark, up to the
// newest.
func TestAutoReadCoalesces(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	ar := middleware.NewAutoRead(middleware.AutoReadOptions{Interval: time.Hour})
	handled := arBot(t, s, ar, noop)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, arBotID)
	reads := botReads(t, alice, conv)

	for _, text := range []string{"1", "2", "3"} {
		alice.Send(t, conv, text)
	}
	third := handled.wait(t, "3") // and so 1 and 2, before it in the conversation
	flush(t, ar)
	require.Equal(t, third, nextRead(t, reads), "first mark, want one mark up to the third message")
	// A fourth message, marked alone, is the next mark: nothing came
	// between.
	alice.Send(t, conv, "4")
	fourth := handled.wait(t, "4")
	flush(t, ar)
	require.Equal(t, fourth, nextRead(t, reads), "second mark: the first three messages made more than one mark")
}

// Without Flush, Run marks once the Interval has passed.
func TestAutoReadMarksAfterInterval(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	ar := middleware.NewAutoRead(middleware.AutoReadOptions{Interval: 20 * time.Millisecond})
	handled := arBot(t, s, ar, noop)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, arBotID)
	reads := botReads(t, alice, conv)
	for _, text := range []string{"1", "2", "3"} {
		alice.Send(t, conv, text)
	}
	third := handled.wait(t, "3")
	for n := 1; ; n++ {
		got := nextRead(t, reads)
		if got == third {
			break
		}
		require.Less(t, n, 3, "three marks and not up to %d (last: %d)", third, got)
	}
}

// Each way of keeping a message from being marked: its first message is
// not marked, so the first mark is the second message's.
func TestAutoReadDoesNotMark(t *testing.T) {
	t.Parallel()
	isFirst := func(c *bot.Context) bool { return c.Event.Message != nil && c.Event.Message.Text() == "first" }
	tests := []struct {
		name    string
		opts    middleware.AutoReadOptions
		handler func() bot.Handler
		ext     map[string]string // of the first message
	}{
		{
			name:    "do_not_move_read_index",
			handler: func() bot.Handler { return noop },
			ext:     map[string]string{string(im.InfoKeyDoNotMoveReadIndex): "true"},
		},
		{
			name: "handler error",
			handler: func() bot.Handler {
				return bot.HandlerFunc(func(c *bot.Context) error {
					if isFirst(c) {
						return errFirst
					}
					return nil
				})
			},
		},
		{
			name:    "Skip",
			opts:    middleware.AutoReadOptions{Skip: isFirst},
			handler: func() bot.Handler { return noop },
		},
		{
			name: "SkipAutoRead",
			handler: func() bot.Handler {
				return bot.HandlerFunc(func(c *bot.Context) error {
					if isFirst(c) {
						middleware.SkipAutoRead(c)
					}
					return nil
				})
			},
		},
		{
			name: "NoAutoRead on a route",
			handler: func() bot.Handler {
				r := router.New()
				r.With(middleware.NoAutoRead).OnCommand("/quiet", func(*bot.Context) error { return nil })
				r.OnMessage(func(*bot.Context) error { return nil })
				return r
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			opts := tt.opts
			opts.Interval = time.Hour
			ar := middleware.NewAutoRead(opts)
			handled := arBot(t, s, ar, tt.handler())
			alice := s.NewUser(t, 1)
			conv := alice.CreateSingle(t, arBotID)
			reads := botReads(t, alice, conv)

			first := "first"
			if tt.name == "NoAutoRead on a route" {
				first = "/quiet"
			}
			alice.SendMessage(t, conv, im.OutgoingMessage{Content: im.TextContent(first), Ext: tt.ext})
			handled.wait(t, first)
			flush(t, ar)
			alice.Send(t, conv, "second")
			second := handled.wait(t, "second")
			flush(t, ar)
			require.Equal(t, second, nextRead(t, reads), "first mark: the first message was marked")
		})
	}
}

// Run marks what is pending when its context ends; from then on the
// middleware marks at once. Run and Setup run once.
func TestAutoReadRunLifecycle(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	ar := middleware.NewAutoRead(middleware.AutoReadOptions{Interval: time.Hour})
	opts := s.BotOptions(arBotID)
	opts.OnError = func(c *bot.Context, err error) {
		assert.Failf(t, "handler error", "handler of %v: %v", c.Event.Kind, err)
	}
	b, err := bot.New(opts)
	require.NoError(t, err)
	handled := newHandledTexts()
	b.Use(handled.middleware, ar.Middleware())
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, arBotID)
	reads := botReads(t, alice, conv)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends Run when the test fails early
	done := make(chan error, 1)
	go func() { done <- ar.Run(ctx) }() // joined below
	alice.Send(t, conv, "1")
	first := handled.wait(t, "1")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Run")
	case <-time.After(arWait):
		require.Failf(t, "timed out", "Run did not return within %v of its context's end", arWait)
	}
	require.Equal(t, first, nextRead(t, reads), "mark at Run's end")
	alice.Send(t, conv, "2")
	second := handled.wait(t, "2")
	require.Equal(t, second, nextRead(t, reads), "mark after Run")
	assert.Error(t, ar.Run(context.Background()), "second Run returned nil, want an error")

	other := middleware.NewAutoRead(middleware.AutoReadOptions{})
	b1, b2 := s.NewBot(t, 101), s.NewBot(t, 102)
	require.NoError(t, b1.Plug(other))
	assert.Error(t, b2.Plug(other), "plugging one AutoRead into a second bot returned nil, want an error")
}
