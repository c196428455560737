package middleware

// Reasons the middleware of this package give bot.Context.Skip when they
// let an event go without calling the handler after them: the bot counts
// such events under imbot_bot_events_skipped_total{reason} and puts the
// reason on the event's span. Each is a fixed label value.
const (
	SkipSelf        = "self"         // IgnoreSelf: the bot's own new message
	SkipStranger    = "stranger"     // IgnoreStrangers: a single-chat message from a non-friend
	SkipDuplicate   = "duplicate"    // Dedup: a message handled within the window
	SkipRateLimited = "rate_limited" // RateLimit: an event over a limit, whatever OnLimit
)
