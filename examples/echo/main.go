// Command echo is the smallest imbot bot: it answers every text message
// with the same text. It runs on the embedded IM server:
//
//	go run ./examples/echo
//
// and prints how to connect a client to talk to it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
)

// botID is the echo bot's user.
const botID im.UserID = 100

// echo answers a text message with its text; it ignores the bot's own
// messages, which the bot receives like every member's.
func echo(c *bot.Context) error {
	if !c.FromUser() {
		return nil
	}
	text := c.Event.Message.Text()
	if text == "" {
		return nil
	}
	_, err := c.Reply(text)
	return err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := devserver.Start("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	defer srv.Close()
	b, err := bot.New(srv.BotOptions(botID))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	b.Handle(bot.HandlerFunc(echo))
	tok, _ := srv.Token(1001)
	fmt.Printf("echo bot (user %d) on %s\nconnect as user 1001: frontier %s, token %s\nCtrl-C stops it.\n",
		botID, srv.URL(), srv.FrontierURL(), tok)
	if err := b.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
