package imserver

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// batchConn is a socket's network connection as the WebSocket library
// sees it. Writes go straight through, except while the socket's writer
// holds it for a burst of queued frames (a push and a response to the same
// client, a fan-out's pushes to a busy bot): then they collect in a buffer
// that release writes in one system call. On these machines a write to
// loopback costs tens of microseconds, whatever its size.
//
// Writes from other goroutines (the library answers pings and close
// frames from the reader) take the same lock, so they never interleave
// with a burst; one that comes during a burst leaves with it.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
}

// maxBatch bounds the bytes a burst collects before they are written.
const maxBatch = 64 << 10

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= maxBatch {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold starts a burst: writes collect until release.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// release ends a burst, writing what it collected.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.flush()
}

// flush writes the buffer; the caller holds c.mu. A buffer that a large
// frame grew is let go rather than kept for the socket's life.
func (c *batchConn) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxBatch {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// batchHijacker hands the WebSocket upgrade the hijacked connection
// wrapped in a batchConn.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn // set by a successful Hijack
}

var errNoHijack = errors.New("imserver: the http.ResponseWriter cannot be hijacked for a WebSocket")

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, brw, nil
}
