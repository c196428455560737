// Command quickstart runs imbot end to end in one process: the embedded IM
// server, a demo bot, and a scripted demo user who talks to it. It prints
// the conversation as it happens and a link to the dev console, logged in
// as the demo user, where you can go on chatting with the bot in a
// browser; then it keeps serving (until Ctrl-C) and prints how to connect
// another client.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
)

const (
	botID  im.UserID = 100
	userID im.UserID = 1001
)

func main() { devserver.Main("quickstart", run) }

// demoBot answers /echo <text> with the text, /help with the commands,
// and anything else with a hint; it accepts every friend apply. It skips
// its own messages.
func demoBot(c *bot.Context) error {
	if c.Event.Kind == bot.EventFriendApplyReceived {
		_, _, err := c.Client().ReplyFriendApply(c.Context(), im.ReplyFriendAttitudeAccept, c.Event.FriendApply.FromUserID)
		return err
	}
	if !c.FromUser() {
		return nil
	}
	text := c.Event.Message.Text()
	switch {
	case strings.HasPrefix(text, "/echo "):
		_, err := c.Quote(strings.TrimPrefix(text, "/echo "))
		return err
	case text == "/help":
		_, err := c.Reply("commands: /echo <text>, /help")
		return err
	default:
		_, err := c.Reply("try /help")
		return err
	}
}

// run starts everything, plays the script, and serves until ctx ends; with
// -script-only it returns after the script (its test uses that). -h
// prints the usage on stderr.
func run(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	scriptOnly := fs.Bool("script-only", false, "exit after the scripted conversation")
	return devserver.Run(fs, args, stderr, func(srv *devserver.Server) error {
		fmt.Fprintf(out, "embedded IM server: %s (Frontier %s)\n", srv.URL(), srv.FrontierURL())
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		b.Handle(bot.HandlerFunc(demoBot))
		return srv.RunBot(ctx, b, devserver.RunOptions{Out: out, User: userID, Intro: "\nStill serving.",
			Script:          func(ctx context.Context) error { return script(ctx, srv, out) },
			ExitAfterScript: *scriptOnly})
	})
}

// script plays the demo user, once the bot is ready: open a chat with
// the bot, send three messages, print each answer.
func script(ctx context.Context, srv *devserver.Server, out io.Writer) error {
	fmt.Fprintf(out, "demo bot: user %d, ready\n\n", botID)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	user, err := im.New(srv.ClientOptions(userID))
	if err != nil {
		return err
	}
	defer user.Close()
	replies := make(chan *im.Message, 8)
	user.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			replies <- e.Message
		}
	})
	if err := user.Init(ctx); err != nil {
		return err
	}
	conv, err := user.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "user %d opened %s with the bot\n", userID, conv.ID)
	for _, text := range []string{"hello", "/help", "/echo imbot works"} {
		if _, err := user.SendMessage(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent(text)}); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %d → %s\n", userID, text)
		select {
		case m := <-replies:
			quote := ""
			if m.Reference != nil {
				quote = " (quoting)"
			}
			fmt.Fprintf(out, "  %d → %s%s\n", m.Sender, m.Text(), quote)
		case <-ctx.Done():
			return fmt.Errorf("no answer to %q: %w", text, ctx.Err())
		}
	}
	return nil
}
