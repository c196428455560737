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
			t.Fatalf("no %v record %q with a matching error within %v", level, msg, waitFor)
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
			t.Fatalf("message %d not delivered within %v", id, waitFor)
		}
	}
}

func noSocket(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelDisable }

func send(t testing.TB, c *im.Client, ref im.ConversationRef, text string, ext map[string]string) *im.Message {
	t.Helper()
	m, err := c.SendMessage(ctx(t), ref, im.OutgoingMessage{Content: im.TextContent(text), Ext: ext})
	if err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	before := send(t, alice, conv.Ref(), "before init", nil)

	bob := s.unstarted(2)
	in := newInbox(bob)
	reads := make(chan im.ReadIndexEvent, 8)
	bob.OnReadIndexChanged(func(e im.ReadIndexEvent) { reads <- e })
	start(t, bob)
	if got := bob.CachedConversation(conv.ID); got == nil || got.LastMessage == nil || got.LastMessage.ServerID != before.ServerID {
		t.Fatalf("after Init the cached conversation's last message is %+v, want %d", got, before.ServerID)
	}
	if got := bob.CachedMessages(conv.ID); len(got) != 1 || got[0].Source != im.MessageSourceInit {
		t.Fatalf("after Init the cached messages are %+v, want one of source Init", got)
	}

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
		if cached == nil {
			t.Fatalf("%s: conversation not cached", step)
		}
		if cached.LastMessage == nil || cached.LastMessage.ServerID != last.ServerID {
			t.Fatalf("%s: last message %+v, want %d", step, cached.LastMessage, last.ServerID)
		}
		if at := cached.UpdatedAt(); at.IsZero() || !at.Equal(last.CreatedAt) {
			t.Fatalf("%s: UpdatedAt %v, want %v", step, at, last.CreatedAt)
		}
		if cached.UnreadCount != wantUnread || cached.ReadIndex != wantRead {
			t.Fatalf("%s: cached unread %d, read index %d; want %d, %d", step, cached.UnreadCount, cached.ReadIndex, wantUnread, wantRead)
		}
		if cached.SettingInfo != nil && cached.SettingInfo.ReadIndex != wantRead {
			t.Fatalf("%s: cached setting info read index %d, want %d", step, cached.SettingInfo.ReadIndex, wantRead)
		}
		fresh, err := bob.GetConversation(ctx(t), conv.Ref())
		if err != nil {
			t.Fatal(err)
		}
		if fresh.UnreadCount != cached.UnreadCount || fresh.ReadIndex != cached.ReadIndex {
			t.Fatalf("%s: the server says unread %d, read index %d; the cache said %d, %d",
				step, fresh.UnreadCount, fresh.ReadIndex, cached.UnreadCount, cached.ReadIndex)
		}
		if fresh.LastMessage == nil || fresh.LastMessage.ServerID != last.ServerID {
			t.Fatalf("%s: fetching the conversation lost its last message: %+v", step, fresh.LastMessage)
		}
	}
	check("after the messages", 3, 0)

	// Bob reads on another device: the 501 push moves this one's badge.
	other := s.client(2, noSocket, func(o *im.Options) { o.DeviceID = "bob-2" })
	markRead := func(index int64) {
		t.Helper()
		if err := other.MarkRead(ctx(t), conv.Ref(), index); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case e := <-reads:
				if e.UserID == 2 && e.ReadIndex == index {
					return
				}
			case <-time.After(waitFor):
				t.Fatalf("read index %d not pushed within %v", index, waitFor)
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
	if err := bob.MarkRead(ctx(t), conv.Ref(), last.Index); err != nil {
		t.Fatal(err)
	}
	check("after Bob's own mark-read", 0, last.Index)
}

// TestAutoReadIndexClearsTheCachedBadge checks that the read index the
// client sets itself (Options.AutoReadIndex) moves the cached read index
// and unread count.
func TestAutoReadIndexClearsTheCachedBadge(t *testing.T) {
	s := newServer(t)
	alice := s.client(1, noSocket)
	conv, err := alice.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}})
	if err != nil {
		t.Fatal(err)
	}
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
			t.Fatalf("message %q not delivered", text)
		}
		var wantRead int64
		if i > 0 {
			wantRead = got.LastMessage.Index - 1 // the previous message
		}
		if got.LastMessage.ServerID != sent[i].ServerID || got.ReadIndex != wantRead || got.UnreadCount != 1 {
			t.Fatalf("at %q: cached read index %d, unread %d, last %d; want %d, 1, %d",
				text, got.ReadIndex, got.UnreadCount, got.LastMessage.ServerID, wantRead, sent[i].ServerID)
		}
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
	if err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
	}
	if !limited {
		t.Fatalf("no TOO_MANY_REQUESTS after %d requests", burst+10)
	}

	// Applied from its push, which needs no request.
	pushed := in.wait(t, send(t, alice, conv.Ref(), "pushed", nil).ServerID)
	if pushed.Source != im.MessageSourceOnline {
		t.Fatalf("a pushed message has source %v, want Online", pushed.Source)
	}
	hidden := send(t, alice, conv.Ref(), "not for bob", map[string]string{string(im.InfoKeyMessageVisible): "1"})
	after := send(t, alice, conv.Ref(), "after the gap", nil)

	limitedErr := func(err error) bool { return errors.Is(err, im.ErrRateLimited) }
	r := logs.wait(t, slog.LevelWarn, "applying a push failed", limitedErr)
	if !strings.Contains(errOf(r).Error(), "filling the gap") {
		t.Fatalf("the logged failure does not name the gap: %v", errOf(r))
	}
	logs.wait(t, slog.LevelWarn, "pull failed; retrying", limitedErr)
	if in.find(after.ServerID) != nil {
		t.Fatal("the message after the gap was delivered although the gap was not filled")
	}

	// A new socket has a new bucket: the pull and the gap fetch succeed.
	if !bob.DropConnection() {
		t.Fatal("no socket to drop")
	}
	got := in.wait(t, after.ServerID)
	if got.Source != im.MessageSourceUserInbox {
		t.Fatalf("a pulled message has source %v, want UserInbox", got.Source)
	}
	var ids []im.MessageID
	for _, m := range in.messages() {
		ids = append(ids, m.ServerID)
	}
	if want := []im.MessageID{first.ServerID, pushed.ServerID, after.ServerID}; !slices.Equal(ids, want) {
		t.Fatalf("delivered %v, want %v (once each, and not %d)", ids, want, hidden.ServerID)
	}
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
		if n != 1 || states[len(states)-1] != im.ConnectionStateClosed {
			t.Fatalf("states %v: want Closed once, last", states)
		}
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
		if !slices.Equal(got[:2], []im.ConnectionState{im.ConnectionStateConnecting, im.ConnectionStateConnected}) {
			t.Fatalf("states %v: want connecting, connected first", got)
		}
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
		if got := c.ConnectionState(); got != im.ConnectionStateClosed {
			t.Fatalf("state %v after Close, want closed", got)
		}
		if err := c.Init(ctx(t)); !errors.Is(err, im.ErrClosed) {
			t.Fatalf("Init after Close: %v, want ErrClosed", err)
		}
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
		t.Fatal("Init did not ask for a token")
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("Close hung during Init")
	}
	select {
	case err := <-initErr:
		if !errors.Is(err, im.ErrClosed) {
			t.Fatalf("Init: %v, want ErrClosed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close did not end Init")
	}
	if got := states(); !slices.Equal(got, []im.ConnectionState{im.ConnectionStateClosed}) {
		t.Fatalf("states %v: want only Closed (no socket was started)", got)
	}
}
