package im

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// ConversationRef names a conversation in a request: its id, short id and
// type, as every conversation command carries them.
type ConversationRef struct {
	ID      ConversationID
	ShortID ConversationShortID
	Type    ConversationType
}

// Ref returns the reference of a conversation.
func (c *Conversation) Ref() ConversationRef {
	return ConversationRef{ID: c.ID, ShortID: c.ShortID, Type: c.Type}
}

// Conversation returns the reference of the conversation m belongs to.
func (m *Message) Conversation() ConversationRef {
	return ConversationRef{ID: m.ConversationID, ShortID: m.ConversationShortID, Type: m.ConversationType}
}

// OutgoingMessage is a message to send.
type OutgoingMessage struct {
	// Type defaults to MessageTypeText.
	Type MessageType
	// Content is the message content, normally JSON such as
	// {"text":"hi"} (see TextContent).
	Content string
	// Ext is the message's ext; s: keys the server acts on are listed in
	// InfoKeys. A live-chat send carries none: SendMessage refuses it there.
	Ext map[string]string
	// Mentions lists the users mentioned; MentionAll mentions everyone.
	Mentions   []UserID
	MentionAll bool
	// ReplyTo quotes a message (the seed's reference). A live-chat send
	// carries none: SendMessage refuses it there.
	ReplyTo *Message
	// ClientID makes the send idempotent; a random one is generated when
	// empty. Retries of this send reuse it.
	ClientID string
	// Priority is the live-chat message priority; nil means Normal (the
	// seed's messagePriority is optional, and Low is its zero value).
	// Other conversations have none: SendMessage refuses it there.
	Priority *MessagePriority
}

// TextContent renders the content of a text message.
func TextContent(text string) string {
	b, _ := json.Marshal(map[string]string{"text": text})
	return string(b)
}

// newClientID returns a random client message id.
func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SendMessage sends a message to a conversation and returns it with its
// server id and FlightStatus Succeeded (or SelfVisible when the server's
// content check let only the sender see it). The server's copy, with its
// index and order, reaches this client like every other message, through
// OnMessageReceived; GetMessage fetches it at once.
//
// The returned message is this client's own (Source MessageSourceOffline,
// the seed's source of a message sent by this client); it is IsOffline
// until the server stored it, so it stays IsOffline when the send fails.
//
// A transient failure (network, timeout, the server asking to slow down
// or failing internally) is retried up to Options.MaxSendMsgRetryTimes
// with the same client message id, so the server stores the message once
// whatever happens. As the seed's FlightStatus says, a message the server
// refused (its check: a non-member, a muted sender, the content check)
// ends Rejected; one that could not be sent (network, internal errors,
// transient failures that outlast the retries, an option the command
// cannot carry) ends Failed; both come back with the error.
//
// Priority is for live chats (ConversationTypeMassChat) only. A live-chat
// send (2007) carries no ext and no reference, so Ext and ReplyTo are
// refused there with ErrorTypeInvalidArgument rather than dropped; the
// returned message carries the priority sent, in ext s:message_priority.
func (c *Client) SendMessage(ctx context.Context, to ConversationRef, out OutgoingMessage) (*Message, error) {
	if to.Type == ConversationTypeMassChat {
		return c.sendLive(ctx, to, out)
	}
	m, body := c.outgoing(to, out)
	if out.Priority != nil {
		return m, c.unsendable(m, improto.IMCMD_SEND_MESSAGE, "OutgoingMessage.Priority is for live chats only; "+
			to.Type.String()+" messages have no priority")
	}
	req := &improto.SendMessageRequestBody{
		ConversationId:      proto.String(string(to.ID)),
		ConversationShortId: proto.Int64(int64(to.ShortID)),
		ConversationType:    proto.Int32(int32(to.Type)),
		Content:             proto.String(m.Content),
		Ext:                 m.Ext,
		MessageType:         proto.Int32(int32(m.Type)),
		ClientMessageId:     proto.String(m.ClientID),
		MentionedUsers:      body.mentions,
		RefMsgInfo:          body.ref,
	}
	resp, err := retrySend(ctx, c, m, func() (*improto.SendMessageResponseBody, error) {
		return callBody[*improto.SendMessageResponseBody](ctx, c, improto.IMCMD_SEND_MESSAGE, req)
	})
	if err != nil {
		return m, err
	}
	return m, c.sent(m, improto.IMCMD_SEND_MESSAGE, resp.GetServerMessageId(), resp.GetStatus(), resp.GetCheckCode(), resp.GetCheckMessage())
}

// sent moves m on by the server's answer to its send: the message's
// server id and the send status with the content check's verdict. (Not a
// method: a Message's methods only read it.)
func (c *Client) sent(m *Message, cmd improto.IMCMD, serverID int64, status int32, checkCode int64, checkMsg string) error {
	var ok FlightStatus
	switch improto.SendMessageStatus(status) {
	case improto.SendMessageStatus_SEND_SUCCEED:
		ok = FlightStatusSucceeded
	case improto.SendMessageStatus_CHECK_MSG_NOT_PASS_BUT_SELF_VISIBLE:
		ok = FlightStatusSelfVisible
	default:
		c.fly(m, FlightStatusRejected)
		return &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true,
			Msg:       "message rejected: " + improto.SendMessageStatus(status).String(),
			CheckCode: checkCode, CheckMsg: checkMsg}
	}
	if serverID == 0 {
		c.fly(m, FlightStatusFailed)
		return malformedAnswer(cmd, "server message id", "")
	}
	m.ServerID = MessageID(serverID)
	m.IsOffline = false
	c.fly(m, ok)
	return nil
}

// unsendable fails m before it is sent, for an option the command cannot
// carry.
func (c *Client) unsendable(m *Message, cmd improto.IMCMD, msg string) error {
	c.fly(m, FlightStatusFailed)
	return &Error{Type: ErrorTypeInvalidArgument, Cmd: cmd, Msg: msg}
}

type outgoingBody struct {
	mentions []int64
	ref      *improto.ReferencedMessageInfo
}

// outgoing builds the local Message (FlightStatus Created, IsOffline,
// Source Offline) and the wire parts of a send.
func (c *Client) outgoing(to ConversationRef, out OutgoingMessage) (*Message, outgoingBody) {
	if out.Type == 0 {
		out.Type = MessageTypeText
	}
	if out.ClientID == "" {
		out.ClientID = newClientID()
	}
	ext := maps.Clone(out.Ext)
	if ext == nil {
		ext = map[string]string{}
	}
	ext[string(InfoKeyClientMessageID)] = out.ClientID
	var body outgoingBody
	mentions := out.Mentions
	if out.MentionAll {
		mentions = append([]UserID{0}, mentions...)
	}
	if len(mentions) > 0 {
		ids := make([]string, len(mentions))
		for i, u := range mentions {
			ids[i] = strconv.FormatInt(int64(u), 10)
			body.mentions = append(body.mentions, int64(u))
		}
		ext[string(InfoKeyMentionedUsers)] = strings.Join(ids, ",")
	}
	if r := out.ReplyTo; r != nil {
		body.ref = &improto.ReferencedMessageInfo{
			ReferencedMessageId: proto.Int64(int64(r.ServerID)),
			Hint:                proto.String(r.Content),
		}
		if r.Reference != nil && r.Reference.RootMessageID != 0 {
			body.ref.RootMessageId = proto.Int64(int64(r.Reference.RootMessageID))
			body.ref.RootMessageConvIndex = proto.Int64(r.Reference.RootMessageConvIndex)
		}
	}
	m := &Message{
		ClientID:            out.ClientID,
		ConversationID:      to.ID,
		ConversationShortID: to.ShortID,
		ConversationType:    to.Type,
		Sender:              c.opts.UserID,
		Type:                out.Type,
		Content:             out.Content,
		Ext:                 ext,
		CreatedAt:           time.Now(),
		FlightStatus:        FlightStatusCreated,
		IsOffline:           true,
		Source:              MessageSourceOffline,
	}
	c.reportFlight(m)
	return m, body
}

// fly moves m, one of this client's sends, to status s, and tells the
// OnFlightStatus subscribers when that is a change.
func (c *Client) fly(m *Message, s FlightStatus) {
	if m.FlightStatus == s {
		return
	}
	m.FlightStatus = s
	c.reportFlight(m)
}

// reportFlight hands the OnFlightStatus subscribers a copy of m as it is
// now; without subscribers it costs no copy.
func (c *Client) reportFlight(m *Message) {
	if !c.events.subscribed(kindFlightStatus) {
		return
	}
	now := *m
	now.Ext = maps.Clone(m.Ext) // the send may add to m's
	emitNow(c.events, kindFlightStatus, MessageEvent{Message: &now})
}

// retrySend runs one send attempt after another while they fail
// transiently, moving m through Inflight to Failed when they run out, or
// to Rejected when the server refused the message.
func retrySend[T any](ctx context.Context, c *Client, m *Message, attempt func() (T, error)) (T, error) {
	var zero T
	for n := 0; ; n++ {
		c.fly(m, FlightStatusInflight)
		out, err := attempt()
		if err == nil {
			return out, nil
		}
		var e *Error
		if !errors.As(err, &e) || !e.temporary() || n >= c.opts.MaxSendMsgRetryTimes || ctx.Err() != nil {
			final := FlightStatusFailed
			if e != nil && e.refused() {
				final = FlightStatusRejected
			}
			c.fly(m, final)
			return zero, err
		}
		// The server's hint wins over the backoff when it asks for longer.
		t := time.NewTimer(max(time.Duration(n+1)*100*time.Millisecond, e.RetryAfter))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.fly(m, FlightStatusFailed)
			return zero, transportError(improto.IMCMD_SEND_MESSAGE, ctx.Err())
		}
	}
}

// sendLive sends to a live chat (2007). Its body has no ext and no
// reference: the priority travels in the Request header
// s:message_priority (where imserver reads it), and Ext and ReplyTo are
// refused rather than dropped.
func (c *Client) sendLive(ctx context.Context, to ConversationRef, out OutgoingMessage) (*Message, error) {
	m, body := c.outgoing(to, out)
	prio := MessagePriorityNormal
	if out.Priority != nil {
		prio = *out.Priority
	}
	switch {
	case len(out.Ext) > 0:
		return m, c.unsendable(m, improto.IMCMD_BROADCAST_SEND_MESSAGE,
			"OutgoingMessage.Ext cannot be sent to a live chat: its send (2007) carries no ext")
	case out.ReplyTo != nil:
		return m, c.unsendable(m, improto.IMCMD_BROADCAST_SEND_MESSAGE,
			"OutgoingMessage.ReplyTo cannot be sent to a live chat: its send (2007) carries no reference")
	case prio < MessagePriorityLow || prio > MessagePriorityHigh:
		return m, c.unsendable(m, improto.IMCMD_BROADCAST_SEND_MESSAGE,
			"OutgoingMessage.Priority must be Low, Normal or High, got "+prio.String())
	}
	m.Ext[string(InfoKeyMessagePriority)] = strconv.Itoa(int(prio))
	req := &improto.BroadcastSendMessageRequestBody{
		ConversationId:      proto.String(string(to.ID)),
		ConversationShortId: proto.Int64(int64(to.ShortID)),
		ConversationType:    proto.Int32(int32(to.Type)),
		Content:             proto.String(m.Content),
		MessageType:         proto.Int32(int32(m.Type)),
		ClientMessageId:     proto.String(m.ClientID),
		MentionedUsers:      body.mentions,
	}
	resp, err := retrySend(ctx, c, m, func() (*improto.BroadcastSendMessageResponseBody, error) {
		return callBodyWithHeaders[*improto.BroadcastSendMessageResponseBody](ctx, c, improto.IMCMD_BROADCAST_SEND_MESSAGE, req,
			map[string]string{string(InfoKeyMessagePriority): m.Ext[string(InfoKeyMessagePriority)]})
	})
	if err != nil {
		return m, err
	}
	return m, c.sent(m, improto.IMCMD_BROADCAST_SEND_MESSAGE, resp.GetServerMessageId(), resp.GetStatus(), resp.GetCheckCode(), resp.GetCheckMessage())
}
