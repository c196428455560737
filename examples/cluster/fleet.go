package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/syncio"
)

// handling is one message a replica handled, as it said on its stdout.
type handling struct {
	Conv    im.ConversationID
	Index   int64
	Replica string
	At      time.Time // when this process read the line
}

// fleet runs replicas of the bot as child processes and collects what
// they handle. Its methods are safe for concurrent use.
type fleet struct {
	command func(replicaConfig) *exec.Cmd // a replica's process, not started
	base    replicaConfig                 // the config of every replica but its name
	stderr  io.Writer                     // the replicas' logs

	mu      sync.Mutex
	procs   map[string]*replicaProc
	handled []handling
	changed chan struct{} // closed and replaced on each line read
}

// replicaProc is one replica's process; done is closed once it exited
// and its stdout was read to the end.
type replicaProc struct {
	cmd   *exec.Cmd
	ready chan struct{} // closed when the replica said it was ready
	done  chan struct{}
	err   error // Wait's, once done
}

// stopTimeout bounds a graceful stop, after which the replica is killed.
const stopTimeout = 15 * time.Second

func newFleet(command func(replicaConfig) *exec.Cmd, base replicaConfig, stderr io.Writer) *fleet {
	if _, ok := stderr.(*os.File); !ok {
		// exec copies each replica's stderr to a writer that is not a
		// file on a goroutine of its own: one at a time.
		stderr = &syncio.Writer{W: stderr}
	}
	return &fleet{command: command, base: base, stderr: stderr, procs: make(map[string]*replicaProc), changed: make(chan struct{})}
}

// start starts the replica called name and waits until it is ready (or
// exits, or timeout passes).
func (f *fleet) start(name string, timeout time.Duration) error {
	cfg := f.base
	cfg.Name = name
	cmd := f.command(cfg)
	cmd.Stderr = f.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting replica %s: %w", name, err)
	}
	p := &replicaProc{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	f.mu.Lock()
	f.procs[name] = p
	f.mu.Unlock()
	go func() { // ends when the process's stdout closes: it exited
		f.read(p, out)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("replica %s exited before it was ready: %v", name, p.err)
	case <-t.C:
		return fmt.Errorf("replica %s not ready within %v", name, timeout)
	}
}

// read reads a replica's stdout: its ready line and its handled lines.
func (f *fleet) read(p *replicaProc, out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var h handling
		if _, err := fmt.Sscanf(sc.Text(), handledLine, &h.Conv, &h.Index, &h.Replica); err != nil {
			if sc.Text() == readyLine {
				close(p.ready)
			}
			continue
		}
		h.At = time.Now()
		f.mu.Lock()
		f.handled = append(f.handled, h)
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
	}
}

// readyLine is what a replica prints on stdout once it is ready.
const readyLine = "ready"

// kill kills the replica called name (SIGKILL: it has no time to give
// anything up) and waits for it to exit.
func (f *fleet) kill(name string) error {
	p := f.proc(name)
	if p == nil {
		return fmt.Errorf("no replica %s", name)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.done
	return nil
}

// stop stops the replica called name gracefully (SIGTERM: it drains and
// gives its partitions up), killing it after stopTimeout, and returns
// its error.
func (f *fleet) stop(name string) error {
	p := f.proc(name)
	if p == nil {
		return fmt.Errorf("no replica %s", name)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("replica %s did not stop within %v of SIGTERM; killed", name, stopTimeout)
	}
}

// close stops every replica still running.
func (f *fleet) close() error {
	f.mu.Lock()
	names := make([]string, 0, len(f.procs))
	for name, p := range f.procs {
		select {
		case <-p.done:
		default:
			names = append(names, name)
		}
	}
	f.mu.Unlock()
	var errs []error
	for _, name := range names {
		errs = append(errs, f.stop(name))
	}
	return errors.Join(errs...)
}

func (f *fleet) proc(name string) *replicaProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[name]
}

// handlings returns what the replicas handled so far, and a channel
// closed when they handle more.
func (f *fleet) handlings() ([]handling, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]handling(nil), f.handled...), f.changed
}

// awaitHandlings waits until the replicas said they handled n distinct
// messages, and returns every handling read by then. A replica says so
// before it replies, but this process may read its line after the
// reply arrived: a reply alone does not mean its line was read.
func (f *fleet) awaitHandlings(ctx context.Context, n int, timeout time.Duration) ([]handling, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	type key struct {
		conv  im.ConversationID
		index int64
	}
	for {
		hs, changed := f.handlings()
		distinct := make(map[key]bool, len(hs))
		for _, h := range hs {
			distinct[key{h.Conv, h.Index}] = true
		}
		if len(distinct) >= n {
			return hs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, fmt.Errorf("the replicas said they handled %d of %d messages within %v", len(distinct), n, timeout)
		}
	}
}
