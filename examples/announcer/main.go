// Command announcer is a bot that posts scheduled announcements with
// package plugins/cron, from the jobs in jobs.yaml (embedded; -jobs reads
// another file). It runs on the embedded IM server with a demo user, who
// creates a group with the bot, asks it "/cron list" (the demo user is
// the bot's admin) and prints the announcements as they come:
//
//	go run ./examples/announcer
//
// A heartbeat shows every two seconds; Ctrl-C stops it.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/router"
)

const (
	botID  im.UserID = 100
	userID im.UserID = 1001 // the demo user, the bot's admin
)

// jobsYAML is the jobs file beside this one.
//
//go:embed jobs.yaml
var jobsYAML []byte

func main() { devserver.Main("announcer", run) }

// setup loads the jobs (from file, or the embedded jobs.yaml when file
// is "") and plugs the cron plugin into b, with the admin commands for
// userID. opts configures the plugin; its Jobs are replaced.
func setup(b *bot.Bot, file string, opts cron.Options) error {
	var err error
	if file == "" {
		opts.Jobs, err = cron.ParseYAML(jobsYAML)
	} else {
		opts.Jobs, err = cron.LoadFile(file)
	}
	if err != nil {
		return err
	}
	p, err := cron.New(opts)
	if err != nil {
		return err
	}
	if err := b.Plug(p); err != nil {
		return err
	}
	r := router.New()
	r.Group(p.AdminRoutes(userID))
	b.Handle(r)
	return nil
}

// run starts the server, the bot and the demo user, and prints the
// announcements on out until ctx ends, or until -n of them came. -h
// prints the usage on stderr.
func run(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("announcer", flag.ContinueOnError)
	file := fs.String("jobs", "", "jobs file (.yaml, .yml or .json); default: the embedded jobs.yaml")
	n := fs.Int("n", 0, "exit after n announcements (0: run until Ctrl-C)")
	return devserver.Run(fs, args, stderr, func(srv *devserver.Server) error {
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		if err := setup(b, *file, cron.Options{}); err != nil {
			return err
		}
		return srv.RunBot(ctx, b, devserver.RunOptions{
			Script:          func(ctx context.Context) error { return announce(ctx, srv, out, *n) },
			ExitAfterScript: true})
	})
}

// announce plays the demo user, once the bot is ready: it creates a
// group with the bot, asks it "/cron list" and prints the list and the
// announcements on out until ctx ends, or until n of them came.
func announce(ctx context.Context, srv *devserver.Server, out io.Writer, n int) error {
	user, err := im.New(srv.ClientOptions(userID))
	if err != nil {
		return err
	}
	defer user.Close()
	fromBot := make(chan *im.Message, 64)
	user.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			select {
			case fromBot <- e.Message:
			default: // the printer is behind; drop rather than block the client
			}
		}
	})
	if err := user.Init(ctx); err != nil {
		return err
	}
	group, err := user.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeGroup,
		Participants: []im.UserID{botID}, Name: "announcements"})
	if err != nil {
		return err
	}
	chat, err := user.CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{botID}})
	if err != nil {
		return err
	}
	if _, err := user.SendMessage(ctx, chat.Ref(), im.OutgoingMessage{Content: im.TextContent("/cron list")}); err != nil {
		return err
	}
	fmt.Fprintf(out, "embedded IM server: %s\nuser %d created group %s with the bot (user %d) and asked it /cron list\n",
		srv.URL(), userID, group.ID, botID)
	count := 0
	for {
		select {
		case m := <-fromBot:
			if m.ConversationID == chat.ID {
				fmt.Fprintf(out, "jobs:\n%s\n", m.Text())
				continue
			}
			fmt.Fprintf(out, "[%s] %s\n", time.Now().Format(time.TimeOnly), m.Text())
			if count++; count == n {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}
