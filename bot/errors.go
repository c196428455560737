package bot

import "errors"

// Errors of package bot.
var (
	// ErrWaitTimeout is returned by Context.WaitNext when no message came.
	ErrWaitTimeout = errors.New("bot: no next message before the timeout")
	// ErrClosed is returned by Run after Close, by Context.WaitNext once
	// the bot is shutting down (no message can come any more), and
	// (wrapped) by sends queued when the outbound queue closes, after the
	// handlers drained.
	ErrClosed    = errors.New("bot: closed")
	errNoMessage = errors.New("bot: the event has no message")
	errNoBot     = errors.New("bot: the context belongs to no bot (NewContext)")
)
