package im_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// exampleServer starts an embedded server and returns a function making
// clients of its users, and one stopping it.
func exampleServer() (newClient func(im.UserID, ...func(*im.Options)) *im.Client, stop func()) {
	st := store.NewMemory()
	srv, _ := imserver.New(imserver.Config{AppID: 1, AppSecret: "secret", Store: st, Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(srv)
	newClient = func(user im.UserID, tweaks ...func(*im.Options)) *im.Client {
		opts := im.Options{
			AppID: 1, UserID: user, APIURL: hs.URL,
			FrontierURL: strings.Replace(hs.URL, "http", "ws", 1) + imserver.FrontierPath,
			Token:       func(context.Context) (string, error) { return srv.Token(int64(user), time.Hour) },
			Logger:      slog.New(slog.DiscardHandler),
		}
		for _, tweak := range tweaks {
			tweak(&opts)
		}
		c, _ := im.New(opts)
		return c
	}
	return newClient, func() {
		hs.Close()
		srv.Close()
		st.Close()
	}
}

// New validates the options and fills in the seed's defaults; a bad
// option is an error that names it.
func ExampleNew() {
	token := im.StaticToken("a token")
	c, err := im.New(im.Options{AppID: 1, UserID: 1001, Token: token,
		APIURL: "https://imapi.example.com", FrontierURL: "wss://frontier.example.com/ws/v2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	o := c.Options()
	fmt.Println(o.Timeout, o.MaxMessageCount, o.WebSocketLevel)

	_, err = im.New(im.Options{AppID: 1, UserID: 1001, Token: token, MaxMessageCount: 5000,
		APIURL: "https://imapi.example.com", FrontierURL: "wss://frontier.example.com/ws/v2"})
	fmt.Println(err)
	// Output:
	// 2s 1000 Default
	// im: Options.MaxMessageCount must be from 200 to 2000, got 5000
}

// A client that stopped comes back from the cursor of the first message
// it did not handle (MessageEvent.Cursor) and gets every message from
// there, none before.
func ExampleOptions_resume() {
	newClient, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	alice := newClient(1001, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelPushOnly })
	defer alice.Close()
	if err := alice.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	conv, _ := alice.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1002}})
	say := func(text string) {
		_, _ = alice.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent(text)})
	}

	// Bob handles "one", then stops before handling "two".
	bob := newClient(1002)
	events := make(chan im.MessageEvent, 10)
	bob.OnMessageReceived(func(e im.MessageEvent) { events <- e })
	if err := bob.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	say("one")
	fmt.Println("handled", (<-events).Message.Text())
	// "two" is not handled: resume from its cursor. (Messages delivered in
	// one page share a cursor, so a resumed client may get some it handled
	// before; the caller skips those by index.)
	say("two")
	saved := (<-events).Cursor
	bob.Close()
	say("three")

	bob = newClient(1002, func(o *im.Options) { o.Resume, o.Cursor = true, saved })
	defer bob.Close()
	bob.OnMessageReceived(func(e im.MessageEvent) { events <- e })
	if err := bob.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after the restart", (<-events).Message.Text(), (<-events).Message.Text())
	// Output:
	// handled one
	// after the restart two three
}

// Two users on the embedded server: bob subscribes and starts, alice
// opens a single chat and writes.
func ExampleClient_SendMessage() {
	newClient, stop := exampleServer()
	defer stop()
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

// SendFile uploads bytes from any io.Reader and sends them as a file
// message; the other member reads the file from the message and
// downloads it.
func ExampleClient_SendFile() {
	newClient, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	received := make(chan *im.Message, 1)
	bob := newClient(1002)
	defer bob.Close()
	bob.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == 1001 {
			received <- e.Message
		}
	})
	alice := newClient(1001)
	defer alice.Close()
	if err := errors.Join(alice.Init(ctx), bob.Init(ctx)); err != nil {
		fmt.Println(err)
		return
	}
	conv, _ := alice.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1002}})
	_, err := alice.SendFile(ctx, conv.Ref(), im.Upload{
		File: im.FileInfo{Name: "notes.txt"},
		Body: strings.NewReader("remember the milk\n"),
	}, im.OutgoingMessage{})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := <-received
	f, _ := m.File()
	fmt.Println(m.Type, f.Type, f.Name, f.Size, f.MimeType)
	body, err := bob.OpenFile(ctx, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer body.Close()
	text, _ := io.ReadAll(body)
	fmt.Printf("%q\n", text)
	// Output:
	// File object notes.txt 18 text/plain
	// "remember the milk\n"
}
