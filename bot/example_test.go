package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
)

// A bot that answers every user message, on the embedded server. In a
// test, pass t where the Example passes its imtest.Script.
func Example() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)

	b, err := bot.New(s.BotOptions(100))
	require.NoError(&t, err)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		m := c.Event.Message
		if !c.FromUser() {
			return nil // the bot sees its own messages too
		}
		_, err := c.Reply(strings.ToUpper(m.Text()))
		return err
	}))
	s.RunBot(&t, b) // in a program: err = b.Run(ctx)

	alice := s.NewUser(&t, 1)
	conv := alice.CreateSingle(&t, 100)
	alice.Send(&t, conv, "hello")
	fmt.Println(alice.WaitReply(&t, conv).Text())
	// Output: HELLO
}

// A dialog: the handler asks, and WaitNext hands it the user's answer.
func ExampleContext_WaitNext() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)

	b := s.NewBot(&t, 100)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind != bot.EventMessage || c.Event.Message.Text() != "/hello" {
			return nil
		}
		if _, err := c.Reply("What is your name?"); err != nil {
			return err
		}
		answer, err := c.WaitNext(time.Minute)
		if err != nil {
			return err
		}
		_, err = c.Reply("Hello, " + answer.Text() + "!")
		return err
	}))
	s.RunBot(&t, b)

	alice := s.NewUser(&t, 1)
	conv := alice.CreateSingle(&t, 100)
	alice.Send(&t, conv, "/hello")
	fmt.Println(alice.WaitReply(&t, conv).Text())
	alice.Send(&t, conv, "Alice")
	fmt.Println(alice.WaitReply(&t, conv).Text())
	// Output:
	// What is your name?
	// Hello, Alice!
}

// Middleware wraps the handler; the first added is outermost.
func ExampleBot_Use() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)

	b := s.NewBot(&t, 100)
	onlyUsers := func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			if c.Event.Kind != bot.EventMessage || c.Event.Sender() == c.Bot().UserID() {
				return nil
			}
			return next.Handle(c)
		})
	}
	b.Use(onlyUsers)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		_, err := c.Quote("got it")
		return err
	}))
	s.RunBot(&t, b)

	alice := s.NewUser(&t, 1)
	conv := alice.CreateSingle(&t, 100)
	sent := alice.Send(&t, conv, "remember the milk")
	reply := alice.WaitReply(&t, conv)
	fmt.Println(reply.Text(), reply.Reference.ReferencedMessageID == sent.ServerID)
	// Output: got it true
}

// A background job starts once the bot runs and stops with it.
func ExampleBot_Go() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)

	b := s.NewBot(&t, 100)
	stopped := make(chan struct{})
	b.Go(func(ctx context.Context) error {
		<-ctx.Done() // a real job would tick, post, sync…
		close(stopped)
		return nil
	})
	s.RunBot(&t, b)
	b.Close()
	<-stopped
	fmt.Println("job stopped")
	// Output: job stopped
}

// A bot's metrics in a registry of the program's, served with the
// program's other metrics; the admin listener (Options.Admin.Addr) would
// serve them too. Each handled event and each send is counted.
func ExampleOptions_metrics() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)

	reg := prometheus.NewRegistry()
	opts := s.BotOptions(100)
	opts.Metrics = reg
	b, err := bot.New(opts)
	require.NoError(&t, err)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		c.SetRoute("echo") // a router names its routes itself
		_, err := c.Reply(c.Event.Message.Text())
		return err
	}))
	s.RunBot(&t, b)
	alice := s.NewUser(&t, 1)
	conv := alice.CreateSingle(&t, 100)
	alice.Send(&t, conv, "hello")
	alice.WaitReply(&t, conv)

	// The reply can reach alice a moment before the bot counts it.
	const sent = `imbot_bot_sends_total{outcome="sent",priority="reply"} 1`
	var page string
	require.Eventually(&t, func() bool {
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		page = rec.Body.String()
		return strings.Contains(page, sent)
	}, imtest.DefaultTimeout, time.Millisecond)
	for line := range strings.Lines(page) {
		if strings.HasPrefix(line, `imbot_bot_sends_total{outcome="sent",priority="reply"}`) {
			fmt.Print(line)
		}
	}
	// Output: imbot_bot_sends_total{outcome="sent",priority="reply"} 1
}
