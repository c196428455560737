package im_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
)

func TestOptionsValidation(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name  string
		tweak func(*im.Options)
		field string
	}{
		{"no app", func(o *im.Options) { o.AppID = 0 }, "AppID"},
		{"no user", func(o *im.Options) { o.UserID = -1 }, "UserID"},
		{"no api", func(o *im.Options) { o.APIURL = "" }, "APIURL"},
		{"no frontier", func(o *im.Options) { o.FrontierURL = "" }, "FrontierURL"},
		{"no token", func(o *im.Options) { o.Token = nil }, "Token"},
		{"pull too often", func(o *im.Options) { o.PullInterval = time.Second }, "PullInterval"},
		{"cache too small", func(o *im.Options) { o.MaxMessageCount = 100 }, "MaxMessageCount"},
		{"cache too big", func(o *im.Options) { o.MaxMessageCount = 2001 }, "MaxMessageCount"},
		{"bad level", func(o *im.Options) { o.WebSocketLevel = 9 }, "WebSocketLevel"},
		{"window under heartbeat", func(o *im.Options) {
			o.HeartbeatInterval, o.MaxHeartbeatEmptyWindow = 10*time.Second, 5*time.Second
		}, "MaxHeartbeatEmptyWindow"},
		{"negative timeout", func(o *im.Options) { o.Timeout = -1 }, "Timeout"},
		{"negative inbox", func(o *im.Options) { o.InboxType = -1 }, "InboxType"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := s.options(1)
			tc.tweak(&o)
			_, err := im.New(o)
			require.ErrorContains(t, err, "Options."+tc.field, "New: want an error naming Options.%s", tc.field)
		})
	}
	// Frontier is optional when the socket is off.
	o := s.options(1)
	o.FrontierURL, o.WebSocketLevel = "", im.WebSocketLevelDisable
	_, err := im.New(o)
	require.NoError(t, err, "Disable without FrontierURL")
}

// TestOptionDefaults checks the documented defaults, which are the seed's.
func TestOptionDefaults(t *testing.T) {
	s := newServer(t)
	c, err := im.New(s.options(1))
	require.NoError(t, err)
	defer c.Close()
	o := c.Options()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Timeout", o.Timeout, 2000 * time.Millisecond},
		{"HeartbeatInterval", o.HeartbeatInterval, 15 * time.Second},
		{"MaxHeartbeatEmptyWindow", o.MaxHeartbeatEmptyWindow, 30 * time.Second},
		{"PullInterval", o.PullInterval, 30 * time.Second},
		{"MaxMessageCount", o.MaxMessageCount, 1000},
		{"MaxSendMsgRetryTimes", o.MaxSendMsgRetryTimes, 3},
		{"DeviceID", o.DeviceID, "1"},
		{"DevicePlatform", o.DevicePlatform, "web"},
		{"AuthType", o.AuthType, im.AuthTypeToken},
		{"WebSocketLevel", o.WebSocketLevel, im.WebSocketLevelDefault},
		{"FPID", o.FPID, int64(89)},
		{"AutoReadIndex", o.AutoReadIndex, false},
	}
	for _, c := range checks {
		assert.Equal(t, c.want, c.got, c.name)
	}
}

func TestNewDoesNoIOAndCloseIsIdempotent(t *testing.T) {
	o := (&server{}).optionsFor("http://127.0.0.1:1", 1) // nothing listens there
	c, err := im.New(o)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "second Close")
	require.ErrorIs(t, c.Init(context.Background()), im.ErrClosed, "Init after Close")
}

func TestInitReportsStartThenSucceededOrError(t *testing.T) {
	s := newServer(t)
	c := s.unstarted(1)
	results := make(chan im.InitResult, 4)
	c.OnInitResult(func(e im.InitEvent) { results <- e.Result })
	start(t, c)
	for _, want := range []im.InitResult{im.InitResultStart, im.InitResultSucceeded} {
		select {
		case got := <-results:
			require.Equal(t, want, got, "init result")
		case <-time.After(waitFor):
			require.FailNow(t, "no init result", "no %v", want)
		}
	}
	bad := s.unstarted(2, func(o *im.Options) { o.Token = im.StaticToken("forged") })
	badResults := make(chan im.InitEvent, 4)
	bad.OnInitResult(func(e im.InitEvent) { badResults <- e })
	err := bad.Init(ctx(t))
	require.ErrorIs(t, err, im.ErrInvalidToken, "Init with a forged token")
	for _, want := range []im.InitResult{im.InitResultStart, im.InitResultError} {
		select {
		case got := <-badResults:
			require.Equal(t, want, got.Result, "init result")
		case <-time.After(waitFor):
			require.FailNow(t, "no init result", "no %v", want)
		}
	}
}

// TestTokenRefresh checks that an expired token makes the client ask its
// provider once, and that the same token again is an error.
func TestTokenRefresh(t *testing.T) {
	s := newServer(t)
	expired := imserver.MintToken(testAppID, 1, testSecret, time.Now().Add(-time.Minute))
	var calls atomic.Int32
	c := s.client(1, func(o *im.Options) {
		o.Token = func(context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return expired, nil
			}
			return s.srv.Token(1, time.Hour)
		}
	})
	require.EqualValues(t, 2, calls.Load(), "provider calls, want the expired token, then a fresh one")
	waitConnected(t, c)

	same := s.unstarted(2, func(o *im.Options) {
		o.Token = im.StaticToken(imserver.MintToken(testAppID, 2, testSecret, time.Now().Add(-time.Minute)))
	})
	require.ErrorIs(t, same.Init(ctx(t)), im.ErrSameToken, "Init with a provider that repeats the expired token")
}

// TestUnsubscribe checks that a cancelled subscription gets no more
// events while another one still does.
func TestUnsubscribe(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	bob := s.unstarted(2)
	var cancelled atomic.Int32
	sub := bob.OnMessageReceived(func(im.MessageEvent) { cancelled.Add(1) })
	r := newReceiver(bob)
	start(t, bob)
	alice := s.client(1)
	send := func() {
		t.Helper()
		_, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("x")})
		require.NoError(t, err)
	}
	send()
	r.waitFor(t, 1, waitFor, nil)
	sub.Unsubscribe()
	sub.Unsubscribe() // idempotent
	send()
	r.waitFor(t, 2, waitFor, nil)
	require.EqualValues(t, 1, cancelled.Load(), "events the cancelled subscription got")
}

// TestConnectionStateEvents follows the socket through a drop: connected,
// reconnecting, connecting, connected again.
func TestConnectionStateEvents(t *testing.T) {
	s := newServer(t)
	c := s.unstarted(1)
	states := make(chan im.ConnectionState, 16)
	c.OnConnectionState(func(st im.ConnectionState) { states <- st })
	start(t, c)
	want := []im.ConnectionState{im.ConnectionStateConnecting, im.ConnectionStateConnected}
	for _, w := range want {
		require.Equal(t, w, nextState(t, states), "state")
	}
	require.True(t, c.DropConnection(), "a socket to drop")
	for _, w := range []im.ConnectionState{im.ConnectionStateReconnecting, im.ConnectionStateConnecting, im.ConnectionStateConnected} {
		require.Equal(t, w, nextState(t, states), "after the drop: state")
	}
}

func nextState(t *testing.T, states <-chan im.ConnectionState) im.ConnectionState {
	t.Helper()
	select {
	case st := <-states:
		return st
	case <-time.After(waitFor):
		require.FailNow(t, "no state change")
		return 0
	}
}
