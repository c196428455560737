package im_test

import (
	"errors"
	"testing"
	"time"

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
	if err != nil || resp.GetStatusCode() != 0 {
		t.Fatalf("create: %v %s", err, resp.GetErrorDesc())
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if first.FlightStatus != im.FlightStatusSucceeded || first.ServerID == 0 || first.ClientID == "" {
		t.Fatalf("sent message: status %v id %d client id %q", first.FlightStatus, first.ServerID, first.ClientID)
	}
	if stored, err := alice.GetMessage(ctx(t), conv, first.ServerID); err != nil || stored.Index != 1 || stored.Sender != 1 {
		t.Fatalf("stored copy: %+v, %v", stored, err)
	}
	reply, err := alice.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("again"), ReplyTo: first, MentionAll: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*im.Message{first, reply} {
		select {
		case e := <-got:
			if e.Message.ServerID != want.ServerID {
				t.Fatalf("event %d: message %d, want %d", i, e.Message.ServerID, want.ServerID)
			}
		case <-time.After(waitFor):
			t.Fatalf("bob got no message %d", i)
		}
	}
	if !first.IsMentioned(2) || first.MentionsAll() {
		t.Errorf("first: mentioned %v", first.MentionedUsers())
	}
	if !reply.MentionsAll() || !reply.IsMentioned(3) {
		t.Errorf("reply: mentioned %v", reply.MentionedUsers())
	}
	stored, err := alice.GetMessage(ctx(t), conv, reply.ServerID)
	if err != nil || stored.Reference == nil || stored.Reference.ReferencedMessageID != first.ServerID {
		t.Errorf("reply reference: %+v, %v", stored, err)
	}
}

func TestSendMessageIsIdempotentByClientID(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	out := im.OutgoingMessage{Content: im.TextContent("once"), ClientID: "cmid-1"}
	a, err := alice.SendMessage(ctx(t), conv, out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := alice.SendMessage(ctx(t), conv, out)
	if err != nil {
		t.Fatal(err)
	}
	if a.ServerID != b.ServerID || b.ClientID != "cmid-1" {
		t.Fatalf("retry stored another message: %d and %d", a.ServerID, b.ServerID)
	}
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
		if err != nil || m.FlightStatus != im.FlightStatusSucceeded {
			t.Fatalf("send %d: %v (%v)", i, err, m.FlightStatus)
		}
	}
	r.waitFor(t, 5, waitFor, nil)
	r.check(t, 1, 5)
}

func TestSendRefusedIsRejected(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	outsider := s.client(3)
	m, err := outsider.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("let me in")})
	if !errors.Is(err, im.ErrNotMember) {
		t.Fatalf("SendMessage by a non-member = %v, want ErrNotMember", err)
	}
	if m.FlightStatus != im.FlightStatusRejected {
		t.Fatalf("flight status %v, want Rejected", m.FlightStatus)
	}
	var e *im.Error
	if !errors.As(err, &e) || !e.ReachServer || e.StatusCode != improto.StatusCode_USER_NOT_IN_GROUP || e.LogID == "" {
		t.Fatalf("error %+v", e)
	}
}

func TestSendFailsWhenServerUnreachable(t *testing.T) {
	s := newServer(t)
	c, err := im.New(s.optionsFor("http://127.0.0.1:1", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.SendMessage(ctx(t), im.ConversationRef{ID: "0:1:1:2", Type: im.ConversationTypeOneToOne},
		im.OutgoingMessage{Content: im.TextContent("anyone?")})
	var e *im.Error
	if !errors.As(err, &e) || e.ReachServer || e.Type != im.ErrorTypeNetwork {
		t.Fatalf("error %v, want a network *Error", err)
	}
	if m.FlightStatus != im.FlightStatusFailed {
		t.Fatalf("flight status %v, want Failed", m.FlightStatus)
	}
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
				if err != nil || m.FlightStatus != im.FlightStatusSucceeded {
					t.Fatalf("send %d: %v, status %v", i, err, m.FlightStatus)
				}
			}
			// The first passes at once, the others a token (250ms) apart.
			if took, least := time.Since(start), 2*time.Second/perSecond; took < least {
				t.Fatalf("3 sends took %v, less than the %v the rate allows", took, least)
			}

			s = newServer(t, func(c *imserver.Config) { c.SendRate, c.SendBurst = slow, 1 })
			conv = groupWith(t, s, 1, 2)
			hasty := s.client(2, func(o *im.Options) { o.WebSocketLevel, o.MaxSendMsgRetryTimes = level, -1 })
			if level == im.WebSocketLevelAll {
				waitConnected(t, hasty)
			}
			if _, err := hasty.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("one")}); err != nil {
				t.Fatal(err)
			}
			m, err := hasty.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("two")})
			if !errors.Is(err, im.ErrRateLimited) {
				t.Fatalf("second send at once: %v, want ErrRateLimited", err)
			}
			if wait, ok := im.RetryAfter(err); !ok || wait <= 0 || wait > time.Duration(float64(time.Second)/slow) {
				t.Fatalf("RetryAfter = %v, %v; want (0, 2s]", wait, ok)
			}
			// A rate limit is transient: out of retries, the send failed
			// (the seed's Failed); the server did not reject the message.
			if m.FlightStatus != im.FlightStatusFailed || !m.IsOffline {
				t.Fatalf("rate-limited message is %v (offline %v), want Failed and offline", m.FlightStatus, m.IsOffline)
			}
		})
	}
}
