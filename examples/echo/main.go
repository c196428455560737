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
	"flag"
	"fmt"
	"io"

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

func main() { devserver.Main("echo", run) }

// run serves the echo bot on the development server until ctx ends.
// Once the bot is ready it prints, on stdout, how to talk to it as user
// 1001: the dev console link, the URLs, the app id and a token. -h prints
// the usage on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return devserver.Run(flag.NewFlagSet("echo", flag.ContinueOnError), args, stderr, func(srv *devserver.Server) error {
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		b.Handle(bot.HandlerFunc(echo))
		return srv.RunBot(ctx, b, devserver.RunOptions{Out: stdout, User: userID,
			Intro: fmt.Sprintf("echo bot (user %d) ready.", botID)})
	})
}
