// Package rawclient is a bare IM Cloud protocol client for the server's own
// tests and benchmarks: it sends Requests over HTTP or a Frontier socket
// and hands back Responses and pushes as they come, with no sync engine,
// retries or caching. Applications use package im.
package rawclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// ErrClosed is returned by calls on a closed Socket.
var ErrClosed = errors.New("rawclient: socket closed")

// Client speaks the HTTP API for one user.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	Inbox   int32
	HTTP    *http.Client // nil means http.DefaultClient

	seq atomic.Int64
}

// Request builds the envelope for cmd with body wrapped at the command's
// field.
func Request(cmd improto.IMCMD, seq int64, token string, inbox int32, body proto.Message) (*improto.Request, error) {
	c, ok := improto.LookupCommand(cmd)
	if !ok {
		return nil, fmt.Errorf("rawclient: unknown command %d", cmd)
	}
	req := &improto.Request{
		Cmd:        proto.Int32(int32(cmd)),
		SequenceId: proto.Int64(seq),
		Token:      proto.String(token),
		InboxType:  proto.Int32(inbox),
		AuthType:   improto.AuthType_TOKEN_AUTH.Enum(),
	}
	if body != nil {
		b, ok := c.NewRequestBody(body)
		if !ok {
			return nil, fmt.Errorf("rawclient: %T is not the body of %v", body, cmd)
		}
		req.Body = b
	}
	return req, nil
}

// Call posts cmd with body to the command's route and decodes the Response.
// A non-zero status_code is not an error here: callers inspect it.
func (c *Client) Call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*improto.Response, error) {
	req, err := Request(cmd, c.seq.Add(1), c.Token, c.Inbox, body)
	if err != nil {
		return nil, err
	}
	command, _ := improto.LookupCommand(cmd)
	return c.Post(ctx, command.Route(), req)
}

// Post sends req to route as it is and decodes the Response, whatever the
// HTTP status.
func (c *Client) Post(ctx context.Context, route string, req *improto.Request) (*improto.Response, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, _, err := c.PostBytes(ctx, route, b)
	return resp, err
}

// PostBytes posts raw bytes to route and decodes the Response; it also
// returns the HTTP status.
func (c *Client) PostBytes(ctx context.Context, route string, body []byte) (*improto.Response, int, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/"+route, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	hr, err := hc.Do(r)
	if err != nil {
		return nil, 0, err
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(hr.Body)
	if err != nil {
		return nil, hr.StatusCode, err
	}
	out := &improto.Response{}
	if err := proto.Unmarshal(data, out); err != nil {
		return nil, hr.StatusCode, fmt.Errorf("rawclient: HTTP %d with a body that is not a Response: %w", hr.StatusCode, err)
	}
	return out, hr.StatusCode, nil
}

// FrontierURL builds the socket URL for a user the way the web SDK does.
func FrontierURL(base string, token string, appID, fpid int64, appKey, deviceID, accessKey string) string {
	q := url.Values{}
	q.Set("token", token)
	q.Set("aid", strconv.FormatInt(appID, 10))
	q.Set("fpid", strconv.FormatInt(fpid, 10))
	q.Set("device_id", deviceID)
	q.Set("access_key", accessKey)
	q.Set("device_platform", "web")
	return strings.Replace(strings.TrimRight(base, "/"), "http", "ws", 1) + "/ws/v2?" + q.Encode()
}

// Socket is one Frontier connection. Its reader goroutine matches
// responses to calls and queues pushes; Close stops it.
type Socket struct {
	ws     *websocket.Conn
	token  string
	inbox  int32
	seq    atomic.Uint64
	pushes chan *improto.Response

	writeMu sync.Mutex
	mu      sync.Mutex
	pending map[uint64]chan *improto.Response
	err     error // why the reader stopped
	done    chan struct{}
	texts   chan string
}

// Dial opens a socket at url (see FrontierURL).
func Dial(ctx context.Context, url string, token string, inbox int32) (*Socket, *http.Response, error) {
	ws, hr, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, hr, err
	}
	s := &Socket{
		ws: ws, token: token, inbox: inbox,
		pushes:  make(chan *improto.Response, 4096),
		texts:   make(chan string, 16),
		pending: make(map[uint64]chan *improto.Response),
		done:    make(chan struct{}),
	}
	go s.readLoop()
	return s, hr, nil
}

// Pushes delivers the server's pushes (Responses with sequence_id 0).
func (s *Socket) Pushes() <-chan *improto.Response { return s.pushes }

// Texts delivers text messages (the "hi" heartbeat answers).
func (s *Socket) Texts() <-chan string { return s.texts }

// Done is closed when the reader stops; Err then says why.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err returns why the socket stopped, typically a *websocket.CloseError.
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Socket) readLoop() {
	defer close(s.done)
	for {
		typ, data, err := s.ws.ReadMessage()
		if err != nil {
			s.mu.Lock()
			s.err = err
			for _, ch := range s.pending {
				close(ch)
			}
			s.pending = nil
			s.mu.Unlock()
			return
		}
		if typ == websocket.TextMessage {
			select {
			case s.texts <- string(data):
			default:
			}
			continue
		}
		f := &improto.Frame{}
		resp := &improto.Response{}
		if proto.Unmarshal(data, f) != nil || proto.Unmarshal(f.GetPayload(), resp) != nil {
			continue
		}
		if f.GetSeqid() == 0 {
			s.pushes <- resp
			continue
		}
		s.mu.Lock()
		ch := s.pending[f.GetSeqid()]
		delete(s.pending, f.GetSeqid())
		s.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
}

// WriteMessage sends a raw WebSocket message.
func (s *Socket) WriteMessage(typ int, data []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.ws.WriteMessage(typ, data)
}

// Call sends cmd with body in a Frame and waits for the matching Response.
func (s *Socket) Call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*improto.Response, error) {
	seq := s.seq.Add(1)
	req, err := Request(cmd, int64(seq), s.token, s.inbox, body)
	if err != nil {
		return nil, err
	}
	payload, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	return s.CallFrame(ctx, &improto.Frame{Seqid: proto.Uint64(seq), Payload: payload})
}

// CallFrame sends f (its required fields filled in when unset) and waits
// for the Response with its seqid.
func (s *Socket) CallFrame(ctx context.Context, f *improto.Frame) (*improto.Response, error) {
	if f.Logid == nil {
		f.Logid = proto.Uint64(uint64(time.Now().UnixMilli()))
	}
	if f.Service == nil {
		f.Service = proto.Int32(2)
	}
	if f.Method == nil {
		f.Method = proto.Int32(1)
	}
	if f.PayloadType == nil {
		f.PayloadType = proto.String("pb")
	}
	ch := make(chan *improto.Response, 1)
	s.mu.Lock()
	if s.pending == nil {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.pending[f.GetSeqid()] = ch
	s.mu.Unlock()
	data, err := proto.Marshal(f)
	if err != nil {
		return nil, err
	}
	if err := s.WriteMessage(websocket.BinaryMessage, data); err != nil {
		return nil, err
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrClosed
		}
		return resp, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.pending, f.GetSeqid())
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Close closes the connection and waits for the reader to stop.
func (s *Socket) Close() error {
	err := s.ws.Close()
	<-s.done
	return err
}
