package im

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

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
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tok, _ := srv.Token(2, time.Hour)
	bob := &rawclient.Client{BaseURL: hs.URL, Token: tok}
	resp, err := bob.Call(ctx, improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(2), Participants: []int64{1}})
	if err != nil || resp.GetStatusCode() != 0 {
		t.Fatalf("create: %v", err)
	}
	info := resp.GetBody().GetCreateConversationV2Body().GetConversation()
	var last *improto.MessageBody
	for i := range 5 {
		if _, err := bob.Call(ctx, improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: info.ConversationId, ConversationShortId: info.ConversationShortId,
			ConversationType: info.ConversationType, MessageType: proto.Int32(10001), Content: proto.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	tok1, _ := srv.Token(1, time.Hour)
	alice := &rawclient.Client{BaseURL: hs.URL, Token: tok1}
	pulled, err := alice.Call(ctx, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0)})
	if err != nil {
		t.Fatal(err)
	}
	msgs := pulled.GetBody().GetMessagesPerUserBody().GetMessages()
	last = msgs[len(msgs)-1]

	c, err := New(Options{AppID: 1, UserID: 1, APIURL: hs.URL, WebSocketLevel: WebSocketLevelDisable,
		Token: func(context.Context) (string, error) { return srv.Token(1, time.Hour) }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
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
	if err := c.sync.apply(ctx, after, 0); err != nil {
		t.Fatal(err)
	}
	c.sync.out.send(ctx) // as the run loop does after each page
	for _, want := range []int64{3, 4, 5} {
		select {
		case idx := <-got:
			if idx != want {
				t.Fatalf("delivered index %d, want %d", idx, want)
			}
		case <-ctx.Done():
			t.Fatalf("index %d not delivered", want)
		}
	}
	if c.sync.lastIndex[id] != 5 {
		t.Fatalf("last index %d, want 5", c.sync.lastIndex[id])
	}
	cached := c.CachedMessages(id)
	if len(cached) != 3 {
		t.Fatalf("cached %d messages, want 3", len(cached))
	}
	for i, want := range []MessageSource{MessageSourceLoadMore, MessageSourceLoadMore, MessageSourceUserInbox} {
		if cached[i].Source != want {
			t.Fatalf("message %d has source %v, want %v", cached[i].Index, cached[i].Source, want)
		}
	}
	if conv := c.CachedConversation(id); conv.LastMessage != after || conv.UnreadCount != 5 {
		t.Fatalf("cached conversation: last %+v, unread %d; want index 5, 5", conv.LastMessage, conv.UnreadCount)
	}
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
	if len(got) != 200 || got[0].Index != 301 || got[199].Index != 500 {
		t.Fatalf("cache holds %d messages, %d..%d", len(got), got[0].Index, got[len(got)-1].Index)
	}
	if got[149].Version != 2 {
		t.Fatalf("update not applied: %+v", got[149])
	}
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
		if got := c.conversation("c"); got.UnreadCount != 2 || got.LastMessage.Index != 5 {
			t.Fatalf("unread %d, last %d; want 2, 5", got.UnreadCount, got.LastMessage.Index)
		}
		c.setReadIndex("c", 4, me)
		c.setReadIndex("c", 3, me) // behind: ignored, as the server ignores it
		if got := c.conversation("c"); got.UnreadCount != 1 || got.ReadIndex != 4 {
			t.Fatalf("unread %d, read index %d; want 1, 4", got.UnreadCount, got.ReadIndex)
		}
	})
	t.Run("adjusted from the server's count", func(t *testing.T) {
		c := newCache(200)
		c.putConversation(&Conversation{ID: "c", UnreadCount: 10}) // messages 1..10, none cached
		c.applyMessage(msg(11, other, nil), me, true)
		c.applyMessage(msg(12, other, noUnread), me, true)
		c.applyMessage(msg(11, other, nil), me, true) // again: not new
		c.applyMessage(msg(13, me, nil), me, true)
		if got := c.conversation("c").UnreadCount; got != 11 {
			t.Fatalf("unread %d, want 11", got)
		}
		c.setReadIndex("c", 5, me) // which of 1..5 counted is unknown
		if got := c.conversation("c").UnreadCount; got != 11 {
			t.Fatalf("unread %d after reading to 5, want the server's count, 11", got)
		}
		c.setReadIndex("c", 10, me) // the cache reaches back to 11 now
		if got := c.conversation("c").UnreadCount; got != 1 {
			t.Fatalf("unread %d after reading to 10, want 1", got)
		}
		c.setReadIndex("c", 20, me) // past the last message
		if got := c.conversation("c").UnreadCount; got != 0 {
			t.Fatalf("unread %d after reading everything, want 0", got)
		}
	})
	t.Run("a fetch keeps the last message", func(t *testing.T) {
		c := newCache(200)
		c.putConversation(&Conversation{ID: "c"})
		c.applyMessage(msg(1, other, nil), me, true)
		c.applyMessage(msg(2, other, map[string]string{string(InfoKeyDoNotUpdateLastMessage): "true"}), me, true)
		c.putConversation(&Conversation{ID: "c", UnreadCount: 2})
		if got := c.conversation("c"); got.LastMessage == nil || got.LastMessage.Index != 1 || got.UnreadCount != 2 {
			t.Fatalf("after a fetch: last %+v, unread %d; want index 1, 2", got.LastMessage, got.UnreadCount)
		}
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
		if got := c.conversation("c").UnreadCount; got != unread {
			t.Fatalf("after message %d the unread count is %d, want %d", i, got, unread)
		}
	}
}
