package bot

import (
	"context"
	"sync"
	"time"

	"github.com/imbot-go/imbot/im"
)

// dispatcher queues events per conversation and hands them to workers:
// one event of a conversation at a time, in order, conversations taking
// turns. Events without a conversation (friend events) share one queue.
//
// enqueue blocks while max events wait, which stops the IM client's event
// delivery and with it its pulls: backpressure, never a dropped event.
type dispatcher struct {
	mu       sync.Mutex
	notEmpty sync.Cond // a conversation became runnable, or closing
	notFull  sync.Cond // a place was freed, or closing
	queues   map[im.ConversationID]*convQueue
	runnable []*convQueue // queues with events and no worker, in turn order
	waiting  int          // events queued, not yet running
	max      int
	closed   bool
	waiters  map[waitKey]chan *im.Message
}

type convQueue struct {
	id      im.ConversationID
	events  []Event
	running bool // a worker is handling one of its events
}

type waitKey struct {
	conv im.ConversationID
	user im.UserID
}

func newDispatcher(max int) *dispatcher {
	d := &dispatcher{queues: make(map[im.ConversationID]*convQueue), max: max, waiters: make(map[waitKey]chan *im.Message)}
	d.notEmpty.L = &d.mu
	d.notFull.L = &d.mu
	return d
}

// enqueue queues ev, waiting for a free place. A message that a handler is
// waiting for (Context.WaitNext) goes to that handler instead. After close,
// events are dropped: the bot is shutting down and the client stopping.
func (d *dispatcher) enqueue(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Kind == EventMessage && ev.Message != nil {
		if ch, ok := d.waiters[waitKey{ev.ConversationRef.ID, ev.Message.Sender}]; ok {
			delete(d.waiters, waitKey{ev.ConversationRef.ID, ev.Message.Sender})
			ch <- ev.Message // buffered: never blocks
			return
		}
	}
	for d.waiting >= d.max && !d.closed {
		d.notFull.Wait()
	}
	if d.closed {
		return
	}
	q := d.queues[ev.ConversationRef.ID]
	if q == nil {
		q = &convQueue{id: ev.ConversationRef.ID}
		d.queues[q.id] = q
	}
	q.events = append(q.events, ev)
	d.waiting++
	if !q.running && len(q.events) == 1 {
		d.runnable = append(d.runnable, q)
		d.notEmpty.Signal()
	}
}

// work runs events until the dispatcher is closed and drained.
func (d *dispatcher) work(handle func(Event)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		for len(d.runnable) == 0 && !d.closed {
			d.notEmpty.Wait()
		}
		if len(d.runnable) == 0 {
			return // closed and nothing left
		}
		q := d.runnable[0]
		d.runnable = d.runnable[1:]
		ev := q.events[0]
		q.events[0] = Event{}
		q.events = q.events[1:]
		q.running = true
		d.waiting--
		d.notFull.Signal()
		d.mu.Unlock()
		handle(ev)
		d.mu.Lock()
		q.running = false
		if len(q.events) > 0 {
			d.runnable = append(d.runnable, q) // its turn comes after the others'
			d.notEmpty.Signal()
		} else {
			delete(d.queues, q.id)
		}
	}
}

// close stops taking events; workers finish what is queued and return.
func (d *dispatcher) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.notEmpty.Broadcast()
	d.notFull.Broadcast()
}

// waitNext waits for the next message of user in conv, which enqueue then
// hands here instead of queueing it.
func (d *dispatcher) waitNext(ctx context.Context, conv im.ConversationID, user im.UserID, timeout time.Duration) (*im.Message, error) {
	key := waitKey{conv, user}
	ch := make(chan *im.Message, 1)
	d.mu.Lock()
	d.waiters[key] = ch
	d.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-t.C:
	case <-ctx.Done():
	}
	d.mu.Lock()
	if d.waiters[key] == ch {
		delete(d.waiters, key)
	}
	d.mu.Unlock()
	select {
	case m := <-ch: // it came while the timer fired
		return m, nil
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, ErrWaitTimeout
}
