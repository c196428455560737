package im

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// TestGapInConversationIsFilled hands the sync engine a message whose index
// skips two past the last one delivered in its conversation: it fetches
// the two (301 NEWER) and delivers them first, in order, as
// MessageSourceLoadMore, and the cached conversation follows all three.
// The server's inbox skips only indexes the user may not see (which the
// fetch skips too), so the engine's own path is driven directly.
func TestGapInConversationIsFilled(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	srv, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: st, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tok, _ := srv.Token(2, time.Hour)
	bob := &rawclient.Client{BaseURL: hs.URL, Token: tok}
	resp, err := bob.Call(ctx, improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(2), Participants: []int64{1}})
	require.NoError(t, err, "create")
	require.Zero(t, resp.GetStatusCode(), "create: status code")
	info := resp.GetBody().GetCreateConversationV2Body().GetConversation()
	var last *improto.MessageBody
	for i := range 5 {
		_, err := bob.Call(ctx, improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: info.ConversationId, ConversationShortId: info.ConversationShortId,
			ConversationType: info.ConversationType, MessageType: proto.Int32(10001), Content: proto.String(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	tok1, _ := srv.Token(1, time.Hour)
	alice := &rawclient.Client{BaseURL: hs.URL, Token: tok1}
	pulled, err := alice.Call(ctx, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0)})
	require.NoError(t, err)
	msgs := pulled.GetBody().GetMessagesPerUserBody().GetMessages()
	last = msgs[len(msgs)-1]

	c, err := New(Options{AppID: 1, UserID: 1, APIURL: hs.URL, WebSocketLevel: WebSocketLevelDisable,
		Token: func(context.Context) (string, error) { return srv.Token(1, time.Hour) }, Logger: slog.New(slog.DiscardHandler),
		Metrics: prometheus.NewRegistry()})
	require.NoError(t, err)
	defer c.Close()
	got := make(chan int64, 8)
	c.OnMessageReceived(func(e MessageEvent) { got <- e.Message.Index })
	c.wg.Go(func() { c.events.run(c.ctx) })

	id := ConversationID(info.GetConversationId())
	// The server counted two unread messages that the client never held.
	c.cache.putConversation(&Conversation{ID: id, ShortID: ConversationShortID(info.GetConversationShortId()), UnreadCount: 2})
	c.sync.lastIndex[id] = 2
	after := messageFromProto(last)
	after.Source = MessageSourceUserInbox
	require.NoError(t, c.sync.apply(ctx, after, 0))
	c.sync.out.send(ctx) // as the run loop does after each page
	for _, want := range []int64{3, 4, 5} {
		select {
		case idx := <-got:
			require.Equal(t, want, idx, "delivered index")
		case <-ctx.Done():
			require.FailNow(t, "index not delivered", "index %d not delivered", want)
		}
	}
	require.EqualValues(t, 5, c.sync.lastIndex[id], "last index")
	cached := c.CachedMessages(id)
	require.Len(t, cached, 3, "cached messages")
	for i, want := range []MessageSource{MessageSourceLoadMore, MessageSourceLoadMore, MessageSourceUserInbox} {
		require.Equal(t, want, cached[i].Source, "message %d's source", cached[i].Index)
	}
	conv := c.CachedConversation(id)
	require.Same(t, after, conv.LastMessage, "cached conversation's last message, want index 5")
	require.Equal(t, 5, conv.UnreadCount, "cached conversation's unread count")
	require.EqualValues(t, 2, testutil.ToFloat64(c.metrics.catchUpGap), "catch_up_messages_total{source=gap}: the two fetched")
	require.Zero(t, testutil.ToFloat64(c.metrics.catchUpPull), "catch_up_messages_total{source=pull}")
}

// TestCacheIsBounded checks that a conversation keeps at most
// MaxMessageCount messages, the newest.
func TestCacheIsBounded(t *testing.T) {
	c := newCache(200)
	for i := int64(1); i <= 500; i++ {
		c.putMessage(&Message{ConversationID: "c", Index: i, Version: 1})
	}
	c.putMessage(&Message{ConversationID: "c", Index: 450, Version: 2}) // an update in the middle
	got := c.messages("c")
	require.Len(t, got, 200, "messages the cache holds")
	require.EqualValues(t, 301, got[0].Index, "the oldest message the cache holds")
	require.EqualValues(t, 500, got[199].Index, "the newest message the cache holds")
	require.EqualValues(t, 2, got[149].Version, "update not applied: %+v", got[149])
}

// TestCachedUnreadCount checks how the cache counts unread messages: from
// its messages when they reach back to the read index, from the server's
// count otherwise.
func TestCachedUnreadCount(t *testing.T) {
	const me, other = UserID(1), UserID(2)
	msg := func(index int64, from UserID, ext map[string]string) *Message {
		return &Message{ConversationID: "c", Index: index, Version: 1, Sender: from, Type: MessageTypeText, Ext: ext}
	}
	noUnread := map[string]string{string(InfoKeyDoNotIncreaseUnread): "true"}
	t.Run("counted from the cache", func(t *testing.T) {
		c := newCache(200)
		// The server's count (9) already includes messages not applied
		// yet: once the cache reaches back to the read index, it counts.
		c.putConversation(&Conversation{ID: "c", ReadIndex: 1, UnreadCount: 9})
		c.applyMessage(msg(2, other, nil), me, true)
		c.applyMessage(msg(3, me, nil), me, true)
		c.applyMessage(msg(4, other, noUnread), me, true)
		c.applyMessage(msg(5, other, nil), me, true)
		got := c.conversation("c")
		require.Equal(t, 2, got.UnreadCount, "unread")
		require.EqualValues(t, 5, got.LastMessage.Index, "last message")
		c.setReadIndex("c", 4, me)
		c.setReadIndex("c", 3, me) // behind: ignored, as the server ignores it
		got = c.conversation("c")
		require.Equal(t, 1, got.UnreadCount, "unread")
		require.EqualValues(t, 4, got.ReadIndex, "read index")
	})
	t.Run("adjusted from the server's count", func(t *testing.T) {
		c := newCache(200)
		c.putConversation(&Conversation{ID: "c", UnreadCount: 10}) // messages 1..10, none cached
		c.applyMessage(msg(11, other, nil), me, true)
		c.applyMessage(msg(12, other, noUnread), me, true)
		c.applyMessage(msg(11, other, nil), me, true) // again: not new
		c.applyMessage(msg(13, me, nil), me, true)
		require.Equal(t, 11, c.conversation("c").UnreadCount, "unread")
		c.setReadIndex("c", 5, me) // which of 1..5 counted is unknown
		require.Equal(t, 11, c.conversation("c").UnreadCount, "unread after reading to 5, want the server's count")
		c.setReadIndex("c", 10, me) // the cache reaches back to 11 now
		require.Equal(t, 1, c.conversation("c").UnreadCount, "unread after reading to 10")
		c.setReadIndex("c", 20, me) // past the last message
		require.Zero(t, c.conversation("c").UnreadCount, "unread after reading everything")
	})
	t.Run("a fetch keeps the last message", func(t *testing.T) {
		c := newCache(200)
		c.putConversation(&Conversation{ID: "c"})
		c.applyMessage(msg(1, other, nil), me, true)
		c.applyMessage(msg(2, other, map[string]string{string(InfoKeyDoNotUpdateLastMessage): "true"}), me, true)
		c.putConversation(&Conversation{ID: "c", UnreadCount: 2})
		got := c.conversation("c")
		require.NotNil(t, got.LastMessage, "after a fetch: last message")
		require.EqualValues(t, 1, got.LastMessage.Index, "after a fetch: last message")
		require.Equal(t, 2, got.UnreadCount, "after a fetch: unread")
	})
}

// TestCachedUnreadCountAddsUp checks that the count kept by adding each new
// message (the common case) equals counting the cached messages again,
// whoever sent them and whether they count, also past the cache's bound.
func TestCachedUnreadCountAddsUp(t *testing.T) {
	const me, other = UserID(1), UserID(2)
	c := newCache(200)
	c.putConversation(&Conversation{ID: "c", ReadIndex: 0})
	c.setReadIndex("c", 1, me) // counted from the cache from here on
	unread := 0
	for i := int64(1); i <= 500; i++ {
		m := &Message{ConversationID: "c", Index: i, Version: 1, Sender: other, Type: MessageTypeText}
		switch i % 5 {
		case 0:
			m.Sender = me
		case 1:
			m.Ext = map[string]string{string(InfoKeyDoNotIncreaseUnread): "true"}
		}
		c.applyMessage(m, me, true)
		if i > 1 && i%5 > 1 {
			unread++
		}
		require.Equal(t, unread, c.conversation("c").UnreadCount, "the unread count after message %d", i)
	}
}
