package im_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// Two users on the embedded server: bob subscribes and starts, alice
// opens a single chat and writes.
func ExampleClient_SendMessage() {
	st := store.NewMemory()
	defer st.Close()
	srv, _ := imserver.New(imserver.Config{AppID: 1, AppSecret: "secret", Store: st, Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	newClient := func(user im.UserID) *im.Client {
		c, _ := im.New(im.Options{
			AppID: 1, UserID: user, APIURL: hs.URL,
			FrontierURL: strings.Replace(hs.URL, "http", "ws", 1) + imserver.FrontierPath,
			Token:       func(context.Context) (string, error) { return srv.Token(int64(user), time.Hour) },
			Logger:      slog.New(slog.DiscardHandler),
		})
		return c
	}
	ctx := context.Background()
	bob := newClient(1002)
	defer bob.Close()
	got := make(chan *im.Message, 1)
	bob.OnMessageReceived(func(e im.MessageEvent) { got <- e.Message })
	if err := bob.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}

	alice := newClient(1001)
	defer alice.Close()
	if err := alice.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	conv, err := alice.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1002}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := alice.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent("hello bob")}); err != nil {
		fmt.Println(err)
		return
	}
	m := <-got
	fmt.Println(m.ConversationID, m.Index, m.Sender, m.Content)
	// Output: 0:1:1001:1002 1 1001 {"text":"hello bob"}
}
