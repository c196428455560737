package imserver

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// accessKeySalt ends the access_key recipe of the web SDK and the wschannel
// client (IM_PROTOCOL.md section 4.1).
const accessKeySalt = "f8a69f1719916z"

// AccessKey returns the Frontier access_key for a device: the lower-case
// hex MD5 of fpid + appKey + deviceID + a fixed salt.
func AccessKey(fpid int64, appKey, deviceID string) string {
	sum := md5.Sum([]byte(strconv.FormatInt(fpid, 10) + appKey + deviceID + accessKeySalt))
	return hex.EncodeToString(sum[:])
}

// heartbeat is the text message clients send when idle; the server answers
// it in kind so that the client's empty-window timer sees traffic.
const heartbeat = "hi"

// serveFrontier authenticates and upgrades a Frontier socket, then runs its
// reader on this goroutine and its writer on another.
func (s *Server) serveFrontier(w http.ResponseWriter, r *http.Request, addr string) {
	q := r.URL.Query()
	user, err := s.authenticate(q.Get("token"))
	if err == nil {
		err = s.checkFrontierParams(q.Get("aid"), q.Get("fpid"), q.Get("device_id"), q.Get("access_key"))
	}
	if err != nil {
		s.failedAuth(addr)
		// Before the upgrade the answer is plain HTTP with a protobuf
		// Response body, so a client can tell an expired token from a
		// forged one.
		s.writeHTTP(w, http.StatusUnauthorized, failure(nil, 0, err))
		return
	}
	c := &conn{
		s:       s,
		user:    user,
		addr:    addr,
		device:  q.Get("device_id"),
		send:    make(chan outFrame, s.cfg.SendQueue),
		done:    make(chan struct{}),
		limiter: rate.NewLimiter(rate.Limit(s.cfg.RequestRate), s.cfg.RequestBurst),
	}
	// The socket joins the hub before the handshake answer leaves, so that
	// every message committed once the client sees its socket open is
	// pushed to it (pushes wait in its queue until the writer starts), and
	// under the same lock as the closing check, so that Shutdown sees
	// every socket whose goroutines it waits for.
	s.mu.Lock()
	closing := s.closing
	admitted := !closing && s.admitSocket(w, addr)
	if admitted {
		s.wg.Add(2) // reader (this goroutine) and writer
		s.conns[c] = struct{}{}
		s.metrics.socketAdmitted()
		s.hub.add(c)
	}
	s.mu.Unlock()
	if closing {
		s.writeHTTP(w, http.StatusServiceUnavailable, failure(nil, 0,
			errStatus(improto.StatusCode_SERVER_ERR, "server shutting down")))
	}
	if !admitted {
		return
	}
	hj := &batchHijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hj, r, http.Header{
		improto.HTTPHeaderUserID: {strconv.FormatInt(user, 10)},
		improto.HTTPHeaderAppID:  {strconv.FormatInt(s.cfg.AppID, 10)},
	})
	if err != nil {
		// Upgrade has already answered the client (see handshakeError).
		// The socket never opened, so its close is not counted.
		c.close(closeClient, websocket.CloseAbnormalClosure, "")
		s.forget(c)
		s.wg.Add(-2)
		return
	}
	c.ws, c.net = ws, hj.conn // before the writer starts; no one else touches them
	s.metrics.socketOpened()
	go c.writeLoop()
	c.readLoop()
}

// forget drops a closed socket from the server's count.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.metrics.socketForgotten()
	s.dropSocket(c.addr)
}

// handshakeError answers a request to the Frontier path that is not a
// WebSocket handshake with a protobuf Response, as every other refusal.
func (s *Server) handshakeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := improto.StatusCode_INVALID_REQUEST
	if status >= 500 {
		code = improto.StatusCode_SERVER_ERR
	}
	s.writeHTTP(w, status, failure(nil, 0, errStatus(code, "WebSocket handshake: %v", reason)))
}

func (s *Server) checkFrontierParams(aid, fpid, deviceID, accessKey string) error {
	if aid != strconv.FormatInt(s.cfg.AppID, 10) {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "aid %q is not this server's app id", aid)
	}
	if fpid != strconv.FormatInt(s.cfg.FPID, 10) {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "fpid %q is not this server's fpid", fpid)
	}
	if deviceID == "" {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "device_id is required")
	}
	if accessKey != AccessKey(s.cfg.FPID, s.cfg.AppKey, deviceID) {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "access_key does not match fpid, appKey and device_id")
	}
	return nil
}

// conn is one Frontier socket. Its reader runs on the HTTP handler's
// goroutine, its writer on one of its own; both are counted in Server.wg.
// Others reach the socket only through enqueue and close.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	net     *batchConn // ws's connection: the writer batches through it
	user    int64
	addr    string // the remote address, as the socket limits count it
	device  string
	send    chan outFrame
	limiter *rate.Limiter

	closeOnce sync.Once
	done      chan struct{} // closed by close: the writer's stop signal
	closeWhy  closeReason
	closeCode int
	closeText string
}

// closeReason is why a socket was closed, for the metrics: the first
// close call's, as its close frame is.
type closeReason uint8

const (
	closeClient      closeReason = iota // the client closed it, or the connection broke
	closeIdle                           // nothing arrived for IdleTimeout
	closeSlow                           // its send queue filled
	closeBadFrame                       // a frame the server cannot read
	closeWriteFailed                    // a write failed or passed WriteTimeout
	closeShutdown                       // Shutdown or Close
	numCloseReasons
)

var closeReasonNames = [numCloseReasons]string{
	closeClient: "client", closeIdle: "idle", closeSlow: "slow",
	closeBadFrame: "bad_frame", closeWriteFailed: "write_failed", closeShutdown: "shutdown",
}

type outFrame struct {
	text bool
	data []byte
}

// trySend hands a frame to the writer without blocking; it reports false
// when the socket's queue is full.
func (c *conn) trySend(f outFrame) bool {
	select {
	case <-c.done:
		return true // closing: the frame has nowhere to go
	case c.send <- f:
		return true
	default:
		return false
	}
}

// enqueue hands a frame to the writer. A socket whose queue is full is too
// slow to keep: it is closed, and its client catches up from its cursor
// after reconnecting.
func (c *conn) enqueue(f outFrame) {
	if !c.trySend(f) {
		c.closeSlow()
	}
}

func (c *conn) closeSlow() {
	c.close(closeSlow, websocket.ClosePolicyViolation, "client too slow: send queue full")
}

// close starts closing the socket: the writer sends the close frame and
// closes the connection, which ends the reader.
func (c *conn) close(why closeReason, code int, text string) {
	c.closeOnce.Do(func() {
		c.closeWhy, c.closeCode, c.closeText = why, code, text
		c.s.hub.remove(c)
		close(c.done)
	})
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer func() {
		c.close(closeClient, websocket.CloseNormalClosure, "")
		c.s.metrics.socketClosed(c.closeWhy) // set by the close call that came first, which this one follows
		c.s.forget(c)
	}()
	c.ws.SetReadLimit(c.s.cfg.MaxRequestBytes)
	var buf bytes.Buffer // reused: handleFrame copies what it keeps
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		typ, data, err := readMessage(c.ws, &buf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				c.close(closeBadFrame, websocket.CloseMessageTooBig, "frame exceeds "+strconv.FormatInt(c.s.cfg.MaxRequestBytes, 10)+" bytes")
			case errors.As(err, &ne) && ne.Timeout():
				// As API gateways do: the client may come back, and knows
				// why it was let go.
				c.close(closeIdle, websocket.CloseGoingAway, "idle for "+c.s.cfg.IdleTimeout.String())
			}
			return
		}
		switch typ {
		case websocket.TextMessage:
			if string(data) != heartbeat {
				c.close(closeBadFrame, websocket.CloseUnsupportedData, "text messages other than the hi heartbeat are not understood")
				return
			}
			c.enqueue(outFrame{text: true, data: []byte(heartbeat)})
		case websocket.BinaryMessage:
			if !c.handleFrame(data) {
				return
			}
		}
	}
}

// readMessage is ws.ReadMessage into buf, which the caller reuses: the
// data is valid until the next call. A buffer grown past 64 KiB by a large
// frame is let go rather than kept for the socket's life.
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

// handleFrame serves one binary frame; it reports false when the socket
// must close because the frame could not be read at all.
func (c *conn) handleFrame(data []byte) bool {
	start := c.s.metrics.start()
	frame := &improto.Frame{}
	if err := proto.Unmarshal(data, frame); err != nil {
		c.close(closeBadFrame, websocket.CloseInvalidFramePayloadData, "malformed Frame: "+err.Error())
		return false
	}
	var resp *improto.Response
	req, body, err := decodeRequest(frame.GetPayload())
	switch {
	case frame.GetPayloadEncoding() != "":
		resp = failure(nil, 0, errStatus(improto.StatusCode_INVALID_REQUEST,
			"payload_encoding %q is not supported in requests", frame.GetPayloadEncoding()))
	case err != nil:
		resp = failure(nil, 0, errStatus(improto.StatusCode_INVALID_REQUEST, "malformed Request in frame payload"))
	default:
		if wait := reserveDelay(c.limiter, c.s.cfg.Now()); wait > 0 {
			c.s.metrics.refusal(refusedRequestRate)
			resp = tooManyRequests(req, wait, "more than %g requests per second on this socket", c.s.cfg.RequestRate)
		} else if _, known := improto.LookupCommand(improto.IMCMD(req.GetCmd())); !known {
			resp = failure(req, req.GetCmd(), errStatus(improto.StatusCode_INVALID_CMD, "unknown cmd %d", req.GetCmd()))
		} else {
			resp = c.s.execute(context.Background(), req, body, c.user, c)
		}
	}
	// The response echoes the frame's seqid even when the Request inside
	// could not be read, so the client can fail the right call.
	resp.SequenceId = proto.Int64(int64(frame.GetSeqid()))
	if b, err := c.s.encodeFrame(frame.GetSeqid(), resp); err != nil {
		c.s.log.Error("imserver: encoding frame", "err", err)
	} else {
		c.enqueue(outFrame{data: b})
	}
	c.s.metrics.request(resp.GetCmd(), resp.GetStatusCode(), start)
	return true
}

// maxBurst bounds the frames the writer sends in one write.
const maxBurst = 64

// write hands one frame to the WebSocket.
func (c *conn) write(f outFrame) error {
	typ := websocket.BinaryMessage
	if f.text {
		typ = websocket.TextMessage
	}
	return c.ws.WriteMessage(typ, f.data)
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer c.ws.Close()
	for {
		select {
		case f := <-c.send:
			// The frames already queued leave with this one, in one write.
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			c.net.hold()
			err := c.write(f)
			for n := 1; err == nil && n < maxBurst && len(c.send) > 0; n++ {
				err = c.write(<-c.send)
			}
			if rerr := c.net.release(); err != nil || rerr != nil {
				c.close(closeWriteFailed, websocket.CloseAbnormalClosure, "")
				return
			}
		case <-c.done:
			if c.closeCode != websocket.CloseAbnormalClosure {
				msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
				_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		}
	}
}

// hub knows which sockets each user has open.
type hub struct {
	mu    sync.RWMutex
	users map[int64]map[*conn]struct{}
}

func (h *hub) add(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.users[c.user]
	if m == nil {
		m = make(map[*conn]struct{})
		h.users[c.user] = m
	}
	m[c] = struct{}{}
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.users[c.user]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.users, c.user)
		}
	}
}

// online reports whether user has at least one socket open.
func (h *hub) online(user int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

// push is one server push to every socket of a user but one.
type push struct {
	user   int64
	except *conn // the socket whose request caused the push; it has the response
	resp   *improto.Response
}

// outbox collects the pushes of a transaction; they leave after commit.
type outbox struct{ pushes []push }

// add queues a push of body under cmd to user.
func (o *outbox) add(user int64, inbox int32, cmd improto.IMCMD, body *improto.ResponseBody, except *conn) {
	resp := pushResponse(inbox, cmd)
	resp.Body = body
	o.pushes = append(o.pushes, push{user: user, except: except, resp: resp})
}

// addNotify queues a push of a NewMessageNotify (ResponseBody field 500)
// under cmd to user, without building a ResponseBody (encode.go).
func (o *outbox) addNotify(user int64, inbox int32, cmd improto.IMCMD, n *improto.NewMessageNotify, except *conn) error {
	resp := pushResponse(inbox, cmd)
	if err := setBody(resp, fieldHasNewMessageNotify, n); err != nil {
		return err
	}
	o.pushes = append(o.pushes, push{user: user, except: except, resp: resp})
	return nil
}

// fieldHasNewMessageNotify is ResponseBody.has_new_message_notify, the
// body of 500 and (improto README choice 14) 505.
const fieldHasNewMessageNotify = 500

// pushResponse is the envelope of a push: sequence id 0, status OK.
func pushResponse(inbox int32, cmd improto.IMCMD) *improto.Response {
	return &improto.Response{
		Cmd:        proto.Int32(int32(cmd)),
		SequenceId: proto.Int64(0),
		StatusCode: proto.Int32(0),
		InboxType:  proto.Int32(inbox),
	}
}

// deliver encodes and enqueues pushes to the sockets online now, and
// returns how many it queued. Users offline find the same events in their
// inbox when they next pull.
func (h *hub) deliver(s *Server, pushes []push) (queued int) {
	var slow []*conn
	defer func() {
		// Closing removes the socket from the hub, so it waits for RUnlock.
		for _, c := range slow {
			c.closeSlow()
		}
	}()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, p := range pushes {
		conns := h.users[p.user]
		if len(conns) == 0 || (len(conns) == 1 && hasConn(conns, p.except)) {
			continue
		}
		b, err := s.encodeFrame(0, p.resp)
		if err != nil {
			s.log.Error("imserver: encoding push", "err", err)
			continue
		}
		for c := range conns {
			switch {
			case c == p.except:
			case c.trySend(outFrame{data: b}):
				queued++
			default:
				slow = append(slow, c)
			}
		}
	}
	return queued
}

func hasConn(m map[*conn]struct{}, c *conn) bool {
	_, ok := m[c]
	return ok
}
