package router_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/router"
)

const usageBotID im.UserID = 100

// startRouterBot runs a bot with r on a fresh server and returns a user
// and the user's single chat with the bot.
func startRouterBot(t *testing.T, r *router.Router) (*imtest.User, im.ConversationRef) {
	t.Helper()
	s := imtest.NewServer(t)
	b := s.NewBot(t, usageBotID)
	b.Handle(r)
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	return alice, alice.CreateSingle(t, usageBotID)
}

// Through a bot: the default usage reply names the spec with its types
// and what is wrong, exactly as the package documentation shows it.
func TestDefaultUsageReply(t *testing.T) {
	t.Parallel()
	r := router.New()
	r.OnCommand("/add <a:int> <b:int>", func(c *bot.Context) error {
		a, _ := router.ParamInt(c, "a")
		b, _ := router.ParamInt(c, "b")
		_, err := c.Reply(c.Param("a") + "+" + c.Param("b") + "=" + strconv.Itoa(a+b))
		return err
	})
	r.OnCommand("/weather <city> [days:int]", func(c *bot.Context) error {
		_, err := c.Reply("weather in " + c.Param("city"))
		return err
	})
	alice, conv := startRouterBot(t, r)
	tests := []struct {
		text, want string
	}{
		{"/add 1 2", "1+2=3"},
		{"/add two 3", `usage: /add <a:int> <b:int> (a: "two" is not an int)`},
		{"/add 1", "usage: /add <a:int> <b:int> (b: missing)"},
		{"/add 1 2 3", "usage: /add <a:int> <b:int> (too many arguments)"},
		{`/weather "new york`, "usage: /weather <city> [days:int] (city: unterminated quote)"},
		{"/weather", "usage: /weather <city> [days:int] (city: missing)"},
		{"/weather paris soon", `usage: /weather <city> [days:int] (days: "soon" is not an int)`},
		{"/weather paris 3 now", "usage: /weather <city> [days:int] (too many arguments)"},
	}
	// One conversation, in order: each reply answers the message before.
	for _, tt := range tests {
		alice.Send(t, conv, tt.text)
		assert.Equal(t, tt.want, alice.WaitReply(t, conv).Text(), "reply to %q", tt.text)
	}
}

// Through a bot: a command without arguments runs its handler whatever
// text follows its name, and a handler that wants that text declares it
// as a rest argument; a command with arguments refuses text they leave.
func TestCommandTrailingText(t *testing.T) {
	t.Parallel()
	r := router.New()
	r.OnCommand("/help", func(c *bot.Context) error {
		_, err := c.Reply("help, params " + fmt.Sprint(c.Params()))
		return err
	})
	r.OnCommand("/start [payload:rest]", func(c *bot.Context) error {
		_, err := c.Reply("start " + strconv.Quote(c.Param("payload")))
		return err
	})
	r.OnCommand("/w <city>", func(c *bot.Context) error {
		_, err := c.Reply("weather in " + c.Param("city"))
		return err
	})
	alice, conv := startRouterBot(t, r)
	tests := []struct {
		text, want string
	}{
		{"/help", "help, params map[]"},
		{"/help me", "help, params map[]"},
		{`/help "me" and  you `, "help, params map[]"},
		{"/start", `start ""`},
		{"/start ref42", `start "ref42"`},
		{"/start  ref 42 ", `start "ref 42"`},
		{"/w paris", "weather in paris"},
		{"/w paris now", "usage: /w <city> (too many arguments)"},
	}
	for _, tt := range tests {
		alice.Send(t, conv, tt.text)
		assert.Equal(t, tt.want, alice.WaitReply(t, conv).Text(), "reply to %q", tt.text)
	}
}
