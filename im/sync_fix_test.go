package im_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
)

// logRecorder is a slog.Handler that keeps every record, for tests that
// assert what the client logs.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
	more chan struct{} // signalled on every record
}

func newLogRecorder() *logRecorder { return &logRecorder{more: make(chan struct{}, 1)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	select {
	case h.more <- struct{}{}:
	default:
	}
	return nil
}

// errOf returns the record's "err" attribute.
func errOf(r slog.Record) error {
	var err error
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			err, _ = a.Value.Any().(error)
			return false
		}
		return true
	})
	return err
}

// wait waits for a record at level whose message contains msg and whose
// error satisfies match.
func (h *logRecorder) wait(t testing.TB, level slog.Level, msg string, match func(error) bool) slog.Record {
	t.Helper()
	deadline := time.After(waitFor)
	for seen := 0; ; {
		h.mu.Lock()
		recs := h.recs[seen:]
		seen = len(h.recs)
		h.mu.Unlock()
		for _, r := range recs {
			if r.Level == level && strings.Contains(r.Message, msg) && match(errOf(r)) {
				return r
			}
		}
		select {
		case <-h.more:
		case <-deadline:
			require.FailNow(t, "no matching record", "no %v record %q with a matching error within %v", level, msg, waitFor)
		}
	}
}

// inbox collects the messages a client delivers, by server id.
type inbox struct {
	mu   sync.Mutex
	got  []*im.Message
	more chan struct{}
}

func newInbox(c *im.Client) *inbox {
	in := &inbox{more: make(chan struct{}, 1)}
	c.OnMessageReceived(func(e im.MessageEvent) {
		in.mu.Lock()
		in.got = append(in.got, e.Message)
		in.mu.Unlock()
		select {
		case in.more <- struct{}{}:
		default:
		}
	})
	return in
}

func (in *inbox) messages() []*im.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

func (in *inbox) find(id im.MessageID) *im.Message {
	for _, m := range in.messages() {
		if m.ServerID == id {
			return m
		}
	}
	return nil
}

// wait waits until the message with server id id was delivered.
func (in *inbox) wait(t testing.TB, id im.MessageID) *im.Message {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if m := in.find(id); m != nil {
			return m
		}
		select {
		case <-in.more:
		case <-deadline:
			require.FailNow(t, "message not delivered", "message %d not delivered within %v", id, waitFor)
		}
	}
}

func noSocket(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelDisable }

func send(t testing.TB, c *im.Client, ref im.ConversationRef, text string, ext map[string]string) *im.Message {
	t.Helper()
	m, err := c.SendMessage(ctx(t), ref, im.OutgoingMessage{Content: im.TextContent(text), Ext: ext})
	require.NoError(t, err, "send %q", text)
	return m
}

// TestCachedConversationFollowsTheSync checks that the cached conversation
// follows what the sync engine applies: LastMessage (and so UpdatedAt)
// is the newest message, UnreadCount counts as the server counts (not
// this user's own messages, not those marked s:do_not_increase_unread),
// and a read index set on another device moves ReadIndex and the count.
// Every figure is compared with the server's answer to GetConversation.
func TestCachedConversationFollowsTheSync(t *testing.T) {
	s := newServer(t)
	alice := s.client(1, noSocket)
	conv, err := alice.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}})
	require.NoError(t, err)
	before := send(t, alice, conv.Ref(), "before init", nil)

	bob := s.unstarted(2)
	in := newInbox(bob)
	reads := make(chan im.ReadIndexEvent, 8)
	bob.OnReadIndexChanged(func(e im.ReadIndexEvent) { reads <- e })
	start(t, bob)
	got := bob.CachedConversation(conv.ID)
	require.NotNil(t, got, "after Init the cached conversation")
	require.NotNil(t, got.LastMessage, "after Init the cached conversation's last message")
	require.Equal(t, before.ServerID, got.LastMessage.ServerID, "after Init the cached conversation's last message")
	msgs := bob.CachedMessages(conv.ID)
	require.Len(t, msgs, 1, "after Init the cached messages, want one of source Init")
	require.Equal(t, im.MessageSourceInit, msgs[0].Source, "after Init the cached message's source")

	// Unread: before, m1, m3 (Alice's); m2 does not count, m4 is Bob's.
	m1 := send(t, alice, conv.Ref(), "one", nil)
	m2 := send(t, alice, conv.Ref(), "two", map[string]string{string(im.InfoKeyDoNotIncreaseUnread): "true"})
	m3 := send(t, alice, conv.Ref(), "three", nil)
	in.wait(t, m3.ServerID)
	m4 := send(t, bob, conv.Ref(), "four", nil)
	last := in.wait(t, m4.ServerID)
	_ = m2

	check := func(step string, wantUnread int, wantRead int64) {
		t.Helper()
		cached := bob.CachedConversation(conv.ID)
		require.NotNil(t, cached, "%s: conversation not cached", step)
		require.NotNil(t, cached.LastMessage, "%s: last message", step)
		require.Equal(t, last.ServerID, cached.LastMessage.ServerID, "%s: last message", step)
		at := cached.UpdatedAt()
		require.False(t, at.IsZero(), "%s: UpdatedAt %v, want %v", step, at, last.CreatedAt)
		require.True(t, at.Equal(last.CreatedAt), "%s: UpdatedAt %v, want %v", step, at, last.CreatedAt)
		require.Equal(t, wantUnread, cached.UnreadCount, "%s: cached unread", step)
		require.Equal(t, wantRead, cached.ReadIndex, "%s: cached read index", step)
		if cached.SettingInfo != nil {
			require.Equal(t, wantRead, cached.SettingInfo.ReadIndex, "%s: cached setting info read index", step)
		}
		fresh, err := bob.GetConversation(ctx(t), conv.Ref())
		require.NoError(t, err)
		require.Equal(t, cached.UnreadCount, fresh.UnreadCount, "%s: the server's unread count, against the cache's", step)
		require.Equal(t, cached.ReadIndex, fresh.ReadIndex, "%s: the server's read index, against the cache's", step)
		require.NotNil(t, fresh.LastMessage, "%s: fetching the conversation lost its last message", step)
		require.Equal(t, last.ServerID, fresh.LastMessage.ServerID, "%s: fetching the conversation lost its last message", step)
	}
	check("after the messages", 3, 0)

	// Bob reads on another device: the 501 push moves this one's badge.
	other := s.client(2, noSocket, func(o *im.Options) { o.DeviceID = "bob-2" })
	markRead := func(index int64) {
		t.Helper()
		require.NoError(t, other.MarkRead(ctx(t), conv.Ref(), index))
		for {
			select {
			case e := <-reads:
				if e.UserID == 2 && e.ReadIndex == index {
					return
				}
			case <-time.After(waitFor):
				require.FailNow(t, "read index not pushed", "read index %d not pushed within %v", index, waitFor)
			}
		}
	}
	idx1 := in.find(m1.ServerID).Index
	markRead(idx1)
	check("after reading up to m1", 1, idx1)
	markRead(last.Index)
	check("after reading everything", 0, last.Index)

	// Bob's own MarkRead: the server pushes it to his other sockets only,
	// so the cache learns it from the answer.
	read := last.Index
	m5 := send(t, alice, conv.Ref(), "five", nil)
	last = in.wait(t, m5.ServerID)
	check("after one more message", 1, read)
	require.NoError(t, bob.MarkRead(ctx(t), conv.Ref(), last.Index))
	check("after Bob's own mark-read", 0, last.Index)
}

// TestAutoReadIndexClearsTheCachedBadge checks that the read index the
// client sets itself (Options.AutoReadIndex) moves the cached read index
// and unread count.
func TestAutoReadIndexClearsTheCachedBadge(t *testing.T) {
	s := newServer(t)
	alice := s.client(1, noSocket)
	conv, err := alice.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}})
	require.NoError(t, err)
	bob := s.unstarted(2, func(o *im.Options) { o.AutoReadIndex = true })
	// What the cache shows as each message is delivered: the sync
	// goroutine marks a message read after its callbacks and before it
	// applies the next one.
	seen := make(chan *im.Conversation, 8)
	bob.OnMessageReceived(func(im.MessageEvent) { seen <- bob.CachedConversation(conv.ID) })
	start(t, bob)
	var sent []*im.Message
	for i, text := range []string{"one", "two", "three"} {
		sent = append(sent, send(t, alice, conv.Ref(), text, nil))
		var got *im.Conversation
		select {
		case got = <-seen:
		case <-time.After(waitFor):
			require.FailNow(t, "message not delivered", "message %q not delivered", text)
		}
		var wantRead int64
		if i > 0 {
			wantRead = got.LastMessage.Index - 1 // the previous message
		}
		require.Equal(t, sent[i].ServerID, got.LastMessage.ServerID, "at %q: cached last message", text)
		require.Equal(t, wantRead, got.ReadIndex, "at %q: cached read index", text)
		require.Equal(t, 1, got.UnreadCount, "at %q: cached unread", text)
	}
}

// TestFailedGapFetchIsRetried makes the fetch of a gap fail with
// TOO_MANY_REQUESTS, the server's real per-socket limit: the message
// after the gap is not delivered (nor skipped) while the fetch fails, the
// failure is logged, and it arrives once when the fetch can succeed. The
// gap is real: a message that Bob may not see (s:visible) has no place in
// his inbox, so his stream skips its index.
func TestFailedGapFetchIsRetried(t *testing.T) {
	const burst = 20
	s := newServer(t, func(c *imserver.Config) { c.RequestRate, c.RequestBurst = 1e-6, burst })
	alice := s.client(1, noSocket) // HTTP: not limited
	conv, err := alice.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}})
	require.NoError(t, err)
	logs := newLogRecorder()
	bob := s.unstarted(2, func(o *im.Options) { o.PullInterval, o.Logger = im.PullOff, slog.New(logs) })
	in := newInbox(bob)
	start(t, bob)
	waitConnected(t, bob)
	first := in.wait(t, send(t, alice, conv.Ref(), "first", nil).ServerID)

	// Use up the socket's requests; the bucket does not refill.
	limited := false
	for range burst + 10 {
		_, err := bob.GetConversation(ctx(t), conv.Ref())
		if errors.Is(err, im.ErrRateLimited) {
			limited = true
			break
		}
		require.NoError(t, err)
	}
	require.True(t, limited, "no TOO_MANY_REQUESTS after %d requests", burst+10)

	// Applied from its push, which needs no request.
	pushed := in.wait(t, send(t, alice, conv.Ref(), "pushed", nil).ServerID)
	require.Equal(t, im.MessageSourceOnline, pushed.Source, "a pushed message's source")
	hidden := send(t, alice, conv.Ref(), "not for bob", map[string]string{string(im.InfoKeyMessageVisible): "1"})
	after := send(t, alice, conv.Ref(), "after the gap", nil)

	limitedErr := func(err error) bool { return errors.Is(err, im.ErrRateLimited) }
	r := logs.wait(t, slog.LevelWarn, "applying a push failed", limitedErr)
	require.ErrorContains(t, errOf(r), "filling the gap", "the logged failure does not name the gap")
	logs.wait(t, slog.LevelWarn, "pull failed; retrying", limitedErr)
	require.Nil(t, in.find(after.ServerID), "the message after the gap was delivered although the gap was not filled")

	// A new socket has a new bucket: the pull and the gap fetch succeed.
	require.True(t, bob.DropConnection(), "a socket to drop")
	got := in.wait(t, after.ServerID)
	require.Equal(t, im.MessageSourceUserInbox, got.Source, "a pulled message's source")
	var ids []im.MessageID
	for _, m := range in.messages() {
		ids = append(ids, m.ServerID)
	}
	require.Equal(t, []im.MessageID{first.ServerID, pushed.ServerID, after.ServerID}, ids, "delivered, want once each, and not %d", hidden.ServerID)
}

// TestSocketLossIsLogged checks that the reason the server closed the
// socket (here its idle timeout, with a client that sends heartbeats too
// rarely) is logged with the close code and text.
func TestSocketLossIsLogged(t *testing.T) {
	s := newServer(t, func(c *imserver.Config) { c.IdleTimeout = 200 * time.Millisecond })
	logs := newLogRecorder()
	c := s.unstarted(2, func(o *im.Options) { o.Logger = slog.New(logs); o.HeartbeatInterval = 10 * time.Second })
	start(t, c)
	logs.wait(t, slog.LevelWarn, "socket lost", func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "closed by the server") &&
			strings.Contains(err.Error(), "1001") && strings.Contains(err.Error(), "idle for 200ms")
	})
}

// stateRecorder records the connection states a client reports.
func stateRecorder(c *im.Client) func() []im.ConnectionState {
	var mu sync.Mutex
	var states []im.ConnectionState
	c.OnConnectionState(func(s im.ConnectionState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	})
	return func() []im.ConnectionState {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
}

// TestClosedIsReportedOnce checks that OnConnectionState reports Closed
// exactly once, as the last state, by the time Close returns: with a
// socket, without one, and when Init was never called.
func TestClosedIsReportedOnce(t *testing.T) {
	s := newServer(t)
	closedOnce := func(t *testing.T, states []im.ConnectionState) {
		t.Helper()
		n := 0
		for _, st := range states {
			if st == im.ConnectionStateClosed {
				n++
			}
		}
		require.Equal(t, 1, n, "states %v: want Closed once, last", states)
		require.Equal(t, im.ConnectionStateClosed, states[len(states)-1], "states %v: want Closed once, last", states)
	}
	t.Run("socket", func(t *testing.T) {
		c := s.unstarted(2)
		states := stateRecorder(c)
		start(t, c)
		waitConnected(t, c)
		c.Close()
		c.Close()
		got := states()
		closedOnce(t, got)
		require.Equal(t, []im.ConnectionState{im.ConnectionStateConnecting, im.ConnectionStateConnected}, got[:2], "states %v: want connecting, connected first", got)
	})
	t.Run("no socket", func(t *testing.T) {
		c := s.unstarted(2, noSocket)
		states := stateRecorder(c)
		start(t, c)
		c.Close()
		closedOnce(t, states())
	})
	t.Run("never initialised", func(t *testing.T) {
		c := s.unstarted(2)
		c.Close()
		require.Equal(t, im.ConnectionStateClosed, c.ConnectionState(), "state after Close")
		require.ErrorIs(t, c.Init(ctx(t)), im.ErrClosed, "Init after Close")
	})
}

// TestCloseDuringInit closes the client while Init waits for its token:
// Close returns, Init fails with ErrClosed though its own context goes on,
// and nothing is left running (TestMain checks for leaks).
func TestCloseDuringInit(t *testing.T) {
	s := newServer(t)
	entered := make(chan struct{})
	c := s.unstarted(2, func(o *im.Options) {
		o.Token = func(ctx context.Context) (string, error) {
			close(entered)
			<-ctx.Done()
			return "", ctx.Err()
		}
	})
	states := stateRecorder(c)
	initErr := make(chan error, 1)
	go func() { initErr <- c.Init(context.Background()) }()
	select {
	case <-entered:
	case <-time.After(waitFor):
		require.FailNow(t, "Init did not ask for a token")
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitFor):
		require.FailNow(t, "Close hung during Init")
	}
	select {
	case err := <-initErr:
		require.ErrorIs(t, err, im.ErrClosed, "Init")
	case <-time.After(waitFor):
		require.FailNow(t, "Close did not end Init")
	}
	require.Equal(t, []im.ConnectionState{im.ConnectionStateClosed}, states(), "states: want only Closed (no socket was started)")
}
