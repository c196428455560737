// Command friendly is a bot that makes friends: it accepts every friend
// apply (plugins/friends), greets each new friend in their single chat,
// and echoes what its friends say. It runs on the embedded IM server with
// a scripted demo user who applies, is greeted, and chats, and prints
// what happens, the plugin's audit lines included:
//
//	go run ./examples/friendly
//
// Then it keeps serving (until Ctrl-C) and prints how to connect another
// client; -script-only exits after the script.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/syncio"
	"github.com/imbot-go/imbot/plugins/friends"
)

const (
	botID  im.UserID = 100
	userID im.UserID = 1001
)

// greeting is the plugin's greeting template.
const greeting = "Hi {{.User}}, nice to meet you! Say anything and I will say it back."

func main() { devserver.Main("friendly", run) }

// setup makes b friendly: the friends plugin (accept all, greet) writing
// its audit lines to out, and the echo handler.
func setup(b *bot.Bot, out io.Writer) error {
	p, err := friends.New(friends.Options{
		All:      true,
		Greeting: greeting,
		Logger:   auditLogger(out),
	})
	if err != nil {
		return err
	}
	if err := b.Plug(p); err != nil {
		return err
	}
	b.Handle(bot.HandlerFunc(echo))
	return nil
}

// echo answers a text message with its text; it skips the bot's own
// messages (its greetings and answers among them).
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

// auditLogger writes the plugin's lines to out as text, without the time,
// so that the demo's output reads like a transcript.
func auditLogger(out io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "applied") {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// run starts everything, plays the script, and serves until ctx ends; with
// -script-only it returns after the script. -h prints the usage on
// stderr.
func run(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("friendly", flag.ContinueOnError)
	scriptOnly := fs.Bool("script-only", false, "exit after the scripted conversation")
	out = &syncio.Writer{W: out} // the bot's audit lines and the script's lines come from different goroutines
	return devserver.Run(fs, args, stderr, func(srv *devserver.Server) error {
		fmt.Fprintf(out, "embedded IM server: %s (Frontier %s)\n", srv.URL(), srv.FrontierURL())
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		if err := setup(b, out); err != nil {
			return err
		}
		return srv.RunBot(ctx, b, devserver.RunOptions{Out: out, User: userID + 1,
			Intro:           fmt.Sprintf("\nStill serving. Apply to the bot as user %d to make friends too.", userID+1),
			Script:          func(ctx context.Context) error { return script(ctx, srv.ClientOptions(userID), out) },
			ExitAfterScript: *scriptOnly})
	})
}

// script plays the demo user, logged in with opts, once the bot is
// ready: apply to the bot, wait to become friends and for the greeting,
// then say two things and print each answer.
func script(ctx context.Context, opts im.Options, out io.Writer) error {
	fmt.Fprintf(out, "friendly bot: user %d, ready\n\n", botID)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	user, err := im.New(opts)
	if err != nil {
		return err
	}
	defer user.Close()
	fromBot := make(chan *im.Message, 8)
	user.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			fromBot <- e.Message
		}
	})
	added := make(chan *im.Friend, 1)
	user.OnFriendAdded(func(e im.FriendEvent) {
		if e.Friend != nil && e.Friend.UserID == botID {
			added <- e.Friend
		}
	})
	// The acceptance is only pushed: the socket must be up before the
	// apply.
	connected := make(chan struct{})
	var once sync.Once
	user.OnConnectionState(func(s im.ConnectionState) {
		if s == im.ConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if err := user.Init(ctx); err != nil {
		return err
	}
	if err := wait(ctx, connected, "the socket"); err != nil {
		return err
	}
	if _, err := user.SendFriendApply(ctx, botID, map[string]string{"source": "friendly demo"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "user %d applied to be the bot's friend\n", userID)
	select {
	case <-added:
		fmt.Fprintf(out, "user %d and the bot are friends\n", userID)
	case <-ctx.Done():
		return fmt.Errorf("the bot did not accept the apply: %w", ctx.Err())
	}
	next := func(what string) (*im.Message, error) {
		select {
		case m := <-fromBot:
			return m, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s: %w", what, ctx.Err())
		}
	}
	m, err := next("greeting")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %d → %s\n", m.Sender, m.Text())
	conv := m.Conversation()
	for _, text := range []string{"hello", "what a friendly bot"} {
		if _, err := user.SendMessage(ctx, conv, im.OutgoingMessage{Content: im.TextContent(text)}); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %d → %s\n", userID, text)
		m, err := next("answer to " + text)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %d → %s\n", m.Sender, m.Text())
	}
	return nil
}

// wait waits for ch to be closed, or ctx to end.
func wait(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return errors.Join(fmt.Errorf("waiting for %s", what), ctx.Err())
	}
}
