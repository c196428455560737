package im_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		for _, op := range ops {
			if op.bodyOnly && mode.name != "no body" {
				continue
			}
			t.Run(mode.name+"/"+op.name, func(t *testing.T) {
				returned, err := op.call(c)
				var e *im.Error
				if !errors.Is(err, im.ErrMalformedResponse) || !errors.As(err, &e) || !e.ReachServer || e.Type != im.ErrorTypeServer {
					t.Fatalf("error %v, want a server *Error matching ErrMalformedResponse", err)
				}
				if returned {
					t.Fatal("a result came back with the error")
				}
				if strings.Contains(err.Error(), "im: im:") {
					t.Fatalf("doubled prefix: %v", err)
				}
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
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			out := im.OutgoingMessage{Content: im.TextContent("buy now")}

			body.Store(tc.body(int32(improto.SendMessageStatus_CHECK_MSG_NOT_PASS), 0, 42, "no ads"))
			m, err := c.SendMessage(ctx(t), tc.to, out)
			var e *im.Error
			if !errors.As(err, &e) || e.CheckCode != 42 || e.CheckMsg != "no ads" || e.Cmd != tc.cmd {
				t.Fatalf("refused send: %v, want an *Error with check code 42", err)
			}
			if m.FlightStatus != im.FlightStatusRejected || !m.IsOffline {
				t.Fatalf("refused send is %v (offline %v), want Rejected, offline", m.FlightStatus, m.IsOffline)
			}

			body.Store(tc.body(int32(improto.SendMessageStatus_CHECK_MSG_NOT_PASS_BUT_SELF_VISIBLE), 77, 0, ""))
			m, err = c.SendMessage(ctx(t), tc.to, out)
			if err != nil || m.FlightStatus != im.FlightStatusSelfVisible || m.ServerID != 77 || m.IsOffline {
				t.Fatalf("self-visible send: %v, %v id %d offline %v", err, m.FlightStatus, m.ServerID, m.IsOffline)
			}
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
		if m.FlightStatus != im.FlightStatusSucceeded || m.ServerID == 0 || m.IsOffline || m.Priority() != tc.want {
			t.Fatalf("sent %v (id %d, offline %v) with priority %v, want Succeeded with %v", m.FlightStatus, m.ServerID, m.IsOffline, m.Priority(), tc.want)
		}
		page := opsMust(a.LiveMessages(cx, live.Ref(), 0, 1, true))(t)
		if len(page.Messages) != 1 || page.Messages[0].ServerID != m.ServerID || page.Messages[0].Priority() != tc.want {
			t.Fatalf("stored: %+v, want message %d with priority %v", page.Messages, m.ServerID, tc.want)
		}
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
		if !errors.As(err, &e) || e.Type != im.ErrorTypeInvalidArgument || !strings.Contains(err.Error(), "OutgoingMessage."+name) {
			t.Fatalf("live send with %s: %v, want an invalid-argument error naming OutgoingMessage.%s", name, err, name)
		}
		if m.FlightStatus != im.FlightStatusFailed || !m.IsOffline || m.ServerID != 0 {
			t.Fatalf("live send with %s is %v (offline %v, id %d), want Failed, offline", name, m.FlightStatus, m.IsOffline, m.ServerID)
		}
	}
	after := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	if len(after.Messages) != len(before.Messages) {
		t.Fatalf("refused sends reached the server: %d messages, want %d", len(after.Messages), len(before.Messages))
	}

	opsMust(b.LeaveLiveChat(cx, live.Ref()))(t)
	m, err := b.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent("still here?")})
	opsIs(t, err, im.ErrNotMember, "a send after leaving")
	if m.FlightStatus != im.FlightStatusRejected || !m.IsOffline {
		t.Fatalf("send after leaving is %v (offline %v), want Rejected, offline", m.FlightStatus, m.IsOffline)
	}

	group := opsGroup(t, a, 2)
	_, err = a.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("x"), Priority: &high})
	if err == nil || !strings.Contains(err.Error(), "OutgoingMessage.Priority") {
		t.Fatalf("group send with a priority: %v, want an error naming OutgoingMessage.Priority", err)
	}
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
	if sent.Source != im.MessageSourceOffline || sent.IsOffline {
		t.Fatalf("sent message: source %v offline %v, want Offline and stored", sent.Source, sent.IsOffline)
	}
	got := opsMust(a.GetMessage(cx, group.Ref(), sent.ServerID))(t)
	page := opsMust(a.LoadMessages(cx, group.Ref(), im.MessageDirectionOlder, 0, 10))(t)
	ext := opsMust(a.ModifyMessageExt(cx, group.Ref(), sent.ServerID, map[string]string{"a:k": "v"}))(t)
	live := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeMassChat}))(t)
	opsMust(a.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent("live")}))(t)
	livePage := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	if len(page.Messages) == 0 || len(livePage.Messages) == 0 {
		t.Fatalf("pages: %d and %d messages", len(page.Messages), len(livePage.Messages))
	}
	for name, m := range map[string]*im.Message{"GetMessage": got, "LoadMessages": page.Messages[0],
		"ModifyMessageExt": ext, "LiveMessages": livePage.Messages[0]} {
		if m.Source != im.MessageSourceLoadMore || m.IsOffline {
			t.Errorf("%s: source %v offline %v, want LoadMore", name, m.Source, m.IsOffline)
		}
	}

	c, err := im.New(s.optionsFor("http://127.0.0.1:1", 1)) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	failed, err := c.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("anyone?")})
	if err == nil || failed.FlightStatus != im.FlightStatusFailed || !failed.IsOffline || failed.Source != im.MessageSourceOffline {
		t.Fatalf("unsent message: %v, %v offline %v source %v", err, failed.FlightStatus, failed.IsOffline, failed.Source)
	}
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
	if core.Name != name || core.Version != set.Version || core.ConversationID != group.ID {
		t.Fatalf("core = %+v, want name %q version %d", core, name, set.Version)
	}
	if cached := b.CachedConversation(group.ID); cached.CoreInfo.Name != name {
		t.Fatalf("cached core name %q", cached.CoreInfo.Name)
	}

	on := true
	setting := opsMust(bPhone.SetSettingInfo(cx, group.Ref(), im.SettingChange{StickTop: &on}))(t)
	got := opsMust(b.GetSettingInfo(cx, group.Ref()))(t)
	if got.StickTop != im.StickTopStateOn || got.Version != setting.Version {
		t.Fatalf("settings = %+v, want stuck on top at version %d", got, setting.Version)
	}
	if cached := b.CachedConversation(group.ID); cached.SettingInfo.StickTop != im.StickTopStateOn || cached.Version != setting.Version {
		t.Fatalf("cached settings = %+v", cached.SettingInfo)
	}

	single := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}}))(t)
	if core := opsMust(a.GetCoreInfo(cx, single.Ref()))(t); core.ConversationID != single.ID {
		t.Fatalf("single chat core = %+v", core)
	}
	_, err := stranger.GetCoreInfo(cx, group.Ref())
	opsIs(t, err, im.ErrNotMember, "a stranger reads the core info")
	_, err = stranger.GetSettingInfo(cx, group.Ref())
	opsIs(t, err, im.ErrNotMember, "a stranger reads the settings")
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
			if !errors.As(err, &e) || e.Type != im.ErrorTypeInvalidArgument || !strings.HasPrefix(err.Error(), "im: Options."+tc.field+" ") {
				t.Fatalf("New = %v, want an invalid-argument error starting %q", err, "im: Options."+tc.field)
			}
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
			if err != nil {
				t.Fatalf("New = %v, want it accepted", err)
			}
			defer c.Close()
			if !tc.check(c.Options()) {
				t.Fatalf("options as kept: %+v", c.Options())
			}
		})
	}
}
