package imserver

// Benchmarks of the server's own CPU per request, with no sockets: the
// request is executed as its handler gets it (decoded), and the pushes it
// causes are encoded and queued to stand-in sockets that the benchmark
// empties. Run with
//
//	go test -run XXX -bench 'Execute' -benchmem ./imserver/
//
// The loopback benchmarks (bench_test.go) add the transport, which on
// these machines costs more than the server itself.

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// benchServer is a server on a memory store with users 1 and 2 online on
// stand-in sockets (drain empties them) and their single chat.
func benchServer(b *testing.B) (s *Server, convID string, drain func()) {
	st := store.NewMemory()
	b.Cleanup(func() { st.Close() })
	s, err := New(Config{AppID: 1, AppSecret: "secret", Store: st})
	require.NoError(b, err)
	var conns []*conn
	for _, u := range []int64{1, 2} {
		c := &conn{s: s, user: u, send: make(chan outFrame, 64), done: make(chan struct{})}
		s.hub.add(c)
		conns = append(conns, c)
	}
	drain = func() {
		for _, c := range conns {
			for len(c.send) > 0 {
				<-c.send
			}
		}
	}
	resp := benchExecute(b, s, 1, improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
		ConversationType: proto.Int32(typeSingle), Participants: []int64{2},
	})
	drain()
	return s, resp.GetBody().GetCreateConversationV2Body().GetConversation().GetConversationId(), drain
}

// benchExecute runs one request as user and fails on a non-zero status.
// The response is encoded as the HTTP API writes it.
func benchExecute(b *testing.B, s *Server, user int64, cmd improto.IMCMD, body proto.Message) *improto.Response {
	req := &improto.Request{Cmd: proto.Int32(int32(cmd)), SequenceId: proto.Int64(1)}
	resp := s.execute(context.Background(), req, body, user, nil)
	require.Zero(b, resp.GetStatusCode(), "%v: %v %s", cmd, resp.GetStatusCode(), resp.GetErrorDesc())
	s.writeHTTP(discardWriter{}, http.StatusOK, resp)
	// The body is an unknown field (setBody): decode it for the caller.
	out := &improto.Response{}
	wire, err := proto.Marshal(resp)
	if err == nil {
		err = proto.Unmarshal(wire, out)
	}
	require.NoError(b, err)
	return out
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (discardWriter) WriteHeader(int)             {}

func sendBody(convID string, i int) *improto.SendMessageRequestBody {
	return &improto.SendMessageRequestBody{
		ConversationId: proto.String(convID), ConversationType: proto.Int32(typeSingle),
		Content:         proto.String("message " + strconv.Itoa(i)),
		ClientMessageId: proto.String("c" + strconv.Itoa(i)),
		Ext:             map[string]string{"k": "v"},
	}
}

// BenchmarkExecuteSend is one SEND_MESSAGE (100) in a single chat whose
// two members are online: the transaction, the response and both pushes.
func BenchmarkExecuteSend(b *testing.B) {
	s, convID, drain := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := &improto.Request{Cmd: proto.Int32(int32(improto.IMCMD_SEND_MESSAGE)), SequenceId: proto.Int64(1)}
		resp := s.execute(context.Background(), req, sendBody(convID, i), 1+int64(i%2), nil)
		if resp.GetStatusCode() != 0 {
			b.Fatalf("send: %s", resp.GetErrorDesc())
		}
		s.writeHTTP(discardWriter{}, http.StatusOK, resp)
		drain()
	}
}

// BenchmarkExecutePull is one GET_MESSAGES_BY_USER (200) of a page of
// 1000 stored messages, encoded as the HTTP API writes it.
func BenchmarkExecutePull(b *testing.B) {
	s, convID, drain := benchServer(b)
	for i := range 1000 {
		benchExecute(b, s, 1, improto.IMCMD_SEND_MESSAGE, sendBody(convID, i))
		drain()
	}
	pull := &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0), Limit: proto.Int32(1000)}
	n := len(benchExecute(b, s, 2, improto.IMCMD_GET_MESSAGES_BY_USER, pull).GetBody().GetMessagesPerUserBody().GetMessages())
	require.Equal(b, 1000, n, "messages in a page")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := &improto.Request{Cmd: proto.Int32(int32(improto.IMCMD_GET_MESSAGES_BY_USER)), SequenceId: proto.Int64(1)}
		s.writeHTTP(discardWriter{}, http.StatusOK, s.execute(context.Background(), req, pull, 2, nil))
	}
}
