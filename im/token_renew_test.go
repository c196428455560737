package im_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
)

// TestRenewingTokenCrossesExpiry runs a sender on tokens that live two
// seconds, from imserver.TokenSource with TokenExpiry, for longer than
// one token lives: each new token is asked for before the one it replaces
// expires, and every message sent meanwhile is delivered.
func TestRenewingTokenCrossesExpiry(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	bob := s.unstarted(2)
	got := make(chan im.MessageEvent, 64)
	bob.OnMessageReceived(func(e im.MessageEvent) { got <- e })
	start(t, bob)

	const ttl = 2 * time.Second
	mint := imserver.TokenSource(testAppID, 1, testSecret, ttl)
	var (
		mu      sync.Mutex
		current string
		late    []string // renewals asked for after the token they replace expired
		renewed int
	)
	alice := s.client(1, func(o *im.Options) {
		o.TokenExpiry = imserver.TokenExpiry
		o.Token = func(ctx context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if current != "" {
				renewed++
				if exp := imserver.TokenExpiry(current); !time.Now().Before(exp) {
					late = append(late, "renewal "+strconv.Itoa(renewed)+" at "+time.Now().Format(time.StampMilli)+", expiry "+exp.Format(time.StampMilli))
				}
			}
			tok, err := mint(ctx)
			current = tok
			return tok, err
		}
	})

	deadline := time.Now().Add(ttl + time.Second) // past the first token's life
	sent := 0
	for tick := time.NewTicker(50 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		_, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("m" + strconv.Itoa(sent))})
		require.NoError(t, err, "send %d", sent)
		sent++
	}
	for i := range sent {
		select {
		case e := <-got:
			assert.Equal(t, "m"+strconv.Itoa(i), e.Message.Text())
		case <-time.After(waitFor):
			require.FailNow(t, "message lost", "bob got %d of %d within %v", i, sent, waitFor)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, renewed, "the token was renewed")
	assert.Empty(t, late, "renewals asked for only after expiry")
}

// TestTokenExpiryAndSource: TokenExpiry reads MintToken's expiry and
// nothing else; TokenSource mints a distinct valid token per call.
func TestTokenExpiryAndSource(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	assert.True(t, exp.Equal(imserver.TokenExpiry(imserver.MintToken(1, 2, "s", exp))))
	for _, bad := range []string{"", "x", "imbot1.", "imbot1.!!.sig", "other.abc.def"} {
		assert.True(t, imserver.TokenExpiry(bad).IsZero(), "TokenExpiry(%q)", bad)
	}
	src := imserver.TokenSource(1, 2, "s", time.Hour)
	a, err := src(context.Background())
	require.NoError(t, err)
	b, err := src(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "two tokens of one source")
	user, err := imserver.VerifyToken(b, 1, "s", time.Now())
	require.NoError(t, err)
	assert.Equal(t, int64(2), user)
	_, err = imserver.TokenSource(1, 0, "s", time.Hour)(context.Background())
	require.Error(t, err, "user 0")
}
