package bot_test

// End-to-end benchmarks of a bot on the embedded server, against bare
// gorilla/websocket baselines in the same run (docs/PERFORMANCE.md):
//
//	go test -run XXX -bench . -benchtime 2000x ./bot/

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/baseline"
	"github.com/imbot-go/imbot/internal/rawclient"
)

const benchBot im.UserID = 100

// benchServer is an embedded server whose sockets never idle out during a
// benchmark, with an echo bot running.
func benchServer(b *testing.B) *imtest.Server {
	s := imtest.NewUnstartedServer(b)
	s.Config.IdleTimeout = time.Hour
	s.Start()
	bt := s.NewBot(b, benchBot)
	bt.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		_, err := c.Reply(c.Event.Message.Text())
		return err
	}))
	s.RunBot(b, bt)
	return s
}

// wireUser is a user speaking the protocol on a bare gorilla socket, on
// the caller's goroutine, as the bare baselines' clients do: the load
// generator of the echo benchmarks costs what theirs cost, so that the
// ratio measures the server and the bot. (The im client's own costs have
// their benchmarks in package im; the "im-user" runs include them.)
type wireUser struct {
	ws    *websocket.Conn
	token string
	seq   int64
	conv  im.ConversationRef
	bot   im.UserID // whose message is the reply
	ids   string    // makes client message ids unique to this socket

	payload, frame []byte       // the request being sent
	read           bytes.Buffer // the frame being read
}

// sendBodyField is SEND_MESSAGE's field in RequestBody.
var sendBodyField = func() protowire.Number {
	c, _ := improto.LookupCommand(improto.IMCMD_SEND_MESSAGE)
	return protowire.Number(c.BodyField)
}()

func newWireUser(b *testing.B, s *imtest.Server, id im.UserID, conv im.ConversationRef) *wireUser {
	token := s.Token(id)
	url := rawclient.FrontierURL(s.URL(), token, s.AppID(), imserver.DefaultFPID, imserver.DefaultAppKey, "bench",
		imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, "bench"))
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(b, err)
	b.Cleanup(func() { ws.Close() })
	return &wireUser{ws: ws, token: token, conv: conv, bot: benchBot, ids: rand.Text() + "-"}
}

// echo sends text and reads frames until the bot's reply is pushed. The
// request is encoded into reused buffers with its body as bytes
// (improto.AppendRequestBody), and frames are read into a reused buffer:
// the bare clients allocate nothing either.
func (u *wireUser) echo(t imtest.TB, text string) {
	u.seq++
	var err error
	u.payload, err = proto.MarshalOptions{}.MarshalAppend(u.payload[:0], &improto.Request{
		Cmd: proto.Int32(int32(improto.IMCMD_SEND_MESSAGE)), SequenceId: proto.Int64(u.seq), Token: proto.String(u.token),
		InboxType: proto.Int32(0), AuthType: improto.AuthType_TOKEN_AUTH.Enum()})
	require.NoError(t, err)
	u.payload, err = improto.AppendRequestBody(u.payload, sendBodyField, &improto.SendMessageRequestBody{
		ConversationId: proto.String(string(u.conv.ID)), ConversationShortId: proto.Int64(int64(u.conv.ShortID)),
		ConversationType: proto.Int32(int32(u.conv.Type)), MessageType: proto.Int32(int32(im.MessageTypeText)),
		Content: proto.String(im.TextContent(text)), ClientMessageId: proto.String(u.ids + strconv.FormatInt(u.seq, 10))})
	require.NoError(t, err)
	u.frame, err = proto.MarshalOptions{}.MarshalAppend(u.frame[:0], &improto.Frame{Seqid: proto.Uint64(uint64(u.seq)),
		Logid: proto.Uint64(1), Service: proto.Int32(2), Method: proto.Int32(1), PayloadType: proto.String("pb"), Payload: u.payload})
	require.NoError(t, err)
	require.NoError(t, u.ws.WriteMessage(websocket.BinaryMessage, u.frame))
	for {
		_, r, err := u.ws.NextReader()
		if err == nil {
			u.read.Reset()
			_, err = u.read.ReadFrom(r)
		}
		require.NoError(t, err)
		data := u.read.Bytes()
		// Only what tells the reply apart is read, with protowire: the
		// bare baselines' clients decode nothing. Frame.seqid, .payload:
		seq, payload := varintField(data, 1), bytesField(data, 8)
		if seq != 0 {
			if varintField(payload, 3) != 0 { // Response.status_code
				var resp improto.Response
				_ = proto.Unmarshal(payload, &resp)
				require.FailNowf(t, "send refused", "status %d %s", resp.GetStatusCode(), resp.GetErrorDesc())
			}
			continue
		}
		// Response.body.has_new_message_notify.message.sender
		msg := bytesField(bytesField(bytesField(payload, 6), 500), 5)
		if varintField(msg, 7) == uint64(u.bot) {
			return
		}
	}
}

// workerTB is a benchmark's b for one of its worker goroutines, on which
// FailNow may not be called: a failure marks b failed (Fail and Errorf are
// safe from any goroutine) and ends only that worker, with runtime.Goexit.
type workerTB struct{ *testing.B }

func (w workerTB) FailNow() {
	w.B.Fail()
	runtime.Goexit()
}

// varintField returns the last value of varint field num in the encoded
// message b, as proto would read it, 0 when there is none.
func varintField(b []byte, num protowire.Number) uint64 {
	var v uint64
	walkFields(b, func(n protowire.Number, typ protowire.Type, field []byte) {
		if n == num && typ == protowire.VarintType {
			v, _ = protowire.ConsumeVarint(field)
		}
	})
	return v
}

// bytesField returns the last value of length-delimited field num in b
// (nil when there is none). A sub-message sent in pieces would merge; the
// server sends each in one.
func bytesField(b []byte, num protowire.Number) []byte {
	var v []byte
	walkFields(b, func(n protowire.Number, typ protowire.Type, field []byte) {
		if n == num && typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(field)
		}
	})
	return v
}

// walkFields calls visit with each field of b and its encoded value,
// stopping at the first malformed one.
func walkFields(b []byte, visit func(protowire.Number, protowire.Type, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		visit(num, typ, b[:m])
		b = b[m:]
	}
}

// BenchmarkEchoLatency measures user sends → server → bot handler → reply
// → user, one message at a time, interleaved with a bare round trip of a
// frame of the same size. The user is a wire-level client (wireUser), or
// with "im-user" an im.Client through imtest's helpers.
func BenchmarkEchoLatency(b *testing.B) {
	s := benchServer(b)
	echo := baseline.Dial(b, baseline.EchoServer(b))
	frame := make([]byte, 200) // about a send request's frame
	measure := func(b *testing.B, round func(i int)) {
		var bare, echoes []time.Duration
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			require.NoError(b, echo.WriteMessage(websocket.BinaryMessage, frame))
			_, _, err := echo.ReadMessage()
			require.NoError(b, err)
			bare = append(bare, time.Since(start))

			start = time.Now()
			round(i)
			echoes = append(echoes, time.Since(start))
		}
		b.StopTimer()
		for _, p := range []float64{50, 99} {
			bp, ep := baseline.Percentile(bare, p), baseline.Percentile(echoes, p)
			b.ReportMetric(float64(bp.Microseconds()), fmt.Sprintf("bare-p%g-µs", p))
			b.ReportMetric(float64(ep.Microseconds()), fmt.Sprintf("echo-p%g-µs", p))
			b.ReportMetric(float64(ep)/float64(bp), fmt.Sprintf("p%g-ratio", p))
		}
	}
	b.Run("wire-user", func(b *testing.B) {
		u := s.NewUser(b, 1)
		conv := u.CreateSingle(b, benchBot)
		u.Client.Close() // its socket would get every push too
		w := newWireUser(b, s, 1, conv)
		measure(b, func(i int) { w.echo(b, fmt.Sprint("ping ", i)) })
	})
	b.Run("im-user", func(b *testing.B) {
		u := s.NewUser(b, 2)
		conv := u.CreateSingle(b, benchBot)
		measure(b, func(i int) {
			u.Send(b, conv, fmt.Sprint("ping ", i))
			u.WaitReply(b, conv)
		})
	})
}

// BenchmarkEchoThroughput measures sustained echo with 100 users, each in
// its own conversation with the bot, each keeping one message in flight,
// against 100 bare connections each ping-ponging a frame of the same size.
func BenchmarkEchoThroughput(b *testing.B) {
	const users = 100
	s := benchServer(b)
	type pair struct {
		u    *imtest.User
		conv im.ConversationRef
	}
	var ps []pair
	for i := range users {
		u := s.NewUser(b, im.UserID(1000+i))
		ps = append(ps, pair{u, u.CreateSingle(b, benchBot)})
	}
	run := func(b *testing.B, one func(t imtest.TB, i int)) {
		var wg sync.WaitGroup
		per := max(1, b.N/users)
		b.ResetTimer()
		for i := range users {
			wg.Go(func() {
				t := workerTB{b}
				for range per {
					one(t, i)
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(per*users)/b.Elapsed().Seconds(), "echoes/s")
	}
	b.Run("bot-im-users", func(b *testing.B) {
		run(b, func(t imtest.TB, i int) {
			ps[i].u.SendMessage(t, ps[i].conv, im.OutgoingMessage{Content: im.TextContent("ping")})
			ps[i].u.WaitReply(t, ps[i].conv)
		})
	})
	b.Run("bot-wire-users", func(b *testing.B) {
		ws := make([]*wireUser, users)
		for i, p := range ps {
			p.u.Client.Close() // its socket would get every push too
			ws[i] = newWireUser(b, s, p.u.ID(), p.conv)
		}
		run(b, func(t imtest.TB, i int) { ws[i].echo(t, "ping") })
	})
	b.Run("bare-ws", func(b *testing.B) {
		url := baseline.EchoServer(b)
		conns := make([]*websocket.Conn, users)
		for i := range conns {
			conns[i] = baseline.Dial(b, url)
		}
		frame := make([]byte, 200)
		run(b, func(t imtest.TB, i int) {
			require.NoError(t, conns[i].WriteMessage(websocket.BinaryMessage, frame))
			_, _, err := conns[i].ReadMessage()
			require.NoError(t, err)
		})
	})
}
