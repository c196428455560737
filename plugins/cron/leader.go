package cron

import (
	"context"
	"sync"
)

// Leader elects the one replica of a bot that posts: several replicas
// running the same jobs would otherwise each post every occurrence. (They
// would not double-post, since the server keeps the first message of
// each client id, but they would do the work as many times.)
//
// Acquire blocks until this replica leads, or ctx ends (its error is then
// returned). It returns lead, a context that ends when leadership is lost
// (a lease that could not be renewed, say) or ctx ends, and release,
// which gives leadership up; the plugin calls release exactly once, when
// lead ends or the bot stops. An error other than ctx's is reported, and
// Acquire is called again after a second.
//
// [LocalLeader] elects within one process. Replicas in several processes
// need one over a shared store (a Redis lock with a renewed lease, say).
// Implementations must be safe for concurrent use.
type Leader interface {
	Acquire(ctx context.Context) (lead context.Context, release func(), err error)
}

// LocalLeader is a [Leader] within one process: of the plugins sharing
// it, one leads at a time, and the next takes over when it stops. A
// plugin without a Leader gets one of its own, and so always leads.
type LocalLeader struct {
	token chan struct{}
}

// NewLocalLeader returns a LocalLeader nobody holds.
func NewLocalLeader() *LocalLeader { return &LocalLeader{token: make(chan struct{}, 1)} }

// Acquire implements Leader; it waits for the current leader's release.
func (l *LocalLeader) Acquire(ctx context.Context) (context.Context, func(), error) {
	select {
	case l.token <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	lead, cancel := context.WithCancel(ctx)
	return lead, sync.OnceFunc(func() {
		cancel()
		<-l.token
	}), nil
}
