package bot_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
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
