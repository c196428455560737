// Command quickstart runs imbot's embedded IM Cloud server in one process,
// plays a short scripted conversation between two users over the real
// protocol (HTTP API and Frontier WebSocket, protobuf on the wire), prints
// it as it happens, and then keeps serving until Ctrl-C, printing how
// another client can connect.
//
//	go run ./examples/quickstart
//
// The bot framework (package bot) will take the second user's place; until
// then the script shows what every bot stands on.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/rawclient"
)

const (
	appID = 1
	alice = 1001
	bob   = 1002
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run starts the server, plays the script, and serves until ctx ends. With
// -script-only it returns after the script (tests use that).
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on (port 0 picks a free one)")
	scriptOnly := fs.Bool("script-only", false, "exit after the scripted conversation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	st := store.NewMemory()
	defer st.Close()
	srv, err := imserver.New(imserver.Config{
		AppID: appID, AppSecret: hex.EncodeToString(secret), Store: st,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }() // ends at Shutdown below
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutCtx)
		_ = srv.Shutdown(shutCtx)
		<-served
	}()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "imbot embedded IM server on %s (Frontier %s)\n\n", base, "ws://"+ln.Addr().String()+imserver.FrontierPath)

	if err := script(ctx, srv, base, out); err != nil {
		return err
	}
	if *scriptOnly {
		return nil
	}
	tok, _ := srv.Token(alice, 24*time.Hour)
	fmt.Fprintf(out, "\nStill serving. Connect another client as user %d:\n", alice)
	fmt.Fprintf(out, "  api:      %s (POST /{route}, application/x-protobuf, Request.token below)\n", base)
	fmt.Fprintf(out, "  frontier: %s\n", rawclient.FrontierURL(base, tok, appID, imserver.DefaultFPID, imserver.DefaultAppKey,
		"my-device", imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, "my-device")))
	fmt.Fprintf(out, "  token:    %s\n", tok)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// script plays a conversation: alice opens a single chat with bob and
// writes over HTTP; bob, online on a socket, gets the push and answers over
// the socket; alice's inbox then holds both messages in order.
func script(ctx context.Context, srv *imserver.Server, base string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	aliceTok, _ := srv.Token(alice, time.Hour)
	bobTok, _ := srv.Token(bob, time.Hour)
	a := &rawclient.Client{BaseURL: base, Token: aliceTok}
	b, _, err := rawclient.Dial(ctx, rawclient.FrontierURL(base, bobTok, appID, imserver.DefaultFPID, imserver.DefaultAppKey,
		"bob-phone", imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, "bob-phone")), bobTok, 0)
	if err != nil {
		return fmt.Errorf("bob connecting: %w", err)
	}
	defer b.Close()

	created, err := ok[*improto.CreateConversationV2ResponseBody](a.Call(ctx, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{ConversationType: proto.Int32(1), Participants: []int64{bob}}))
	if err != nil {
		return err
	}
	conv := created.GetConversation()
	fmt.Fprintf(out, "user %d opened the single chat %s\n", alice, conv.GetConversationId())
	send := func(c interface {
		Call(context.Context, improto.IMCMD, proto.Message) (*improto.Response, error)
	}, text string) error {
		_, err := ok[*improto.SendMessageResponseBody](c.Call(ctx, improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: conv.ConversationId, ConversationShortId: conv.ConversationShortId,
			ConversationType: conv.ConversationType, MessageType: proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
			Content: proto.String(fmt.Sprintf(`{"text":%q}`, text)),
		}))
		return err
	}
	if err := send(a, "hello bob"); err != nil {
		return err
	}
	for {
		select {
		case p := <-b.Pushes():
			m := p.GetBody().GetHasNewMessageNotify().GetMessage()
			if m == nil {
				continue // not a new-message push
			}
			fmt.Fprintf(out, "user %d got a push: #%d from %d: %s\n", bob, m.GetIndexInConversation(), m.GetSender(), m.GetContent())
			if err := send(b, "hi alice, got it"); err != nil {
				return err
			}
			inbox, err := ok[*improto.MessagesPerUserResponseBody](a.Call(ctx, improto.IMCMD_GET_MESSAGES_BY_USER,
				&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0)}))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "user %d's inbox, cursor 0 → %d:\n", alice, inbox.GetNextCursor())
			for _, m := range inbox.GetMessages() {
				fmt.Fprintf(out, "  #%d %d → %s\n", m.GetIndexInConversation(), m.GetSender(), m.GetContent())
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for a push: %w", ctx.Err())
		}
	}
}

// ok unwraps a Response: a transport error or a non-zero status becomes an
// error, otherwise the body of type T.
func ok[T proto.Message](resp *improto.Response, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if resp.GetStatusCode() != 0 {
		return zero, errors.New(improto.StatusCode(resp.GetStatusCode()).String() + ": " + resp.GetErrorDesc())
	}
	command, _ := improto.LookupCommand(improto.IMCMD(resp.GetCmd()))
	body, _ := command.ResponseBodyMessage(resp.GetBody()).(T)
	return body, nil
}
