// Package redistest runs a real redis-server for tests, as httptest runs
// an HTTP server: [Start] starts one on a free loopback port in a
// temporary directory, with no persistence, and stops it at the test's
// cleanup.
//
//	srv := redistest.Start(t)
//	client := srv.Client(t)
//	st, err := redisstate.Open(ctx, client, redisstate.Options{Prefix: "imbot:{1:100}:"})
//
// [Launch] starts one the same way for a program that is not a test,
// such as examples/cluster.
//
// [StartProxy] puts a TCP proxy before a server, whose connections a
// test can cut and restore, as a network partition would, for clients
// that the test cannot give a dialer of its own (those of a child
// process, say).
//
// # Where redis-server is missing
//
// Start looks for redis-server on PATH (the Debian and Ubuntu package
// is redis-server: apt-get install redis-server). Where it is missing,
// Start skips the test with a message naming the package, unless the
// environment variable IMBOT_REQUIRE_REDIS is 1: then it fails the test,
// so that CI, which sets it, cannot pass by skipping the Redis tests.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use, except that Restart
// and Stop must not run at the same time as each other. A Proxy's
// methods are safe for concurrent use.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv is the environment variable that turns a missing
// redis-server from a skip into a failure, when it is "1".
const RequireEnv = "IMBOT_REQUIRE_REDIS"

const (
	// startTimeout bounds the wait for a started server to answer PING.
	startTimeout = 10 * time.Second
	// pollEvery is how often Start checks whether the server answers.
	pollEvery = 10 * time.Millisecond
	// portAttempts bounds the ports Start tries when the one it picked
	// was taken before the server bound it.
	portAttempts = 5
)

// Server is a redis-server process started by [Start]. It listens on
// 127.0.0.1, keeps nothing on disk, and is killed at the cleanup of the
// test that started it.
type Server struct {
	bin  string
	dir  string
	addr string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server: exited is closed once Wait has
// returned, by the goroutine that Start runs for it, and err then holds
// Wait's error.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    string // the path of its log file
}

// Start starts a redis-server on a free loopback port, waits until it
// answers PING, and registers its stop at t's cleanup. It skips t when
// redis-server is not on PATH, or fails it when IMBOT_REQUIRE_REDIS is 1
// (see the package doc).
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(t.TempDir())
	switch {
	case errors.Is(err, ErrNotInstalled):
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("redistest: %v (%s=1 makes this a failure)", err, RequireEnv)
		}
		t.Skipf("redistest: %v, or set %s=1 to make this a failure", err, RequireEnv)
	case err != nil:
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// ErrNotInstalled is the error of Launch where redis-server is not on
// PATH.
var ErrNotInstalled = errors.New("redis-server is not on PATH; install the Debian package redis-server (apt-get install redis-server)")

// Launch starts a redis-server on a free loopback port with its files
// in dir, and waits until it answers PING, for a program that is not a
// test (an example, say): the caller stops it with Stop, and removes
// dir. It returns ErrNotInstalled where redis-server is not on PATH.
func Launch(dir string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	s := &Server{bin: bin, dir: dir}
	var errs []error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = s.start()
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, fmt.Errorf("starting redis-server: %w", errors.Join(errs...))
}

// Addr returns the server's address, host:port.
func (s *Server) Addr() string { return s.addr }

// Client returns a client of the server, closed at t's cleanup.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.Options())
	t.Cleanup(func() { c.Close() })
	return c
}

// Options returns the options of a client of the server, to change
// before redis.NewClient (fewer retries, say).
func (s *Server) Options() *redis.Options {
	return &redis.Options{Addr: s.addr}
}

// Stop kills the server and waits for it to exit; its data is lost. It
// does nothing when the server is stopped already. Clients fail until
// Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Restart stops the server if it runs and starts it again on the same
// port, empty, waiting until it answers PING. Clients reconnect on their
// own. It fails t when the server cannot start (another process took
// the port meanwhile, say).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restarting redis-server on %s: %v", s.addr, err)
	}
}

// errPortTaken is the error of start when the port was taken.
var errPortTaken = errors.New("port taken")

// start runs redis-server on s.addr and waits until it answers PING, or
// exits, or startTimeout passes.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.addr)
	log := filepath.Join(s.dir, "redis-"+port+".log")
	cmd := exec.Command(s.bin,
		"--port", port, "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--logfile", log)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), log: log}
	go func() { // joined by Stop, through exited
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if ping(s.addr) == nil {
			return nil
		}
		select {
		case <-p.exited:
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			tail := logTail(log)
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%w: %s: %s", errPortTaken, s.addr, tail)
			}
			return fmt.Errorf("redis-server exited (%v): %s", p.err, tail)
		case <-deadline.C:
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer PING within %v: %s", s.addr, startTimeout, logTail(log))
		case <-tick.C:
		}
	}
}

// ping sends PING to the server at addr and reads its answer.
func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of the log file at path, for an error.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-5, 0):], " | ")
}
