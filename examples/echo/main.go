// Command echo is the smallest imbot bot: it answers every text message
// with the same text. It runs on the embedded IM server:
//
//	go run ./examples/echo [-addr 127.0.0.1:0]
//
// Once the bot is ready it prints a link to the dev console, logged in as
// user 1001, where you chat with the bot in a browser, and how to connect
// another client; Ctrl-C stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
)

const (
	botID  im.UserID = 100  // the echo bot's user
	userID im.UserID = 1001 // the user the connect info is for
)

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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// run serves the bot on the embedded server until ctx ends. Once the bot
// is ready it prints, on stdout, how to talk to it as user 1001: the dev
// console link, the URLs, the app id and a token. -h prints the usage on
// stderr and returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on (port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	srv, err := devserver.Start(*addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	b, err := bot.New(srv.BotOptions(botID))
	if err != nil {
		return err
	}
	b.Handle(bot.HandlerFunc(echo))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }() // ends with ctx, or when the bot cannot go on
	select {
	case <-b.Ready():
	case err := <-done:
		return err
	}
	fmt.Fprintf(stdout, "echo bot (user %d) ready. Chat with it as user %d in your browser (the console link)\nor from another client:\n", botID, userID)
	if err := srv.WriteConnectInfo(stdout, userID); err != nil {
		cancel()
		<-done
		return err
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	return <-done
}
