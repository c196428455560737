// Command commands is a bot built on package router: typed command
// arguments with a usage reply, an expr-lang route for @-mentions in
// groups, a dialog with WaitNext, a middleware that skips the bot's own
// messages, a NotFound handler and /explain. It runs on the embedded IM
// server:
//
//	go run ./examples/commands [-addr 127.0.0.1:0]
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
	"strings"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/router"
)

const (
	botID  im.UserID = 100  // the bot's user
	userID im.UserID = 1001 // the user the connect info is for
)

// registerTimeout is how long /register waits for the user's name.
const registerTimeout = 30 * time.Second

// helpText is the /help reply.
const helpText = `commands:
/weather <city> [days]: a (fake) forecast, for 1 day unless told
/register: tell me your name
/explain <text>: how I would route text
/help: this list
In a group, @-mention me.`

// newRouter returns the bot's routes.
func newRouter() *router.Router { return routes(registerTimeout) }

// routes returns the bot's routes, /register waiting wait for a name.
//
// Commands are tried before the mention route, as they are registered
// first: "@bot /weather paris" in a group gets a forecast.
func routes(wait time.Duration) *router.Router {
	r := router.New()
	r.OnCommand("/help", help, router.Name("help"))
	r.OnCommand("/weather <city> [days:int]", weather, router.Name("weather"))
	r.OnCommand("/register", register(wait), router.Name("register"))
	r.OnCommand("/explain <text:rest>", explain(r), router.Name("explain"))
	r.MustOnExpr(`Kind == "message" && IsGroup && Mentioned`, mentioned, router.Name("mention"))
	r.NotFound(notFound)
	return r
}

func help(c *bot.Context) error {
	_, err := c.Reply(helpText)
	return err
}

// skies is the fake weather service.
var skies = map[string]string{"paris": "sunny", "london": "rainy", "oslo": "snowy"}

// weather answers /weather <city> [days:int]. The router has checked
// that days, when given, is an int; bad arguments get its usage reply.
func weather(c *bot.Context) error {
	city := strings.ToLower(c.Param("city"))
	days, ok := router.ParamInt(c, "days")
	if !ok {
		days = 1
	}
	if days < 1 || days > 7 {
		_, err := c.Reply("days must be 1 to 7")
		return err
	}
	sky, ok := skies[city]
	if !ok {
		sky = "cloudy"
	}
	unit := "days"
	if days == 1 {
		unit = "day"
	}
	_, err := c.Reply(fmt.Sprintf("weather in %s for %d %s: %s", city, days, unit, sky))
	return err
}

// register is a dialog: it asks for a name and waits for the same user's
// next message in the conversation, which goes to it instead of the
// router.
func register(wait time.Duration) bot.HandlerFunc {
	return func(c *bot.Context) error {
		if _, err := c.Reply("your name?"); err != nil {
			return err
		}
		m, err := c.WaitNext(wait)
		if errors.Is(err, bot.ErrWaitTimeout) {
			_, err = c.Reply("too slow")
			return err
		}
		if err != nil {
			return err // the bot is shutting down
		}
		_, err = c.Reply("welcome, " + strings.TrimSpace(m.Text()))
		return err
	}
}

// explain replies with how r would route the text, as if it had been
// sent instead of the /explain message.
func explain(r *router.Router) bot.HandlerFunc {
	return func(c *bot.Context) error {
		ev := c.Event
		m := *ev.Message
		m.Content = im.TextContent(c.Param("text"))
		ev.Message = &m
		_, err := c.Reply(r.Explain(bot.NewContext(c.Context(), ev)).String())
		return err
	}
}

func mentioned(c *bot.Context) error {
	_, err := c.Quote("you called?")
	return err
}

// notFound answers an unknown command in a single chat and stays silent
// otherwise: chatter in groups is not for the bot.
func notFound(c *bot.Context) error {
	m := c.Event.Message
	if m == nil || c.Event.ConversationRef.Type != im.ConversationTypeOneToOne || !strings.HasPrefix(m.Text(), "/") {
		return nil
	}
	_, err := c.Reply("unknown command, try /help")
	return err
}

func main() { devserver.Main("commands", run) }

// run serves the commands bot on the development server until ctx ends.
// Once the bot is ready it prints, on stdout, how to talk to it as user
// 1001: the dev console link, the URLs, the app id and a token. -h prints
// the usage on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return devserver.Run(flag.NewFlagSet("commands", flag.ContinueOnError), args, stderr, func(srv *devserver.Server) error {
		b, err := bot.New(srv.BotOptions(botID))
		if err != nil {
			return err
		}
		b.Handle(newRouter())
		return srv.RunBot(ctx, b, devserver.RunOptions{Out: stdout, User: userID,
			Intro: fmt.Sprintf("commands bot (user %d) ready; try /help.", botID)})
	})
}
