package im_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// hostileFrontier is a misbehaving Frontier peer (not a stand-in for our
// server, which has its own tests): on its first connection it sends
// garbage, answers the request for a message (GetMessage's) with a seqid
// nobody asked for and hangs up mid-request; on the next it sends a frame
// larger than the client's limit. The other requests on its first
// connection (Init's and the sync engine's pulls, which may come before
// GetMessage's) it relays to the real server at api, over HTTP, and
// answers as a Frontier would.
func hostileFrontier(t *testing.T, api string) (url string, connected <-chan int32) {
	var conns atomic.Int32
	notify := make(chan int32, 64)
	up := websocket.Upgrader{}
	frame := func(seq uint64, service int32, payload []byte) []byte {
		b, _ := proto.Marshal(&improto.Frame{Seqid: proto.Uint64(seq), Logid: proto.Uint64(1), Service: proto.Int32(service),
			Method: proto.Int32(1), Payload: payload})
		return b
	}
	resp := func(seq int64, cmd int32) []byte {
		b, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(cmd), SequenceId: proto.Int64(seq), StatusCode: proto.Int32(0)})
		return b
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		n := conns.Add(1)
		select {
		case notify <- n:
		default:
		}
		switch n {
		case 1:
			for _, m := range [][]byte{
				[]byte("not a frame"),
				frame(0, 2, []byte("not a response")),
				frame(0, 9, resp(0, 500)),           // another service
				frame(0, 2, resp(0, 500)),           // a push with no body
				frame(0, 2, resp(0, 9999)),          // a push nobody knows
				frame(424242, 2, resp(424242, 211)), // a response nobody waits for
			} {
				_ = ws.WriteMessage(websocket.BinaryMessage, m)
			}
			for { // the client's request for a message …
				_, b, err := ws.ReadMessage()
				if err != nil {
					return
				}
				f, req := &improto.Frame{}, &improto.Request{}
				if proto.Unmarshal(b, f) != nil || proto.Unmarshal(f.GetPayload(), req) != nil {
					continue
				}
				if cmd := improto.IMCMD(req.GetCmd()); cmd != improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID {
					if answer := relay(t, api, cmd, f.GetPayload()); answer != nil {
						_ = ws.WriteMessage(websocket.BinaryMessage, frame(f.GetSeqid(), 2, answer))
					}
					continue
				}
				_ = ws.WriteMessage(websocket.BinaryMessage, frame(f.GetSeqid()+1000, 2, resp(1, 211)))
				return // … and hang up without answering it
			}
		default:
			_ = ws.WriteMessage(websocket.BinaryMessage, make([]byte, 17<<20)) // over the client's 16 MiB limit
			_, _, _ = ws.ReadMessage()
		}
	}))
	t.Cleanup(hs.Close)
	return strings.Replace(hs.URL, "http", "ws", 1), notify
}

// relay posts a request to the real server's HTTP route for cmd and
// returns the Response bytes, or nil when it could not.
func relay(t *testing.T, api string, cmd improto.IMCMD, request []byte) []byte {
	c, ok := improto.LookupCommand(cmd)
	if !ok || c.Route() == "" {
		return nil
	}
	r, err := http.Post(api+"/"+c.Route(), "application/x-protobuf", bytes.NewReader(request))
	if err != nil {
		t.Logf("relaying %v: %v", cmd, err)
		return nil
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil
	}
	return b
}

// TestHostileFrontierPeer checks that garbage from the socket is dropped,
// a request whose answer never comes fails cleanly, and an oversize frame
// closes the socket, which the client then reconnects: no panic, and the
// client keeps working over HTTP.
func TestHostileFrontierPeer(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	url, connected := hostileFrontier(t, s.hs.URL)
	c := s.unstarted(1, func(o *im.Options) {
		o.FrontierURL = url
		o.WebSocketLevel = im.WebSocketLevelAll
		o.Timeout = 2 * time.Second
	})
	start(t, c) // Init pulls over the socket: relayed to the server
	waitConnected(t, c)
	_, err := c.GetMessage(ctx(t), conv, 1)
	var e *im.Error
	require.ErrorAs(t, err, &e, "request cut off mid-way: want a transport *Error")
	require.False(t, e.ReachServer, "request cut off mid-way: %v, want a transport *Error", err)
	deadline := time.After(waitFor)
	for n := int32(0); n < 3; { // reconnected after the hang-up and after the oversize frame
		select {
		case n = <-connected:
		case <-deadline:
			require.FailNow(t, "too few connections", "%d connections, want the client to reconnect twice", n)
		}
	}
	// HTTP still works: PushOnly keeps requests off the hostile socket.
	h := s.client(1, func(o *im.Options) { o.FrontierURL = url; o.WebSocketLevel = im.WebSocketLevelPushOnly })
	_, err = h.SendMessage(ctx(t), conv, im.OutgoingMessage{Content: im.TextContent("still here")})
	require.NoError(t, err, "send over HTTP")
}
