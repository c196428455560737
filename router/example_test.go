package router_test

import (
	"context"
	"fmt"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/router"
)

// message is a text message event in a group.
func message(text string) *bot.Context {
	return bot.NewContext(context.Background(), bot.Event{
		Kind:            bot.EventMessage,
		Message:         &im.Message{Type: im.MessageTypeText, Content: im.TextContent(text), ConversationType: im.ConversationTypeGroup},
		ConversationRef: im.ConversationRef{ID: "g1", Type: im.ConversationTypeGroup},
	})
}

func Example() {
	r := router.New()
	r.OnCommand("/weather <city> [days:int]", func(c *bot.Context) error {
		days, ok := router.ParamInt(c, "days")
		if !ok {
			days = 1
		}
		fmt.Printf("weather in %s for %d days\n", c.Param("city"), days)
		return nil
	})
	// The default usage handler replies; this one prints.
	r.OnUsageError(func(c *bot.Context, err *router.UsageError) error {
		fmt.Printf("usage: %s (%s: %s)\n", err.Usage, err.Arg, err.Reason)
		return nil
	})
	r.NotFound(func(c *bot.Context) error {
		fmt.Println("not found")
		return nil
	})
	for _, text := range []string{"/weather paris 3", `/weather "new york"`, "/weather", "/weather paris soon", "hello"} {
		if err := r.Handle(message(text)); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// weather in paris for 3 days
	// weather in new york for 1 days
	// usage: /weather <city> [days] (city: missing)
	// usage: /weather <city> [days] (days: "soon" is not an int)
	// not found
}

func ExampleExpr() {
	_, err := router.Expr(`IsGroup && Text contains 42`)
	fmt.Println(err)
	// Output:
	// router: expr "IsGroup && Text contains 42": invalid operation: contains (mismatched types string and int) (1:17)
	//  | IsGroup && Text contains 42
	//  | ................^
}

func ExampleRouter_Explain() {
	noop := func(*bot.Context) error { return nil }
	r := router.New()
	r.OnCommand("/help", noop, router.Name("help"))
	r.OnRegex(`^(?i)hello (?P<name>\w+)`, noop, router.Name("hello"))
	r.On(router.And(router.InSingle(), router.Kind(bot.EventMessage)), bot.HandlerFunc(noop), router.Name("single"))
	r.MustOnExpr(`IsGroup && Text endsWith "?"`, noop, router.Name("question"), router.Priority(1))
	r.OnRegex(`bye$`, noop, router.Name("bye"))

	c := message("hello bob?")
	fmt.Print(r.Explain(c))
	// c gets the parameters of the route that would handle the event, as
	// in a dispatch: #4 has none, and #2's name is not among them.
	fmt.Println("params:", c.Params())
	// Output:
	// event: message in Group, Text "hello bob?"
	// routes: 3 of 5 considered
	// #4 question (p=1): expr(IsGroup && Text endsWith "?"): matched [handles]
	// #2 hello: regex(^(?i)hello (?P<name>\w+)): matched
	// #5 bye: regex(bye$): rejected by regex(bye$): the text does not match
	// handled by #4
	// params: map[]
}

func ExampleRouter_Group() {
	r := router.New()
	tag := func(name string) bot.Middleware {
		return func(next bot.Handler) bot.Handler {
			return bot.HandlerFunc(func(c *bot.Context) error {
				fmt.Print(name, " > ")
				return next.Handle(c)
			})
		}
	}
	r.Use(tag("log"))
	r.Group(func(admin *router.Router) {
		admin.Use(tag("auth"))
		admin.OnCommand("/ban <user>", func(c *bot.Context) error {
			fmt.Println("ban", c.Param("user"))
			return nil
		})
	})
	r.With(tag("rate")).OnCommand("/ping", func(c *bot.Context) error {
		fmt.Println("pong")
		return nil
	})
	_ = r.Handle(message("/ban mallory"))
	_ = r.Handle(message("/ping"))
	// Output:
	// log > auth > ban mallory
	// log > rate > pong
}
