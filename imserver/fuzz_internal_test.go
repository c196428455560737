package imserver

import (
	"log/slog"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// FuzzFrame feeds arbitrary bytes to the path a binary WebSocket message
// takes (conn.handleFrame), on a conn of user 1 with a queue instead of a
// network connection, against a server with a group (short id 1, members
// 1, 2, 3) and a single chat (short id 2) holding a message each.
//
// Either the message is refused as a whole (not a Frame): the conn is
// closed with 1007 and a close reason that fits a close frame, and nothing
// is queued. Or exactly one frame is queued: a Frame with the input's seqid
// whose payload is a Response echoing it, with a status the client can act
// on (never INTERNAL_ERROR, never a failure without a description).
func FuzzFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := frameFuzzServer(t)
		c := &conn{
			s: s, user: 1, device: "fuzz",
			send:    make(chan outFrame, 4),
			done:    make(chan struct{}),
			limiter: rate.NewLimiter(rate.Limit(s.cfg.RequestRate), s.cfg.RequestBurst),
		}
		ok := c.handleFrame(data)
		in := &improto.Frame{}
		inErr := proto.Unmarshal(data, in)
		closed := false
		select {
		case <-c.done:
			closed = true
		default:
		}
		if !ok {
			require.Error(t, inErr, "refused a message that is a Frame: %v", in)
			require.True(t, closed, "refused without closing the conn")
			require.Equal(t, websocket.CloseInvalidFramePayloadData, c.closeCode, "refused without closing 1007")
			require.LessOrEqual(t, len(websocket.FormatCloseMessage(c.closeCode, c.closeText)), 125,
				"close reason %q makes a close frame past the 125-byte limit", c.closeText)
			require.Empty(t, c.send, "refused, yet queued frames")
			return
		}
		require.NoError(t, inErr, "served a message that is not a Frame")
		require.False(t, closed, "served a Frame, and closed the conn")
		require.Len(t, c.send, 1, "served a Frame: frames queued")
		got := <-c.send
		out := &improto.Frame{}
		resp := &improto.Response{}
		require.False(t, got.text, "answered a Frame with a text message")
		require.NoError(t, proto.Unmarshal(got.data, out), "answer is not a Frame")
		require.NoError(t, proto.Unmarshal(out.GetPayload(), resp), "answer's payload is not a Response")
		require.Equal(t, in.GetSeqid(), out.GetSeqid(), "answer seqid")
		require.Equal(t, int64(in.GetSeqid()), resp.GetSequenceId(), "answer sequence_id")
		status := improto.StatusCode(resp.GetStatusCode())
		t.Logf("answer: %v %q", status, resp.GetErrorDesc())
		require.NotEqual(t, improto.StatusCode_INTERNAL_ERROR, status, "INTERNAL_ERROR: %s", resp.GetErrorDesc())
		if status != 0 {
			require.NotEmpty(t, resp.GetErrorDesc(), "status %v without error_desc", status)
		}
	})
}

// frameFuzzServer is a new Server on a memory store for one FuzzFrame
// input, with a group (short id 1, members 1, 2, 3) and a single chat of 1
// and 2 (short id 2) holding a message each: every input sees the same
// state, so a crasher replays alone.
func frameFuzzServer(t *testing.T) *Server {
	t.Helper()
	st := store.NewMemory()
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{AppID: 1, AppSecret: "fuzz", Store: st, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	setup := func(cmd improto.IMCMD, body proto.Message) {
		t.Helper()
		req := &improto.Request{Cmd: proto.Int32(int32(cmd))}
		resp := s.execute(t.Context(), req, body, 1, nil)
		require.Zero(t, resp.GetStatusCode(), "setting up with %v: %q", cmd, resp.GetErrorDesc())
	}
	setup(improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(typeGroup), Participants: []int64{2, 3}})
	setup(improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(typeSingle), Participants: []int64{2}})
	for short := range int64(2) {
		setup(improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationShortId: proto.Int64(short + 1),
			MessageType:         proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
			Content:             proto.String(`{"text":"seed"}`),
		})
	}
	return s
}

// FuzzDecodeRequest holds decodeRequest to proto.Unmarshal of the Request
// and Command.RequestBodyMessage: the same acceptance, envelope and body.
func FuzzDecodeRequest(f *testing.F) {
	send, _ := improto.LookupCommand(improto.IMCMD_SEND_MESSAGE)
	body, _ := send.NewRequestBody(&improto.SendMessageRequestBody{ConversationId: proto.String("1"), Content: proto.String("hi"),
		Ext: map[string]string{"k": "v"}})
	both := proto.Clone(body).(*improto.RequestBody)
	both.MessagesPerUserBody = &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(3)}
	for _, req := range []*improto.Request{
		{Cmd: proto.Int32(100), SequenceId: proto.Int64(1), Token: proto.String("t"), Body: body},
		{Cmd: proto.Int32(100), Body: both},
		{Cmd: proto.Int32(200), Body: both},
		{Cmd: proto.Int32(99999), Body: body},
		{Cmd: proto.Int32(100)},
	} {
		b, err := proto.Marshal(req)
		require.NoError(f, err)
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), b...))
	}
	f.Add([]byte{0x42, 0x02, 0xa2, 0x06})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.Request{}
		wantErr := proto.Unmarshal(data, want)
		req, body, err := decodeRequest(data)
		require.Equal(t, wantErr == nil, err == nil, "decodeRequest error %v, proto.Unmarshal error %v", err, wantErr)
		if err != nil {
			return
		}
		cmd, _ := improto.LookupCommand(improto.IMCMD(want.GetCmd()))
		wantBody := cmd.RequestBodyMessage(want.GetBody())
		require.Equal(t, wantBody == nil, body == nil, "body %v, want %v", body, wantBody)
		if body != nil {
			require.True(t, proto.Equal(body, wantBody), "body %v, want %v", body, wantBody)
		}
		want.Body = nil
		require.True(t, proto.Equal(req, want), "request %v, want %v", req, want)
	})
}
