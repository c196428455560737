// Package barebot is the least a bot on the IM Cloud wire can be: one
// Frontier WebSocket (gorilla), each frame read into a reused buffer and
// decoded with protowire only as far as a bot needs (a new message's
// conversation, sender, server id and content), the bot's own messages
// skipped, and a reply with the same content written straight from the
// reading goroutine, encoded by hand into reused buffers.
//
// It is the baseline of the bot's CPU benchmarks (bot/cpu_bench_test.go,
// bot/flood_test.go): what a bot costs when it does nothing but read the
// push and write the reply over the same sockets as an imbot bot. It has
// no sync engine, no reconnect, no heartbeat (a server's idle timeout
// closes its socket after a quiet spell), no retry: applications use
// package bot.
package barebot

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"strconv"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/imbot-go/imbot/improto"
)

// Field numbers of improto's messages (improto/frame.proto, im.proto)
// that the bot reads or writes.
const (
	frameSeqID       protowire.Number = 1 // Frame.seqid
	frameLogID       protowire.Number = 2 // Frame.logid
	frameService     protowire.Number = 3 // Frame.service
	frameMethod      protowire.Number = 4 // Frame.method
	framePayloadType protowire.Number = 7 // Frame.payload_type
	framePayload     protowire.Number = 8 // Frame.payload

	requestCmd      protowire.Number = 1  // Request.cmd
	requestSeqID    protowire.Number = 2  // Request.sequence_id
	requestToken    protowire.Number = 4  // Request.token
	requestInbox    protowire.Number = 6  // Request.inbox_type
	requestAuthType protowire.Number = 18 // Request.auth_type

	responseCmd       protowire.Number = 1 // Response.cmd
	responseStatus    protowire.Number = 3 // Response.status_code
	responseErrorDesc protowire.Number = 4 // Response.error_desc

	newMessageNotify protowire.Number = 500 // ResponseBody.has_new_message_notify
	notifyMessage    protowire.Number = 5   // NewMessageNotify.message

	messageConvID      protowire.Number = 1 // MessageBody.conversation_id
	messageConvType    protowire.Number = 2 // MessageBody.conversation_type
	messageServerID    protowire.Number = 3 // MessageBody.server_message_id
	messageConvShortID protowire.Number = 5 // MessageBody.conversation_short_id
	messageType        protowire.Number = 6 // MessageBody.message_type
	messageSender      protowire.Number = 7 // MessageBody.sender
	messageContent     protowire.Number = 8 // MessageBody.content

	sendConvID      protowire.Number = 1 // SendMessageRequestBody.conversation_id
	sendConvType    protowire.Number = 2 // SendMessageRequestBody.conversation_type
	sendConvShortID protowire.Number = 3 // SendMessageRequestBody.conversation_short_id
	sendContent     protowire.Number = 4 // SendMessageRequestBody.content
	sendMessageType protowire.Number = 6 // SendMessageRequestBody.message_type
	sendClientID    protowire.Number = 8 // SendMessageRequestBody.client_message_id
)

// maxFrame bounds a frame the bot reads: a push carries one message,
// which came in a request of at most the server's default
// MaxRequestBytes (1 MiB), with room for what the server adds.
const maxFrame = 4 << 20

// The Frame service and method of the web SDK's requests
// (IM_PROTOCOL.md section 3.2).
const (
	frontierService = 2
	frontierMethod  = 1
)

// sendBodyField is SEND_MESSAGE's field in RequestBody.
var sendBodyField = func() protowire.Number {
	c, _ := improto.LookupCommand(improto.IMCMD_SEND_MESSAGE)
	return protowire.Number(c.BodyField)
}()

// Message is a new message as the bot reads it from its push. Its byte
// slices point into the bot's read buffer: they are valid only during
// the OnMessage call.
type Message struct {
	ConversationID      []byte
	ConversationShortID int64
	ConversationType    int32
	Type                int32 // the message type (7 text)
	Sender              int64
	ServerID            int64
	Content             []byte
	Live                bool // pushed as a live-chat message (505), which has no inbox
}

// Options configures [Dial].
type Options struct {
	// URL is the Frontier socket's URL with its query, token included
	// (rawclient.FrontierURL builds it).
	URL string
	// Token is the bot user's token, which every request carries.
	Token string
	// UserID is the bot's user: its own messages are skipped.
	UserID int64
	// Echo has the bot reply to each message of another user in a
	// conversation with an inbox (not a live chat) with the same content
	// and type.
	Echo bool
	// OnMessage, when set, is called with each message of another user,
	// on the reading goroutine, before the reply is written.
	OnMessage func(*Message)
}

// Bot is a bare bot on one socket. Run reads it; a Bot is not safe for
// concurrent use, but Run ends when its context does.
type Bot struct {
	opts Options
	ws   *websocket.Conn
	seq  uint64

	read                 bytes.Buffer // the frame being read
	msg                  Message      // the message being handled, pointing into read
	body, request, frame []byte       // the reply being encoded
}

// Dial opens the bot's socket.
func Dial(ctx context.Context, opts Options) (*Bot, error) {
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, opts.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("barebot: dialing: %w", err)
	}
	return &Bot{opts: opts, ws: ws}, nil
}

// Run reads the socket until ctx ends, which closes it, and returns nil
// then. It returns an error when the socket fails, or when the server
// refuses a reply.
func (b *Bot) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { b.ws.Close() })
	defer stop()
	defer b.ws.Close()
	b.ws.SetReadLimit(maxFrame)
	for {
		typ, r, err := b.ws.NextReader()
		if err == nil {
			b.read.Reset()
			_, err = b.read.ReadFrom(r)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("barebot: reading: %w", err)
		}
		if typ != websocket.BinaryMessage {
			continue // the answer to a "hi" heartbeat
		}
		if err := b.handle(b.read.Bytes()); err != nil {
			return err
		}
	}
}

// handle handles one binary frame: a response to a reply, or a push.
func (b *Bot) handle(data []byte) error {
	var seq uint64
	var payload []byte
	for f := range fields(data) {
		switch f.num {
		case frameSeqID:
			seq = f.varint
		case framePayload:
			payload = f.bytes
		}
	}
	var cmd, status uint64
	var desc, body []byte
	for f := range fields(payload) {
		switch f.num {
		case responseCmd:
			cmd = f.varint
		case responseStatus:
			status = f.varint
		case responseErrorDesc:
			desc = f.bytes
		case improto.ResponseBodyField:
			body = f.bytes
		}
	}
	if seq != 0 { // the response to a reply
		if status != 0 {
			return fmt.Errorf("barebot: reply %d refused: status %d %s", seq, status, desc)
		}
		return nil
	}
	live := improto.IMCMD(cmd) == improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY
	if !live && improto.IMCMD(cmd) != improto.IMCMD_NEW_MSG_NOTIFY {
		return nil
	}
	m, ok := b.decode(lastBytes(lastBytes(body, newMessageNotify), notifyMessage))
	if !ok || m.Sender == b.opts.UserID {
		return nil
	}
	m.Live = live
	if b.opts.OnMessage != nil {
		b.opts.OnMessage(m)
	}
	if b.opts.Echo && !live {
		return b.reply(m)
	}
	return nil
}

// decode reads a MessageBody into b.msg; it reports false for one that
// names no conversation or sender.
func (b *Bot) decode(data []byte) (*Message, bool) {
	m := &b.msg
	*m = Message{}
	for f := range fields(data) {
		switch f.num {
		case messageConvID:
			m.ConversationID = f.bytes
		case messageContent:
			m.Content = f.bytes
		case messageConvType:
			m.ConversationType = int32(f.varint)
		case messageServerID:
			m.ServerID = int64(f.varint)
		case messageConvShortID:
			m.ConversationShortID = int64(f.varint)
		case messageType:
			m.Type = int32(f.varint)
		case messageSender:
			m.Sender = int64(f.varint)
		}
	}
	return m, len(m.ConversationID) > 0 && m.Sender != 0
}

// reply writes a SEND_MESSAGE request for m's content to m's
// conversation, with a client message id derived from m's server id, as
// imbot's replies have one derived from their message, so that a
// repeated reply is sent once.
func (b *Bot) reply(m *Message) error {
	b.seq++
	var id [32]byte
	body := b.body[:0]
	body = appendBytes(body, sendConvID, m.ConversationID)
	body = appendVarint(body, sendConvType, uint64(m.ConversationType))
	body = appendVarint(body, sendConvShortID, uint64(m.ConversationShortID))
	body = appendBytes(body, sendContent, m.Content)
	body = appendVarint(body, sendMessageType, uint64(m.Type))
	body = appendBytes(body, sendClientID, strconv.AppendInt(append(id[:0], "bare-"...), m.ServerID, 10))
	b.body = body

	req := b.request[:0]
	req = appendVarint(req, requestCmd, uint64(improto.IMCMD_SEND_MESSAGE))
	req = appendVarint(req, requestSeqID, b.seq)
	req = protowire.AppendTag(req, requestToken, protowire.BytesType)
	req = protowire.AppendString(req, b.opts.Token)
	req = appendVarint(req, requestInbox, 0)
	req = appendVarint(req, requestAuthType, uint64(improto.AuthType_TOKEN_AUTH))
	// Request.body = RequestBody{send_message_body: body}
	req = protowire.AppendTag(req, improto.RequestBodyField, protowire.BytesType)
	req = protowire.AppendVarint(req, uint64(protowire.SizeTag(sendBodyField)+protowire.SizeBytes(len(body))))
	req = appendBytes(req, sendBodyField, body)
	b.request = req

	f := b.frame[:0]
	f = appendVarint(f, frameSeqID, b.seq)
	f = appendVarint(f, frameLogID, b.seq)
	f = appendVarint(f, frameService, frontierService)
	f = appendVarint(f, frameMethod, frontierMethod)
	f = protowire.AppendTag(f, framePayloadType, protowire.BytesType)
	f = protowire.AppendString(f, "pb")
	f = appendBytes(f, framePayload, req)
	b.frame = f
	if err := b.ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
		return fmt.Errorf("barebot: writing a reply: %w", err)
	}
	return nil
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// field is one varint or length-delimited field of an encoded message.
type field struct {
	num    protowire.Number
	varint uint64 // a varint field's value
	bytes  []byte // a length-delimited field's value, pointing into the message
}

// fields yields the varint and length-delimited fields of the encoded
// message b in order, skipping the others, and stops at the first
// malformed one: wire data never makes the bot panic. A field's type
// tells which of varint and bytes holds its value, so that a field sent
// with another type than the schema's reads as zero.
func fields(b []byte) iter.Seq[field] {
	return func(yield func(field) bool) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return
			}
			b = b[n:]
			f := field{num: num}
			switch typ {
			case protowire.VarintType:
				f.varint, n = protowire.ConsumeVarint(b)
			case protowire.BytesType:
				f.bytes, n = protowire.ConsumeBytes(b)
			default:
				n = protowire.ConsumeFieldValue(num, typ, b)
				f.num = 0 // not one the bot reads
			}
			if n < 0 {
				return
			}
			b = b[n:]
			if f.num != 0 && !yield(f) {
				return
			}
		}
	}
}

// lastBytes returns the last value of length-delimited field num in b, as
// proto reads it, nil when there is none. (A sub-message sent in pieces
// would merge; the server sends each in one.)
func lastBytes(b []byte, num protowire.Number) []byte {
	var v []byte
	for f := range fields(b) {
		if f.num == num {
			v = f.bytes
		}
	}
	return v
}
