package im

import (
	"context"
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

// eventQueue bounds the events waiting for their callbacks; when it is
// full the sync engine waits (backpressure) rather than dropping.
const eventQueue = 1024

// dispatcher runs event callbacks one at a time on its own goroutine, in
// the order the events were emitted.
type dispatcher struct {
	queue chan func()
	mu    sync.Mutex
	next  int
	subs  map[eventKind]map[int]any
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
)

func newDispatcher() *dispatcher {
	return &dispatcher{queue: make(chan func(), eventQueue), subs: make(map[eventKind]map[int]any)}
}

func (d *dispatcher) run(ctx context.Context) {
	for {
		select {
		case f := <-d.queue:
			f()
		case <-ctx.Done():
			return
		}
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
	return Subscription{cancel: func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.subs[kind], id)
	}}
}

// emit queues the event for every callback of kind subscribed now. It
// blocks while the queue is full, unless ctx ends.
func emit[E any](ctx context.Context, d *dispatcher, kind eventKind, e E) {
	d.mu.Lock()
	var fns []func(E)
	for _, f := range d.subs[kind] {
		fns = append(fns, f.(func(E)))
	}
	d.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	call := func() {
		for _, f := range fns {
			f(e)
		}
	}
	select {
	case d.queue <- call:
	case <-ctx.Done():
	}
}

func (d *dispatcher) emitInit(r InitResult, err error) {
	emit(context.Background(), d, kindInitResult, InitEvent{Result: r, Err: err})
}

func (d *dispatcher) emitConnection(s ConnectionState) {
	emit(context.Background(), d, kindConnectionState, s)
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

// OnConnectionState subscribes to the socket's state changes.
func (c *Client) OnConnectionState(fn func(ConnectionState)) Subscription {
	return subscribe(c.events, kindConnectionState, fn)
}

// OnInitResult subscribes to Init's progress (the seed's InitResult).
func (c *Client) OnInitResult(fn func(InitEvent)) Subscription {
	return subscribe(c.events, kindInitResult, fn)
}
