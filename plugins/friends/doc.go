// Package friends is a [bot.Plugin] that answers the friend applies a bot
// receives: it accepts them by a policy, greets the new friends, and
// writes one audit line per decision.
//
//	p, err := friends.New(friends.Options{
//		All:      true,
//		DailyCap: 100,
//		Greeting: "Hi {{.User}}, thanks for the add!",
//	})
//	if err != nil {
//		return err // a bad Expr or Greeting, with its position
//	}
//	b.Use(middleware.Recover(), middleware.Logger(logger))
//	if err := b.Plug(p); err != nil {
//		return err
//	}
//
// # Where applies come from
//
// [Plugin.Setup] adds a middleware to the bot's chain (Bot.Use) and a
// background job (Bot.Go):
//
//   - The middleware takes every bot.EventFriendApplyReceived addressed
//     to the bot out of the event stream and decides it; the handler
//     never sees those events, so that no handler can answer an apply the
//     plugin answers. Every other event passes. Plug the plugin right
//     after Recover and Logger, before any middleware that may drop an
//     event (a rate limit), which would keep an apply from it until the
//     bot's next start.
//   - The job waits for the bot to be ready (Bot.Ready), then lists the
//     applies waiting for the bot (im.Client.AllReceivedFriendApplies) and
//     decides each: those sent while the bot was offline, whose pushes it
//     never got. It lists them again each time the bot's socket
//     reconnects, since pushes sent while it was down are lost too.
//
// An apply is decided once per run of the bot, whichever way it came
// first: the plugin remembers the ids of the applies it decided (a few
// bytes each). An apply left waiting (Pending) therefore stays so until a
// person answers it or the bot starts again; one that a CapStore error
// left undecided is decided again (see "Daily cap"). Applies are decided
// on the bot's queue for events without a conversation, one at a time,
// and by the job, beside it.
//
// A bot without a socket (im.WebSocketLevelDisable) gets no pushes: the
// plugin decides only the applies waiting when it starts.
//
// # Policy
//
// Each apply goes through these steps; the first that decides, decides:
//
//  1. deny: the applicant is in Options.Deny → Reject.
//  2. allow: the applicant is in Options.Allow → Accept. The cap does not
//     apply, and these accepts do not count towards it.
//  3. all or expr: Options.All, or Options.Expr true for the apply's
//     [Env] → Accept, if the day's count is under Options.DailyCap (or
//     there is no cap); otherwise → Options.OverCap (rule cap).
//  4. otherwise → Options.Otherwise.
//
// OverCap and Otherwise are Pending (leave the apply waiting) by default,
// or Reject.
//
// Options.Expr is an expr-lang expression over [Env] (From, Ext, Time,
// Now), compiled and type-checked by [New]: a misspelt field, a syntax
// error or a non-bool result is an error there, with its line and column.
// An expression that fails while running (rare, once type-checked) counts
// as false; its error is in the audit line.
//
//	Ext["source"] == "website" && Now - Time < duration("24h")
//	From in [1001, 1002] || Ext["invite"] == "spring-2026"
//
// # Daily cap
//
// A day starts at midnight in Options.Location (default time.Local), by
// Options.Now (default time.Now). Options.CapStore counts the day's
// accepts: each accept of All or Expr takes a place first
// ([CapStore.TakeCap], atomic), and one that then does not happen
// (outcome failed or gone) gives it back ([CapStore.ReturnCap]), so
// that the cap counts the applies accepted, and a place is never given
// to two.
//
// The default, a [MemoryCaps] of the plugin's own, counts in the
// process, from the bot's start: the count is per process, so that each
// replica of a bot (bot.Options.Cluster) would accept DailyCap a day.
// Unless the replicas share a CapStore: give each the same one, such as
// redisstate.Store over Redis, and DailyCap bounds their accepts
// together.
//
// A CapStore that fails accepts nothing past the cap, nor refuses an
// apply the cap might have room for: the apply is left waiting,
// undecided. Its audit line says decision pending, rule cap, outcome
// failed, with the store's err at level Error; it is not counted in the
// metrics; and it is decided again: by the bot's retries of a push
// (bot.Options.Retry), and by the listing of the waiting applies that
// follows Options.RetryWait later (30 seconds by default; scan retry),
// or the next reconnect's. A place that cannot be given back stays
// taken: the day counts one accept too many, never too few, and the
// error is in the audit line.
//
// # Greeting
//
// With Options.Greeting set, each accepted applicant gets its text, a
// text/template executed with [GreetingData], in the single chat with the
// bot (created when it does not exist). The greeting's client message id
// is [GreetingClientID] of the apply, so that the send is idempotent: a
// server that deduplicates by client id (the embedded one always does)
// keeps one greeting per apply however often it is sent. A failed
// greeting leaves the friendship in place; its error is in the audit
// line.
//
// # Audit
//
// Every decision writes one line to Options.Logger (default
// the bot's logger), message "friends: apply decided", at level Info, or
// Error when the answer or the greeting failed, with these attributes:
//
//	apply     the apply's id
//	from      the applicant's user id
//	decision  accept, reject or pending
//	rule      deny, allow, all, expr, cap or otherwise
//	source    push (a live event) or list (a listing of waiting applies)
//	applied   when the apply was sent
//	ext_keys  the keys of the apply's ext, sorted; never the values
//	expr_err  the expression's error, when it failed while running
//	outcome   done; gone (the apply was no longer waiting: answered
//	          elsewhere); or failed (the apply is still waiting: the
//	          answer failed, or the CapStore did)
//	err       the answer's, the greeting's or the CapStore's error
//
// A bot run as replicas (bot.Options.Cluster) hands each applicant's
// live applies to one replica, the owner of bot.FriendKey of the
// applicant, and each replica's listing decides only the applies it
// owns (bot.Bot.Owns), so that no apply is decided twice.
//
// Each listing ends with a line "friends: waiting applies scanned"
// (scan: start, reconnect or retry; listed: how many waited), or
// "friends: listing waiting applies failed" with its err. An error
// answering or greeting a live apply is also the middleware's, marked
// bot.Permanent, so that it reaches the bot's OnError at once: the
// apply was decided, and running the middleware again would not answer
// it again. A CapStore error is the middleware's too, not permanent: the
// apply is undecided, so the bot's retries (bot.Options.Retry) decide it
// again, and the error reaches OnError once they are spent.
//
// # Metrics
//
// Setup registers two Prometheus metrics with the bot's registry
// (bot.Bot.Metrics); with the bot's metrics off, there are none:
//
//   - imbot_friends_decisions_total{verdict}: applies decided, by verdict:
//     accept, reject or pending, as the audit line's decision. An apply is
//     counted once per run of the bot, when it is decided, whether or not
//     the answer then succeeds (the audit line's outcome says); one that
//     a CapStore error left undecided is counted when it is decided.
//   - imbot_friends_daily_cap_refusals_total: applies that All or Expr
//     would have accepted, decided as Options.OverCap because the day's
//     DailyCap was reached (rule cap); they count in decisions_total too.
//
// One registry takes one Plugin's metrics: a second Plugin on a bot of
// the same registry fails Setup, naming the metric.
package friends
