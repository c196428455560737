package imserver_test

// Benchmarks of the server's hot paths, each against a bare baseline
// measured in the same run (docs/PERFORMANCE.md has the results and how
// to read them). Run with
//
//	go test -run XXX -bench . -benchtime 2000x ./imserver/

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/baseline"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// unlimited lifts the per-socket request rate limit, which a benchmark
// client would otherwise hit, the idle timeout, which would close the
// fan-out's silent readers during a long run, and the socket limits, which
// the fan-out's thousand sockets from one address pass.
func unlimited(c *imserver.Config) {
	c.RequestRate, c.RequestBurst = 1e9, 1e9
	c.IdleTimeout = time.Hour
	c.MaxSocketsPerAddr, c.MaxSockets = -1, -1
}

// waitArrived waits for a fan-out to complete, failing instead of hanging
// when deliveries were lost.
func waitArrived(b *testing.B, arrived <-chan struct{}) {
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		require.FailNow(b, "fan-out incomplete after 30s: deliveries lost")
	}
}

// BenchmarkSendToPush measures, message by message, the time from a
// sender's socket write of a 100 SEND_MESSAGE frame to the receiver's push,
// interleaved with the round trip of the same bytes through a bare
// gorilla/websocket echo server.
func BenchmarkSendToPush(b *testing.B) {
	e := newEnv(b, unlimited)
	alice, bob := e.socket(1, "a"), e.socket(2, "b")
	conv := call[*improto.CreateConversationV2ResponseBody](b, alice, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{ConversationType: proto.Int32(1), Participants: []int64{2}}).GetConversation()
	body := textBody(conv, "hello, this is a benchmark message of ordinary length")
	req, _ := rawclient.Request(improto.IMCMD_SEND_MESSAGE, 1, "", 0, body)
	payload, _ := proto.Marshal(req)
	frame, _ := proto.Marshal(&improto.Frame{Seqid: proto.Uint64(1), Logid: proto.Uint64(1), Service: proto.Int32(2), Method: proto.Int32(1), Payload: payload})
	echo := baseline.Dial(b, baseline.EchoServer(b))
	go func() { // the sender gets its own pushes too; drop them. Ends when its socket closes.
		for {
			select {
			case <-alice.Pushes():
			case <-alice.Done():
				return
			}
		}
	}()

	var bare, server []time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := echo.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := echo.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))

		start = time.Now()
		done := make(chan time.Duration, 1)
		go func() {
			<-bob.Pushes()
			done <- time.Since(start)
		}()
		if resp, err := alice.Call(ctx, improto.IMCMD_SEND_MESSAGE, body); err != nil || resp.GetStatusCode() != 0 {
			b.Fatalf("send: %v %v", err, resp.GetErrorDesc())
		}
		server = append(server, <-done)
	}
	b.StopTimer()
	for _, p := range []float64{50, 99} {
		bp, sp := baseline.Percentile(bare, p), baseline.Percentile(server, p)
		b.ReportMetric(float64(bp.Microseconds()), fmt.Sprintf("bare-p%g-µs", p))
		b.ReportMetric(float64(sp.Microseconds()), fmt.Sprintf("push-p%g-µs", p))
		b.ReportMetric(float64(sp)/float64(bp), fmt.Sprintf("p%g-ratio", p))
	}
}

// BenchmarkGroupFanOut measures deliveries per second of a message sent to
// a group of 1000 connected members, against a bare server that encodes a
// frame of the same size once and hands it to one writer goroutine per
// connection.
func BenchmarkGroupFanOut(b *testing.B) {
	const members = 1000
	e := newEnv(b, unlimited)
	sender := e.user(1)
	ids := make([]int64, members)
	for i := range ids {
		ids[i] = int64(i + 2)
	}
	conv := call[*improto.CreateConversationV2ResponseBody](b, sender, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{ConversationType: proto.Int32(2), Participants: ids}).GetConversation()
	var got atomic.Int64
	arrived := make(chan struct{}, 1)
	counter := func() {
		if got.Add(1)%members == 0 {
			arrived <- struct{}{}
		}
	}
	// The members read with bare gorilla connections that only count
	// frames, as the baseline's clients do, so that both sides of the
	// comparison spend the same on the client end.
	var pushSize atomic.Int64
	for _, id := range ids {
		tok := e.token(id)
		ws, _, err := websocket.DefaultDialer.Dial(e.socketURL(tok, "d"), nil)
		require.NoError(b, err)
		b.Cleanup(func() { ws.Close() })
		go func() { // ends when the connection closes at cleanup
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				pushSize.CompareAndSwap(0, int64(len(data)))
				counter()
			}
		}()
	}
	body := textBody(conv, "fan-out benchmark message")
	// One message to learn the push size for the baseline.
	call[*improto.SendMessageResponseBody](b, sender, improto.IMCMD_SEND_MESSAGE, body)
	waitArrived(b, arrived)

	b.Run("imserver", func(b *testing.B) {
		for range b.N {
			call[*improto.SendMessageResponseBody](b, sender, improto.IMCMD_SEND_MESSAGE, body)
			waitArrived(b, arrived)
		}
		b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "deliveries/s")
	})
	b.Run("bare-broadcast", func(b *testing.B) {
		benchBareBroadcast(b, members, int(pushSize.Load()))
	})
}

// benchBareBroadcast is the fan-out baseline: members connections, each
// with its own writer goroutine fed by a channel.
func benchBareBroadcast(b *testing.B, members, size int) {
	up := websocket.Upgrader{}
	var mu sync.Mutex
	var queues []chan []byte
	var wg sync.WaitGroup
	registered := make(chan struct{}, members)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		q := make(chan []byte, 64)
		mu.Lock()
		queues = append(queues, q)
		mu.Unlock()
		registered <- struct{}{}
		wg.Go(func() { // the writer; ends when its queue is closed
			defer ws.Close()
			for m := range q {
				if ws.WriteMessage(websocket.BinaryMessage, m) != nil {
					return
				}
			}
		})
	}))
	var got atomic.Int64
	arrived := make(chan struct{}, 1)
	var readers sync.WaitGroup
	var clients []*websocket.Conn
	for range members {
		ws := baseline.Dial(b, baseline.WSURL(hs.URL))
		clients = append(clients, ws)
		readers.Go(func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				if got.Add(1)%int64(members) == 0 {
					arrived <- struct{}{}
				}
			}
		})
	}
	for range members {
		<-registered
	}
	msg := make([]byte, size)
	b.ResetTimer()
	for range b.N {
		for _, q := range queues {
			q <- msg
		}
		waitArrived(b, arrived)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "deliveries/s")
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	for _, c := range clients {
		c.Close()
	}
	readers.Wait()
	hs.Close()
}

// BenchmarkHTTPSend measures 100 SEND_MESSAGE over HTTP from 32
// concurrent clients, each in its own single chat, against a bare HTTP
// handler that reads the same bytes and answers a body of the same size.
func BenchmarkHTTPSend(b *testing.B) {
	const clients = 32
	transport := &http.Transport{MaxIdleConnsPerHost: clients * 2}
	b.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}

	e := newEnv(b, unlimited)
	type sender struct {
		c    *rawclient.Client
		body *improto.SendMessageRequestBody
	}
	var senders []sender
	for i := range clients {
		c := e.user(int64(i + 1))
		c.HTTP = hc
		conv := call[*improto.CreateConversationV2ResponseBody](b, c, improto.IMCMD_CREATE_CONVERSATION_V2,
			&improto.CreateConversationV2RequestBody{ConversationType: proto.Int32(1), Participants: []int64{int64(i + 1000)}}).GetConversation()
		senders = append(senders, sender{c, textBody(conv, "http benchmark message")})
	}
	req, _ := rawclient.Request(improto.IMCMD_SEND_MESSAGE, 1, e.token(1), 0, senders[0].body)
	reqBytes, _ := proto.Marshal(req)
	resp := callRaw(b, senders[0].c, improto.IMCMD_SEND_MESSAGE, senders[0].body)
	respBytes, _ := proto.Marshal(resp)

	run := func(b *testing.B, one func(i int) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for i := range clients {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if err := one(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("imserver", func(b *testing.B) {
		run(b, func(i int) error {
			r, err := senders[i].c.Call(context.Background(), improto.IMCMD_SEND_MESSAGE, senders[i].body)
			if err == nil && r.GetStatusCode() != 0 {
				err = fmt.Errorf("status %d: %s", r.GetStatusCode(), r.GetErrorDesc())
			}
			return err
		})
	})
	b.Run("bare-http", func(b *testing.B) {
		bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(respBytes)
		}))
		defer bare.Close()
		run(b, func(int) error {
			r, err := hc.Post(bare.URL+"/v1/message/send", "application/x-protobuf", strings.NewReader(string(reqBytes)))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, r.Body)
			return r.Body.Close()
		})
	})
}
