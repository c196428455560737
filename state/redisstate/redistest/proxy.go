package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// dialTimeout bounds a Proxy's dial of its target.
const dialTimeout = 5 * time.Second

// Proxy forwards TCP connections to a target, and can cut them, as a
// network partition cuts a process off from Redis. It is for tests
// whose clients cannot be given a dialer, such as those of child
// processes: they connect to the proxy's Addr instead of the server's.
//
// A Proxy's methods are safe for concurrent use. Its goroutines (one
// accepting, two for each connection) stop at the cleanup of the test
// that started it.
type Proxy struct {
	target string
	l      net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // both ends of each forwarded connection
}

// StartProxy starts a Proxy to target, host:port, on a free loopback
// port, and registers its stop at t's cleanup: it stops accepting,
// closes every connection and waits for its goroutines.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy: %v", err)
	}
	p := &Proxy{target: target, l: l, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Cut closes every forwarded connection, and until Restore closes each
// new one as soon as it is accepted, so that the clients see a
// connection reset rather than a dial that hangs.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeConns()
}

// Restore forwards new connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// accept forwards each connection until the listener closes.
func (p *Proxy) accept() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return // closed by close
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			down.Close()
			continue
		}
		p.wg.Go(func() { p.forward(down) })
	}
}

// forward copies between down, an accepted connection, and a new
// connection to the target, until either side closes or the proxy cuts
// them.
func (p *Proxy) forward(down net.Conn) {
	defer down.Close()
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	if p.cut || p.closed { // cut while dialing
		p.mu.Unlock()
		return
	}
	p.conns[down], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, down)
		delete(p.conns, up)
		p.mu.Unlock()
	}()
	// Each copy closes the other's source when it ends, so that the
	// other ends too.
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(up, down)
		up.Close()
	})
	_, _ = io.Copy(down, up)
	down.Close()
	wg.Wait()
}

// close stops the proxy and waits for its goroutines.
func (p *Proxy) close() {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	p.closeConns()
	p.mu.Unlock()
	p.wg.Wait()
}

// closeConns closes the forwarded connections; p.mu is held.
func (p *Proxy) closeConns() {
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
