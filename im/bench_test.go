package im_test

// Benchmarks of the client's hot paths, each against a bare baseline in
// the same run (docs/PERFORMANCE.md):
//
//	go test -run XXX -bench . -benchtime 1000x ./im/

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/rawclient"
)

func unlimited(c *imserver.Config) {
	c.RequestRate, c.RequestBurst = 1e9, 1e9
	c.IdleTimeout = time.Hour
}

// BenchmarkSend measures SendMessage over the socket and over HTTP, each
// with the bare round trip of the same request bytes (a gorilla echo
// server, and an HTTP handler answering the same response bytes).
func BenchmarkSend(b *testing.B) {
	s := newServer(b, unlimited)
	conv := groupWith(b, s, 1, 2)
	body := &improto.SendMessageRequestBody{ConversationId: proto.String(string(conv.ID)), Content: proto.String(im.TextContent("benchmark"))}
	req, _ := rawclient.Request(improto.IMCMD_SEND_MESSAGE, 1, "token-of-typical-length-0123456789abcdef", 0, body)
	reqBytes, _ := proto.Marshal(req)
	respBytes, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(100), SequenceId: proto.Int64(1), Body: &improto.ResponseBody{
		SendMessageBody: &improto.SendMessageResponseBody{ServerMessageId: proto.Int64(1 << 40), ClientMessageId: proto.String("0123456789abcdef0123456789abcdef")}}})
	out := im.OutgoingMessage{Content: im.TextContent("benchmark")}

	b.Run("frontier", func(b *testing.B) {
		c := s.client(1, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelAll })
		waitConnected(b, c)
		b.ResetTimer()
		for range b.N {
			_, err := c.SendMessage(ctx(b), conv, out)
			require.NoError(b, err)
		}
	})
	b.Run("bare-ws", func(b *testing.B) {
		up := websocket.Upgrader{}
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				if ws.WriteMessage(websocket.BinaryMessage, respBytes) != nil {
					return
				}
			}
		}))
		defer hs.Close()
		ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(hs.URL, "http", "ws", 1), nil)
		require.NoError(b, err)
		defer ws.Close()
		b.ResetTimer()
		for range b.N {
			require.NoError(b, ws.WriteMessage(websocket.BinaryMessage, reqBytes))
			_, _, err := ws.ReadMessage()
			require.NoError(b, err)
		}
	})
	b.Run("http", func(b *testing.B) {
		c := s.client(1, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelPushOnly })
		b.ResetTimer()
		for range b.N {
			_, err := c.SendMessage(ctx(b), conv, out)
			require.NoError(b, err)
		}
	})
	b.Run("bare-http", func(b *testing.B) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = w.Write(respBytes)
		}))
		defer hs.Close()
		b.ResetTimer()
		for range b.N {
			r, err := http.Post(hs.URL+"/v1/message/send", "application/x-protobuf", bytes.NewReader(reqBytes))
			require.NoError(b, err)
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	})
}

// BenchmarkSendObserved measures SendMessage over the socket and over
// HTTP with the client's metrics off, on (Options.Metrics), and on with
// tracing as well (an SDK TracerProvider that records every span and
// exports none): what observing a request costs. Each runs against a
// server of its own, so that none inherits another's stored messages.
//
//	go test -run XXX -bench BenchmarkSendObserved -benchtime 3000x -count 5 ./im/
func BenchmarkSendObserved(b *testing.B) {
	out := im.OutgoingMessage{Content: im.TextContent("benchmark")}
	for _, level := range []struct {
		name  string
		level im.WebSocketLevel
	}{{"frontier", im.WebSocketLevelAll}, {"http", im.WebSocketLevelPushOnly}} {
		for _, obs := range []struct {
			name    string
			observe func(*im.Options)
		}{
			{"off", func(*im.Options) {}},
			{"metrics", func(o *im.Options) { o.Metrics = prometheus.NewRegistry() }},
			{"metrics+tracing", func(o *im.Options) {
				o.Metrics, o.TracerProvider = prometheus.NewRegistry(), sdktrace.NewTracerProvider()
			}},
		} {
			b.Run(level.name+"/"+obs.name, func(b *testing.B) {
				s := newServer(b, unlimited)
				conv := groupWith(b, s, 1, 2)
				c := s.client(1, obs.observe, func(o *im.Options) { o.WebSocketLevel = level.level })
				if level.level == im.WebSocketLevelAll {
					waitConnected(b, c)
				}
				cx := ctx(b)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					_, err := c.SendMessage(cx, conv, out)
					require.NoError(b, err)
				}
			})
		}
	}
}

// BenchmarkCachedConversationMemory reports the heap a conversation of
// 1000 cached messages takes, against the bytes of the same messages on
// the wire.
func BenchmarkCachedConversationMemory(b *testing.B) {
	s := newServer(b, unlimited)
	conv := groupWith(b, s, 1, 2)
	tok, _ := s.srv.Token(2, time.Hour)
	sender := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	for i := range 1000 {
		_, err := sender.Call(ctx(b), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationId: proto.String(string(conv.ID)), ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType: proto.Int32(2), MessageType: proto.Int32(10001),
			Content: proto.String(im.TextContent(fmt.Sprintf("message number %d of an ordinary chat", i)))})
		require.NoError(b, err)
	}
	var wire int
	b.ResetTimer()
	for range b.N {
		c, err := im.New(s.options(1)) // no Init: nothing else in its cache
		require.NoError(b, err)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var page *im.MessagePage
		anchor := int64(0)
		for loaded := 0; loaded < 1000; loaded += len(page.Messages) {
			page, err = c.LoadMessages(ctx(b), conv, im.MessageDirectionOlder, anchor, 100)
			require.NoError(b, err)
			anchor = page.Next
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-B/conv")
		runtime.KeepAlive(c)
		c.Close()
	}
	b.StopTimer()
	// The wire size of the same messages, as the server sends them.
	tok1, _ := s.srv.Token(1, time.Hour)
	raw := &rawclient.Client{BaseURL: s.hs.URL, Token: tok1}
	for anchor := int64(0); ; {
		resp, err := raw.Call(ctx(b), improto.IMCMD_GET_MESSAGES_BY_CONVERSATION, &improto.MessagesInConversationRequestBody{
			ConversationId: proto.String(string(conv.ID)), Direction: improto.MessageDirection_OLDER.Enum(),
			AnchorIndex: proto.Int64(anchor), Limit: proto.Int32(100)})
		require.NoError(b, err)
		body := resp.GetBody().GetMessagesInConversationBody()
		for _, m := range body.GetMessages() {
			wire += proto.Size(m)
		}
		anchor = body.GetNextCursor()
		if !body.GetHasMore() {
			break
		}
	}
	b.ReportMetric(float64(wire), "wire-B/conv")
}

// BenchmarkCatchUp measures a client that comes back to 10 000 missed
// messages: from Init until it has delivered them all, against fetching
// the same response bytes, page by page, from a bare HTTP server
// (bare-http, the target's baseline), the same with each page decoded by
// proto.Unmarshal (bare-http-decode), and the real server's pages read
// without decoding (server-http).
func BenchmarkCatchUp(b *testing.B) {
	const missed = 10000
	s := newServer(b, unlimited)
	conv := groupWith(b, s, 1, 2)
	tok, _ := s.srv.Token(2, time.Hour)
	sender := &rawclient.Client{BaseURL: s.hs.URL, Token: tok}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < missed; i += 8 {
				if _, err := sender.Call(ctx(b), improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
					ConversationId: proto.String(string(conv.ID)), ConversationShortId: proto.Int64(int64(conv.ShortID)),
					ConversationType: proto.Int32(2), MessageType: proto.Int32(10001),
					Content: proto.String(im.TextContent(fmt.Sprintf("missed message %d", i)))}); !assert.NoError(b, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	// The pages the client will pull, captured for the bare baseline.
	tok1, _ := s.srv.Token(1, time.Hour)
	raw := &rawclient.Client{BaseURL: s.hs.URL, Token: tok1}
	var pages [][]byte
	var cursors []int64
	for cursor := int64(0); ; {
		cursors = append(cursors, cursor)
		resp, err := raw.Call(ctx(b), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int32(1000)})
		require.NoError(b, err)
		page, _ := proto.Marshal(resp)
		pages = append(pages, page)
		body := resp.GetBody().GetMessagesPerUserBody()
		cursor = body.GetNextCursor()
		if !body.GetHasMore() {
			break
		}
	}
	b.Run("client", func(b *testing.B) {
		for range b.N {
			c := s.unstarted(1, func(o *im.Options) {
				o.Resume, o.Cursor, o.DisableInitPull = true, 0, true
				o.WebSocketLevel = im.WebSocketLevelDisable
			})
			// The application's side is a counter: the client's own cost
			// is what is measured (newReceiver's bookkeeping for tests
			// would add a map insert per message).
			var n atomic.Int64
			all := make(chan struct{})
			c.OnMessageReceived(func(im.MessageEvent) {
				if n.Add(1) == missed {
					close(all)
				}
			})
			start(b, c)
			select {
			case <-all:
			case <-time.After(time.Minute):
				require.FailNow(b, "not all messages delivered", "%d of %d messages delivered within a minute", n.Load(), missed)
			}
			b.StopTimer()
			c.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(missed*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	// The real server answering the same pulls, read by a bare client
	// that decodes nothing: how much of the client's time is the server's.
	b.Run("server-http", func(b *testing.B) {
		var reqs [][]byte
		for _, cursor := range cursors {
			req, err := rawclient.Request(improto.IMCMD_GET_MESSAGES_BY_USER, 1, tok1, 0,
				&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int32(1000)})
			require.NoError(b, err)
			data, _ := proto.Marshal(req)
			reqs = append(reqs, data)
		}
		b.ResetTimer()
		for range b.N {
			for _, req := range reqs {
				r, err := http.Post(s.hs.URL+"/v1/message/get_by_user", "application/x-protobuf", bytes.NewReader(req))
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}
		b.ReportMetric(float64(missed*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("bare-http", func(b *testing.B) {
		var next int
		var mu sync.Mutex
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			page := pages[next%len(pages)]
			next++
			mu.Unlock()
			_, _ = w.Write(page)
		}))
		defer hs.Close()
		b.ResetTimer()
		for range b.N {
			for range pages {
				r, err := http.Post(hs.URL+"/v1/message/get_by_user", "application/x-protobuf", bytes.NewReader(make([]byte, 64)))
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}
		b.ReportMetric(float64(missed*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	// The same transfer plus decoding each page into Responses: the floor
	// of any client that reads the messages at all.
	b.Run("bare-http-decode", func(b *testing.B) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			var i int
			_, _ = fmt.Sscan(r.URL.Query().Get("page"), &i)
			_, _ = w.Write(pages[i])
		}))
		defer hs.Close()
		b.ResetTimer()
		for range b.N {
			for i := range pages {
				r, err := http.Post(fmt.Sprintf("%s/v1/message/get_by_user?page=%d", hs.URL, i), "application/x-protobuf", bytes.NewReader(make([]byte, 64)))
				require.NoError(b, err)
				data, _ := io.ReadAll(r.Body)
				r.Body.Close()
				require.NoError(b, proto.Unmarshal(data, &improto.Response{}))
			}
		}
		b.ReportMetric(float64(missed*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
