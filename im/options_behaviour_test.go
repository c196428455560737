package im_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
)

// What the Options do, observed at the real server: which requests each
// client makes and when, what reaches the server with them, how the socket
// behaves when it is idle or when the server falls silent, and where a
// resumed sync starts.

// tagHeader is the HTTP header the clients of these tests send through
// Options.HTTPHeaders, so that the recorder can tell them apart.
const tagHeader = "X-Imbot-Test"

// seenRequest is one request as it reached the server.
type seenRequest struct {
	at      time.Time // when the server had answered it
	tag     string    // the tagHeader
	cmd     improto.IMCMD
	inbox   int32
	headers map[string]string // Request.headers
	// frontier is set for a Frontier handshake, with its URL query.
	frontier bool
	query    url.Values
}

// recorder serves the server through a handler that records every
// request before (a Frontier handshake) or after (an API request) the
// server handles it.
type recorder struct {
	url  string
	mu   sync.Mutex
	seen []seenRequest
	more chan struct{} // signalled on every request
}

// recorded starts a recording front for s's server; clients reach it
// through via.
func (s *server) recorded(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{more: make(chan struct{}, 1)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := seenRequest{tag: r.Header.Get(tagHeader), query: r.URL.Query()}
		if r.URL.Path == imserver.FrontierPath {
			seen.frontier, seen.at = true, time.Now()
			rec.add(seen) // the socket is served until it closes
			s.srv.ServeHTTP(w, r)
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		req := &improto.Request{}
		if proto.Unmarshal(data, req) == nil {
			seen.cmd, seen.inbox, seen.headers = improto.IMCMD(req.GetCmd()), req.GetInboxType(), req.GetHeaders()
		}
		s.srv.ServeHTTP(w, r)
		seen.at = time.Now()
		rec.add(seen)
	}))
	t.Cleanup(hs.Close)
	rec.url = hs.URL
	return rec
}

func (r *recorder) add(seen seenRequest) {
	r.mu.Lock()
	r.seen = append(r.seen, seen)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// via points a client at the recorder and tags its HTTP requests.
func (r *recorder) via(tag string) func(*im.Options) {
	return func(o *im.Options) {
		o.APIURL = r.url
		o.FrontierURL = strings.Replace(r.url, "http", "ws", 1) + imserver.FrontierPath
		o.HTTPHeaders = map[string]string{tagHeader: tag}
	}
}

// matching returns the requests so far that ok accepts.
func (r *recorder) matching(ok func(seenRequest) bool) []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seenRequest
	for _, s := range r.seen {
		if ok(s) {
			out = append(out, s)
		}
	}
	return out
}

// wait waits until n requests that ok accepts were seen and returns them.
func (r *recorder) wait(t *testing.T, n int, timeout time.Duration, what string, ok func(seenRequest) bool) []seenRequest {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := r.matching(ok); len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline.C:
			require.FailNow(t, what+" not seen", "%d %s not seen within %v: %d", n, what, timeout, len(r.matching(ok)))
		}
	}
}

// cmdOf accepts the requests of one tagged client for cmd.
func cmdOf(tag string, cmd improto.IMCMD) func(seenRequest) bool {
	return func(s seenRequest) bool { return s.tag == tag && s.cmd == cmd }
}

// TestOptionPullInterval checks compensating pulls at the server. A
// client without a socket, so that only pulls can bring it messages, pulls
// at start and then every MinPullInterval: a message sent after its first
// pull comes one interval later. A client with PullOff (and a push-only
// socket, since New refuses PullOff without one) pulls only at start and
// when its socket connects, never on a timer.
func TestOptionPullInterval(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	rec := s.recorded(t)
	// off starts first: a timer of its own would fire before periodic's.
	off := s.unstarted(2, rec.via("off"), func(o *im.Options) {
		o.PullInterval, o.WebSocketLevel = im.PullOff, im.WebSocketLevelPushOnly
	})
	opsOnline(t, off)
	periodic := s.unstarted(1, opsNoSocket, rec.via("periodic"), func(o *im.Options) { o.PullInterval = im.MinPullInterval })
	rp := newReceiver(periodic)
	start(t, periodic)
	sender := s.client(3, opsNoSocket)
	group := opsGroup(t, sender, 1, 2)

	pullOf := func(tag string) func(seenRequest) bool { return cmdOf(tag, improto.IMCMD_GET_MESSAGES_BY_USER) }
	first := rec.wait(t, 1, waitFor, "first pulls of periodic", pullOf("periodic"))[0]
	sent := opsSend(t, sender, group.Ref(), "only a pull brings this")

	rp.waitFor(t, 1, im.MinPullInterval+waitFor, nil)
	pulls := rec.matching(pullOf("periodic"))
	require.Len(t, pulls, 2, "pulls periodic made by the time the message came")
	require.GreaterOrEqual(t, pulls[1].at.Sub(first.at), im.MinPullInterval-time.Second, "how long after the first the second pull came, want about %v", im.MinPullInterval)
	rp.mu.Lock()
	got := rp.order[sent.ConversationID]
	rp.mu.Unlock()
	require.Equal(t, []int64{sent.Index}, got, "what periodic delivered")
	// off's pulls all came at its start: none in the interval since.
	offPulls := rec.matching(pullOf("off"))
	require.NotEmpty(t, offPulls, "off made no pull at all, not even at start")
	for _, p := range offPulls {
		require.False(t, p.at.After(first.at.Add(im.MinPullInterval/2)), "with PullOff the client pulled %v after start", p.at.Sub(first.at))
	}
}

// TestOptionHeadersReachServer checks that HTTPHeaders ride on every HTTP
// request, Headers in every Request envelope, and Extended, with the web
// SDK's parameters, in the Frontier URL's query.
func TestOptionHeadersReachServer(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	rec := s.recorded(t)
	c := s.unstarted(1, rec.via("headers"), func(o *im.Options) {
		o.WebSocketLevel = im.WebSocketLevelPushOnly // requests over HTTP, where the recorder reads them
		o.Headers = map[string]string{"app-header": "a"}
		o.Extended = map[string]string{"region": "eu"}
		o.DeviceID = "dev-7"
	})
	opsOnline(t, c)
	group := opsGroup(t, c, 2)
	opsSend(t, c, group.Ref(), "hello")

	reqs := rec.matching(func(s seenRequest) bool { return !s.frontier })
	var cmds []improto.IMCMD
	for _, r := range reqs {
		cmds = append(cmds, r.cmd)
		assert.Equal(t, "headers", r.tag, "%v: HTTP header %s, want the Options.HTTPHeaders value", r.cmd, tagHeader)
		assert.Equal(t, map[string]string{"app-header": "a"}, r.headers, "%v: Request.headers, want Options.Headers", r.cmd)
	}
	for _, want := range []improto.IMCMD{improto.IMCMD_GET_MESSAGES_BY_USER_INIT_V2, improto.IMCMD_CREATE_CONVERSATION_V2, improto.IMCMD_SEND_MESSAGE} {
		assert.Contains(t, cmds, want, "the recorded requests")
	}

	socks := rec.matching(func(s seenRequest) bool { return s.frontier })
	require.Len(t, socks, 1, "Frontier handshakes")
	q := socks[0].query
	want := map[string]string{
		"region": "eu", "aid": fmt.Sprint(testAppID), "fpid": fmt.Sprint(im.DefaultFPID), "device_id": "dev-7",
		"access_key": imserver.AccessKey(im.DefaultFPID, im.DefaultAppKey, "dev-7"), "device_platform": im.DefaultDevicePlatform,
	}
	for k, v := range want {
		assert.Equal(t, v, q.Get(k), "Frontier query %s", k)
	}
	assert.NotEmpty(t, q.Get("token"), "the Frontier query carries no token")
}

// TestOptionHeartbeatKeepsSocket runs two clients against a server that
// closes sockets idle for 400ms. The one whose HeartbeatInterval is 50ms
// keeps its socket: its "hi" reaches the server, and the server's answers
// keep its own 300ms empty window from running out. The one with the
// default 15s heartbeat is let go, twice, in the same time.
func TestOptionHeartbeatKeepsSocket(t *testing.T) {
	t.Parallel()
	const idle = 400 * time.Millisecond
	s := newServer(t, func(c *imserver.Config) { c.IdleTimeout = idle })
	beating := s.unstarted(1, func(o *im.Options) {
		o.HeartbeatInterval, o.MaxHeartbeatEmptyWindow = 50*time.Millisecond, 300*time.Millisecond
	})
	beatStates := opsEvents(beating.OnConnectionState)
	silent := s.unstarted(2)
	silentStates := opsEvents(silent.OnConnectionState)
	opsOnline(t, beating)
	covState(t, beatStates, im.ConnectionStateConnected)
	opsOnline(t, silent)

	// The silent client's drops are the clock: two of them take at least
	// twice the idle timeout, all of which the beating one was connected.
	began := time.Now()
	for drops := 0; drops < 2; {
		if covNext(t, silentStates, "the silent client's state") == im.ConnectionStateReconnecting {
			drops++
		}
	}
	require.GreaterOrEqual(t, time.Since(began), idle, "how long the silent client's two drops took, against the idle timeout")
	covNone(t, beatStates, "state change of the beating client")
	require.Equal(t, im.ConnectionStateConnected, beating.ConnectionState(), "the beating client's state")
}

// covState takes states from ch until want.
func covState(t *testing.T, ch <-chan im.ConnectionState, want im.ConnectionState) {
	t.Helper()
	opsWait(t, ch, "state "+want.String(), func(st im.ConnectionState) bool { return st == want })
}

// TestOptionMaxHeartbeatEmptyWindow puts a proxy between the client and
// the Frontier socket that goes deaf: the server still gets the client's
// heartbeats and answers them, but nothing reaches the client. After
// MaxHeartbeatEmptyWindow the client gives the socket up, reconnects, and
// gets pushes again.
func TestOptionMaxHeartbeatEmptyWindow(t *testing.T) {
	t.Parallel()
	const window = 500 * time.Millisecond
	s := newServer(t)
	proxy := newMuteProxy(t, s.hs.Listener.Addr().String())
	c := s.unstarted(1, func(o *im.Options) {
		o.FrontierURL = "ws://" + proxy.addr() + imserver.FrontierPath
		o.HeartbeatInterval, o.MaxHeartbeatEmptyWindow = 100*time.Millisecond, window
	})
	states := opsEvents(c.OnConnectionState)
	r := newReceiver(c)
	opsOnline(t, c)
	covState(t, states, im.ConnectionStateConnected)
	sender := s.client(2, opsNoSocket)
	group := opsGroup(t, sender, 1)
	opsSend(t, sender, group.Ref(), "before")
	r.waitFor(t, 1, waitFor, nil)

	proxy.mute()
	muted := time.Now()
	require.Equal(t, im.ConnectionStateReconnecting, covNext(t, states, "the reconnect"), "the state after the socket went silent")
	// The read deadline was last set by the last frame read before the
	// mute, a heartbeat or two earlier: the client waited most of the
	// window, it did not give up at once.
	require.GreaterOrEqual(t, time.Since(muted), window/4, "how long after it went silent the client gave the socket up, against the window of %v", window)
	covState(t, states, im.ConnectionStateConnected)
	opsSend(t, sender, group.Ref(), "after")
	r.waitFor(t, 2, waitFor, nil)
	r.check(t, 1, 2)
}

// muteProxy forwards TCP connections to a target; mute makes the
// connections open at that time drop everything the target sends.
type muteProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]*atomic.Bool // client side → muted
	closed bool
}

func newMuteProxy(t *testing.T, target string) *muteProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &muteProxy{ln: ln, target: target, conns: map[net.Conn]*atomic.Bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *muteProxy) addr() string { return p.ln.Addr().String() }

func (p *muteProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		muted := new(atomic.Bool)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			upstream.Close()
			return
		}
		p.conns[client] = muted
		p.conns[upstream] = muted
		p.mu.Unlock()
		shut := func() {
			client.Close()
			upstream.Close()
		}
		p.wg.Go(func() {
			defer shut()
			_, _ = io.Copy(upstream, client)
		})
		p.wg.Go(func() {
			defer shut()
			buf := make([]byte, 32<<10)
			for {
				n, err := upstream.Read(buf)
				if n > 0 && !muted.Load() {
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// mute silences the connections open now; later ones are not.
func (p *muteProxy) mute() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.conns {
		m.Store(true)
	}
}

func (p *muteProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// TestOptionInboxType checks that inbox types are isolated mailboxes, and
// that a client takes pushes of another inbox type only with
// AcceptIncorrectInboxType. The server pushes to every socket of a user,
// whatever its inbox; a read receipt in inbox 1 reaches user 1's inbox-0
// clients too.
func TestOptionInboxType(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	inbox1 := func(o *im.Options) { o.InboxType = 1 }
	one := s.unstarted(1, inbox1)
	r1 := newReceiver(one)
	opsOnline(t, one)
	two := s.client(2, inbox1, opsNoSocket)
	cx := ctx(t)

	chat := opsMust(two.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1}}))(t)
	require.Equal(t, im.SingleChatID(1, 1, 2), chat.ID, "single chat in inbox 1")
	hello := opsSend(t, two, chat.Ref(), "hello in inbox 1")
	r1.waitFor(t, 1, waitFor, nil)

	// Inbox 0 is another mailbox: user 1 has no such conversation there.
	strict := s.unstarted(1)
	strictReads, strictMsgs := opsEvents(strict.OnReadIndexChanged), opsEvents(strict.OnMessageReceived)
	opsOnline(t, strict)
	lenient := s.unstarted(1, func(o *im.Options) { o.AcceptIncorrectInboxType = true })
	lenientReads := opsEvents(lenient.OnReadIndexChanged)
	opsOnline(t, lenient)
	require.Nil(t, strict.CachedConversation(chat.ID), "the inbox-0 client has the inbox-1 chat")
	page := opsMust(strict.ListConversations(cx, im.ListConversationsOptions{}))(t)
	require.Empty(t, page.Conversations, "inbox 0 lists conversations, want none")
	_, err := strict.GetConversation(cx, chat.Ref())
	require.ErrorIs(t, err, im.ErrNotFound, "the inbox-0 client reads the inbox-1 chat")
	_, err = strict.LoadMessages(cx, chat.Ref(), im.MessageDirectionOlder, 0, 0)
	require.ErrorIs(t, err, im.ErrNotFound, "the inbox-0 client loads the inbox-1 history")

	// A read receipt in inbox 1, then one in inbox 0 as a marker.
	require.NoError(t, two.MarkRead(cx, chat.Ref(), hello.Index))
	ev := opsWait(t, lenientReads, "the inbox-1 receipt at the lenient client", nil)
	require.Equal(t, chat.ID, ev.ConversationID, "lenient read event = %+v: conversation", ev)
	require.EqualValues(t, 2, ev.UserID, "lenient read event = %+v: user", ev)
	require.Equal(t, hello.Index, ev.ReadIndex, "lenient read event = %+v: index", ev)
	three := s.client(3, opsNoSocket)
	group := opsGroup(t, three, 1)
	marker := opsSend(t, three, group.Ref(), "inbox 0")
	require.NoError(t, three.MarkRead(cx, group.Ref(), marker.Index))
	require.Equal(t, group.ID, opsWait(t, strictReads, "the inbox-0 receipt", nil).ConversationID,
		"the strict client's first read event, want the marker's: it took an inbox-1 push")
	for {
		m := opsWait(t, strictMsgs, "the marker message", nil)
		require.Equal(t, group.ID, m.Message.ConversationID, "the inbox-0 client received a message of another conversation")
		if m.Message.ServerID == marker.ServerID {
			break
		}
	}
}

// TestOptionDisableInitPull checks that Init then fetches only the sync
// position: nothing reaches the cache, old messages are not delivered, new
// ones are. With Resume it asks the server nothing at all.
func TestOptionDisableInitPull(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	rec := s.recorded(t)
	sender := s.client(2, opsNoSocket)
	group := opsGroup(t, sender, 1)
	for i := range 3 {
		opsSend(t, sender, group.Ref(), fmt.Sprint("old ", i))
	}

	full := s.client(1, rec.via("full"))
	lazy := s.unstarted(1, rec.via("lazy"), func(o *im.Options) { o.DisableInitPull = true })
	rl := newReceiver(lazy)
	start(t, lazy)
	resumed := s.unstarted(1, rec.via("resumed"), func(o *im.Options) {
		o.DisableInitPull, o.Resume, o.Cursor = true, true, full.Cursor()
	})
	rr := newReceiver(resumed)
	start(t, resumed)

	require.NotNil(t, full.CachedConversation(group.ID), "the default client cached no group")
	require.Len(t, full.CachedMessages(group.ID), 3, "messages the default client cached")
	for name, c := range map[string]*im.Client{"lazy": lazy, "resumed": resumed} {
		assert.Empty(t, c.CachedConversations(), "%s: conversations cached after Init, want none", name)
		assert.Empty(t, c.CachedMessages(group.ID), "%s: messages cached after Init, want none", name)
	}
	initOf := func(tag string) int {
		return len(rec.matching(cmdOf(tag, improto.IMCMD_GET_MESSAGES_BY_USER_INIT_V2)))
	}
	assert.GreaterOrEqual(t, initOf("full"), 1, "the default client made no init pull")
	assert.Equal(t, 1, initOf("lazy"), "init requests DisableInitPull made, want the position")
	assert.Zero(t, initOf("resumed"), "init requests DisableInitPull with Resume made, want none")

	waitConnected(t, lazy)
	waitConnected(t, resumed)
	news := opsSend(t, sender, group.Ref(), "new")
	for name, r := range map[string]*receiver{"lazy": rl, "resumed": rr} {
		r.waitFor(t, 1, waitFor, nil)
		r.mu.Lock()
		got := r.order[group.ID]
		r.mu.Unlock()
		assert.Equal(t, []int64{news.Index}, got, "%s delivered, want only the new message", name)
	}
}

// resumeScenario has a client (user 1) handle messages 1 and 2 of 5 from
// bob (user 2) in a single chat, and stop; while it is gone, messages 6
// and 7 come and messages 2 and 5 get a reaction each. It returns the
// cursor to resume from: message 3's MessageEvent.Cursor, the oldest
// unhandled.
func resumeScenario(t *testing.T, s *server) (bob *im.Client, chat *im.Conversation, sent []*im.Message, cursor int64) {
	t.Helper()
	alice := s.unstarted(1)
	events := opsEvents(alice.OnMessageReceived)
	opsOnline(t, alice)
	bob = s.client(2, opsNoSocket)
	cx := ctx(t)
	chat = opsMust(bob.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1}}))(t)

	var cursors []int64
	for i := range 5 {
		sent = append(sent, opsSend(t, bob, chat.Ref(), fmt.Sprint("m", i+1)))
		// One at a time, so that each comes in a page (or push) of its own.
		ev := covNext(t, events, fmt.Sprint("message ", i+1))
		require.Equal(t, sent[i].ServerID, ev.Message.ServerID, "what alice received")
		cursors = append(cursors, ev.Cursor)
	}
	require.IsNonDecreasing(t, cursors, "event cursors do not move forward")
	require.NotEqual(t, cursors[0], cursors[4], "event cursors %v do not move forward", cursors)
	require.NoError(t, alice.Close())

	require.NoError(t, bob.React(cx, chat.Ref(), sent[1].ServerID, "like", "1"))
	sent = append(sent, opsSend(t, bob, chat.Ref(), "m6"))
	require.NoError(t, bob.React(cx, chat.Ref(), sent[4].ServerID, "like", "1"))
	sent = append(sent, opsSend(t, bob, chat.Ref(), "m7"))
	return bob, chat, sent, cursors[2]
}

// resumedClients returns user 1's clients that resume from cursor, not
// started: through Options.Resume, through Client.ResumeFrom, and through
// ResumeFrom with DisableInitPull.
func resumedClients(t *testing.T, s *server, cursor int64) map[string]*im.Client {
	t.Helper()
	viaOptions := s.unstarted(1, func(o *im.Options) { o.Resume, o.Cursor = true, cursor })
	viaMethod := s.unstarted(1)
	require.NoError(t, viaMethod.ResumeFrom(cursor))
	lazy := s.unstarted(1, func(o *im.Options) { o.DisableInitPull = true })
	require.NoError(t, lazy.ResumeFrom(cursor))
	return map[string]*im.Client{"Options.Resume": viaOptions, "ResumeFrom": viaMethod, "ResumeFrom with DisableInitPull": lazy}
}

// TestResumeFromEventCursor checks that clients resumed from the cursor
// of the oldest unhandled message (resumeScenario) receive exactly
// messages 3 to 7, and 8, sent once they run: nothing handled before,
// nothing twice, each as it is now.
func TestResumeFromEventCursor(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	bob, chat, sent, cursor := resumeScenario(t, s)
	clients := resumedClients(t, s, cursor)
	receivers := map[string]*receiver{}
	for name, c := range clients {
		receivers[name] = newReceiver(c)
		opsOnline(t, c)
	}
	sent = append(sent, opsSend(t, bob, chat.Ref(), "m8"))
	want := []int64{3, 4, 5, 6, 7, 8}
	for name, r := range receivers {
		r.waitFor(t, len(want), waitFor, nil)
		r.mu.Lock()
		got := r.order[chat.ID]
		for id, n := range r.seen {
			assert.Equal(t, 1, n, "%s: times message %d was delivered", name, id)
		}
		r.mu.Unlock()
		assert.Equal(t, want, got, "%s delivered indexes", name)
		// The reaction made while it was gone is in message 5 as received.
		cached := clients[name].CachedMessages(chat.ID)
		i := slices.IndexFunc(cached, func(m *im.Message) bool { return m.ServerID == sent[4].ServerID })
		if assert.GreaterOrEqual(t, i, 0, "%s: message 5 is not among the %d cached", name, len(cached)) {
			assert.Len(t, cached[i].Properties["like"], 1, "%s: message 5 lacks its reaction", name)
		}
	}

	viaMethod := clients["ResumeFrom"]
	err := viaMethod.ResumeFrom(cursor)
	var e *im.Error
	require.ErrorAs(t, err, &e, "ResumeFrom after Init: want an invalid-argument *im.Error")
	require.Equal(t, im.ErrorTypeInvalidArgument, e.Type, "ResumeFrom after Init = %v, want an invalid-argument *im.Error", err)
	require.ErrorContains(t, s.unstarted(1).ResumeFrom(-1), "cursor", "ResumeFrom(-1): want an error naming the cursor")
}

// TestResumeReportsChangesAfterCursor checks that a resumed client
// reports the change made after its cursor to a message it had handled
// before (resumeScenario's reaction to message 2) once, as
// OnMessageUpdated, whether or not Init pulled recent messages.
func TestResumeReportsChangesAfterCursor(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	bob, chat, _, cursor := resumeScenario(t, s)
	clients := resumedClients(t, s, cursor)
	updates, receivers := map[string]<-chan im.MessageEvent{}, map[string]*receiver{}
	for name, c := range clients {
		updates[name], receivers[name] = opsEvents(c.OnMessageUpdated), newReceiver(c)
		opsOnline(t, c)
	}
	// m8 comes after every change in the stream: once it is received, the
	// updates are in.
	opsSend(t, bob, chat.Ref(), "m8")
	for name, r := range receivers {
		r.waitFor(t, 6, waitFor, nil)
		var got []string
		for len(updates[name]) > 0 {
			e := <-updates[name]
			got = append(got, fmt.Sprintf("index %d version %d likes %d", e.Message.Index, e.Message.Version, len(e.Message.Properties["like"])))
		}
		assert.Equal(t, []string{"index 2 version 2 likes 1"}, got, "%s: updates", name)
	}
}
