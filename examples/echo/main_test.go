package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/imtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestEcho(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(bot.HandlerFunc(echo))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1001)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "hello")
	require.Equal(t, "hello", alice.WaitReply(t, conv).Text(), "echo replied")
}

// go run ./examples/echo prints, once the bot is ready, the dev console
// link and how to connect as user 1001; a client logged in with what it
// printed gets its text echoed.
func TestRun(t *testing.T) {
	t.Parallel()
	s := devservertest.Serve(t, run)
	assert.True(t, strings.HasPrefix(s.Output, "echo bot (user 100) ready.\nChat with the bot as user 1001 "), "output:\n%s", s.Output)
	_, reply := s.Ask(t, botID, "hello from another client")
	assert.Equal(t, "hello from another client", reply.Text(), "the bot's answer")
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "echo")
}
