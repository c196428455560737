// Package bot runs a chat bot on IM Cloud (or imbot's embedded server): a
// [Bot] logs in as an IM user through package im, receives every event
// that user sees, and dispatches each to a [Handler], as net/http's
// Server dispatches requests.
//
//	b, err := bot.New(bot.Options{Client: im.Options{AppID: 1, UserID: 100, …}})
//	b.Use(logging, recoverer)      // middleware, the first outermost
//	b.Handle(r)                    // a router.Router, typically
//	err = b.Run(ctx)               // until ctx ends or b.Close
//
// Package bot does not import router, middleware or plugins; they import
// it, and the program composes them. Tests run bots against the embedded
// server with package imtest (see its RunBot).
//
// # Handlers
//
// A [Handler] handles one event: Handle(*Context) error, with
// [HandlerFunc] as its func adapter. A [Middleware] wraps a Handler;
// [Bot.Use] appends to the bot's chain, the first added outermost, and
// [Chain.Then] builds m1(m2(h)) from Chain{m1, m2}. A handler that fails
// runs again as [Options.Retry] says; the final error of an event whose
// handler failed goes to [Options.OnError] (by default, logged), which
// the workers call concurrently. A panic in a handler never takes the bot
// down: the bot recovers it and reports a [*PanicError], carrying the
// value and the stack, to OnError; later events are handled as usual.
//
// A [Context] carries the event, route parameters (Param, SetParam), a
// context.Context and a logger, and the few actions a handler needs:
// Reply, Quote, Send, React, Recall, MarkRead and WaitNext. Everything
// else is on the IM client, [Context.Client].
//
// Configure a bot (Use, Handle, Go, Plug) before Run: those calls panic
// with a "bot: … after Run" message once it runs, as registering a route
// on a serving mux would be a programmer error.
//
// # Events
//
// An [Event]'s [EventKind] says which of its fields are set: a new message
// (EventMessage, the bot's own included: skip them if you reply, or use
// an ignore-self middleware), a recall (EventMessageRecalled), a change of
// properties (EventPropertyChanged), a conversation created with or
// joined by the bot (EventConversationCreated), changed
// (EventConversationUpdated) or dissolved (EventConversationDissolved),
// members added or removed (EventParticipantsAdded,
// EventParticipantsRemoved, with Participants), a friend apply to the bot
// (EventFriendApplyReceived, with FriendApply) and a new friend
// (EventFriendAdded). [Event.Sender] names the user the event is about:
// the message's sender (also for a reaction or a recall by someone else),
// the applicant, or the new friend.
//
// # Dispatch and ordering
//
// Events of one conversation are handled one at a time, in the order the
// client delivered them (which, for messages, is their order in the
// conversation): a handler never runs beside another of its own
// conversation. Events of different conversations run in parallel on
// Options.Workers workers, the conversations taking turns, so that a busy
// one cannot starve the others. Events that belong to no conversation
// (friend events) share one queue. A Handler is therefore called
// concurrently, though never twice at once for one conversation.
//
// [Context.WaitNext] turns a handler into a dialog: it waits for the same
// user's next message in the same conversation, which goes to the waiting
// handler instead of being dispatched, even if it came while the handler
// was still busy. Meanwhile the other conversations keep going; the
// handler's own conversation waits, as its order requires. A waiting
// handler does not hold a worker: another takes its place, so that any
// number of open dialogs leave Options.Workers handlers running (and one
// that resumes waits for a free worker). Each waiting handler keeps its
// goroutine until its wait ends, which its timeout bounds. WaitNext returns ErrWaitTimeout
// when the user is silent too long.
//
// # Backpressure
//
// At most Options.MaxQueued events wait for a worker. When that many
// wait, the bot stops taking events from the IM client, whose own queue
// then fills and stops its sync: nothing is dropped, and the client
// catches up from the server when the handlers do. The memory a slow bot
// uses is bounded, not its latency. (A handler blocked in WaitNext while
// the queue is full holds its place until the wait times out, since the
// message it waits for is behind the queue.)
//
// # Shutdown
//
// Run returns when its context ends or [Bot.Close] is called (Close is
// idempotent). It stops taking events and cancels the background jobs'
// context, then drains: the handlers running and the events queued go on,
// with their contexts intact, so their replies are still sent, for up to
// Options.DrainTimeout. A handler still waiting in WaitNext gets
// ErrClosed, since no message can come any more. At the deadline, events
// not started yet are dropped and the contexts of the running handlers
// are cancelled; Run waits for those handlers and for the jobs, closes
// the client and returns nil. [Bot.Ready] is closed once Run has
// logged in and the client's socket is up (so that no pushed event is
// missed), for callers and tests to wait on without sleeping. Run also
// ends, returning the cause, when the client stops by itself
// (im.Client.Stopped: no valid token, another user's token, a Frontier
// URL that is not a WebSocket).
//
// # Lifecycle lines
//
// So that an operator sees whether a bot is alive, the bot and its client
// log each step of its life once, with slog fields, to Options.Logger and
// im.Options.Logger (tokens never appear):
//
//	INFO  im: logged in                  user app device api websocket cursor
//	INFO  im: connected                  user device server   (the first socket)
//	INFO  bot: ready                     user workers cursor
//	WARN  im: socket lost; reconnecting  err                  (each loss)
//	INFO  im: reconnected                downtime attempts caught_up
//	INFO  bot: draining                  timeout
//	INFO  bot: stopped                   drained_in err
//	ERROR im: stopping: the client cannot go on  err
//
// caught_up counts the messages the catch-up pull after a reconnect
// delivered: what arrived while the socket was down.
//
// # Health, metrics and traces
//
// [Bot.Health] says whether the bot is alive (from New until Run returns)
// and ready (running, its socket up or none by choice, caught up with the
// server, its token taken, not draining), with the reason when not.
// [Bot.AdminHandler] serves it as GET /healthz and /readyz (200, or 503
// with the JSON Health), the bot's Prometheus metrics at /metrics, and the
// Go profiler at /debug/pprof/ with AdminOptions.Pprof; Options.Admin.Addr
// has Run serve them itself, on a listener open from before login until
// Run returns ([Bot.AdminAddr] gives its address).
//
// Metrics (imbot_bot_… and the client's imbot_client_…) are on by
// default, in a registry of the bot's own or in Options.Metrics; plugins
// add theirs through [Bot.Metrics]. A middleware that lets an event go
// says why with [Context.Skip], which the metrics and traces report.
// With Options.TracerProvider, each handled event is an OpenTelemetry
// span with a child span per send and per server request. Their names,
// labels and attributes are listed in docs/OPERATIONS.md.
//
// # Sending
//
// Every send of the bot — [Context.Reply], Quote and Send, [Bot.Send],
// plugins' posts — goes through one bounded outbound queue configured by
// Options.Send ([SendOptions]): in order within a conversation; a
// handler's sends ([PriorityReply]) before Bot.Send's ([PriorityNormal])
// before broadcasts ([PriorityBulk], [WithPriority]), so that a
// 1000-message announcement delays a reply by at most one send slot;
// within global, per-conversation and per-live-chat rate limits; and
// retried, with the same client message id, when the server asks to slow
// down (honouring its retry-after hint) or the network fails. The queue
// runs sends on their callers' goroutines: an idle queue adds a lock and
// one allocation to a send. A caller whose context ends while its send
// waits gets an error saying the message was not sent.
//
// Files go the same way: [Context.ReplyFile], [Context.SendFile] and
// [Bot.SendFile] upload the bytes from an io.Reader (im.Client.UploadFile,
// on the caller's goroutine, not rate limited) and queue the file message
// like any other send. A handler reads a received file with
// im.Message.File and downloads it with im.Client.OpenFile; the router
// routes by file type (router.File, router.OnFile).
//
// # Each message once, in order, across restarts
//
// The bot handles each new message of its inbox once, in order within its
// conversation, across disconnects and restarts. The IM client delivers
// every message once and in order while the process lives, resuming after
// a disconnect from its sync position; across restarts the bot keeps its
// own progress in a [ProgressStore] (Options.Progress; a file with
// state.Open):
//
//   - A message's progress — its conversation's index, and the sync
//     position below which every delivered event is finished — is
//     committed only after its handler returned nil, or failed for good
//     and was reported to OnError (see [RetryPolicy]). Progress moves in
//     order: a conversation's events are handled one at a time.
//   - On start, Run resumes the client from the saved position and skips
//     the new messages at or below their conversation's saved index.
//     Messages that arrived while the bot was down, and those that were
//     delivered but not finished when it stopped, are handled then.
//   - A graceful shutdown commits every handler that finished within
//     DrainTimeout; a handler cut off by the deadline, or by a crash, is
//     not committed, and runs again after the restart.
//
// The limit is the handler's own side effects: a process killed after a
// handler acted but before its commit runs that handler again for the
// same message. The bot makes its IM actions safe to repeat — sends
// through the Context ([Context.Reply], Quote, Send) carry client ids
// derived from the event and their order, so the server answers a
// repeated send with the message it already has — but a database write
// or an HTTP call the handler makes is its author's to make idempotent
// (key it by the message's ServerID). Events other than messages
// (conversation, membership and friend changes) are delivered live and
// are not replayed after a restart; plugins re-read such state at start
// (plugins/friends lists the pending applies). Live-chat messages have no
// inbox and are not replayed either.
//
// # Several replicas
//
// A bot can run as several processes, replicas, that divide its
// conversations between them ([Options.Cluster]; over Redis,
// redisstate.Store.Cluster). Each replica logs in as the bot's user as a
// device of its own (im.Options.DeviceID) and all share one progress
// store. A conversation belongs to one of a fixed number of partitions,
// by a hash of its id; each partition is leased by one live replica, and
// the replicas rebalance when one joins, leaves or stops renewing. A
// replica handles the events of the partitions it holds and lets the
// others go (reason not_owner in imbot_bot_events_skipped_total):
//
//   - On taking a partition it learns the indexes the previous owners
//     committed, pulls each of the partition's conversations after its
//     index from the server, and hands those messages on first, in
//     order, then the partition's live events: nothing a previous owner
//     left unfinished is lost, nothing it committed is handled again.
//   - It commits a conversation's progress under its partition's lease,
//     and the store refuses a commit made once the lease is another's.
//   - A partition that moves in good order (a replica joins, or this one
//     stops) is let go once its running handlers return (up to
//     DrainTimeout); its queued events are dropped, and the next owner
//     starts after: no message is handled by two replicas.
//   - A replica that dies holds its partitions until their leases
//     expire (the lease TTL); then the others take them over. What it had
//     handled but not committed is handled again by the new owner, the
//     same window as a single bot's crash, in which a handler's sends are
//     safe to repeat (see below). A replica cut off from the store stops
//     handling its partitions before their leases expire, by a timer of
//     its own.
//   - Friend events follow the owner of [FriendKey] of their user;
//     membership and conversation events, and live-chat messages, follow
//     their conversation's owner. They are delivered live, and not
//     replayed to a new owner, as they are not after a restart.
//   - A handler waiting in [Context.WaitNext] gets [ErrPartitionMoved]
//     when its partition moves; the user's next message goes to the new
//     owner as an event of its own. A dialog dies with its replica.
//
// [Bot.Partitions] says which partitions a replica holds, and the bot
// logs each change ("bot: partitions taken", "bot: partitions let go").
//
// # Plugins
//
// A [Plugin] is a whole behaviour: its Setup registers middleware,
// handlers and background jobs on the bot it is given ([Bot.Plug]). A
// job, added with [Bot.Go], starts once Run has connected, gets a context
// that ends when the bot shuts down, and is waited for by Run; its error
// is logged and does not stop the bot. Plugins are values passed to Plug:
// nothing registers itself by being imported.
package bot
