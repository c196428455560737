package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestEcho(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	b.Handle(bot.HandlerFunc(echo))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1001)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "hello")
	require.Equal(t, "hello", alice.WaitReply(t, conv).Text(), "echo replied")
}
