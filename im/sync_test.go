package im_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// receiver records what a client delivers, per conversation.
type receiver struct {
	mu    sync.Mutex
	seen  map[im.MessageID]int
	order map[im.ConversationID][]int64
	total int
	more  chan struct{} // signalled on every delivery
}

func newReceiver(c *im.Client) *receiver {
	r := &receiver{seen: map[im.MessageID]int{}, order: map[im.ConversationID][]int64{}, more: make(chan struct{}, 1)}
	c.OnMessageReceived(func(e im.MessageEvent) {
		r.mu.Lock()
		r.seen[e.Message.ServerID]++
		r.order[e.Message.ConversationID] = append(r.order[e.Message.ConversationID], e.Message.Index)
		r.total++
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
	})
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// waitFor waits until n messages were delivered, calling each on every
// delivery.
func (r *receiver) waitFor(t testing.TB, n int, timeout time.Duration, each func(got int)) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		got := r.count()
		if each != nil {
			each(got)
		}
		if got >= n {
			return
		}
		select {
		case <-r.more:
		case <-deadline:
			require.FailNow(t, "not all messages delivered", "%d of %d messages delivered within %v", got, n, timeout)
		}
	}
}

// check asserts each message once and indexes 1..perConv in order.
func (r *receiver) check(t testing.TB, convs int, perConv int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.seen {
		assert.Equal(t, 1, n, "times message %d was delivered", id)
	}
	assert.Equal(t, convs, len(r.order), "conversations delivered")
	for id, idx := range r.order {
		assert.Len(t, idx, perConv, "%s: messages", id)
		for i, x := range idx {
			if !assert.Equal(t, int64(i+1), x, "%s: index at position %d", id, i) {
				break
			}
		}
	}
}

// TestExactlyOnceAcrossDisconnects drops the client's socket 50 times
// while other users send 5000 messages over 50 conversations: every
// message arrives once, in order within its conversation.
func TestExactlyOnceAcrossDisconnects(t *testing.T) {
	const convs, perConv, drops = 50, 100, 50
	s := newServer(t)
	bot := s.unstarted(1)
	r := newReceiver(bot)
	start(t, bot)
	waitConnected(t, bot)

	senders := make([]*rawclient.Client, 10)
	for i := range senders {
		tok, _ := s.srv.Token(int64(100+i), time.Hour)
		senders[i] = &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	}
	type conv struct {
		info   *improto.ConversationInfoV2
		sender *rawclient.Client
	}
	var cs []conv
	for i := range convs {
		sender := senders[i%len(senders)]
		resp, err := sender.Call(ctx(t), improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(2), Participants: []int64{1}})
		require.NoError(t, err, "create")
		require.Zero(t, resp.GetStatusCode(), "create: %s", resp.GetErrorDesc())
		cs = append(cs, conv{resp.GetBody().GetCreateConversationV2Body().GetConversation(), sender})
	}
	// The stream runs in rounds of perConv/drops messages per
	// conversation; after each round's sends are acknowledged, while their
	// pushes and pulls are still on their way, the socket is dropped.
	perRound := perConv / drops
	for round := range drops {
		var wg sync.WaitGroup
		errs := make(chan error, len(senders))
		for si := range senders {
			wg.Go(func() {
				for n := round * perRound; n < (round+1)*perRound; n++ {
					for ci := si; ci < convs; ci += len(senders) {
						info := cs[ci].info
						resp, err := cs[ci].sender.Call(ctx(t), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
							ConversationId: info.ConversationId, ConversationShortId: info.ConversationShortId,
							ConversationType: info.ConversationType, MessageType: proto.Int32(10001),
							Content: proto.String(fmt.Sprintf(`{"text":"%d"}`, n))})
						if err != nil || resp.GetStatusCode() != 0 {
							errs <- fmt.Errorf("send: %v %s", err, resp.GetErrorDesc())
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		waitConnected(t, bot)
		require.True(t, bot.DropConnection(), "round %d: DropConnection found no socket after the client connected", round)
	}
	r.waitFor(t, convs*perConv, 90*time.Second, nil)
	r.check(t, convs, perConv)
}

// TestResumeFromCursor starts a second client from the cursor the first
// reported: it gets exactly what came after.
func TestResumeFromCursor(t *testing.T) {
	s := newServer(t)
	alice := s.unstarted(1)
	r := newReceiver(alice)
	start(t, alice)
	tok, _ := s.srv.Token(2, time.Hour)
	bob := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	resp, _ := bob.Call(ctx(t), improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(1), Participants: []int64{1}})
	info := resp.GetBody().GetCreateConversationV2Body().GetConversation()
	send := func(text string) {
		t.Helper()
		resp, err := bob.Call(ctx(t), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: info.ConversationId, ConversationShortId: info.ConversationShortId,
			ConversationType: info.ConversationType, MessageType: proto.Int32(10001), Content: proto.String(text)})
		require.NoError(t, err, "send")
		require.Zero(t, resp.GetStatusCode(), "send: status code")
	}
	for i := range 3 {
		send(fmt.Sprint(i))
	}
	r.waitFor(t, 3, waitFor, nil)
	cursor := alice.Cursor()
	alice.Close()
	for i := range 2 {
		send(fmt.Sprint("later ", i))
	}
	again := s.unstarted(1, func(o *im.Options) { o.Resume, o.Cursor = true, cursor })
	r2 := newReceiver(again)
	start(t, again)
	r2.waitFor(t, 2, waitFor, nil)
	r2.mu.Lock()
	defer r2.mu.Unlock()
	require.Equal(t, []int64{4, 5}, r2.order[im.ConversationID(info.GetConversationId())], "indexes the resumed client delivered")
}

// TestAutoReadIndex checks that with AutoReadIndex the client moves its
// read index to what it received, and honours s:do_not_move_read_index.
func TestAutoReadIndex(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	bob := s.unstarted(2, func(o *im.Options) { o.AutoReadIndex = true })
	r := newReceiver(bob)
	start(t, bob)
	alice := s.unstarted(1)
	reads := make(chan im.ReadIndexEvent, 8)
	alice.OnReadIndexChanged(func(e im.ReadIndexEvent) { reads <- e })
	start(t, alice)
	waitConnected(t, alice)
	_, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("read me")})
	require.NoError(t, err)
	r.waitFor(t, 1, waitFor, nil)
	select {
	case e := <-reads:
		require.EqualValues(t, 2, e.UserID, "read event %+v: user", e)
		require.EqualValues(t, 1, e.ReadIndex, "read event %+v: index", e)
	case <-time.After(waitFor):
		require.FailNow(t, "bob's read index did not move")
	}
	quiet := im.OutgoingMessage{Content: im.TextContent("do not mark"), Ext: map[string]string{string(im.InfoKeyDoNotMoveReadIndex): "true"}}
	_, err = alice.SendMessage(ctx(t), conv, quiet)
	require.NoError(t, err)
	// A marker after it shows whether the quiet one moved the index: the
	// next read event must be for index 3, not 2.
	r.waitFor(t, 2, waitFor, nil)
	_, err = alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("marker")})
	require.NoError(t, err)
	select {
	case e := <-reads:
		require.EqualValues(t, 3, e.ReadIndex, "read index, want the marker's (the quiet message must not move it)")
	case <-time.After(waitFor):
		require.FailNow(t, "no read event for the marker")
	}
}

// TestCallbacksRunOneAtATime makes both kinds of callback happen at once:
// message callbacks, which the sync engine runs, and connection-state
// callbacks, which the dispatcher goroutine runs, while the socket is
// dropped between rounds of messages. No two callbacks ever overlap.
func TestCallbacksRunOneAtATime(t *testing.T) {
	const rounds, perRound = 5, 20
	s := newServer(t)
	conv := groupWith(t, s, 2, 1)
	c := s.unstarted(1)
	var inside, overlaps atomic.Int32
	busy := func() {
		if inside.Add(1) != 1 {
			overlaps.Add(1)
		}
		for range 50 {
			runtime.Gosched() // a window for another callback to overlap
		}
		inside.Add(-1)
	}
	c.OnConnectionState(func(im.ConnectionState) { busy() })
	c.OnMessageReceived(func(im.MessageEvent) { busy() })
	r := newReceiver(c)
	start(t, c)
	waitConnected(t, c)
	tok, _ := s.srv.Token(2, time.Hour)
	sender := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	for round := range rounds {
		for i := range perRound {
			_, err := sender.Call(ctx(t), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
				ConversationId: proto.String(string(conv.ID)), ConversationShortId: proto.Int64(int64(conv.ShortID)),
				ConversationType: proto.Int32(2), MessageType: proto.Int32(10001),
				Content: proto.String(im.TextContent(fmt.Sprint(round, i)))})
			require.NoError(t, err)
		}
		c.DropConnection()
	}
	r.waitFor(t, rounds*perRound, waitFor, nil)
	require.Zero(t, overlaps.Load(), "callbacks started while another was running")
}

// TestCallbacksMayCallTheServer checks that callbacks run off the socket's
// read loop: a message callback and a connection-state callback each make
// a request over the socket (WebSocketLevelAll), whose answer the read
// loop must deliver while the callback waits.
func TestCallbacksMayCallTheServer(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 2, 1)
	c := s.unstarted(1, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelAll })
	answers := make(chan error, 2)
	var asked sync.Once
	c.OnConnectionState(func(st im.ConnectionState) {
		if st == im.ConnectionStateConnected {
			asked.Do(func() {
				_, err := c.GetConversation(context.Background(), conv)
				answers <- err
			})
		}
	})
	c.OnMessageReceived(func(e im.MessageEvent) {
		_, err := c.GetConversation(context.Background(), e.Message.Conversation())
		answers <- err
	})
	start(t, c)
	send(t, s.client(2), conv, "call me back", nil)
	for range 2 {
		select {
		case err := <-answers:
			require.NoError(t, err, "a request from a callback")
		case <-time.After(waitFor):
			require.FailNow(t, "a request from a callback got no answer: callbacks block the read loop")
		}
	}
}

// TestCaughtUpAndSynced: a client resuming with a backlog is not caught up
// while it applies it, and Synced closes once it has; a reconnect makes
// it catch up again.
func TestCaughtUpAndSynced(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 2, 1)
	sendAs(t, s, 2, conv, 10)
	c := s.unstarted(1, func(o *im.Options) { o.Resume, o.Cursor = true, 0 })
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.OnMessageReceived(func(im.MessageEvent) {
		once.Do(func() {
			close(held)
			<-release
		})
	})
	start(t, c)
	select {
	case <-held:
	case <-time.After(waitFor):
		require.FailNow(t, "no message delivered")
	}
	assert.False(t, c.CaughtUp(), "caught up while the backlog is applied")
	select {
	case <-c.Synced():
		assert.Fail(t, "Synced closed while the backlog is applied")
	default:
	}
	close(release)
	select {
	case <-c.Synced():
	case <-time.After(waitFor):
		require.FailNow(t, "Synced not closed after the backlog")
	}
	assert.True(t, c.CaughtUp())

	waitConnected(t, c)
	require.True(t, c.DropConnection())
	require.Eventually(t, func() bool { return c.ConnectionState() == im.ConnectionStateConnected && c.CaughtUp() },
		waitFor, time.Millisecond, "caught up again after the reconnect")
}
