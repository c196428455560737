// Package middleware is imbot's catalogue of [bot.Middleware]: functions
// of type func(bot.Handler) bot.Handler that wrap a bot's handler (or a
// router's routes) with behaviour every handler would otherwise repeat.
// Each is a value the program passes to Bot.Use, router.Use or
// router.With; none registers itself, and none keeps package-level state.
//
// # Catalogue
//
//   - [Recover] turns a handler's panic into a *bot.PanicError, returned
//     as the handler's error, except the deliberate [ErrAbort];
//     [RecoverWith] adds a hook.
//   - [Logger] logs one line per event with log/slog: kind, conversation,
//     message, sender, latency and outcome.
//   - [IgnoreSelf] drops the bot's own new messages, for a bot with
//     bot.Options.HandleOwnMessages (a bot without it skips them itself).
//   - [IgnoreStrangers] drops single-chat messages from users who are not
//     the bot's friends.
//   - [Dedup] drops messages already handled within a window, remembered
//     in a [DedupStore] ([MemoryDedup] in process, state.File on disk).
//   - [RateLimit] limits events per user, per conversation and globally,
//     dropping, delaying or answering those over a limit, its token
//     buckets in a [RateStore] ([MemoryRateStore] in process, state.File
//     on disk).
//   - [AutoRead] marks the bot's read index up to the messages it
//     handled, coalesced per conversation; it is a bot.Plugin, since it
//     runs a background job.
//   - [Timeout] gives the handler a context with a deadline.
//
// # Order
//
// A chain runs its middleware in the order listed, the first outermost:
// bot.Chain{m1, m2}.Then(h) is m1(m2(h)), and Bot.Use appends in the same
// sense. The recommended chain is
//
//	b.Use(
//		middleware.Recover(),
//		middleware.Logger(logger),
//		middleware.IgnoreSelf(),
//		middleware.IgnoreStrangers(middleware.StrangersOptions{}), // a bot for friends only
//		middleware.Dedup(nil, 10*time.Minute),
//		middleware.RateLimit(middleware.RateLimitOptions{PerUser: perUser}),
//	)
//	// AutoRead's middleware goes where Plug is called; its job starts with the bot.
//	if err := b.Plug(middleware.NewAutoRead(middleware.AutoReadOptions{})); err != nil {
//		return err
//	}
//	b.Use(middleware.Timeout(30 * time.Second))
//	b.Handle(r)
//
// and each sits where it does for a reason:
//
//  1. Recover is outermost, so that a panic anywhere, in middleware as in
//     the handler, becomes an error that reaches the bot's OnError like
//     any other. The middleware inside it do not see the panic as an
//     error: it unwinds through them, skipping what they do after the
//     handler, so that AutoRead does not mark the message read nor Dedup
//     mark it handled.
//  2. Logger comes next: inside Recover, it sees a panic as a panic
//     (without stopping it, so that Recover still records the stack) and
//     every other outcome, and times everything but Recover. It also logs
//     the events that the middleware after it drop; move it after those
//     to log only what reaches the handler.
//  3. IgnoreSelf, and IgnoreStrangers after it, come before anything
//     that spends work on an event (a store lookup, a rate token, a read
//     mark): the bot's own messages, and strangers', are not worth it.
//  4. Dedup comes before RateLimit, so that a duplicate spends no token,
//     and before Timeout, so that its store calls run on the event's own
//     context: a handler that used up its deadline must not leave its
//     message unmarked, to be handled twice.
//  5. RateLimit comes after the filters above, so that only events that
//     would be handled count, and before AutoRead, so that an event it
//     drops is not marked read.
//  6. AutoRead comes after everything that may drop or fail an event,
//     since it marks only events handled without an error, and before
//     Timeout, whose deadline would otherwise bound its mark.
//  7. Timeout is innermost, around the handler alone: the deadline is
//     the handler's, and the middleware outside it work unhurried.
//
// Middleware that applies to some routes only goes on the router instead:
// r.With(middleware.Timeout(time.Minute)).OnCommand(…).
//
// # Skipped events
//
// A middleware that lets an event go without calling the handler after
// it marks the event with bot.Context.Skip and a reason, so that the bot
// counts it under imbot_bot_events_skipped_total{reason} rather than as
// handled, and its span says why. The reasons:
//
//   - "self" ([SkipSelf]): [IgnoreSelf] dropped the bot's own new message.
//   - "stranger" ([SkipStranger]): [IgnoreStrangers] dropped a single-chat
//     message from a user who is not a friend of the bot.
//   - "duplicate" ([SkipDuplicate]): [Dedup] dropped a message handled
//     within its window.
//   - "rate_limited" ([SkipRateLimited]): [RateLimit] refused an event
//     over a limit, whatever its policy: dropped it (LimitDrop), handed it
//     to the Limited handler instead (LimitHandle), or gave up waiting for
//     a token (LimitDelay), in which case it also returns the error, so
//     that the bot counts the event as failed and only its span carries
//     the reason.
//
// An event that a middleware fails (its store fails, the friends cannot
// be listed) is not skipped: the middleware returns the error. The
// middleware here keep no metrics of their own; the bot counts what they
// skip (a [Logger] before them logs a skipped event as "ok").
//
// # State and time
//
// The state a middleware keeps across events that replicas of a bot
// would share (the dedup window, rate buckets) sits behind a small
// interface with an in-memory default ([DedupStore], [RateStore]). The
// package state keeps it in a file, with the bot's progress, so that it
// outlives a restart; replicas share it through a store of their own
// over a shared database, which the suites of the package statetest
// check. A RateStore keeps bucket state, not limiters, so that a file or
// a database can hold it: [RateBucket] is the token-bucket arithmetic,
// counted as golang.org/x/time/rate counts.
//
// Where time decides, it is injectable: DedupStore and RateStore methods
// take the time as an argument, RateLimitOptions, AutoReadOptions and
// StrangersOptions take a clock, and the tests drive them without
// sleeping.
//
// Every middleware here is safe for concurrent use: the bot calls its
// handler from several workers at once, one event of a conversation at a
// time.
package middleware
