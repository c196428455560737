package im_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// groupWith creates a group owned by user owner with members, over the
// raw protocol (the client's own CreateConversation has its own tests).
func groupWith(t testing.TB, s *server, owner int64, members ...int64) im.ConversationRef {
	t.Helper()
	tok, _ := s.srv.Token(owner, time.Hour)
	rc := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	resp, err := rc.Call(ctx(t), improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(2), Participants: members})
	require.NoError(t, err, "create")
	require.Zero(t, resp.GetStatusCode(), "create: %s", resp.GetErrorDesc())
	info := resp.GetBody().GetCreateConversationV2Body().GetConversation()
	return im.ConversationRef{ID: im.ConversationID(info.GetConversationId()),
		ShortID: im.ConversationShortID(info.GetConversationShortId()), Type: im.ConversationTypeGroup}
}

func TestSendMessageDeliversWithMentionsAndQuote(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	bob := s.unstarted(2)
	got := make(chan im.MessageEvent, 4)
	bob.OnMessageReceived(func(e im.MessageEvent) { got <- e })
	start(t, bob)
	alice := s.client(1)

	first, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("hi @bob"), Mentions: []im.UserID{2}})
	require.NoError(t, err)
	require.Equal(t, im.FlightStatusSucceeded, first.FlightStatus, "sent message: status")
	require.NotZero(t, first.ServerID, "sent message: id")
	require.NotEmpty(t, first.ClientID, "sent message: client id")
	stored, err := alice.GetMessage(ctx(t), conv, first.ServerID)
	require.NoError(t, err, "stored copy")
	require.EqualValues(t, 1, stored.Index, "stored copy: %+v", stored)
	require.EqualValues(t, 1, stored.Sender, "stored copy: %+v", stored)
	reply, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("again"), ReplyTo: first, MentionAll: true})
	require.NoError(t, err)
	for i, want := range []*im.Message{first, reply} {
		select {
		case e := <-got:
			require.Equal(t, want.ServerID, e.Message.ServerID, "event %d: message", i)
		case <-time.After(waitFor):
			require.FailNow(t, "bob got no message", "bob got no message %d", i)
		}
	}
	assert.True(t, first.IsMentioned(2), "first: mentioned %v", first.MentionedUsers())
	assert.False(t, first.MentionsAll(), "first: mentioned %v", first.MentionedUsers())
	assert.True(t, reply.MentionsAll(), "reply: mentioned %v", reply.MentionedUsers())
	assert.True(t, reply.IsMentioned(3), "reply: mentioned %v", reply.MentionedUsers())
	stored, err = alice.GetMessage(ctx(t), conv, reply.ServerID)
	require.NoError(t, err, "reply reference")
	require.NotNil(t, stored.Reference, "reply reference: %+v", stored)
	assert.Equal(t, first.ServerID, stored.Reference.ReferencedMessageID, "reply reference")
}

func TestSendMessageIsIdempotentByClientID(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	out := im.OutgoingMessage{Content: im.TextContent("once"), ClientID: "cmid-1"}
	a, err := alice.SendMessage(ctx(t), conv, out)
	require.NoError(t, err)
	b, err := alice.SendMessage(ctx(t), conv, out)
	require.NoError(t, err)
	require.Equal(t, a.ServerID, b.ServerID, "retry stored another message")
	require.Equal(t, "cmid-1", b.ClientID, "the retry's client id")
}

// TestSendRetriesWhenRateLimited sends faster than the server allows on
// the socket: each send is retried with its client id until it is stored,
// and the receiver gets each message once.
func TestSendRetriesWhenRateLimited(t *testing.T) {
	s := newServer(t, func(c *imserver.Config) { c.RequestRate, c.RequestBurst = 8, 1 })
	conv := groupWith(t, s, 1, 2)
	bob := s.unstarted(2, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelPushOnly })
	r := newReceiver(bob)
	start(t, bob)
	alice := s.client(1, func(o *im.Options) {
		o.WebSocketLevel = im.WebSocketLevelAll
		o.MaxSendMsgRetryTimes = 10
	})
	waitConnected(t, alice)
	for i := range 5 {
		m, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("burst")})
		require.NoError(t, err, "send %d", i)
		require.Equal(t, im.FlightStatusSucceeded, m.FlightStatus, "send %d", i)
	}
	r.waitFor(t, 5, waitFor, nil)
	r.check(t, 1, 5)
}

func TestSendRefusedIsRejected(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	outsider := s.client(3)
	m, err := outsider.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("let me in")})
	require.ErrorIs(t, err, im.ErrNotMember, "SendMessage by a non-member")
	require.Equal(t, im.FlightStatusRejected, m.FlightStatus, "flight status")
	var e *im.Error
	require.ErrorAs(t, err, &e)
	require.True(t, e.ReachServer, "error %+v: reached the server", e)
	require.Equal(t, improto.StatusCode_USER_NOT_IN_GROUP, e.StatusCode, "error %+v: status code", e)
	require.NotEmpty(t, e.LogID, "error %+v: log id", e)
}

func TestSendFailsWhenServerUnreachable(t *testing.T) {
	s := newServer(t)
	c, err := im.New(s.optionsFor("http://127.0.0.1:1", 1))
	require.NoError(t, err)
	defer c.Close()
	m, err := c.SendMessage(ctx(t), im.ConversationRef{ID: "0:1:1:2", Type: im.ConversationTypeOneToOne},
		im.OutgoingMessage{Content: im.TextContent("anyone?")})
	var e *im.Error
	require.ErrorAs(t, err, &e, "want a network *Error")
	require.False(t, e.ReachServer, "error %v, want a network *Error", err)
	require.Equal(t, im.ErrorTypeNetwork, e.Type, "error %v, want a network *Error", err)
	require.Equal(t, im.FlightStatusFailed, m.FlightStatus, "flight status")
}

// TestSendHonoursRetryHint sends past the server's per-user send rate (4
// a second, burst 1) over HTTP and over the socket. With one retry
// allowed, every send gets through: the retry waited for the hint, since
// the 100ms backoff alone would be refused again. With no retries (and a
// rate of one send per 2s, which no stall of a loaded machine between two
// sends outlasts) the refusal comes back as ErrRateLimited carrying the
// hint, and the message ends Failed, not Rejected.
func TestSendHonoursRetryHint(t *testing.T) {
	const perSecond, slow = 4, 0.5
	for _, level := range []im.WebSocketLevel{im.WebSocketLevelPushOnly, im.WebSocketLevelAll} {
		t.Run(level.String(), func(t *testing.T) {
			s := newServer(t, func(c *imserver.Config) { c.SendRate, c.SendBurst = perSecond, 1 })
			conv := groupWith(t, s, 1, 2)
			patient := s.client(1, func(o *im.Options) { o.WebSocketLevel, o.MaxSendMsgRetryTimes = level, 1 })
			if level == im.WebSocketLevelAll {
				waitConnected(t, patient)
			}
			start := time.Now()
			for i := range 3 {
				m, err := patient.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("hi")})
				require.NoError(t, err, "send %d", i)
				require.Equal(t, im.FlightStatusSucceeded, m.FlightStatus, "send %d: status", i)
			}
			// The first passes at once, the others a token (250ms) apart.
			require.GreaterOrEqual(t, time.Since(start), 2*time.Second/perSecond, "how long 3 sends took, against what the rate allows")

			s = newServer(t, func(c *imserver.Config) { c.SendRate, c.SendBurst = slow, 1 })
			conv = groupWith(t, s, 1, 2)
			hasty := s.client(2, func(o *im.Options) { o.WebSocketLevel, o.MaxSendMsgRetryTimes = level, -1 })
			if level == im.WebSocketLevelAll {
				waitConnected(t, hasty)
			}
			_, err := hasty.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("one")})
			require.NoError(t, err)
			m, err := hasty.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("two")})
			require.ErrorIs(t, err, im.ErrRateLimited, "second send at once")
			wait, ok := im.RetryAfter(err)
			require.True(t, ok, "RetryAfter reports a hint")
			require.Positive(t, wait, "RetryAfter, want (0, 2s]")
			require.LessOrEqual(t, wait, time.Duration(float64(time.Second)/slow), "RetryAfter, want (0, 2s]")
			// A rate limit is transient: out of retries, the send failed
			// (the seed's Failed); the server did not reject the message.
			require.Equal(t, im.FlightStatusFailed, m.FlightStatus, "rate-limited message's status")
			require.True(t, m.IsOffline, "rate-limited message is offline")
		})
	}
}
