package bot

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/imbot-go/imbot/im"
)

// ownership routes a replica's events by the partitions it holds
// (Options.Cluster): it drops those of the partitions held elsewhere,
// catches a partition's conversations up when it takes one, and lets a
// partition go once its running handlers are done.
type ownership struct {
	b       *Bot
	cluster Cluster

	// deliver serializes routing and enqueuing, so that the messages a
	// catch-up pulled go to the dispatcher before the live events of
	// their partition that came meanwhile, and none after the partition
	// was let go. The workers never take it: enqueuing may wait for them.
	deliver sync.Mutex

	mu       sync.Mutex
	parts    map[int]*partition
	enqueued map[im.ConversationID]int64 // the highest index enqueued, per conversation of a held partition
	pulls    []*partition                // taken, waiting for their catch-up
	pullWake chan struct{}               // cap 1: pulls has partitions
	closing  chan struct{}               // closed when the bot stops: a partition let go waits for nothing
	// The partitions let go since the last line saying so: a rebalance
	// lets many go at once, and one line says it for them all.
	goneMoved, goneLost []int
	goneLine            *time.Timer // pending: logs the line

	wg sync.WaitGroup // the catch-up loop, the cluster's Run and the partitions' leaving
}

type partState int

const (
	partCatchingUp partState = iota // taken; its live events wait in buffer for the catch-up
	partHeld                        // handled as its events come
	partLeaving                     // its lease ended: its events are dropped
)

// partition is a partition this replica took: one Claim.
type partition struct {
	claim    Claim
	state    partState
	buffer   []Event       // live events that came while catching up
	inFlight int           // its events in the dispatcher: queued, or running
	drained  chan struct{} // while leaving with events in flight: closed when the last is done
}

// pullPage is the page size of a catch-up's pulls.
const pullPage = 100

func newOwnership(b *Bot, c Cluster) *ownership {
	return &ownership{b: b, cluster: c, parts: make(map[int]*partition), enqueued: make(map[im.ConversationID]int64),
		pullWake: make(chan struct{}, 1), closing: make(chan struct{})}
}

// eventKey returns the key of ev's partition: its conversation, or its
// user's FriendKey for friend events.
func eventKey(ev *Event) string {
	if ev.ConversationRef.ID != "" {
		return string(ev.ConversationRef.ID)
	}
	return FriendKey(ev.Sender())
}

// start runs the cluster and the catch-up loop until ctx ends; the
// cluster's error, if it cannot run at all, goes to failed.
func (o *ownership) start(ctx context.Context, failed chan<- error) {
	o.wg.Go(func() { o.pullLoop(ctx) })
	o.wg.Go(func() {
		if err := o.cluster.Run(ctx, o.claim); err != nil {
			failed <- err // buffered
		}
	})
}

// closeDown tells the partitions' leaving that the bot stops: they wait
// for nothing and go quietly, stop saying it once for all.
func (o *ownership) closeDown() {
	close(o.closing)
}

// stop waits for what start started, once closeDown was called and the
// ctx given to start has ended, and for the partitions' leaving.
func (o *ownership) stop() {
	o.mu.Lock()
	held := o.held()
	pending := o.goneLine != nil && o.goneLine.Stop()
	o.mu.Unlock()
	if pending {
		o.logGone()
	}
	o.wg.Wait()
	o.b.log.Info("bot: partitions given up", "partitions", held)
}

// held returns the partitions held, or caught up to be held, in order.
// The caller holds o.mu.
func (o *ownership) held() []int {
	var ids []int
	for id, p := range o.parts {
		if p.state != partLeaving {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// claim takes the partition of c, from the cluster's Run: it waits for
// its catch-up, and is let go when c's lease ends.
func (o *ownership) claim(c Claim) {
	part := &partition{claim: c}
	o.mu.Lock()
	o.parts[c.Partition] = part
	o.pulls = append(o.pulls, part)
	o.mu.Unlock()
	select {
	case o.pullWake <- struct{}{}:
	default:
	}
	o.wg.Add(1)
	context.AfterFunc(c.Lease, func() {
		defer o.wg.Done()
		o.leave(part)
	})
}

// route hands ev to the dispatcher when this replica holds its
// partition, keeps it for later while the partition catches up, and
// drops it otherwise.
func (o *ownership) route(ev Event) {
	id := o.cluster.Partition(eventKey(&ev))
	o.deliver.Lock()
	defer o.deliver.Unlock()
	o.mu.Lock()
	part := o.parts[id]
	switch {
	case part == nil || part.state == partLeaving:
		o.mu.Unlock()
		o.b.metrics.receivedEvent(ev.Kind)
		o.b.metrics.skip(skipNotOwner)
		return
	case part.state == partCatchingUp:
		part.buffer = append(part.buffer, ev)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.enqueue(part, ev)
}

// enqueue hands ev, of the held partition part, to the dispatcher,
// unless it is a message enqueued before (pulled, and then delivered
// live). The caller holds o.deliver.
func (o *ownership) enqueue(part *partition, ev Event) {
	o.mu.Lock()
	if m := ev.Message; ev.Kind == EventMessage && tracked(&ev) && m.Index > 0 {
		if m.Index <= o.enqueued[m.ConversationID] {
			o.mu.Unlock()
			o.b.metrics.receivedEvent(ev.Kind)
			o.b.metrics.skip(skipHandledAlready)
			return
		}
		o.enqueued[m.ConversationID] = m.Index
	}
	part.inFlight++
	o.mu.Unlock()
	ev.part = part
	if !o.b.admit(ev) {
		o.done(part)
	}
}

// done counts an event of part finished, or not queued after all.
func (o *ownership) done(part *partition) {
	o.mu.Lock()
	defer o.mu.Unlock()
	part.inFlight--
	if part.inFlight == 0 && part.drained != nil {
		close(part.drained)
		part.drained = nil
	}
}

// leave lets part go once its lease ended: its queued events are
// dropped, its handlers in WaitNext told, and when the partition moves
// in good order its running handlers are waited for (up to
// DrainTimeout), so that the next owner starts after them; then it is
// released.
func (o *ownership) leave(part *partition) {
	cause := context.Cause(part.claim.Lease)
	moved := errors.Is(cause, ErrPartitionMoved)
	id := part.claim.Partition
	mine := func(conv im.ConversationID) bool { return o.cluster.Partition(string(conv)) == id }

	o.deliver.Lock()
	o.mu.Lock()
	part.state = partLeaving
	part.buffer = nil
	o.mu.Unlock()
	dropped := o.b.disp.dropWhere(func(ev *Event) bool { return ev.part == part })
	for i := range dropped {
		o.b.track.abandon(&dropped[i])
	}
	o.b.disp.endWaits(mine, ErrPartitionMoved)
	o.mu.Lock()
	part.inFlight -= len(dropped)
	var drained chan struct{} // a lost lease waits for nothing
	if moved && part.inFlight > 0 {
		drained = make(chan struct{})
		part.drained = drained
	}
	running := part.inFlight
	for conv := range o.enqueued {
		if mine(conv) {
			delete(o.enqueued, conv)
		}
	}
	o.mu.Unlock()
	o.deliver.Unlock()

	if drained != nil {
		t := time.NewTimer(o.b.opts.DrainTimeout)
		select {
		case <-drained:
		case <-t.C:
			o.b.log.Warn("bot: partition handlers still running at the drain deadline; letting the partition go", "partition", id, "running", running)
		case <-o.closing:
		}
		t.Stop()
	}
	part.claim.Release()
	o.mu.Lock()
	if o.parts[id] == part {
		delete(o.parts, id)
	}
	held := o.held()
	select {
	case <-o.closing: // stop says it once for all
	default:
		if moved {
			o.goneMoved = append(o.goneMoved, id)
		} else {
			o.goneLost = append(o.goneLost, id)
		}
		if o.goneLine == nil {
			o.goneLine = time.AfterFunc(goneLineDelay, o.logGone)
		}
	}
	o.mu.Unlock()
	o.b.log.Debug("bot: partition let go", "partition", id, "moved", moved, "cause", cause, "dropped", len(dropped), "held", held)
}

// goneLineDelay is how long the line saying which partitions were let
// go waits for more of them.
const goneLineDelay = 20 * time.Millisecond

// logGone logs the partitions let go since it last did.
func (o *ownership) logGone() {
	o.mu.Lock()
	moved, lost := o.goneMoved, o.goneLost
	o.goneMoved, o.goneLost, o.goneLine = nil, nil, nil
	held := o.held()
	o.mu.Unlock()
	slices.Sort(moved)
	slices.Sort(lost)
	o.b.log.Info("bot: partitions let go", "moved", moved, "lost", lost, "held", held)
}

// pullLoop catches up the partitions taken, those taken together in one
// go, until ctx ends.
func (o *ownership) pullLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.pullWake:
		}
		o.mu.Lock()
		batch := o.pulls
		o.pulls = nil
		o.mu.Unlock()
		for attempt := 1; ; attempt++ {
			batch = slices.DeleteFunc(batch, func(p *partition) bool { return p.claim.Lease.Err() != nil })
			if len(batch) == 0 {
				break
			}
			err := o.catchUp(ctx, batch)
			if err == nil || ctx.Err() != nil {
				break
			}
			wait := o.b.opts.Retry.backoff(attempt)
			o.b.log.Warn("bot: catching up taken partitions failed; retrying", "partitions", ids(batch), "in", wait, "err", err)
			if !sleep(ctx, wait) {
				return
			}
		}
	}
}

func ids(parts []*partition) []int {
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i] = p.claim.Partition
	}
	slices.Sort(out)
	return out
}

// catchUp brings the conversations of the partitions of batch up to
// date: it learns their indexes from the progress store (what the
// previous owners committed), pulls each conversation's messages after
// its index from the server, and enqueues them before the partitions'
// live events that came meanwhile; the partitions are held from then on.
func (o *ownership) catchUp(ctx context.Context, batch []*partition) error {
	start := time.Now()
	want := make(map[int]*partition, len(batch))
	for _, p := range batch {
		want[p.claim.Partition] = p
	}
	partOf := func(conv im.ConversationID) *partition { return want[o.cluster.Partition(string(conv))] }
	progress, err := o.b.opts.Progress.LoadProgress(ctx)
	if err != nil {
		return err
	}
	o.b.track.learn(progress.Handled, func(conv im.ConversationID) bool { return partOf(conv) != nil })
	type pulled struct {
		part *partition
		conv *im.Conversation
		msgs []*im.Message
	}
	var all []pulled
	n := 0
	for conv, err := range o.b.client.AllConversations(ctx, im.ListConversationsOptions{Limit: 200}) {
		if err != nil {
			return err
		}
		part := partOf(conv.ID)
		if part == nil || part.claim.Lease.Err() != nil {
			continue
		}
		msgs, err := o.pull(ctx, conv.Ref(), o.b.track.handledIndex(conv.ID))
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			all = append(all, pulled{part, conv, msgs})
			n += len(msgs)
		}
	}
	o.deliver.Lock()
	defer o.deliver.Unlock()
	for _, p := range all {
		o.mu.Lock()
		catching := p.part.state == partCatchingUp
		o.mu.Unlock()
		if !catching {
			continue
		}
		for _, m := range p.msgs {
			o.enqueue(p.part, Event{Kind: EventMessage, Message: m, ConversationRef: p.conv.Ref(), Conversation: p.conv, pulled: true})
		}
	}
	var buffered []Event
	o.mu.Lock()
	for _, p := range batch {
		if p.state != partCatchingUp {
			continue
		}
		p.state = partHeld
		for _, ev := range p.buffer {
			ev.part = p
			buffered = append(buffered, ev)
		}
		p.buffer = nil
	}
	held := o.held()
	o.mu.Unlock()
	for _, ev := range buffered {
		o.enqueue(ev.part, ev)
	}
	o.b.log.Info("bot: partitions taken", "partitions", ids(batch), "caught_up", n,
		"in", time.Since(start).Round(time.Millisecond), "held", held)
	return nil
}

// pull returns the messages of conv after index after, oldest first.
func (o *ownership) pull(ctx context.Context, conv im.ConversationRef, after int64) ([]*im.Message, error) {
	var msgs []*im.Message
	for anchor := after; ; {
		page, err := o.b.client.LoadMessages(ctx, conv, im.MessageDirectionNewer, anchor, pullPage)
		if err != nil {
			return nil, err
		}
		for _, m := range page.Messages {
			if m.Index > after {
				msgs = append(msgs, m)
			}
		}
		if !page.HasMore || page.Next <= anchor {
			return msgs, nil
		}
		anchor = page.Next
	}
}

// commitContext returns the context to commit ev's progress with: its
// partition's lease, which the store fences, under a cluster.
func commitContext(ctx context.Context, ev *Event) context.Context {
	if ev.part != nil {
		return context.WithoutCancel(ev.part.claim.Lease)
	}
	return context.WithoutCancel(ctx)
}

// Owns reports whether this replica handles the events of key, a
// conversation id or a FriendKey: always without a cluster; with one,
// while it holds key's partition and has caught it up. A plugin that
// lists work of its own (the friends plugin's waiting applies) does the
// part its replica owns.
func (b *Bot) Owns(key string) bool {
	if b.own == nil {
		return true
	}
	o := b.own
	o.mu.Lock()
	defer o.mu.Unlock()
	part := o.parts[o.cluster.Partition(key)]
	return part != nil && part.state == partHeld
}

// Partitions returns the partitions this replica holds (Options.Cluster),
// in order: those it handles, or catches up to handle. It is nil without
// a cluster. The bot logs each change ("bot: partitions taken", "bot:
// partitions let go").
func (b *Bot) Partitions() []int {
	if b.own == nil {
		return nil
	}
	b.own.mu.Lock()
	defer b.own.mu.Unlock()
	return b.own.held()
}
