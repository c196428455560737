package middleware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// IgnoreSelf returns middleware that drops the bot's own new messages
// (bot.EventMessage whose sender is the bot's user): it marks the event
// skipped with reason [SkipSelf] ("self", bot.Context.Skip) and returns
// nil without calling the handler. A bot does this by itself unless
// bot.Options.HandleOwnMessages is set; with it, IgnoreSelf keeps the bot's
// own messages from the part of the chain after it (a tap or an audit log
// before it still sees them).
//
// Only new messages are dropped. The other events about a message
// (recalled, property changed) name the message's author as their
// sender, not who acted, so a user's reaction to the bot's message has
// the bot as sender; those pass, as do all other kinds. A Context from
// bot.NewContext has no bot, hence no self, and passes.
//
// Place IgnoreSelf after Recover and Logger and before everything else,
// so that no other middleware spends work (a dedup lookup, a rate token,
// a read mark) on the bot's own messages. The middleware is safe for
// concurrent use.
func IgnoreSelf() bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error {
			if isSelf(c) {
				c.Skip(SkipSelf)
				return nil
			}
			return next.Handle(c)
		})
	}
}

// isSelf reports whether c's event is a new message the bot sent.
func isSelf(c *bot.Context) bool {
	return c.Event.Kind == bot.EventMessage && c.FromSelf()
}

// DefaultRelistAfter is how old the friend list of [IgnoreStrangers]
// must be, by default, for a message from a user not in it to list the
// friends again, when the bot's client has no socket.
const DefaultRelistAfter = 10 * time.Second

// StrangersOptions configures [IgnoreStrangers]. The zero value means
// the defaults; IgnoreStrangers copies it.
type StrangersOptions struct {
	// RelistAfter is how old the friend list of a client without a socket
	// (im.WebSocketLevelDisable) must be for a message from a user not in
	// it to list the friends again. Default DefaultRelistAfter; negative:
	// never. A client with a socket hears every friend change, and never
	// lists again for age.
	RelistAfter time.Duration
	// Now is the clock that times RelistAfter. Default time.Now.
	Now func() time.Time
}

// IgnoreStrangers returns middleware that drops new messages
// (bot.EventMessage) in single chats from users who are not friends of
// the bot: it marks the event skipped with reason [SkipStranger]
// ("stranger", bot.Context.Skip) and returns nil without calling the
// handler. Messages in groups and live chats, the bot's own messages and
// every other kind of event pass.
//
// # The friend list
//
// It lists the bot's friends (im.Client.AllFriends) at the first
// single-chat message, and keeps the list up to date from the bot's
// client, to whose events it subscribes then (for as long as the client
// lives): a friend added or removed (OnFriendAdded, OnFriendRemoved)
// changes the list at once. The server tells every socket of both users
// of a friendship made or ended, the bot's own included when the bot
// acted (accepting an apply, applying back, deleting a friend), so the
// list follows an auto-accepting plugin too. The client runs those
// callbacks in order with its message callbacks, before the bot queues
// the messages that follow, so that a message that comes after a friend
// event is judged by the list that event made, although the bot handles
// friend events and conversations on separate queues.
//
// After a reconnect of the bot's socket, during which the server's
// friend pushes are lost (friend events do not enter the inbox the
// client pulls), the next single-chat message lists the friends again.
//
// A client without a socket (im.WebSocketLevelDisable) gets no friend
// event at all; for it, a message from a user not in the list lists the
// friends again when the list is at least RelistAfter old, which bounds
// both how long a new friend waits and the listing strangers can cause.
//
// # Limits
//
//   - Listing costs a request per page of friends; while it runs, the
//     single-chat messages of every conversation wait for it (or for
//     their context to end). When it fails, the event's handler does not
//     run and the error is returned; the next message lists again.
//   - Without a socket, a new friend is a stranger, and a former friend
//     still a friend, until the list is listed again.
//   - A single-chat message in a Context without a bot (bot.NewContext)
//     cannot be judged: the middleware returns an error for it.
//
// Place IgnoreStrangers in the bot's chain (Bot.Use) just after
// [IgnoreSelf]; a router group would do too, since the middleware learns
// of friends from the client, not from events passing through. One
// IgnoreStrangers keeps a friend list per bot client, so it may serve
// several bots. The middleware is safe for concurrent use.
func IgnoreStrangers(opts StrangersOptions) bot.Middleware {
	if opts.RelistAfter == 0 {
		opts.RelistAfter = DefaultRelistAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &strangers{opts: opts, lists: make(map[*im.Client]*friendList)}
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(c *bot.Context) error { return s.handle(c, next) })
	}
}

var errStrangersNoBot = errors.New("middleware: IgnoreStrangers: the Context has no bot (bot.NewContext) to know friends by")

// strangers is one IgnoreStrangers: a friend list per client.
type strangers struct {
	opts StrangersOptions

	mu    sync.Mutex
	lists map[*im.Client]*friendList
}

func (s *strangers) handle(c *bot.Context, next bot.Handler) error {
	ev := &c.Event
	if ev.Kind != bot.EventMessage || ev.Message == nil || eventConvType(ev) != im.ConversationTypeOneToOne {
		return next.Handle(c)
	}
	b := c.Bot()
	if b == nil {
		return errStrangersNoBot
	}
	sender := ev.Message.Sender
	if sender == b.UserID() {
		return next.Handle(c)
	}
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ok, err := s.list(b.Client()).isFriend(ctx, b.Client(), sender, s.opts.Now())
	if err != nil {
		return fmt.Errorf("middleware: IgnoreStrangers: listing the bot's friends: %w", err)
	}
	if !ok {
		c.Logger().Debug("middleware: message from a stranger dropped", "sender", int64(sender))
		c.Skip(SkipStranger)
		return nil
	}
	return next.Handle(c)
}

// eventConvType returns the type of ev's conversation.
func eventConvType(ev *bot.Event) im.ConversationType {
	if ev.ConversationRef.Type != 0 {
		return ev.ConversationRef.Type
	}
	return ev.Message.ConversationType
}

// list returns the friend list of client, subscribing it to the client's
// friend and connection events when it is new.
func (s *strangers) list(client *im.Client) *friendList {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fl := s.lists[client]; fl != nil {
		return fl
	}
	fl := &friendList{sem: make(chan struct{}, 1), relistAfter: -1}
	if client.Options().WebSocketLevel == im.WebSocketLevelDisable {
		fl.relistAfter = s.opts.RelistAfter
	}
	// The client calls these on its event goroutine, one at a time; they
	// only take fl.mu briefly.
	client.OnFriendAdded(func(e im.FriendEvent) {
		if e.Friend != nil {
			fl.change(e.Friend.UserID, true)
		}
	})
	client.OnFriendRemoved(func(e im.FriendEvent) {
		if e.Friend != nil {
			fl.change(e.Friend.UserID, false)
		}
	})
	client.OnConnectionState(func(st im.ConnectionState) {
		if st == im.ConnectionStateConnected {
			fl.forget()
		}
	})
	s.lists[client] = fl
	return fl
}

// friendList is the friends of one client: listed, changed by the
// client's friend events, and listed again when the socket reconnects
// or, without a socket, when it is relistAfter old.
type friendList struct {
	sem         chan struct{} // holds a token while a listing runs: one at a time, and waiters can give up
	relistAfter time.Duration // negative: never list again for age

	mu       sync.Mutex
	ids      map[im.UserID]struct{} // nil: to be listed
	listedAt time.Time              // when the listing that made ids began
	gen      int                    // counts forget calls, so that a listing straddling one is not kept
	loading  bool                   // a listing runs: record changes for it
	changes  []friendChange         // changes seen while loading, in order
}

type friendChange struct {
	user  im.UserID
	added bool
}

// change applies a friend event.
func (fl *friendList) change(u im.UserID, added bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.loading {
		fl.changes = append(fl.changes, friendChange{u, added})
	}
	if fl.ids == nil {
		return
	}
	if added {
		fl.ids[u] = struct{}{}
	} else {
		delete(fl.ids, u)
	}
}

// forget drops the list (the socket reconnected: pushes may have been
// lost), so that the next check lists the friends again.
func (fl *friendList) forget() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.ids = nil
	fl.gen++
}

// isFriend reports whether u is a friend at now, listing the friends with
// client first when the list is unknown, or when u is not in it and the
// list is too old.
func (fl *friendList) isFriend(ctx context.Context, client *im.Client, u im.UserID, now time.Time) (bool, error) {
	if ok, known := fl.judge(u, now); known {
		return ok, nil
	}
	select {
	case fl.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-fl.sem }()
	if ok, known := fl.judge(u, now); known { // listed while this one waited
		return ok, nil
	}
	fl.mu.Lock()
	gen := fl.gen
	fl.loading, fl.changes = true, nil
	fl.mu.Unlock()

	ids := make(map[im.UserID]struct{})
	var err error
	for f, ferr := range client.AllFriends(ctx, 0) {
		if ferr != nil {
			err = ferr
			break
		}
		ids[f.UserID] = struct{}{}
	}

	fl.mu.Lock()
	defer fl.mu.Unlock()
	changes := fl.changes
	fl.loading, fl.changes = false, nil
	if err != nil {
		return false, err
	}
	// A change during the listing may or may not be in it; replaying the
	// changes in order gives the state after the last of them either way.
	for _, ch := range changes {
		if ch.added {
			ids[ch.user] = struct{}{}
		} else {
			delete(ids, ch.user)
		}
	}
	if fl.gen == gen {
		fl.ids, fl.listedAt = ids, now
	}
	_, ok := ids[u]
	return ok, nil
}

// judge reports whether u is a friend, and false for known when the
// friends are to be listed first: the list is unknown, or u is not in it
// and the list is relistAfter old (relistAfter not negative).
func (fl *friendList) judge(u im.UserID, now time.Time) (ok, known bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.ids == nil {
		return false, false
	}
	if _, ok := fl.ids[u]; ok {
		return true, true
	}
	if fl.relistAfter >= 0 && now.Sub(fl.listedAt) >= fl.relistAfter {
		return false, false
	}
	return false, true
}
