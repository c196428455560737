package im_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// okPeer is a deliberately malformed IM Cloud peer (not a stand-in for our
// server, which cannot answer this way): it answers every HTTP request
// with status OK and the body answer builds for the command (nil: none).
// It returns client options for user 1 against it, over HTTP only.
func okPeer(t *testing.T, answer func(cmd improto.IMCMD) *improto.ResponseBody) im.Options {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		req := &improto.Request{}
		if err != nil || proto.Unmarshal(data, req) != nil {
			http.Error(w, "not a Request", http.StatusBadRequest)
			return
		}
		out, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(req.GetCmd()), SequenceId: proto.Int64(req.GetSequenceId()),
			StatusCode: proto.Int32(0), InboxType: proto.Int32(0), LogId: proto.String("peer"),
			Body: answer(improto.IMCMD(req.GetCmd()))})
		_, _ = w.Write(out)
	}))
	t.Cleanup(hs.Close)
	o := (&server{}).optionsFor(hs.URL, 1)
	o.FrontierURL, o.WebSocketLevel = "", im.WebSocketLevelDisable
	return o
}

// emptyBody is a ResponseBody holding the command's body with no field
// set: the body is there, what it should carry is not.
func emptyBody(cmd improto.IMCMD) *improto.ResponseBody {
	command, _ := improto.LookupCommand(cmd)
	rb := &improto.ResponseBody{}
	m := rb.ProtoReflect()
	if fd := m.Descriptor().Fields().ByNumber(protoreflect.FieldNumber(command.BodyField)); fd != nil {
		m.Mutable(fd)
	}
	return rb
}

// TestOKAnswerWithoutPayloadIsMalformed checks that an OK answer missing
// its body, or a body missing what the operation returns, is an error
// matching ErrMalformedResponse, not a success with nothing in it.
func TestOKAnswerWithoutPayloadIsMalformed(t *testing.T) {
	ref := im.ConversationRef{ID: "7", ShortID: 7, Type: im.ConversationTypeGroup}
	live := im.ConversationRef{ID: "8", ShortID: 8, Type: im.ConversationTypeMassChat}
	name := "x"
	ops := []struct {
		name string
		// call runs the operation and reports whether it returned a
		// value (which a failure must not).
		call func(c *im.Client) (bool, error)
		// bodyOnly: an empty body is a valid answer (an empty page, a
		// conversation not found); only a missing body is malformed.
		bodyOnly bool
	}{
		{"SendMessage", func(c *im.Client) (bool, error) {
			m, err := c.SendMessage(ctx(t), ref, im.OutgoingMessage{Content: im.TextContent("hi")})
			return m.FlightStatus != im.FlightStatusFailed || !m.IsOffline || m.ServerID != 0, err
		}, false},
		{"SendMessage live", func(c *im.Client) (bool, error) {
			m, err := c.SendMessage(ctx(t), live, im.OutgoingMessage{Content: im.TextContent("hi")})
			return m.FlightStatus != im.FlightStatusFailed || !m.IsOffline || m.ServerID != 0, err
		}, false},
		{"CreateConversation", func(c *im.Client) (bool, error) {
			v, err := c.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeGroup})
			return v != nil, err
		}, false},
		{"SetCoreInfo", func(c *im.Client) (bool, error) {
			v, err := c.SetCoreInfo(ctx(t), ref, im.CoreInfoChange{Name: &name})
			return v != nil, err
		}, false},
		{"UpsertCoreExt", func(c *im.Client) (bool, error) {
			v, err := c.UpsertCoreExt(ctx(t), ref, map[string]string{"a": "1"})
			return v != nil, err
		}, false},
		{"SetSettingInfo", func(c *im.Client) (bool, error) {
			on := true
			v, err := c.SetSettingInfo(ctx(t), ref, im.SettingChange{Mute: &on})
			return v != nil, err
		}, false},
		{"UpsertSettingExt", func(c *im.Client) (bool, error) {
			v, err := c.UpsertSettingExt(ctx(t), ref, map[string]string{"a": "1"})
			return v != nil, err
		}, false},
		{"JoinLiveChat", func(c *im.Client) (bool, error) {
			v, m, err := c.JoinLiveChat(ctx(t), live)
			return v != nil || m != nil, err
		}, false},
		{"LeaveLiveChat", func(c *im.Client) (bool, error) {
			v, err := c.LeaveLiveChat(ctx(t), live)
			return v != nil, err
		}, false},
		{"UpdateParticipant", func(c *im.Client) (bool, error) {
			v, err := c.UpdateParticipant(ctx(t), ref, 2, im.ParticipantChange{Alias: &name})
			return v != nil, err
		}, false},
		{"ModifyMessageExt", func(c *im.Client) (bool, error) {
			v, err := c.ModifyMessageExt(ctx(t), ref, 1, map[string]string{"a": "1"})
			return v != nil, err
		}, false},
		{"SendFriendApply", func(c *im.Client) (bool, error) {
			v, err := c.SendFriendApply(ctx(t), 2, nil)
			return v != nil, err
		}, false},
		{"GetConversation", func(c *im.Client) (bool, error) {
			v, err := c.GetConversation(ctx(t), ref)
			return v != nil, err
		}, true},
		{"GetCoreInfo", func(c *im.Client) (bool, error) {
			v, err := c.GetCoreInfo(ctx(t), ref)
			return v != nil, err
		}, true},
		{"GetSettingInfo", func(c *im.Client) (bool, error) {
			v, err := c.GetSettingInfo(ctx(t), ref)
			return v != nil, err
		}, true},
		{"LoadMessages", func(c *im.Client) (bool, error) {
			v, err := c.LoadMessages(ctx(t), ref, im.MessageDirectionOlder, 0, 10)
			return v != nil, err
		}, true},
		{"ModifyProperties", func(c *im.Client) (bool, error) {
			v, err := c.ModifyProperties(ctx(t), ref, 1)
			return v != 0, err
		}, true},
	}
	for _, mode := range []struct {
		name   string
		answer func(improto.IMCMD) *improto.ResponseBody
	}{
		{"no body", func(improto.IMCMD) *improto.ResponseBody { return nil }},
		{"empty body", emptyBody},
	} {
		c, err := im.New(okPeer(t, mode.answer))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		for _, op := range ops {
			if op.bodyOnly && mode.name != "no body" {
				continue
			}
			t.Run(mode.name+"/"+op.name, func(t *testing.T) {
				returned, err := op.call(c)
				var e *im.Error
				require.ErrorIs(t, err, im.ErrMalformedResponse, "want a server *Error matching ErrMalformedResponse")
				require.ErrorAs(t, err, &e, "want a server *Error matching ErrMalformedResponse")
				require.True(t, e.ReachServer, "error %v, want a server *Error matching ErrMalformedResponse", err)
				require.Equal(t, im.ErrorTypeServer, e.Type, "error %v, want a server *Error matching ErrMalformedResponse", err)
				require.False(t, returned, "a result came back with the error")
				require.NotContains(t, err.Error(), "im: im:", "doubled prefix")
			})
		}
	}
}

// TestSendStatusInAnswer checks the send status of an OK answer, for
// single and group sends (100) and live-chat sends (2007) alike: a failed
// check is Rejected with the check's code and message, self-visible is
// SelfVisible with the server id.
func TestSendStatusInAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   im.ConversationRef
		cmd  improto.IMCMD
		body func(status int32, id, checkCode int64, checkMsg string) proto.Message
	}{
		{"group", im.ConversationRef{ID: "7", ShortID: 7, Type: im.ConversationTypeGroup}, improto.IMCMD_SEND_MESSAGE,
			func(status int32, id, checkCode int64, checkMsg string) proto.Message {
				return &improto.SendMessageResponseBody{Status: &status, ServerMessageId: &id, CheckCode: &checkCode, CheckMessage: &checkMsg}
			}},
		{"live", im.ConversationRef{ID: "8", ShortID: 8, Type: im.ConversationTypeMassChat}, improto.IMCMD_BROADCAST_SEND_MESSAGE,
			func(status int32, id, checkCode int64, checkMsg string) proto.Message {
				return &improto.BroadcastSendMessageResponseBody{Status: &status, ServerMessageId: &id, CheckCode: &checkCode, CheckMessage: &checkMsg}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body atomic.Value // the proto.Message the peer answers with
			c, err := im.New(okPeer(t, func(cmd improto.IMCMD) *improto.ResponseBody {
				command, _ := improto.LookupCommand(cmd)
				rb, _ := command.NewResponseBody(body.Load().(proto.Message))
				return rb
			}))
			require.NoError(t, err)
			defer c.Close()
			out := im.OutgoingMessage{Content: im.TextContent("buy now")}

			body.Store(tc.body(int32(improto.SendMessageStatus_CHECK_MSG_NOT_PASS), 0, 42, "no ads"))
			m, err := c.SendMessage(ctx(t), tc.to, out)
			var e *im.Error
			require.ErrorAs(t, err, &e, "refused send: want an *Error with check code 42")
			require.EqualValues(t, 42, e.CheckCode, "refused send: %v: check code", err)
			require.Equal(t, "no ads", e.CheckMsg, "refused send: %v: check message", err)
			require.Equal(t, tc.cmd, e.Cmd, "refused send: %v: command", err)
			require.Equal(t, im.FlightStatusRejected, m.FlightStatus, "refused send's status")
			require.True(t, m.IsOffline, "refused send is offline")

			body.Store(tc.body(int32(improto.SendMessageStatus_CHECK_MSG_NOT_PASS_BUT_SELF_VISIBLE), 77, 0, ""))
			m, err = c.SendMessage(ctx(t), tc.to, out)
			require.NoError(t, err, "self-visible send")
			require.Equal(t, im.FlightStatusSelfVisible, m.FlightStatus, "self-visible send's status")
			require.EqualValues(t, 77, m.ServerID, "self-visible send's server id")
			require.False(t, m.IsOffline, "self-visible send is offline")
		})
	}
}

// TestLiveSendPriorityAndUncarriedOptions sends to a live chat on the real
// server: the returned and the stored message carry the priority sent;
// Ext and ReplyTo, which a live send cannot carry, are refused before
// anything is sent; a member who is not in the live chat is Rejected.
func TestLiveSendPriorityAndUncarriedOptions(t *testing.T) {
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b := s.client(2, opsNoSocket)
	cx := ctx(t)
	live := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeMassChat, Name: "show"}))(t)
	opsMust2(b.JoinLiveChat(cx, live.Ref()))(t)

	high, low := im.MessagePriorityHigh, im.MessagePriorityLow
	for _, tc := range []struct {
		prio *im.MessagePriority
		want im.MessagePriority
	}{{&high, high}, {&low, low}, {nil, im.MessagePriorityNormal}} {
		m := opsMust(b.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent("hi"), Priority: tc.prio}))(t)
		require.Equal(t, im.FlightStatusSucceeded, m.FlightStatus, "sent message's status")
		require.NotZero(t, m.ServerID, "sent message's server id")
		require.False(t, m.IsOffline, "sent message is offline")
		require.Equal(t, tc.want, m.Priority(), "sent message's priority")
		page := opsMust(a.LiveMessages(cx, live.Ref(), 0, 1, true))(t)
		require.Len(t, page.Messages, 1, "stored")
		require.Equal(t, m.ServerID, page.Messages[0].ServerID, "stored message")
		require.Equal(t, tc.want, page.Messages[0].Priority(), "stored message's priority")
	}
	before := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)

	first := before.Messages[0]
	bad := im.MessagePriority(7)
	for name, out := range map[string]im.OutgoingMessage{
		"Ext":      {Content: im.TextContent("x"), Ext: map[string]string{"a:k": "v"}},
		"ReplyTo":  {Content: im.TextContent("x"), ReplyTo: first},
		"Priority": {Content: im.TextContent("x"), Priority: &bad},
	} {
		m, err := b.SendMessage(cx, live.Ref(), out)
		var e *im.Error
		require.ErrorAs(t, err, &e, "live send with %s: want an invalid-argument error naming OutgoingMessage.%s", name, name)
		require.Equal(t, im.ErrorTypeInvalidArgument, e.Type, "live send with %s: %v, want an invalid-argument error", name, err)
		require.ErrorContains(t, err, "OutgoingMessage."+name, "live send with %s", name)
		require.Equal(t, im.FlightStatusFailed, m.FlightStatus, "live send with %s: status", name)
		require.True(t, m.IsOffline, "live send with %s is offline", name)
		require.Zero(t, m.ServerID, "live send with %s: server id", name)
	}
	after := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	require.Len(t, after.Messages, len(before.Messages), "refused sends reached the server")

	opsMust(b.LeaveLiveChat(cx, live.Ref()))(t)
	m, err := b.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent("still here?")})
	require.ErrorIs(t, err, im.ErrNotMember, "a send after leaving")
	require.Equal(t, im.FlightStatusRejected, m.FlightStatus, "send after leaving: status")
	require.True(t, m.IsOffline, "send after leaving is offline")

	group := opsGroup(t, a, 2)
	_, err = a.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("x"), Priority: &high})
	require.ErrorContains(t, err, "OutgoingMessage.Priority", "group send with a priority")
}

// TestMessageSourceAndOffline checks Source and IsOffline as the seed's
// MessageSource defines them: a message this client sends is Offline (and
// IsOffline until the server stored it); messages fetched on request are
// LoadMore.
func TestMessageSourceAndOffline(t *testing.T) {
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)

	sent := opsMust(a.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("hi")}))(t)
	require.Equal(t, im.MessageSourceOffline, sent.Source, "sent message's source")
	require.False(t, sent.IsOffline, "sent message is offline, want it stored")
	got := opsMust(a.GetMessage(cx, group.Ref(), sent.ServerID))(t)
	page := opsMust(a.LoadMessages(cx, group.Ref(), im.MessageDirectionOlder, 0, 10))(t)
	ext := opsMust(a.ModifyMessageExt(cx, group.Ref(), sent.ServerID, map[string]string{"a:k": "v"}))(t)
	live := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeMassChat}))(t)
	opsMust(a.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent("live")}))(t)
	livePage := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	require.NotEmpty(t, page.Messages, "LoadMessages' page")
	require.NotEmpty(t, livePage.Messages, "LiveMessages' page")
	for name, m := range map[string]*im.Message{"GetMessage": got, "LoadMessages": page.Messages[0],
		"ModifyMessageExt": ext, "LiveMessages": livePage.Messages[0]} {
		assert.Equal(t, im.MessageSourceLoadMore, m.Source, "%s: source", name)
		assert.False(t, m.IsOffline, "%s: offline", name)
	}

	c, err := im.New(s.optionsFor("http://127.0.0.1:1", 1)) // nothing listens there
	require.NoError(t, err)
	defer c.Close()
	failed, err := c.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("anyone?")})
	require.Error(t, err, "unsent message")
	require.Equal(t, im.FlightStatusFailed, failed.FlightStatus, "unsent message's status")
	require.True(t, failed.IsOffline, "unsent message is offline")
	require.Equal(t, im.MessageSourceOffline, failed.Source, "unsent message's source")
}

// TestGetCoreAndSettingInfo reads core and setting info as the server has
// them after other clients changed them, and checks that the cache takes
// them.
func TestGetCoreAndSettingInfo(t *testing.T) {
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b := s.client(2, opsNoSocket)
	bPhone := s.client(2, opsNoSocket, func(o *im.Options) { o.DeviceID = "phone" })
	stranger := s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	opsMust(b.GetConversation(cx, group.Ref()))(t) // cached before the changes

	name := "renamed"
	set := opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name}))(t)
	core := opsMust(b.GetCoreInfo(cx, group.Ref()))(t)
	require.Equal(t, name, core.Name, "core = %+v: name", core)
	require.Equal(t, set.Version, core.Version, "core = %+v: version", core)
	require.Equal(t, group.ID, core.ConversationID, "core = %+v: conversation", core)
	require.Equal(t, name, b.CachedConversation(group.ID).CoreInfo.Name, "cached core name")

	on := true
	setting := opsMust(bPhone.SetSettingInfo(cx, group.Ref(), im.SettingChange{StickTop: &on}))(t)
	got := opsMust(b.GetSettingInfo(cx, group.Ref()))(t)
	require.Equal(t, im.StickTopStateOn, got.StickTop, "settings = %+v: stick top", got)
	require.Equal(t, setting.Version, got.Version, "settings = %+v: version", got)
	cached := b.CachedConversation(group.ID)
	require.Equal(t, im.StickTopStateOn, cached.SettingInfo.StickTop, "cached settings = %+v: stick top", cached.SettingInfo)
	require.Equal(t, setting.Version, cached.Version, "cached settings = %+v: version", cached.SettingInfo)

	single := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}}))(t)
	core = opsMust(a.GetCoreInfo(cx, single.Ref()))(t)
	require.Equal(t, single.ID, core.ConversationID, "single chat core = %+v", core)
	_, err := stranger.GetCoreInfo(cx, group.Ref())
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger reads the core info")
	_, err = stranger.GetSettingInfo(cx, group.Ref())
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger reads the settings")
}

// TestOptionsRejected checks the options New refuses, each with an
// invalid-argument error naming the option once, with one prefix.
func TestOptionsRejected(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name  string
		tweak func(*im.Options)
		field string
	}{
		{"unknown auth type", func(o *im.Options) { o.AuthType = 9 }, "AuthType"},
		{"negative auth type", func(o *im.Options) { o.AuthType = -1 }, "AuthType"},
		{"unparsable API URL", func(o *im.Options) { o.APIURL = "http://[::1" }, "APIURL"},
		{"API URL without scheme", func(o *im.Options) { o.APIURL = "imapi.example.com" }, "APIURL"},
		{"API URL of another scheme", func(o *im.Options) { o.APIURL = "ftp://imapi.example.com" }, "APIURL"},
		{"API URL without host", func(o *im.Options) { o.APIURL = "http://" }, "APIURL"},
		{"unparsable Frontier URL", func(o *im.Options) { o.FrontierURL = "ws://%zz" }, "FrontierURL"},
		{"Frontier URL over HTTP", func(o *im.Options) { o.FrontierURL = "http://frontier.example.com/ws/v2" }, "FrontierURL"},
		{"Frontier URL with socket off", func(o *im.Options) {
			o.FrontierURL, o.WebSocketLevel = "::", im.WebSocketLevelDisable
		}, "FrontierURL"},
		{"negative Frontier service", func(o *im.Options) { o.FrontierService = -1 }, "FrontierService"},
		{"negative Frontier method", func(o *im.Options) { o.FrontierMethod = -1 }, "FrontierMethod"},
		{"negative fpid", func(o *im.Options) { o.FPID = -1 }, "FPID"},
		{"no socket and no pulls", func(o *im.Options) {
			o.WebSocketLevel, o.PullInterval = im.WebSocketLevelDisable, im.PullOff
		}, "PullInterval"},
		{"pull interval under the bound", func(o *im.Options) { o.PullInterval = im.MinPullInterval - time.Millisecond }, "PullInterval"},
		{"message count under the bound", func(o *im.Options) { o.MaxMessageCount = im.MinMaxMessageCount - 1 }, "MaxMessageCount"},
		{"message count over the bound", func(o *im.Options) { o.MaxMessageCount = im.MaxMaxMessageCount + 1 }, "MaxMessageCount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := s.options(1)
			tc.tweak(&o)
			c, err := im.New(o)
			if c != nil {
				c.Close()
			}
			var e *im.Error
			require.ErrorAs(t, err, &e, "New: want an invalid-argument error starting %q", "im: Options."+tc.field)
			require.Equal(t, im.ErrorTypeInvalidArgument, e.Type, "New = %v, want an invalid-argument error", err)
			require.True(t, strings.HasPrefix(err.Error(), "im: Options."+tc.field+" "), "New = %v, want an error starting %q", err, "im: Options."+tc.field)
		})
	}
}

// TestOptionsAcceptedAtTheBounds checks the bounds of MaxMessageCount and
// PullInterval at their limits, and the other side of the combinations
// New refuses.
func TestOptionsAcceptedAtTheBounds(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name  string
		tweak func(*im.Options)
		check func(o im.Options) bool
	}{
		{"message count 200", func(o *im.Options) { o.MaxMessageCount = 200 }, func(o im.Options) bool { return o.MaxMessageCount == 200 }},
		{"message count 2000", func(o *im.Options) { o.MaxMessageCount = 2000 }, func(o im.Options) bool { return o.MaxMessageCount == 2000 }},
		{"pull every 5s", func(o *im.Options) { o.PullInterval = 5 * time.Second }, func(o im.Options) bool { return o.PullInterval == 5*time.Second }},
		{"pulls off", func(o *im.Options) { o.PullInterval = im.PullOff }, func(o im.Options) bool { return o.PullInterval == im.PullOff }},
		{"socket off, pulls on", func(o *im.Options) { o.WebSocketLevel, o.FrontierURL = im.WebSocketLevelDisable, "" },
			func(o im.Options) bool { return o.PullInterval == im.DefaultPullInterval }},
		{"session auth", func(o *im.Options) { o.AuthType = im.AuthTypeSession }, func(o im.Options) bool { return o.AuthType == im.AuthTypeSession }},
		{"cert auth", func(o *im.Options) { o.AuthType = im.AuthTypeCert }, func(o im.Options) bool { return o.AuthType == im.AuthTypeCert }},
		{"upper-case schemes", func(o *im.Options) {
			o.APIURL, o.FrontierURL = "HTTPS://imapi.example.com", "WSS://frontier.example.com/ws/v2"
		}, func(o im.Options) bool { return o.APIURL == "HTTPS://imapi.example.com" }},
		{"Frontier service 0 is the default", func(o *im.Options) { o.FrontierService = 0 },
			func(o im.Options) bool { return o.FrontierService == im.DefaultFrontierService }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := s.options(1)
			tc.tweak(&o)
			c, err := im.New(o)
			require.NoError(t, err, "New, want it accepted")
			defer c.Close()
			require.True(t, tc.check(c.Options()), "options as kept: %+v", c.Options())
		})
	}
}
