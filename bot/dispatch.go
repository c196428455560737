package bot

import (
	"context"
	"slices"
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
//
// At most workers handlers run at once. A handler waiting in WaitNext does
// not count: its worker goroutine is parked with it and another one is
// started in its place, so that dialogs cannot stall the other
// conversations; when it resumes, it waits for a free slot, and the spare
// goroutine ends.
type dispatcher struct {
	mu       sync.Mutex
	notEmpty sync.Cond // a conversation became runnable, a worker is spare, or closing
	notFull  sync.Cond // a place was freed, or closing
	slot     sync.Cond // a handler finished: one may resume from WaitNext
	queues   map[im.ConversationID]*convQueue
	runnable []*convQueue // queues with events and no worker, in turn order
	waiting  int          // events queued, not yet running
	max      int
	closed   bool
	waiters  map[waitKey]*waiter

	workers int          // handlers that may run at once
	live    int          // worker goroutines
	active  int          // handlers running, not parked in WaitNext
	parked  int          // handlers parked in WaitNext
	spawn   func(func()) // starts a worker goroutine its owner joins
	handle  func(Event)
	// waited, when set, is told when each event started waiting once a
	// worker takes it: the queue-wait metric.
	waited func(queuedAt time.Time)
	// spare keeps drained queues for reuse: a conversation with one event
	// at a time (a chat) would otherwise cost a queue and its slice per
	// event.
	spare []*convQueue
}

// maxSpare bounds the drained queues kept for reuse, and the events a
// kept queue's array may hold.
const maxSpare = 64

type convQueue struct {
	id      im.ConversationID
	events  []queuedEvent
	running bool // a worker is handling one of its events
}

// queuedEvent is an event in its conversation's queue, with when it came
// when the queue-wait metric is on.
type queuedEvent struct {
	Event
	at time.Time
}

type waitKey struct {
	conv im.ConversationID
	user im.UserID
}

// waiter is a handler waiting in WaitNext: ch gets the message, or is
// closed after err is set (ErrClosed, ErrPartitionMoved).
type waiter struct {
	ch  chan *im.Message // buffered: a send never blocks
	err error
}

func newDispatcher(max int) *dispatcher {
	d := &dispatcher{queues: make(map[im.ConversationID]*convQueue), max: max, waiters: make(map[waitKey]*waiter)}
	d.notEmpty.L = &d.mu
	d.notFull.L = &d.mu
	d.slot.L = &d.mu
	return d
}

// start runs n workers handling events with handle; spawn starts each
// worker goroutine (the caller's WaitGroup.Go), including those that take
// the place of handlers parked in WaitNext.
func (d *dispatcher) start(n int, spawn func(func()), handle func(Event)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.workers, d.spawn, d.handle = n, spawn, handle
	for range n {
		d.startWorker()
	}
}

// startWorker starts one worker; the caller holds d.mu.
func (d *dispatcher) startWorker() {
	d.live++
	d.spawn(d.work)
}

// enqueue queues ev, waiting for a free place, and reports whether it
// did. A message that a handler is waiting for (Context.WaitNext) goes to
// that handler instead. After close, events are dropped: the bot is
// shutting down and the client stopping.
func (d *dispatcher) enqueue(ev Event) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Kind == EventMessage && ev.Message != nil {
		if w, ok := d.waiters[waitKey{ev.ConversationRef.ID, ev.Message.Sender}]; ok {
			delete(d.waiters, waitKey{ev.ConversationRef.ID, ev.Message.Sender})
			w.ch <- ev.Message
			return false
		}
	}
	for d.waiting >= d.max && !d.closed {
		d.notFull.Wait()
	}
	if d.closed {
		return false
	}
	q := d.queues[ev.ConversationRef.ID]
	if q == nil {
		q = d.newQueue(ev.ConversationRef.ID)
		d.queues[q.id] = q
	}
	qe := queuedEvent{Event: ev}
	if d.waited != nil {
		qe.at = time.Now()
	}
	q.events = append(q.events, qe)
	d.waiting++
	if !q.running && len(q.events) == 1 {
		d.runnable = append(d.runnable, q)
		d.notEmpty.Signal()
	}
	return true
}

// queued returns the number of events waiting for a worker.
func (d *dispatcher) queued() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waiting
}

// running returns the number of handlers running, not parked.
func (d *dispatcher) running() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// newQueue returns an empty queue for conversation id, a spare one when
// there is one. The caller holds d.mu.
func (d *dispatcher) newQueue(id im.ConversationID) *convQueue {
	n := len(d.spare)
	if n == 0 {
		return &convQueue{id: id}
	}
	q := d.spare[n-1]
	d.spare[n-1] = nil
	d.spare = d.spare[:n-1]
	*q = convQueue{id: id, events: q.events[:0]}
	return q
}

// work runs events until the dispatcher is closed and drained, or this
// worker is spare.
func (d *dispatcher) work() {
	defer func() { // also when a handler ends the goroutine (runtime.Goexit)
		d.mu.Lock()
		d.live--
		d.mu.Unlock()
	}()
	for {
		q, ev, ok := d.next()
		if !ok {
			return
		}
		d.run(q, ev, d.handle)
	}
}

// next takes the next event to handle, waiting for one; it reports false
// once the dispatcher is closed and drained, or when the worker is spare:
// a parked handler resumed, and workers goroutines are free without it.
func (d *dispatcher) next() (*convQueue, Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.live-d.parked > d.workers {
			d.notEmpty.Signal() // pass on a wake-up meant for work
			return nil, Event{}, false
		}
		if len(d.runnable) > 0 {
			break
		}
		if d.closed {
			return nil, Event{}, false
		}
		d.notEmpty.Wait()
	}
	q := d.runnable[0]
	d.runnable = d.runnable[1:]
	qe := q.events[0]
	q.events[0] = queuedEvent{}
	if len(q.events) == 1 {
		q.events = q.events[:0] // empty: keep the array for the next event
	} else {
		q.events = q.events[1:]
	}
	q.running = true
	d.waiting--
	d.active++
	d.notFull.Signal()
	if d.waited != nil {
		d.waited(qe.at)
	}
	return q, qe.Event, true
}

// run handles one event and gives its conversation back to the queue,
// even when the handler ends its goroutine (runtime.Goexit, t.Fatal).
func (d *dispatcher) run(q *convQueue, ev Event, handle func(Event)) {
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.active--
		d.slot.Signal()
		q.running = false
		if len(q.events) > 0 {
			d.runnable = append(d.runnable, q) // its turn comes after the others'
			d.notEmpty.Signal()
		} else {
			delete(d.queues, q.id)
			if len(d.spare) < maxSpare && cap(q.events) <= maxSpare {
				d.spare = append(d.spare, q) // not one a burst grew large
			}
		}
	}()
	handle(ev)
}

// close stops taking events; workers finish what is queued and return.
// Handlers waiting in WaitNext get ErrClosed, since no message will come.
func (d *dispatcher) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for k, w := range d.waiters {
		delete(d.waiters, k)
		w.err = ErrClosed
		close(w.ch)
	}
	d.notEmpty.Broadcast()
	d.notFull.Broadcast()
}

// discard drops the queued events that no worker has started and returns
// how many there were: after the drain deadline they would only run with
// a cancelled context.
func (d *dispatcher) discard() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.waiting
	for id, q := range d.queues {
		clear(q.events)
		q.events = nil
		if !q.running {
			delete(d.queues, id)
		}
	}
	d.runnable = nil
	d.waiting = 0
	d.notFull.Broadcast()
	return n
}

// dropWhere removes the queued events that no worker has started and
// that drop selects, and returns them: those of a partition the replica
// no longer holds.
func (d *dispatcher) dropWhere(drop func(*Event) bool) []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	var dropped []Event
	for id, q := range d.queues {
		kept := q.events[:0]
		for _, qe := range q.events {
			if drop(&qe.Event) {
				dropped = append(dropped, qe.Event)
			} else {
				kept = append(kept, qe)
			}
		}
		clear(q.events[len(kept):])
		q.events = kept
		if len(kept) == 0 && !q.running {
			d.runnable = slices.DeleteFunc(d.runnable, func(r *convQueue) bool { return r == q })
			delete(d.queues, id)
		}
	}
	d.waiting -= len(dropped)
	d.notFull.Broadcast()
	return dropped
}

// endWaits ends the WaitNext of the handlers waiting in the conversations
// that end selects, with err: no message of theirs will come here.
func (d *dispatcher) endWaits(end func(im.ConversationID) bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, w := range d.waiters {
		if end(k.conv) {
			delete(d.waiters, k)
			w.err = err
			close(w.ch)
		}
	}
}

// takeQueued removes and returns the first message of user queued in conv,
// or nil. The caller holds d.mu.
func (d *dispatcher) takeQueued(conv im.ConversationID, user im.UserID) *im.Message {
	q := d.queues[conv]
	if q == nil {
		return nil
	}
	for i, ev := range q.events {
		if ev.Kind != EventMessage || ev.Message == nil || ev.Message.Sender != user {
			continue
		}
		q.events = slices.Delete(q.events, i, i+1)
		d.waiting--
		d.notFull.Signal()
		if len(q.events) == 0 && !q.running {
			// Not the caller's own conversation queue (that one is
			// running): it must leave the turn order with its last event.
			d.runnable = slices.DeleteFunc(d.runnable, func(r *convQueue) bool { return r == q })
			delete(d.queues, conv)
		}
		return ev.Message
	}
	return nil
}

// park takes the calling handler out of the running ones while it waits,
// starting a worker in its place when the dispatcher is not closing. The
// caller holds d.mu.
func (d *dispatcher) park() {
	d.active--
	d.parked++
	d.slot.Signal()
	if !d.closed && d.live-d.parked < d.workers {
		d.startWorker()
	}
}

// resume puts a parked handler back among the running ones, once fewer
// than workers run.
func (d *dispatcher) resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.parked--
	for d.active >= d.workers {
		d.slot.Wait()
	}
	d.active++
	d.notEmpty.Signal() // a spare worker, if idle, may end
}

// waitNext returns the next message of user in conv: one already queued
// there, or the next one enqueue sees, which it hands here instead of
// queueing it. It returns ErrClosed once the dispatcher closes.
func (d *dispatcher) waitNext(ctx context.Context, conv im.ConversationID, user im.UserID, timeout time.Duration) (*im.Message, error) {
	key := waitKey{conv, user}
	w := &waiter{ch: make(chan *im.Message, 1)}
	d.mu.Lock()
	// The message may have come while the handler ran: it is then queued
	// behind the handler's event, in the same conversation.
	if m := d.takeQueued(conv, user); m != nil {
		d.mu.Unlock()
		return m, nil
	}
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	d.waiters[key] = w
	d.park()
	d.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-w.ch:
		d.resume()
		if !ok {
			return nil, w.err
		}
		return m, nil
	case <-t.C:
	case <-ctx.Done():
	}
	d.mu.Lock()
	if d.waiters[key] == w {
		delete(d.waiters, key)
	}
	d.mu.Unlock()
	d.resume()
	select {
	case m, ok := <-w.ch: // it came, or the wait was ended, while the timer fired
		if !ok {
			return nil, w.err
		}
		return m, nil
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, ErrWaitTimeout
}
