package im

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// errSocketDown is returned by a socket call when the socket closed before
// the answer came; the request may or may not have reached the server.
var errSocketDown = errors.New("im: socket closed")

// outFrame is a request's frame on its way to the writer, which marks it
// written once the write returned without error.
type outFrame struct {
	data    []byte
	written atomic.Bool
}

// errNotSent is errSocketDown for a request the socket closed before it
// was written: it is safe to send again on the next socket.
var errNotSent = fmt.Errorf("%w before the request was sent", errSocketDown)

// maxFrameBytes bounds a frame the client reads from the server.
const maxFrameBytes = 16 << 20

// accessKey is the Frontier access_key recipe of the web SDK.
func accessKey(fpid int64, appKey, deviceID string) string {
	sum := md5.Sum([]byte(strconv.FormatInt(fpid, 10) + appKey + deviceID + "f8a69f1719916z"))
	return hex.EncodeToString(sum[:])
}

// frontierURL builds the socket URL with the web SDK's query parameters.
func (c *Client) frontierURL(token string) (string, error) {
	u, err := url.Parse(c.opts.FrontierURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, v := range c.opts.Extended {
		q.Set(k, v)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("token", token)
	set("aid", strconv.FormatInt(c.opts.AppID, 10))
	set("fpid", strconv.FormatInt(c.opts.FPID, 10))
	set("device_id", c.opts.DeviceID)
	set("access_key", accessKey(c.opts.FPID, c.opts.AppKey, c.opts.DeviceID))
	set("device_platform", c.opts.DevicePlatform)
	set("version_code", c.opts.VersionCode)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// socket is one Frontier connection: a reader goroutine that matches
// responses to calls and hands pushes to the client, and a writer goroutine
// that sends frames and the heartbeat. Both exit when the connection
// closes; done closes after both have.
type socket struct {
	c    *Client
	ws   *websocket.Conn
	send chan *outFrame

	mu      sync.Mutex
	pending map[uint64]chan []byte // Response bytes by seqid; nil once closed

	closeOnce sync.Once
	stop      chan struct{} // closed by close: the writer's signal
	done      chan struct{} // closed when reader and writer have exited
	// cause is why the socket died, set by the loop that failed first; nil
	// when the client closed it. Read it after done.
	cause error
}

// dialSocket opens a socket. An HTTP refusal that carries a Response is
// returned as that Response's *Error (an expired token, for instance).
func (c *Client) dialSocket(ctx context.Context, token string) (*socket, error) {
	u, err := c.frontierURL(token)
	if err != nil {
		return nil, &Error{Type: ErrorTypeInvalidArgument, Msg: "bad FrontierURL", Inner: err}
	}
	ws, hr, err := c.opts.Dialer.DialContext(ctx, u, http.Header{"Sec-WebSocket-Protocol": {"pbbp2"}})
	if err != nil {
		if hr != nil && hr.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(hr.Body, 1<<16))
			hr.Body.Close()
			resp := &improto.Response{}
			refusal := proto.Unmarshal(b, resp) == nil && resp.GetStatusCode() != 0
			badParams := refusal && improto.StatusCode(resp.GetStatusCode()) == improto.StatusCode_INVALID_REQUEST
			if permanentHandshakeStatus(hr.StatusCode) || badParams {
				// The URL is not a Frontier socket (a wrong path, a web
				// server, parameters it will never take), and retrying
				// will not make it one. The URL holds the token: name
				// only its host and path.
				msg := fmt.Sprintf("FrontierURL %s answered HTTP %d to the WebSocket handshake", redactedURL(u), hr.StatusCode)
				if refusal {
					msg += ": " + resp.GetErrorDesc()
				}
				return nil, &Error{Type: ErrorTypeInvalidArgument, Inner: ErrFrontierRefused, Msg: msg}
			}
			if refusal {
				return nil, &Error{Type: ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode(resp.GetStatusCode()),
					Msg: "socket refused: " + resp.GetErrorDesc(), RetryAfter: retryAfterOf(resp.GetHeaders())}
			}
		}
		return nil, &Error{Type: ErrorTypeNetwork, Msg: "dialing the Frontier socket", Inner: err}
	}
	if err := c.checkIdentity(hr.Header.Get(improto.HTTPHeaderUserID), hr.Header.Get(improto.HTTPHeaderAppID)); err != nil {
		ws.Close()
		return nil, err
	}
	ws.SetReadLimit(maxFrameBytes)
	s := &socket{
		c: c, ws: ws,
		send:    make(chan *outFrame, 256),
		pending: make(map[uint64]chan []byte),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Go(s.readLoop)
	wg.Go(s.writeLoop)
	go func() { // closes done when both loops have exited
		wg.Wait()
		c.clearSocket(s) // requests see a dead socket as none
		close(s.done)
	}()
	return s, nil
}

// permanentHandshakeStatus reports the HTTP answers to a WebSocket
// handshake that say the URL will never take one: client errors, but for
// those that pass (401 an expired token, 408 and 429 a busy server).
func permanentHandshakeStatus(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return code >= 300 && code < 500
}

// redactedURL is raw without its query, which carries the token.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// close ends the socket; it is safe to call more than once and from any
// goroutine.
func (s *socket) close() { s.fail(nil) }

// fail ends the socket because of cause (nil: the client closed it); only
// the first call counts.
func (s *socket) fail(cause error) {
	s.closeOnce.Do(func() {
		s.cause = cause
		close(s.stop)
		s.ws.Close() // unblocks the reader
	})
}

// logLoss logs, once, why a socket the client did not close died: at Info
// for a normal close by the server, at Warn otherwise (a network failure,
// a heartbeat timeout, a frame over the read limit, the server closing for
// a reason).
func (s *socket) logLoss() {
	if s.cause == nil {
		return
	}
	var ce *websocket.CloseError
	if errors.As(s.cause, &ce) && ce.Code == websocket.CloseNormalClosure {
		s.c.log.Info("im: the server closed the socket; reconnecting", "err", s.cause)
		return
	}
	s.c.log.Warn("im: socket lost; reconnecting", "err", s.cause)
}

// readError says why reading from the socket failed.
func (s *socket) readError(err error) error {
	var ne net.Error
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return fmt.Errorf("a frame from the server exceeds the read limit of %d bytes: %w", maxFrameBytes, err)
	case errors.As(err, &ce):
		return fmt.Errorf("closed by the server: %w", err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("nothing from the server for %v (heartbeat timeout): %w", s.c.opts.MaxHeartbeatEmptyWindow, err)
	}
	return fmt.Errorf("reading: %w", err)
}

func (s *socket) readLoop() {
	defer func() {
		s.close() // after fail, when reading failed: a no-op
		s.mu.Lock()
		for _, ch := range s.pending {
			close(ch)
		}
		s.pending = nil
		s.mu.Unlock()
	}()
	var buf bytes.Buffer // reused: readFrame copies what it keeps
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(s.c.opts.MaxHeartbeatEmptyWindow))
		typ, data, err := readMessage(s.ws, &buf)
		if err != nil {
			s.fail(s.readError(err))
			return
		}
		if typ != websocket.BinaryMessage {
			continue // the "hi" heartbeat answer: its arrival is the point
		}
		seq, payload, err := s.c.readFrame(data)
		if err != nil {
			s.c.log.Warn("im: dropping a frame", "err", err)
			continue
		}
		if seq == 0 {
			p, err := s.c.decodePush(payload)
			if err != nil {
				s.c.log.Warn("im: dropping a push", "err", err)
				continue
			}
			s.c.handlePush(p)
			continue
		}
		s.mu.Lock()
		ch := s.pending[seq]
		delete(s.pending, seq)
		s.mu.Unlock()
		if ch == nil {
			s.c.log.Warn("im: dropping a response nobody waits for", "seq", seq)
			continue
		}
		// The caller decodes its response: the read loop only matches it.
		ch <- payload
	}
}

// readMessage is ws.ReadMessage into buf, which the caller reuses: the
// data is valid until the next call. A buffer grown past 64 KiB by a large
// message is let go rather than kept for the socket's life.
func readMessage(ws *websocket.Conn, buf *bytes.Buffer) (int, []byte, error) {
	if buf.Cap() > 64<<10 {
		*buf = bytes.Buffer{}
	}
	buf.Reset()
	typ, r, err := ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	_, err = buf.ReadFrom(r)
	return typ, buf.Bytes(), err
}

// readFrame reads a server frame: its seqid and payload (a Response).
func (c *Client) readFrame(data []byte) (uint64, []byte, error) {
	f := &improto.Frame{}
	if err := proto.Unmarshal(data, f); err != nil {
		return 0, nil, fmt.Errorf("malformed Frame: %w", err)
	}
	if f.GetService() != c.opts.FrontierService && !c.opts.AcceptIncorrectFrame {
		return 0, nil, fmt.Errorf("frame of service %d, want %d", f.GetService(), c.opts.FrontierService)
	}
	if f.GetPayloadEncoding() != "" {
		return 0, nil, fmt.Errorf("payload_encoding %q is not supported", f.GetPayloadEncoding())
	}
	return f.GetSeqid(), f.GetPayload(), nil
}

// decodePush reads the Response of a push frame (wire.go).
func (c *Client) decodePush(payload []byte) (push, error) {
	p, err := decodePushResponse(payload)
	if err != nil {
		return push{}, fmt.Errorf("malformed Response in frame: %w", err)
	}
	if p.resp.GetInboxType() != c.opts.InboxType && !c.opts.AcceptIncorrectInboxType {
		return push{}, fmt.Errorf("response of inbox type %d, want %d", p.resp.GetInboxType(), c.opts.InboxType)
	}
	return p, nil
}

func (s *socket) writeLoop() {
	defer s.close()
	heartbeat := time.NewTicker(s.c.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	wrote := time.Now()
	for {
		var typ int
		var data []byte
		var f *outFrame // a request's frame, not the heartbeat
		select {
		case <-s.stop:
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		case f = <-s.send:
			typ, data = websocket.BinaryMessage, f.data
		case <-heartbeat.C:
			if time.Since(wrote) < s.c.opts.HeartbeatInterval {
				continue
			}
			typ, data = websocket.TextMessage, []byte("hi")
		}
		_ = s.ws.SetWriteDeadline(time.Now().Add(s.c.opts.Timeout))
		if err := s.ws.WriteMessage(typ, data); err != nil {
			s.fail(fmt.Errorf("writing: %w", err))
			return
		}
		if f != nil {
			f.written.Store(true)
		}
		wrote = time.Now()
	}
}

// call sends req in a Frame, waits for the Response with its seqid and
// hands its bytes to read, on the caller's goroutine.
func (s *socket) call(ctx context.Context, req *improto.Request, read func([]byte) error) error {
	payload, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	seq := uint64(req.GetSequenceId())
	frame, err := proto.Marshal(&improto.Frame{
		Seqid:       proto.Uint64(seq),
		Logid:       proto.Uint64(uint64(time.Now().UnixMilli())),
		Service:     proto.Int32(s.c.opts.FrontierService),
		Method:      proto.Int32(s.c.opts.FrontierMethod),
		PayloadType: proto.String("pb"),
		Payload:     payload,
	})
	if err != nil {
		return err
	}
	ch := make(chan []byte, 1)
	s.mu.Lock()
	if s.pending == nil {
		s.mu.Unlock()
		return errNotSent
	}
	s.pending[seq] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if s.pending != nil {
			delete(s.pending, seq)
		}
		s.mu.Unlock()
	}
	out := &outFrame{data: frame}
	select {
	case s.send <- out:
	case <-s.stop:
		forget()
		return errNotSent
	case <-ctx.Done():
		forget()
		return ctx.Err()
	}
	select {
	case data, ok := <-ch:
		if !ok {
			// Once the writer has exited, written says for sure whether
			// the frame left: a write that failed sent no whole frame.
			select {
			case <-s.done:
			case <-ctx.Done():
				return errSocketDown
			}
			if !out.written.Load() {
				return errNotSent // still queued, or its write failed
			}
			return errSocketDown
		}
		if err := read(data); err != nil {
			return fmt.Errorf("malformed Response in frame: %w", err)
		}
		return nil
	case <-ctx.Done():
		forget()
		return ctx.Err()
	}
}
