package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/router"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const aliceID = userID

// start runs a bot with r on a fresh server and returns a user and the
// user's single chat with the bot.
func start(t *testing.T, r *router.Router) (*imtest.Server, *imtest.User, im.ConversationRef) {
	t.Helper()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(r)
	s.RunBot(t, b)
	alice := s.NewUser(t, aliceID)
	return s, alice, alice.CreateSingle(t, botID)
}

func TestCommands(t *testing.T) {
	t.Parallel()
	s, alice, conv := start(t, newRouter())
	ask := func(text, want string) {
		t.Helper()
		alice.Send(t, conv, text)
		assert.Equal(t, want, alice.WaitReply(t, conv).Text(), "reply to %q", text)
	}
	ask("/weather paris 3", "weather in paris for 3 days: sunny")
	ask("/weather oslo", "weather in oslo for 1 day: snowy")
	ask("/weather", "usage: /weather <city> [days:int] (city: missing)")
	ask("/weather paris soon", "usage: /weather <city> [days:int] (days: \"soon\" is not an int)")
	ask("/help", helpText)

	// The dialog: the name goes to /register's handler, not the router.
	ask("/register", "your name?")
	ask("alice", "welcome, alice")

	// NotFound: silent for chatter, an answer for an unknown command. The
	// bot handles a conversation's messages in order, so the reply to
	// /dance proves "hello" got none.
	alice.Send(t, conv, "hello")
	ask("/dance", "unknown command, try /help")

	alice.Send(t, conv, "/explain /weather paris")
	assert.Contains(t, alice.WaitReply(t, conv).Text(), "#2 weather: command(/weather <city> [days:int]): matched [handles]", "/explain's reply")

	// In a group, a mention gets an answer and other chatter none.
	bob := s.NewUser(t, 1002)
	group := alice.CreateGroup(t, botID, bob.ID())
	bob.Send(t, group, "/dance")
	bob.SendMessage(t, group, im.OutgoingMessage{Content: im.TextContent("bot?"), Mentions: []im.UserID{botID}})
	m := bob.WaitReply(t, group)
	assert.Equal(t, botID, m.Sender, "mention: who replied")
	assert.Equal(t, "you called?", m.Text(), "mention: the reply")
}

func TestRegisterTimeout(t *testing.T) {
	t.Parallel()
	_, alice, conv := start(t, routes(10*time.Millisecond))
	alice.Send(t, conv, "/register")
	for _, want := range []string{"your name?", "too slow"} {
		assert.Equal(t, want, alice.WaitReply(t, conv).Text(), "reply to /register")
	}
}

// go run ./examples/commands prints, once the bot is ready, the dev
// console link and how to connect as user 1001; a client logged in with
// what it printed gets an answer to /help.
func TestRun(t *testing.T) {
	t.Parallel()
	s := devservertest.Serve(t, run)
	assert.True(t, strings.HasPrefix(s.Output, "commands bot (user 100) ready; try /help.\nChat with the bot as user 1001 "), "output:\n%s", s.Output)
	_, reply := s.Ask(t, botID, "/help")
	assert.Equal(t, helpText, reply.Text(), "the bot's answer to /help")
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "commands")
}
