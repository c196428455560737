package bot_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// A server that limits sends (429 with a retry hint) slows the bot's
// replies down but loses none and keeps their order: the outbound queue
// waits out each hint and sends again with the same client id.
func TestRepliesThroughServerRateLimit(t *testing.T) {
	s := imtest.NewUnstartedServer(t)
	s.Config.SendRate = 50 // a send each 20ms per user, bursts of 2
	s.Config.SendBurst = 2
	s.Start()
	b := s.NewBot(t, botID)
	b.Handle(bot.HandlerFunc(echo))
	s.RunBot(t, b)
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)
	const n = 20
	for i := range n {
		u.Send(t, conv, strconv.Itoa(i))
	}
	for i := range n {
		require.Equal(t, "echo: "+strconv.Itoa(i), u.WaitReply(t, conv).Text(), "reply %d", i)
	}
}

// Bot.Send fails with ErrClosed once the bot has shut down.
func TestSendAfterShutdown(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	stop := start(t, b)
	u := s.NewUser(t, 1)
	conv := u.CreateGroup(t, botID)
	_, err := b.Send(context.Background(), conv, im.OutgoingMessage{Content: im.TextContent("up")}, bot.WithPriority(bot.PriorityBulk))
	require.NoError(t, err)
	stop()
	_, err = b.Send(context.Background(), conv, im.OutgoingMessage{Content: im.TextContent("down")})
	require.ErrorIs(t, err, bot.ErrClosed, "Send after shutdown")
}
