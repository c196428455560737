package imserver

import (
	"log/slog"
	"testing"

	"github.com/gorilla/websocket"
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
			if inErr == nil {
				t.Fatalf("refused a message that is a Frame: %v", in)
			}
			if !closed || c.closeCode != websocket.CloseInvalidFramePayloadData {
				t.Fatalf("refused without closing 1007 (closed %v, code %d)", closed, c.closeCode)
			}
			if n := len(websocket.FormatCloseMessage(c.closeCode, c.closeText)); n > 125 {
				t.Fatalf("close reason %q makes a %d-byte close frame; the limit is 125", c.closeText, n)
			}
			if len(c.send) != 0 {
				t.Fatalf("refused, yet queued %d frames", len(c.send))
			}
			return
		}
		if inErr != nil {
			t.Fatalf("served a message that is not a Frame (%v)", inErr)
		}
		if closed || len(c.send) != 1 {
			t.Fatalf("served a Frame with %d frames queued, closed %v", len(c.send), closed)
		}
		got := <-c.send
		out := &improto.Frame{}
		resp := &improto.Response{}
		if got.text {
			t.Fatal("answered a Frame with a text message")
		}
		if err := proto.Unmarshal(got.data, out); err != nil {
			t.Fatalf("answer is not a Frame: %v", err)
		}
		if err := proto.Unmarshal(out.GetPayload(), resp); err != nil {
			t.Fatalf("answer's payload is not a Response: %v", err)
		}
		if out.GetSeqid() != in.GetSeqid() || resp.GetSequenceId() != int64(in.GetSeqid()) {
			t.Fatalf("answer seqid %d / sequence_id %d, want %d", out.GetSeqid(), resp.GetSequenceId(), in.GetSeqid())
		}
		status := improto.StatusCode(resp.GetStatusCode())
		t.Logf("answer: %v %q", status, resp.GetErrorDesc())
		if status == improto.StatusCode_INTERNAL_ERROR {
			t.Fatalf("INTERNAL_ERROR: %s", resp.GetErrorDesc())
		}
		if status != 0 && resp.GetErrorDesc() == "" {
			t.Fatalf("status %v without error_desc", status)
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
	if err != nil {
		t.Fatal(err)
	}
	setup := func(cmd improto.IMCMD, body proto.Message) {
		t.Helper()
		req := &improto.Request{Cmd: proto.Int32(int32(cmd))}
		if resp := s.execute(t.Context(), req, body, 1, nil); resp.GetStatusCode() != 0 {
			t.Fatalf("setting up with %v: %v %q", cmd, resp.GetStatusCode(), resp.GetErrorDesc())
		}
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
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), b...))
	}
	f.Add([]byte{0x42, 0x02, 0xa2, 0x06})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.Request{}
		wantErr := proto.Unmarshal(data, want)
		req, body, err := decodeRequest(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decodeRequest error %v, proto.Unmarshal error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		cmd, _ := improto.LookupCommand(improto.IMCMD(want.GetCmd()))
		wantBody := cmd.RequestBodyMessage(want.GetBody())
		if (body == nil) != (wantBody == nil) || (body != nil && !proto.Equal(body, wantBody)) {
			t.Fatalf("body %v, want %v", body, wantBody)
		}
		want.Body = nil
		if !proto.Equal(req, want) {
			t.Fatalf("request %v, want %v", req, want)
		}
	})
}
