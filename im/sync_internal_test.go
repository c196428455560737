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
// the two (301 NEWER) and delivers them first, in order. The server's
// inbox never skips, so the engine's own path is driven directly.
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
	c.sync.lastIndex[id] = 2
	if err := c.sync.apply(ctx, messageFromProto(last), 0); err != nil {
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
