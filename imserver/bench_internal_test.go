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
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/baseline"
)

// benchServer is a server on a memory store with users 1 and 2 online on
// stand-in sockets (drain empties them) and their single chat; tweak
// adjusts its Config.
func benchServer(b *testing.B, tweak ...func(*Config)) (s *Server, convID string, drain func()) {
	st := store.NewMemory()
	b.Cleanup(func() { st.Close() })
	cfg := Config{AppID: 1, AppSecret: "secret", Store: st, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := New(cfg)
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

// BenchmarkFrameSend is one SEND_MESSAGE (100) frame as a socket's reader
// hands it to the server: the frame decoded, the socket's rate limit, the
// transaction, the response queued and both pushes. Two servers take
// turns, one with the metrics off and one with them on (a registry of its
// own), so that the machine's noise falls on both alike; it reports each
// one's median time per frame (a median, so that a pause of the machine's
// or the collector's does not land on one side) and their ratio:
//
//	go test -run XXX -bench FrameSend -benchmem -count 6 ./imserver/
func BenchmarkFrameSend(b *testing.B) {
	type side struct {
		from   *conn
		drain  func()
		frames [][]byte
		took   []time.Duration
	}
	newSide := func(metricsOff bool) *side {
		s, convID, drain := benchServer(b, func(c *Config) { c.DisableMetrics = metricsOff })
		sd := &side{drain: drain, frames: make([][]byte, b.N), took: make([]time.Duration, 0, b.N)}
		for c := range s.hub.users[1] {
			sd.from = c
		}
		sd.from.limiter = rate.NewLimiter(rate.Inf, 0)
		for i := range sd.frames {
			req, err := proto.Marshal(&improto.Request{Cmd: proto.Int32(int32(improto.IMCMD_SEND_MESSAGE)), SequenceId: proto.Int64(1),
				Token: proto.String("unused"), Body: &improto.RequestBody{SendMessageBody: sendBody(convID, i)}})
			require.NoError(b, err)
			sd.frames[i], err = proto.Marshal(&improto.Frame{Seqid: proto.Uint64(uint64(i + 1)), Logid: proto.Uint64(1),
				Service: proto.Int32(DefaultFrontierService), Method: proto.Int32(DefaultFrontierMethod), PayloadType: proto.String("pb"), Payload: req})
			require.NoError(b, err)
		}
		return sd
	}
	off, on := newSide(true), newSide(false)
	sides := [2]*side{off, on}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range sides { // each goes first every other frame
			sd := sides[(i+j)%2]
			start := time.Now()
			if !sd.from.handleFrame(sd.frames[i]) {
				b.Fatal("the frame closed the socket")
			}
			sd.took = append(sd.took, time.Since(start))
			sd.drain()
		}
	}
	b.StopTimer()
	offP50, onP50 := baseline.Percentile(off.took, 50), baseline.Percentile(on.took, 50)
	b.ReportMetric(float64(offP50.Nanoseconds()), "off-p50-ns")
	b.ReportMetric(float64(onP50.Nanoseconds()), "on-p50-ns")
	b.ReportMetric(float64(onP50)/float64(offP50), "on/off")
}
