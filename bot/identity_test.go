package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imtest"
)

// TestRunRefusesAnotherUsersToken configures a bot as user 100 and gives
// it user 1001's token: Run fails with the im.IdentityError naming both
// instead of answering, and posting, as 1001.
func TestRunRefusesAnotherUsersToken(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Client.Token = im.StaticToken(s.Token(1001)) })
	err := b.Run(t.Context())
	require.ErrorIs(t, err, im.ErrWrongUser)
	var ie *im.IdentityError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, im.UserID(100), ie.WantUser)
	require.Equal(t, im.UserID(1001), ie.GotUser)
}

// TestRunEndsWhenTheClientStops points the bot's FrontierURL at a path
// that is no WebSocket: the client stops, and Run returns its error
// instead of retrying forever.
func TestRunEndsWhenTheClientStops(t *testing.T) {
	s := imtest.NewServer(t)
	b := s.NewBot(t, 100, func(o *bot.Options) {
		o.Client.FrontierURL = strings.TrimSuffix(s.FrontierURL(), imserver.FrontierPath) + "/ws"
	})
	done := make(chan error, 1)
	go func() { done <- b.Run(t.Context()) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, im.ErrFrontierRefused)
		require.Contains(t, err.Error(), "the IM client stopped")
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "Run did not return", "within %v of a refused socket", imtest.DefaultTimeout)
	}
}
