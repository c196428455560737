package middleware_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
)

// With HandleOwnMessages, the bot's own messages reach the middleware
// before IgnoreSelf but not a handler after it that answers every
// message, which would otherwise answer itself forever; the other events
// about the bot's messages do.
func TestIgnoreSelfThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, mwBotID, func(o *bot.Options) { o.HandleOwnMessages = true })
	tap := newMWTap()
	var reached mwTexts
	recalled := make(chan im.MessageID, 1)
	b.Use(tap.Middleware, middleware.IgnoreSelf())
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		switch c.Event.Kind {
		case bot.EventMessageRecalled:
			recalled <- c.Event.Message.ServerID
			return nil
		case bot.EventMessage:
		default:
			return nil
		}
		reached.add(c)
		text := c.Event.Message.Text()
		m, err := c.Reply("echo: " + text) // no check of the sender
		if err != nil || text != "recall yours" {
			return err
		}
		return c.Client().RecallMessage(c.Context(), c.Event.ConversationRef, m.ServerID)
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)

	alice.Send(t, conv, "hi")
	mwWantReply(t, alice, conv, "echo: hi")
	own := tap.waitText(t, "echo: hi") // the bot's own message came, and went
	require.Equal(t, middleware.SkipSelf, own.Skipped, "the bot's own message: skip reason")
	require.Empty(t, tap.waitText(t, "hi").Skipped, "alice's message: skip reason, want none")
	alice.Send(t, conv, "recall yours")
	reply := alice.WaitMessage(t, conv, mwWait)
	require.Equal(t, reply.ServerID, mwWaitValue(t, recalled, "recall of the bot's message"), "recall of the message that reached the handler")
	alice.Send(t, conv, "bye")
	mwWantReply(t, alice, conv, "echo: bye")
	require.Equal(t, []string{"hi", "recall yours", "bye"}, reached.list(), "the handler got, want only the user's")
}

func TestIgnoreSelfWithoutBotPasses(t *testing.T) {
	t.Parallel()
	called := 0
	h := middleware.IgnoreSelf()(bot.HandlerFunc(func(*bot.Context) error {
		called++
		return nil
	}))
	for _, ev := range []bot.Event{
		{Kind: bot.EventMessage, Message: &im.Message{Sender: 0}},
		{Kind: bot.EventMessage, Message: &im.Message{Sender: mwBotID}},
		{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 1}},
	} {
		require.NoError(t, h.Handle(bot.NewContext(context.Background(), ev)))
	}
	require.Equal(t, 3, called, "handler calls for 3 events of no bot")
}

// mwClock is a clock that moves only when told to.
type mwClock struct {
	mu  sync.Mutex
	now time.Time
}

func newMWClock() *mwClock { return &mwClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *mwClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *mwClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mwStrangersBot runs a bot with IgnoreSelf and IgnoreStrangers(opts)
// that echoes the messages reaching its handler, which it records.
func mwStrangersBot(t *testing.T, s *imtest.Server, opts middleware.StrangersOptions) (*bot.Bot, *mwTap, *mwTexts) {
	t.Helper()
	b := mwNewBot(t, s, nil)
	tap := newMWTap()
	reached := new(mwTexts)
	b.Use(tap.Middleware, middleware.IgnoreSelf(), middleware.IgnoreStrangers(opts))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		reached.add(c)
		_, err := c.Reply("echo: " + c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	return b, tap, reached
}

// mwApply sends u's friend apply to the bot.
func mwApply(t *testing.T, u *imtest.User) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mwWait)
	defer cancel()
	_, err := u.Client.SendFriendApply(ctx, mwBotID, nil)
	require.NoError(t, err)
}

// mwAccept has the bot accept u's apply, through its own client.
func mwAccept(t *testing.T, b *bot.Bot, u *imtest.User) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mwWait)
	defer cancel()
	_, failed, err := b.Client().ReplyFriendApply(ctx, im.ReplyFriendAttitudeAccept, u.ID())
	require.NoError(t, err, "accepting %v", u.ID())
	require.Empty(t, failed, "accepting %v: failed", u.ID())
}

// mwDropped waits for the message with text to have been through the
// chain and checks that the chain returned nil, marking it skipped as a
// stranger's.
func mwDropped(t *testing.T, tap *mwTap, text string) {
	t.Helper()
	done := tap.waitText(t, text)
	require.NoError(t, done.Err, "message %q, want it dropped", text)
	require.Equal(t, middleware.SkipStranger, done.Skipped, "message %q: skip reason", text)
}

// Through a bot: friends are answered in single chats and strangers not;
// strangers are answered in groups. The friend list follows every change
// at once, whoever made it: a friend whose apply the bot accepted itself,
// one who accepted the bot's apply, one the bot deleted and one who
// deleted the bot. The clock never moves, so no change is learnt by
// listing again for age.
func TestIgnoreStrangersThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	clock := newMWClock()
	b, tap, reached := mwStrangersBot(t, s, middleware.StrangersOptions{Now: clock.Now})
	alice, bob, carol, dave := s.NewUser(t, 1), s.NewUser(t, 2), s.NewUser(t, 3), s.NewUser(t, 4)
	mwApply(t, alice)
	mwAccept(t, b, alice)
	convA, convB := alice.CreateSingle(t, mwBotID), bob.CreateSingle(t, mwBotID)

	alice.Send(t, convA, "a1") // lists the friends
	mwWantReply(t, alice, convA, "echo: a1")
	require.Empty(t, tap.waitText(t, "a1").Skipped, "a friend's message: skip reason, want none")
	bob.Send(t, convB, "b1")
	mwDropped(t, tap, "b1")
	group := bob.CreateGroup(t, mwBotID)
	bob.Send(t, group, "g1")
	mwWantReply(t, bob, group, "echo: g1")

	// carol applies and the bot accepts, over its own socket: the server
	// tells that socket too, and carol is a friend at once.
	mwApply(t, carol)
	mwAccept(t, b, carol)
	convC := carol.CreateSingle(t, mwBotID)
	carol.Send(t, convC, "c1")
	mwWantReply(t, carol, convC, "echo: c1")

	// dave accepts the bot's apply: a friend at once.
	ctx, cancel := context.WithTimeout(context.Background(), mwWait)
	defer cancel()
	_, err := b.Client().SendFriendApply(ctx, dave.ID(), nil)
	require.NoError(t, err)
	_, _, err = dave.Client.ReplyFriendApply(ctx, im.ReplyFriendAttitudeAccept, mwBotID)
	require.NoError(t, err)
	convD := dave.CreateSingle(t, mwBotID)
	dave.Send(t, convD, "d1")
	mwWantReply(t, dave, convD, "echo: d1")

	// The bot ends its friendship with carol, and alice hers with the bot:
	// both are strangers at once.
	failed, err := b.Client().DeleteFriends(ctx, carol.ID())
	require.NoError(t, err, "deleting carol")
	require.Empty(t, failed, "deleting carol: failed")
	carol.Send(t, convC, "c2")
	mwDropped(t, tap, "c2")
	_, err = alice.Client.DeleteFriends(ctx, mwBotID)
	require.NoError(t, err)
	alice.Send(t, convA, "a2")
	mwDropped(t, tap, "a2")
	require.Equal(t, []string{"a1", "g1", "c1", "d1"}, reached.list(), "the handler got")
}

// A bot without a socket hears of no friend change: a message from a
// user not in its list lists the friends again once the list is
// RelistAfter old (DefaultRelistAfter by default), and never when
// RelistAfter is negative. Its messages come by compensating pulls, at
// most im.MinPullInterval apart, hence the longer waits.
func TestIgnoreStrangersWithoutSocket(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 10*time.Second, middleware.DefaultRelistAfter, "DefaultRelistAfter, documented as 10s")
	const wait = 3 * im.MinPullInterval
	for _, tc := range []struct {
		name        string
		relistAfter time.Duration
		advance     time.Duration
		answered    bool
	}{
		{"default", 0, middleware.DefaultRelistAfter, true},
		{"never", -1, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			b := s.NewBot(t, mwBotID, func(o *bot.Options) {
				o.Client.WebSocketLevel = im.WebSocketLevelDisable
				o.Client.PullInterval = im.MinPullInterval
			})
			handled := make(chan mwTapped, 64) // every message, once through the chain
			tap := func(next bot.Handler) bot.Handler {
				return bot.HandlerFunc(func(c *bot.Context) error {
					err := next.Handle(c)
					if c.Event.Kind == bot.EventMessage {
						handled <- mwTapped{c.Event, err, c.Skipped()}
					}
					return err
				})
			}
			clock := newMWClock()
			b.Use(tap, middleware.IgnoreSelf(), middleware.IgnoreStrangers(middleware.StrangersOptions{RelistAfter: tc.relistAfter, Now: clock.Now}))
			var reached mwTexts
			b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
				reached.add(c)
				_, err := c.Reply("echo: " + c.Event.Message.Text())
				return err
			}))
			s.RunBot(t, b)
			// waitHandled waits for the message with text to have been
			// through the chain, and checks its skip reason.
			waitHandled := func(text, skipped string) {
				t.Helper()
				timer := time.NewTimer(wait)
				defer timer.Stop()
				for {
					select {
					case d := <-handled:
						if d.Event.Message.Text() != text {
							continue
						}
						require.NoError(t, d.Err, "message %q", text)
						require.Equal(t, skipped, d.Skipped, "message %q: skip reason", text)
						return
					case <-timer.C:
						require.Failf(t, "timed out", "message %q not handled within %v", text, wait)
					}
				}
			}
			alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
			mwApply(t, alice)
			mwAccept(t, b, alice)
			convA, convB := alice.CreateSingle(t, mwBotID), bob.CreateSingle(t, mwBotID)
			alice.Send(t, convA, "a1") // lists the friends
			waitHandled("a1", "")

			mwApply(t, bob)
			mwAccept(t, b, bob) // unheard: no socket
			clock.Advance(tc.advance)
			bob.Send(t, convB, "b1")
			want, skipped := []string{"a1"}, middleware.SkipStranger
			if tc.answered {
				want, skipped = append(want, "b1"), ""
			}
			waitHandled("b1", skipped)
			require.Equal(t, want, reached.list(), "the handler got")
		})
	}
}

// A failed listing fails the event, without calling the handler; the next
// message lists again.
func TestIgnoreStrangersListingFails(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	errs := make(chan error, 4)
	b := mwNewBot(t, s, func(_ *bot.Context, err error) { errs <- err })
	var reached mwTexts
	cancelled := func(next bot.Handler) bot.Handler { // gives "fail" a dead context
		return bot.HandlerFunc(func(c *bot.Context) error {
			if c.Event.Kind == bot.EventMessage && c.Event.Message.Text() == "fail" {
				ctx, cancel := context.WithCancel(c.Context())
				cancel()
				c = c.WithContext(ctx)
			}
			return next.Handle(c)
		})
	}
	b.Use(middleware.IgnoreSelf(), cancelled, middleware.IgnoreStrangers(middleware.StrangersOptions{}))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		reached.add(c)
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		_, err := c.Reply("echo: " + c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	mwApply(t, alice)
	mwAccept(t, b, alice)
	conv := alice.CreateSingle(t, mwBotID)

	alice.Send(t, conv, "fail")
	require.ErrorIs(t, mwWaitValue(t, errs, "listing error"), context.Canceled, "OnError got, want the listing's context.Canceled")
	alice.Send(t, conv, "ok")
	mwWantReply(t, alice, conv, "echo: ok")
	require.Equal(t, []string{"ok"}, reached.list(), "the handler got, want only \"ok\"")
}

func TestIgnoreStrangersWithoutBot(t *testing.T) {
	t.Parallel()
	called := 0
	h := middleware.IgnoreStrangers(middleware.StrangersOptions{})(bot.HandlerFunc(func(*bot.Context) error {
		called++
		return nil
	}))
	pass := []bot.Event{
		{Kind: bot.EventMessage, Message: &im.Message{Sender: 1, ConversationType: im.ConversationTypeGroup}},
		{Kind: bot.EventMessageRecalled, Message: &im.Message{Sender: 1, ConversationType: im.ConversationTypeOneToOne}},
		{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 1}},
	}
	for _, ev := range pass {
		require.NoError(t, h.Handle(bot.NewContext(context.Background(), ev)), "%v", ev.Kind)
	}
	require.Equal(t, len(pass), called, "handler calls for %d events that pass, want all", len(pass))
	single := bot.Event{Kind: bot.EventMessage, Message: &im.Message{Sender: 1},
		ConversationRef: im.ConversationRef{ID: "0:1:1:100", Type: im.ConversationTypeOneToOne}}
	require.Error(t, h.Handle(bot.NewContext(context.Background(), single)), "a single-chat message without a bot, want an error")
	require.Equal(t, len(pass), called, "a single-chat message without a bot: handler calls, want none")
}

// mwProxy forwards TCP connections to a target address and can cut them
// all and refuse new ones, to take a client's socket down.
type mwProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and the copiers

	mu     sync.Mutex
	conns  []net.Conn
	refuse bool
}

func newMWProxy(t *testing.T, target string) *mwProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &mwProxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
		p.wg.Wait()
	})
	return p
}

func (p *mwProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		out, err := net.Dial("tcp", p.target)
		p.mu.Lock()
		if err != nil || p.refuse {
			p.mu.Unlock()
			in.Close()
			if out != nil {
				out.Close()
			}
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(out, in); out.Close() })
		p.wg.Go(func() { io.Copy(in, out); in.Close() })
	}
}

// cut closes every connection, and sets whether new ones are refused.
func (p *mwProxy) cut(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// After the bot's socket was down, during which the server's friend
// pushes were lost, the next single-chat message lists the friends again.
func TestIgnoreStrangersRelistsAfterReconnect(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	u, err := url.Parse(s.FrontierURL())
	require.NoError(t, err)
	proxy := newMWProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	opts := s.BotOptions(mwBotID)
	opts.Client.FrontierURL = u.String()
	b := s.NewBot(t, mwBotID, func(o *bot.Options) { *o = opts })
	var stateMu sync.Mutex
	var states []im.ConnectionState // every change, in order
	stateChanged := make(chan struct{}, 1)
	b.Client().OnConnectionState(func(st im.ConnectionState) {
		stateMu.Lock()
		states = append(states, st)
		stateMu.Unlock()
		select {
		case stateChanged <- struct{}{}:
		default:
		}
	})
	var reached mwTexts
	clock := newMWClock() // still: no listing for age
	b.Use(middleware.IgnoreSelf(), middleware.IgnoreStrangers(middleware.StrangersOptions{Now: clock.Now}))
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage {
			return nil
		}
		reached.add(c)
		_, err := c.Reply("echo: " + c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	alice, carol := s.NewUser(t, 1), s.NewUser(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), mwWait)
	defer cancel()
	mwApply(t, alice)
	mwAccept(t, b, alice)
	_, err = b.Client().SendFriendApply(ctx, carol.ID(), nil)
	require.NoError(t, err)
	convA, convC := alice.CreateSingle(t, mwBotID), carol.CreateSingle(t, mwBotID)
	alice.Send(t, convA, "a1") // lists the friends
	mwWantReply(t, alice, convA, "echo: a1")

	seen := 0 // states looked at
	waitState := func(want im.ConnectionState) {
		t.Helper()
		for {
			stateMu.Lock()
			i := slices.Index(states[seen:], want)
			if i >= 0 {
				seen += i + 1
			}
			stateMu.Unlock()
			if i >= 0 {
				return
			}
			mwWaitValue(t, stateChanged, want.String()+" state")
		}
	}
	proxy.cut(true)
	waitState(im.ConnectionStateReconnecting)
	// carol accepts while the bot is away: the push is lost.
	_, _, err = carol.Client.ReplyFriendApply(ctx, im.ReplyFriendAttitudeAccept, mwBotID)
	require.NoError(t, err)
	proxy.cut(false)
	waitState(im.ConnectionStateConnected)
	carol.Send(t, convC, "c1")
	mwWantReply(t, carol, convC, "echo: c1")
	require.Equal(t, []string{"a1", "c1"}, reached.list(), "the handler got")
}
