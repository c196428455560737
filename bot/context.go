package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imbot-go/imbot/im"
)

// Context is one event on its way through middleware and a handler: the
// event, the bot, route parameters, a context.Context and a logger, and
// the few actions a handler needs. IM operations beyond those are on
// Client().
//
// A Context belongs to the goroutine handling its event; it must not be
// kept after the handler returns: the bot reuses it for a later event
// (see Release). Copy what outlives the handler (the Event, a parameter).
type Context struct {
	// Event is what happened.
	Event Event

	ctx    context.Context
	bot    *Bot
	shared *sharedState // the same in every copy WithContext makes
	box    *contextBox  // where c came from, for Release; nil once released
	log    *slog.Logger
	taken  *takenMessages // messages WaitNext gave this event's handler
}

// discardLogger is the logger of Contexts without a bot.
var discardLogger = slog.New(slog.DiscardHandler)

// sharedState is what a handler's run says about itself that the code
// outside the copies of its Context (WithContext) reads once it returns:
// which route ran, and whether a middleware skipped the event. Only the
// goroutine handling the event touches it.
type sharedState struct {
	route   string
	skipped string       // Skip's reason
	sends   atomic.Int64 // sends of this attempt, numbering their client ids
	params  []param      // in the order set; inline's array until it outgrows it
	inline  [4]param
}

// param is one route parameter. A handful per event are the rule, so a
// scan of a small array beats a map, and costs no allocation.
type param struct{ name, value string }

// find returns the index of the parameter name, or -1.
func (s *sharedState) find(name string) int {
	for i := range s.params {
		if s.params[i].name == name {
			return i
		}
	}
	return -1
}

// contextBox is a Context with its shared state: one allocation, and
// the unit contextPool recycles.
type contextBox struct {
	c Context
	s sharedState
}

// contextPool recycles the Contexts the bot makes for each event, and
// those of NewContext given back with Release.
var contextPool = sync.Pool{New: func() any { return new(contextBox) }}

// newContext returns a Context with its shared state, from the pool.
func newContext(ctx context.Context, ev Event, b *Bot) *Context {
	box := contextPool.Get().(*contextBox)
	box.c = Context{Event: ev, ctx: ctx, bot: b, shared: &box.s, box: box}
	box.s.params = box.s.inline[:0]
	return &box.c
}

// Release gives c back for reuse by a later Context: the bot does it for
// the Contexts it makes once their event is done, and a program that
// dispatches with NewContext may do it once the handler has returned, so
// that dispatching allocates nothing. Using c, or a copy of it
// (WithContext), after Release is a bug that the race detector reports
// when another goroutine does it; Release on a copy, or twice, does
// nothing.
func (c *Context) Release() {
	box := c.box
	if box == nil || &box.c != c {
		return
	}
	c.box = nil
	box.s.route, box.s.skipped = "", ""
	box.s.sends.Store(0)
	clear(box.s.inline[:])
	box.s.params = nil
	box.c = Context{}
	contextPool.Put(box)
}

// takenMessages are the messages a handler took with WaitNext: they are
// finished when its event is, and committed with it.
type takenMessages struct {
	mu   sync.Mutex
	msgs []*im.Message
}

func (t *takenMessages) add(m *im.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs = append(t.msgs, m)
}

func (t *takenMessages) list() []*im.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.msgs
}

// Context returns the event's context: cancelled when the bot shuts down
// (after the drain deadline) or when a middleware's deadline passes.
func (c *Context) Context() context.Context { return c.ctx }

// WithContext returns a shallow copy of c carrying ctx, for middleware
// that sets deadlines or values. The copy shares c's route (SetRoute),
// parameters (SetParam) and skip mark (Skip): a router inside names its
// route on the copy, and a Logger, the bot's metrics and its span,
// outside, read it from c.
func (c *Context) WithContext(ctx context.Context) *Context {
	out := *c
	out.ctx = ctx
	return &out
}

// Bot returns the bot handling the event.
func (c *Context) Bot() *Bot { return c.bot }

// Client returns the bot's IM client, for every operation the Context
// does not wrap; nil for a Context made by NewContext.
func (c *Context) Client() *im.Client {
	if c.bot == nil {
		return nil
	}
	return c.bot.client
}

// Logger returns the bot's logger carrying the event's kind,
// conversation and message. It is made on first use: most events are
// handled without logging. A Context without a bot (NewContext) logs
// nowhere.
func (c *Context) Logger() *slog.Logger {
	if c.bot == nil {
		return discardLogger
	}
	if c.log == nil {
		ev := &c.Event
		attrs := make([]any, 0, 6)
		attrs = append(attrs, "event", ev.Kind.String())
		if ev.ConversationRef.ID != "" {
			attrs = append(attrs, "conversation", string(ev.ConversationRef.ID))
		}
		if ev.Message != nil {
			attrs = append(attrs, "message", int64(ev.Message.ServerID))
		}
		c.log = c.bot.log.With(attrs...)
	}
	return c.log
}

// FromUser reports whether the event is a new message from someone other
// than the bot. A bot with Options.HandleOwnMessages receives its own
// messages like every member's, and most handlers answer only these
// (middleware.IgnoreSelf drops the rest).
func (c *Context) FromUser() bool {
	return c.Event.Kind == EventMessage && c.Event.Message != nil && !c.FromSelf()
}

// FromSelf reports whether the event's message, of any kind of event, was
// sent by the bot. A Context without a bot (NewContext) has no self, and
// reports false.
func (c *Context) FromSelf() bool {
	return c.bot != nil && c.Event.Message != nil && c.Event.Message.Sender == c.bot.UserID()
}

// Param returns a route parameter (a command argument, a regex capture),
// or "".
func (c *Context) Param(name string) string {
	v, _ := c.LookupParam(name)
	return v
}

// LookupParam returns a route parameter and whether it is set, for a
// parameter that may be set to "".
func (c *Context) LookupParam(name string) (string, bool) {
	if i := c.shared.find(name); i >= 0 {
		return c.shared.params[i].value, true
	}
	return "", false
}

// DeleteParam removes a route parameter; routers call it to take back
// the parameters of a route that passed the event on.
func (c *Context) DeleteParam(name string) {
	if i := c.shared.find(name); i >= 0 {
		c.shared.params = slices.Delete(c.shared.params, i, i+1)
	}
}

// SetParam sets a route parameter; routers call it before the handler.
func (c *Context) SetParam(name, value string) {
	if i := c.shared.find(name); i >= 0 {
		c.shared.params[i].value = value
		return
	}
	c.shared.params = append(c.shared.params, param{name, value})
}

// SetRoute names the route that handles the event; routers call it
// before the route's handler, so that middleware outside the router (a
// logger), the bot's metrics and its trace can tell which route ran.
func (c *Context) SetRoute(name string) { c.shared.route = name }

// Route returns the name SetRoute gave the route handling the event, or
// "" when no router named one.
func (c *Context) Route() string { return c.shared.route }

// Skip marks the event as let go without being handled, for reason: a
// middleware that drops an event (a duplicate, a sender over its rate
// limit, a stranger) calls it before returning nil, so that the bot
// counts the event under imbot_bot_events_skipped_total{reason} rather
// than as handled, and its span says so. The reason is a metric label:
// a short constant such as "duplicate", never text that varies with the
// event. The last call wins.
func (c *Context) Skip(reason string) { c.shared.skipped = reason }

// Skipped returns the reason Skip gave, or "" when the event was not
// skipped.
func (c *Context) Skipped() string { return c.shared.skipped }

// Params returns a copy of the route parameters.
func (c *Context) Params() map[string]string {
	out := make(map[string]string, len(c.shared.params))
	for _, p := range c.shared.params {
		out[p.name] = p.value
	}
	return out
}

// Reply sends a text message to the event's conversation.
func (c *Context) Reply(text string) (*im.Message, error) {
	return c.Send(c.Event.ConversationRef, im.OutgoingMessage{Content: im.TextContent(text)})
}

// Quote sends a text message to the event's conversation quoting the
// event's message. Live chats carry no quotes: there it fails with an
// invalid-argument *im.Error and sends nothing.
func (c *Context) Quote(text string) (*im.Message, error) {
	return c.Send(c.Event.ConversationRef, im.OutgoingMessage{Content: im.TextContent(text), ReplyTo: c.Event.Message})
}

// Send sends a message to any conversation through the bot's outbound
// queue, at PriorityReply: a handler's sends go before broadcasts.
//
// A send without a ClientID gets one derived from the event's message
// and the send's place among the handler's sends (first, second, ...):
// when the handler runs again for the same message, after a retry or a
// restart, its sends carry the same ids, and the server answers them
// with the messages already sent instead of sending them twice.
func (c *Context) Send(to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error) {
	if c.bot == nil {
		return nil, errNoBot
	}
	if out.ClientID == "" && c.Event.Message != nil {
		out.ClientID = replyClientID(c.bot.UserID(), &c.Event, c.shared.sends.Add(1))
	}
	return c.bot.out.send(c.ctx, PriorityReply, to, out)
}

// ReplyFile uploads a file and sends it to the event's conversation; see
// SendFile.
func (c *Context) ReplyFile(up im.Upload) (*im.Message, error) {
	return c.SendFile(c.Event.ConversationRef, up, im.OutgoingMessage{})
}

// SendFile uploads a file (im.Client.UploadFile, in the handler's
// goroutine, bounded by the handler's context) and sends it as a file
// message to any conversation through the outbound queue, as Send does:
// at PriorityReply, under the queue's rate limits, with a client id
// derived from the event. A handler run again for the same message
// uploads the same bytes again, which the server keeps once, and sends
// nothing twice. out's Type and Content come from the file and must be
// empty; the returned message is nil when the upload failed.
func (c *Context) SendFile(to im.ConversationRef, up im.Upload, out im.OutgoingMessage) (*im.Message, error) {
	if c.bot == nil {
		return nil, errNoBot
	}
	out, err := c.bot.fileMessage(c.ctx, to, up, out)
	if err != nil {
		return nil, err
	}
	return c.Send(to, out)
}

// replyClientID derives the client id of the n-th send of bot's handler
// for ev: the same for every run of the handler on ev. A change to a
// message (recall, properties) is told apart from the message and from
// its other changes by its kind and version.
func replyClientID(bot im.UserID, ev *Event, n int64) string {
	m := ev.Message
	version := int64(0)
	if ev.Kind != EventMessage {
		version = m.Version
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d/%s/%d/%d/%d/%d", bot, m.ConversationID, m.ServerID, ev.Kind, version, n)
	return "bot-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// React adds the bot's reaction (a message property item) to the event's
// message.
func (c *Context) React(key, value string) error {
	if c.Event.Message == nil {
		return errNoMessage
	}
	if c.bot == nil {
		return errNoBot
	}
	return c.bot.client.React(c.ctx, c.Event.ConversationRef, c.Event.Message.ServerID, key, value)
}

// Recall recalls the event's message (the bot must be allowed to).
func (c *Context) Recall() error {
	if c.Event.Message == nil {
		return errNoMessage
	}
	if c.bot == nil {
		return errNoBot
	}
	return c.bot.client.RecallMessage(c.ctx, c.Event.ConversationRef, c.Event.Message.ServerID)
}

// MarkRead moves the bot's read index to the event's message.
func (c *Context) MarkRead() error {
	if c.Event.Message == nil {
		return errNoMessage
	}
	if c.bot == nil {
		return errNoBot
	}
	return c.bot.client.MarkRead(c.ctx, c.Event.ConversationRef, c.Event.Message.Index)
}

// WaitNext waits for the same user's next message in the same conversation
// (a dialog step) and returns it, or ErrWaitTimeout after timeout, the
// context's error when it ends first, or ErrClosed when the bot shuts down
// meanwhile. Other conversations keep being handled meanwhile; the awaited
// message is given to this handler instead of being dispatched, even when
// it came while the handler was still running.
func (c *Context) WaitNext(timeout time.Duration) (*im.Message, error) {
	if c.Event.Message == nil {
		return nil, errNoMessage
	}
	if c.bot == nil {
		return nil, errNoBot
	}
	m, err := c.bot.disp.waitNext(c.ctx, c.Event.ConversationRef.ID, c.Event.Message.Sender, timeout)
	if m != nil && c.taken != nil {
		c.taken.add(m)
	}
	return m, err
}

// NewContext returns a Context for ev that belongs to no bot: its actions
// fail, but matching, parameters and Explain work. It is for routers'
// tests and tools; the bot makes its own Contexts.
func NewContext(ctx context.Context, ev Event) *Context {
	return newContext(ctx, ev, nil)
}
