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
	// InfoKeys.
	Ext map[string]string
	// Mentions lists the users mentioned; MentionAll mentions everyone.
	Mentions   []UserID
	MentionAll bool
	// ReplyTo quotes a message (the seed's reference).
	ReplyTo *Message
	// ClientID makes the send idempotent; a random one is generated when
	// empty. Retries of this send reuse it.
	ClientID string
	// Priority is the live-chat message priority; nil means Normal (the
	// seed's messagePriority is optional, and Low is its zero value).
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
// A transient failure (network, timeout, the server asking to slow down)
// is retried up to Options.MaxSendMsgRetryTimes with the same client
// message id, so the server stores the message once whatever happens. A
// message the server refused ends Rejected; one that could not be sent
// ends Failed; both come back with the error.
func (c *Client) SendMessage(ctx context.Context, to ConversationRef, out OutgoingMessage) (*Message, error) {
	if to.Type == ConversationTypeMassChat {
		return c.sendLive(ctx, to, out)
	}
	m, body := c.outgoing(to, out)
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
	m.ServerID = MessageID(resp.GetServerMessageId())
	switch improto.SendMessageStatus(resp.GetStatus()) {
	case improto.SendMessageStatus_SEND_SUCCEED:
		m.FlightStatus = FlightStatusSucceeded
	case improto.SendMessageStatus_CHECK_MSG_NOT_PASS_BUT_SELF_VISIBLE:
		m.FlightStatus = FlightStatusSelfVisible
	default:
		m.FlightStatus = FlightStatusRejected
		return m, &Error{Type: ErrorTypeServer, Cmd: improto.IMCMD_SEND_MESSAGE, ReachServer: true,
			Msg:       "message rejected: " + improto.SendMessageStatus(resp.GetStatus()).String(),
			CheckCode: resp.GetCheckCode(), CheckMsg: resp.GetCheckMessage()}
	}
	return m, nil
}

type outgoingBody struct {
	mentions []int64
	ref      *improto.ReferencedMessageInfo
}

// outgoing builds the local Message (FlightStatus Created) and the wire
// parts of a send.
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
	}
	return m, body
}

// retrySend runs one send attempt after another while they fail
// transiently, moving m through Inflight to Failed when they run out.
func retrySend[T any](ctx context.Context, c *Client, m *Message, attempt func() (T, error)) (T, error) {
	var zero T
	for n := 0; ; n++ {
		m.FlightStatus = FlightStatusInflight
		out, err := attempt()
		if err == nil {
			return out, nil
		}
		var e *Error
		if !errors.As(err, &e) || !e.temporary() || n >= c.opts.MaxSendMsgRetryTimes || ctx.Err() != nil {
			if errors.As(err, &e) && e.ReachServer {
				m.FlightStatus = FlightStatusRejected
			} else {
				m.FlightStatus = FlightStatusFailed
			}
			return zero, err
		}
		// The server's hint wins over the backoff when it asks for longer.
		t := time.NewTimer(max(time.Duration(n+1)*100*time.Millisecond, e.RetryAfter))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			m.FlightStatus = FlightStatusFailed
			return zero, transportError(improto.IMCMD_SEND_MESSAGE, ctx.Err())
		}
	}
}

// sendLive sends to a live chat (2007); the priority travels in the
// Request header s:message_priority, the body having no ext.
func (c *Client) sendLive(ctx context.Context, to ConversationRef, out OutgoingMessage) (*Message, error) {
	m, body := c.outgoing(to, out)
	req := &improto.BroadcastSendMessageRequestBody{
		ConversationId:      proto.String(string(to.ID)),
		ConversationShortId: proto.Int64(int64(to.ShortID)),
		ConversationType:    proto.Int32(int32(to.Type)),
		Content:             proto.String(m.Content),
		MessageType:         proto.Int32(int32(m.Type)),
		ClientMessageId:     proto.String(m.ClientID),
		MentionedUsers:      body.mentions,
	}
	prio := MessagePriorityNormal
	if out.Priority != nil {
		prio = *out.Priority
	}
	resp, err := retrySend(ctx, c, m, func() (*improto.BroadcastSendMessageResponseBody, error) {
		return callBodyWithHeaders[*improto.BroadcastSendMessageResponseBody](ctx, c, improto.IMCMD_BROADCAST_SEND_MESSAGE, req,
			map[string]string{string(InfoKeyMessagePriority): strconv.Itoa(int(prio))})
	})
	if err != nil {
		return m, err
	}
	m.ServerID = MessageID(resp.GetServerMessageId())
	m.FlightStatus = FlightStatusSucceeded
	return m, nil
}
