package bot_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/router"
)

// loopingRoutes answers every message that contains "hello" with a
// message that contains "hello": a bot that handled its own messages
// would answer itself forever. "/barrier" is answered "barrier": it comes
// after everything the bot sent before it in the conversation's order, so
// its answer proves that nothing else was answered in between.
func loopingRoutes(t *testing.T, expr string) *router.Router {
	t.Helper()
	r := router.New()
	require.NoError(t, r.OnExpr(expr, func(c *bot.Context) error {
		_, err := c.Reply("hello back")
		return err
	}))
	r.OnCommand("/barrier", func(c *bot.Context) error {
		_, err := c.Reply("barrier")
		return err
	})
	return r
}

// TestBotDoesNotAnswerItself: an expression route that would loop on the
// bot's own reply answers the user once, by default and, guarded with
// FromSelf, in a bot that opts in to its own messages.
func TestBotDoesNotAnswerItself(t *testing.T) {
	for _, tc := range []struct {
		name       string
		handleOwn  bool
		expression string
	}{
		{"by default", false, `Kind == "message" && Text contains "hello"`},
		{"FromSelf with HandleOwnMessages", true, `Kind == "message" && !FromSelf && Text contains "hello"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := imtest.NewServer(t)
			b := s.NewBot(t, 100, func(o *bot.Options) { o.HandleOwnMessages = tc.handleOwn })
			b.Handle(loopingRoutes(t, tc.expression))
			s.RunBot(t, b)
			alice := s.NewUser(t, 1001)
			conv := alice.CreateSingle(t, 100)

			alice.Send(t, conv, "hello bot")
			assert.Equal(t, "hello back", alice.WaitReply(t, conv).Text())
			alice.Send(t, conv, "/barrier")
			assert.Equal(t, "barrier", alice.WaitReply(t, conv).Text(), "the bot answered its own reply")
		})
	}
}

// TestHandleOwnMessagesHandsThemOn: with the option, the bot's own
// message reaches the handler, and Context.FromSelf says so.
func TestHandleOwnMessagesHandsThemOn(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.HandleOwnMessages = true })
	own := make(chan string, 1)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		switch {
		case c.FromSelf() && c.Event.Kind == bot.EventMessage:
			assert.False(t, c.FromUser(), "FromUser of the bot's own message")
			own <- c.Event.Message.Text()
		case c.FromUser():
			_, err := c.Reply("seen " + c.Event.Message.Text())
			return err
		}
		return nil
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1001)
	conv := alice.CreateSingle(t, 100)
	alice.Send(t, conv, "x")
	assert.Equal(t, "seen x", alice.WaitReply(t, conv).Text())
	select {
	case got := <-own:
		assert.Equal(t, "seen x", got)
	case <-t.Context().Done():
	}
}
