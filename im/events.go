package im

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// ConnectionState is the state of the Frontier socket.
type ConnectionState int

// Connection states.
const (
	ConnectionStateDisconnected ConnectionState = iota
	ConnectionStateConnecting
	ConnectionStateConnected
	ConnectionStateReconnecting
	ConnectionStateClosed
)

func (s ConnectionState) String() string {
	switch s {
	case ConnectionStateDisconnected:
		return "disconnected"
	case ConnectionStateConnecting:
		return "connecting"
	case ConnectionStateConnected:
		return "connected"
	case ConnectionStateReconnecting:
		return "reconnecting"
	case ConnectionStateClosed:
		return "closed"
	}
	return "ConnectionState(" + strconv.Itoa(int(s)) + ")"
}

// MessageEvent reports a message received or changed.
type MessageEvent struct {
	// Message is the message as it is now.
	Message *Message
	// Previous is the message as the client knew it before a change; nil
	// for a new message or when the client had not kept it.
	Previous *Message
	// Cursor is the sync position to resume from so that this message is
	// delivered again (Options.Cursor): the position before the page that
	// carried it. A caller that records, per conversation, the last index
	// it handled can resume from the cursor of its oldest unhandled
	// message and skip what it already handled. Zero for live chats, which
	// have no inbox.
	Cursor int64
}

// ConversationEvent reports a conversation that appeared, changed or went
// away for this user.
type ConversationEvent struct {
	Conversation *Conversation
	// Previous is the conversation as the client knew it before; nil when
	// it is new.
	Previous *Conversation
}

// ParticipantsEvent reports a change of a conversation's membership.
type ParticipantsEvent struct {
	Conversation *Conversation
	// Added and Removed are the members that joined and left, as far as
	// the client can tell from the first page of participants.
	Added, Removed []UserID
}

// ReadIndexEvent reports that a member's read index moved.
type ReadIndexEvent struct {
	ConversationID   ConversationID
	ConversationType ConversationType
	UserID           UserID
	ReadIndex        int64
	// MessageID is the server id of the message at ReadIndex, if known.
	MessageID MessageID
}

// FriendApplyEvent reports a friend apply received by this user, or the
// answer to one this user sent.
type FriendApplyEvent struct {
	Apply *FriendApply
}

// FriendEvent reports a friend added or removed.
type FriendEvent struct {
	Friend *Friend
}

// InitEvent reports the progress of Init.
type InitEvent struct {
	Result InitResult
	Err    error
}

// Subscription cancels an event subscription (the seed's Subscription).
type Subscription struct {
	cancel func()
}

// Unsubscribe stops the callback; events already being delivered may still
// reach it. It is safe to call more than once.
func (s Subscription) Unsubscribe() {
	if s.cancel != nil {
		s.cancel()
	}
}

// Event delivery. The sync engine runs the callbacks of what it applies
// itself, in batches (after each page and each push, or every eventBatch
// events): a message reaches its callback without a hand-off to another
// goroutine, and a slow callback holds the engine back (backpressure: the
// socket's pushes wait in their own queue, and past it become a pull).
// Events from elsewhere (connection state, Init) go through the
// dispatcher goroutine, which takes at most eventQueue batches. Either
// way callbacks run under one lock, one at a time.
const (
	eventQueue = 256
	eventBatch = 64
)

// dispatcher holds the subscriptions and runs callbacks one at a time:
// the sync engine's on its goroutine, the others on the dispatcher's.
type dispatcher struct {
	queue chan []func()
	// quit is closed by stop, when run has returned (or will not run):
	// emitters stop waiting for room in the queue.
	quit     chan struct{}
	quitOnce sync.Once
	// running is held while callbacks run, so that they run one at a time.
	running sync.Mutex

	mu   sync.Mutex
	next int
	subs map[eventKind]map[int]any
	// snap holds each kind's callbacks as a slice, rebuilt on every
	// (un)subscription, so that emitting shares it instead of copying.
	snap map[eventKind][]any
}

type eventKind int

const (
	kindMessageReceived eventKind = iota
	kindMessageUpdated
	kindMessageRecalled
	kindPropertyChanged
	kindConversationAdded
	kindConversationUpdated
	kindConversationRemoved
	kindParticipantsChanged
	kindReadIndexChanged
	kindFriendApplyReceived
	kindFriendApplyReplied
	kindFriendAdded
	kindFriendRemoved
	kindConnectionState
	kindInitResult
	kindFlightStatus
)

func newDispatcher() *dispatcher {
	return &dispatcher{queue: make(chan []func(), eventQueue), quit: make(chan struct{}),
		subs: make(map[eventKind]map[int]any), snap: make(map[eventKind][]any)}
}

// run delivers the queued events until ctx ends, then those still queued.
// The client's ctx is not the one: Close ends it after the last event of
// the goroutines it waited for is queued (ConnectionStateClosed).
func (d *dispatcher) run(ctx context.Context) {
	defer d.stop()
	for {
		select {
		case calls := <-d.queue:
			d.call(calls)
		case <-ctx.Done():
			for {
				select {
				case calls := <-d.queue:
					d.call(calls)
				default:
					return
				}
			}
		}
	}
}

// stop releases the emitters waiting for room in the queue once run has
// returned or will not run; it is safe to call more than once. Events
// emitted after it may be dropped, never waited for.
func (d *dispatcher) stop() {
	d.quitOnce.Do(func() { close(d.quit) })
}

// call runs callbacks, one batch at a time.
func (d *dispatcher) call(calls []func()) {
	d.running.Lock()
	defer d.running.Unlock()
	for _, f := range calls {
		f()
	}
}

func subscribe[E any](d *dispatcher, kind eventKind, fn func(E)) Subscription {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.next
	d.next++
	if d.subs[kind] == nil {
		d.subs[kind] = make(map[int]any)
	}
	d.subs[kind][id] = fn
	d.snapshot(kind)
	return Subscription{cancel: func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.subs[kind], id)
		d.snapshot(kind)
	}}
}

// subscribed reports whether kind has a subscriber now, for emitters
// whose events cost something to build.
func (d *dispatcher) subscribed(kind eventKind) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.snap[kind]) > 0
}

// snapshot rebuilds snap[kind], in subscription order; the caller holds
// d.mu. The old slice is left as it is for the batches that hold it.
func (d *dispatcher) snapshot(kind eventKind) {
	ids := slices.Sorted(maps.Keys(d.subs[kind]))
	fns := make([]any, len(ids))
	for i, id := range ids {
		fns[i] = d.subs[kind][id]
	}
	d.snap[kind] = fns
}

// eventBuffer collects the events of the goroutine that owns it: emit
// appends, and send runs them (the sync engine's buffer, inline) or queues
// them for the dispatcher goroutine (emitNow's).
type eventBuffer struct {
	d      *dispatcher
	inline bool
	calls  []func()
}

// emit adds the event for every callback of kind subscribed now. It sends
// the buffer when it holds eventBatch events.
func emit[E any](ctx context.Context, b *eventBuffer, kind eventKind, e E) {
	b.d.mu.Lock()
	fns := b.d.snap[kind]
	b.d.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	b.calls = append(b.calls, func() {
		for _, f := range fns {
			f.(func(E))(e)
		}
	})
	if len(b.calls) >= eventBatch {
		b.send(ctx)
	}
}

// send delivers the collected events: it runs their callbacks, or hands
// them to the dispatcher goroutine, blocking while its queue is full. Once
// ctx ends, or the dispatcher stops, the events are dropped: the client is
// closing.
func (b *eventBuffer) send(ctx context.Context) {
	calls := b.calls
	b.calls = nil
	if len(calls) == 0 || ctx.Err() != nil {
		return
	}
	if b.inline {
		b.d.call(calls)
		return
	}
	select {
	case b.d.queue <- calls:
	case <-ctx.Done():
	case <-b.d.quit:
	}
}

// emitNow delivers one event through the dispatcher goroutine, for the
// emitters outside the sync engine. It waits for room in the queue only
// while the dispatcher runs: the client's context does not bound it, so
// that Closed, emitted after the context ends, is still delivered.
func emitNow[E any](d *dispatcher, kind eventKind, e E) {
	b := eventBuffer{d: d}
	emit(context.Background(), &b, kind, e)
	b.send(context.Background())
}

func (d *dispatcher) emitInit(r InitResult, err error) {
	emitNow(d, kindInitResult, InitEvent{Result: r, Err: err})
}

func (d *dispatcher) emitConnection(s ConnectionState) {
	emitNow(d, kindConnectionState, s)
}

// OnMessageReceived subscribes to new messages, delivered once each, in
// order within their conversation.
func (c *Client) OnMessageReceived(fn func(MessageEvent)) Subscription {
	return subscribe(c.events, kindMessageReceived, fn)
}

// OnMessageUpdated subscribes to changes of known messages (recall,
// properties, ext), including those OnMessageRecalled and
// OnPropertyChanged report.
func (c *Client) OnMessageUpdated(fn func(MessageEvent)) Subscription {
	return subscribe(c.events, kindMessageUpdated, fn)
}

// OnMessageRecalled subscribes to recalls.
func (c *Client) OnMessageRecalled(fn func(MessageEvent)) Subscription {
	return subscribe(c.events, kindMessageRecalled, fn)
}

// OnPropertyChanged subscribes to changes of message properties
// (reactions and the like).
func (c *Client) OnPropertyChanged(fn func(MessageEvent)) Subscription {
	return subscribe(c.events, kindPropertyChanged, fn)
}

// OnConversationAdded subscribes to conversations that appear for this
// user (created with them, or they were added).
func (c *Client) OnConversationAdded(fn func(ConversationEvent)) Subscription {
	return subscribe(c.events, kindConversationAdded, fn)
}

// OnConversationUpdated subscribes to changes of core or setting info,
// blocks, and dissolution.
func (c *Client) OnConversationUpdated(fn func(ConversationEvent)) Subscription {
	return subscribe(c.events, kindConversationUpdated, fn)
}

// OnConversationRemoved subscribes to conversations this user left or was
// removed from.
func (c *Client) OnConversationRemoved(fn func(ConversationEvent)) Subscription {
	return subscribe(c.events, kindConversationRemoved, fn)
}

// OnParticipantsChanged subscribes to membership changes.
func (c *Client) OnParticipantsChanged(fn func(ParticipantsEvent)) Subscription {
	return subscribe(c.events, kindParticipantsChanged, fn)
}

// OnReadIndexChanged subscribes to read indexes moving, this user's (on
// other devices) and other members' (read receipts).
func (c *Client) OnReadIndexChanged(fn func(ReadIndexEvent)) Subscription {
	return subscribe(c.events, kindReadIndexChanged, fn)
}

// OnFriendApplyReceived subscribes to friend applies sent to this user.
func (c *Client) OnFriendApplyReceived(fn func(FriendApplyEvent)) Subscription {
	return subscribe(c.events, kindFriendApplyReceived, fn)
}

// OnFriendApplyReplied subscribes to answers to this user's applies.
func (c *Client) OnFriendApplyReplied(fn func(FriendApplyEvent)) Subscription {
	return subscribe(c.events, kindFriendApplyReplied, fn)
}

// OnFriendAdded subscribes to new friends.
func (c *Client) OnFriendAdded(fn func(FriendEvent)) Subscription {
	return subscribe(c.events, kindFriendAdded, fn)
}

// OnFriendRemoved subscribes to friends removed.
func (c *Client) OnFriendRemoved(fn func(FriendEvent)) Subscription {
	return subscribe(c.events, kindFriendRemoved, fn)
}

// OnFlightStatus subscribes to the flight of this client's sends
// (SendMessage): each one is reported Created, then Inflight once its
// request is on its way, then Succeeded, SelfVisible, Failed or Rejected,
// as the seed's FlightStatus defines them (a send refused before it is
// sent goes from Created to Failed). Event.Message is a copy of the
// message at that status; the sent message also reaches OnMessageReceived,
// from the server, in its own order. Callbacks run on the dispatcher
// goroutine, as connection states do; a slow one holds the sends back.
func (c *Client) OnFlightStatus(fn func(MessageEvent)) Subscription {
	return subscribe(c.events, kindFlightStatus, fn)
}

// OnConnectionState subscribes to the socket's state changes. The last
// one is ConnectionStateClosed, delivered once, when the client closes.
func (c *Client) OnConnectionState(fn func(ConnectionState)) Subscription {
	return subscribe(c.events, kindConnectionState, fn)
}

// OnInitResult subscribes to Init's progress (the seed's InitResult).
func (c *Client) OnInitResult(fn func(InitEvent)) Subscription {
	return subscribe(c.events, kindInitResult, fn)
}
