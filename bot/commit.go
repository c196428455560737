package bot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/imbot-go/imbot/im"
)

// tracker turns handled events into commits of a ProgressStore: per
// conversation, the index of the last message handled, and the sync
// position below which every event is finished, so that a restart
// resumes from the oldest unfinished event and skips what was handled.
//
// The client delivers inbox events in inbox order (their cursors never go
// down), and the bot finishes them out of that order across
// conversations; pending keeps the cursors of unfinished events in
// delivery order, so that the oldest one is at its front.
//
// A tracker is safe for concurrent use.
type tracker struct {
	store ProgressStore

	mu      sync.Mutex
	handled map[im.ConversationID]int64
	pending []pendingCursor        // in delivery order; finished ones leave the front lazily
	byMsg   map[im.MessageID]int64 // the cursor of each unfinished new message
	latest  int64                  // the highest cursor delivered
}

// pendingCursor counts the unfinished events delivered under one cursor
// (one pulled page, or one push).
type pendingCursor struct {
	cursor int64
	n      int
}

func newTracker(store ProgressStore, p Progress) *tracker {
	t := &tracker{store: store, handled: p.Handled, byMsg: make(map[im.MessageID]int64), latest: p.Cursor}
	if t.handled == nil {
		t.handled = make(map[im.ConversationID]int64)
	}
	return t
}

// tracked reports whether ev takes part in progress: the message events
// of the inbox, which carry its cursor. Live-chat messages have no inbox,
// and conversation and friend events come without a position.
func tracked(ev *Event) bool {
	return ev.Message != nil && ev.Message.ConversationType != im.ConversationTypeMassChat
}

// admit registers an event the client delivered and reports whether the
// bot should handle it: false for a new message at or below its
// conversation's committed index, which a run before a restart handled.
func (t *tracker) admit(ev *Event) bool {
	if !tracked(ev) {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Kind == EventMessage && ev.Message.Index > 0 && ev.Message.Index <= t.handled[ev.Message.ConversationID] {
		return false
	}
	if ev.pulled {
		return true // no sync position to hold back
	}
	t.latest = max(t.latest, ev.Cursor)
	if n := len(t.pending); n > 0 && t.pending[n-1].cursor == ev.Cursor {
		t.pending[n-1].n++
	} else {
		t.pending = append(t.pending, pendingCursor{cursor: ev.Cursor, n: 1})
	}
	if ev.Kind == EventMessage {
		// Remember which page the message came in, for a handler that
		// takes it with WaitNext and finishes it with its own event.
		t.byMsg[ev.Message.ServerID] = ev.Cursor
	}
	return true
}

// finish marks ev, and the messages its handler took with WaitNext, as
// finished, and commits: ev's conversation's index (for new messages) and
// the position below which everything is finished.
func (t *tracker) finish(ctx context.Context, ev *Event, taken []*im.Message) error {
	if !tracked(ev) {
		return nil
	}
	t.mu.Lock()
	c := Commit{Conversation: ev.Message.ConversationID}
	if !ev.pulled {
		t.release(ev.Cursor)
	}
	if ev.Kind == EventMessage {
		delete(t.byMsg, ev.Message.ServerID)
		c.Index = ev.Message.Index
	}
	for _, m := range taken {
		if cursor, ok := t.byMsg[m.ServerID]; ok {
			delete(t.byMsg, m.ServerID)
			t.release(cursor)
		}
		if m.ConversationID == c.Conversation {
			c.Index = max(c.Index, m.Index)
		}
	}
	if c.Index > 0 {
		t.handled[c.Conversation] = max(t.handled[c.Conversation], c.Index)
	} else {
		c.Conversation = ""
	}
	c.Cursor = t.resumeCursor()
	t.mu.Unlock()
	if err := t.store.CommitProgress(ctx, c); err != nil {
		return fmt.Errorf("bot: committing progress of %s up to index %d: %w", c.Conversation, c.Index, err)
	}
	return nil
}

// abandon forgets ev, admitted but not to be handled here (its
// partition moved to another replica), so that it no longer holds the
// resume position back; nothing is committed.
func (t *tracker) abandon(ev *Event) {
	if !tracked(ev) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Kind == EventMessage {
		delete(t.byMsg, ev.Message.ServerID)
	}
	if !ev.pulled {
		t.release(ev.Cursor)
	}
}

// learn raises the handled index of each conversation that mine selects
// to what other replicas committed (handled, from the store).
func (t *tracker) learn(handled map[im.ConversationID]int64, mine func(im.ConversationID) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for conv, index := range handled {
		if mine(conv) {
			t.handled[conv] = max(t.handled[conv], index)
		}
	}
}

// handledIndex returns the index of the last message of conv handled, as
// far as this tracker knows.
func (t *tracker) handledIndex(conv im.ConversationID) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handled[conv]
}

// release finishes one event delivered under cursor. The caller holds
// t.mu.
func (t *tracker) release(cursor int64) {
	// Cursors are in delivery order, which never goes down.
	i, _ := slices.BinarySearchFunc(t.pending, cursor, func(p pendingCursor, c int64) int { return cmp.Compare(p.cursor, c) })
	for ; i < len(t.pending) && t.pending[i].cursor == cursor; i++ {
		if t.pending[i].n > 0 {
			t.pending[i].n--
			break
		}
	}
	for len(t.pending) > 0 && t.pending[0].n == 0 {
		t.pending = t.pending[1:]
	}
}

// resumeCursor returns the position to resume from: the cursor of the
// oldest unfinished event, or the latest delivered when all are finished
// (resuming there delivers again only what the index check skips). The
// caller holds t.mu.
func (t *tracker) resumeCursor() int64 {
	if len(t.pending) > 0 {
		return t.pending[0].cursor
	}
	return t.latest
}
