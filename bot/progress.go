package bot

import (
	"context"
	"maps"
	"sync"

	"github.com/imbot-go/imbot/im"
)

// ProgressStore keeps how far a bot got through its inbox, so that a bot
// restarted on the same store handles every message once: the sync
// position to resume from, and per conversation the index of the last
// message handled. The bot commits a message's progress only after its
// handler succeeded, or failed for good and was reported (Options.Retry);
// on restart it resumes from the saved position and skips the messages at
// or below each conversation's saved index.
//
// [MemoryProgress] keeps progress for the life of the process;
// state.Open keeps it in a file. Several replicas of a bot sharing one
// store need one over a shared database (Redis, say), under the same
// contract, which statetest.TestProgressStore checks. Implementations
// must be safe for concurrent use: the bot commits from the goroutine
// handling each conversation, hundreds of times a second when busy, so
// that a durable store should let concurrent commits share a write (the
// file store commits them together, under one fsync).
type ProgressStore interface {
	// LoadProgress returns what was committed; Progress.Saved is false
	// when nothing ever was.
	LoadProgress(ctx context.Context) (Progress, error)
	// CommitProgress records c atomically and durably (as durable as the
	// store is) before it returns. It never moves a conversation's index
	// or the cursor back: a commit below what is saved keeps the saved
	// value.
	CommitProgress(ctx context.Context, c Commit) error
}

// Progress is a bot's saved position.
type Progress struct {
	// Saved reports whether anything was ever committed.
	Saved bool
	// Cursor is the sync position to resume from (im.Options.Cursor).
	Cursor int64
	// Handled maps each conversation to the index of the last of its
	// messages the bot handled.
	Handled map[im.ConversationID]int64
}

// Commit is one step of progress: Conversation's messages up to Index are
// handled, and the sync may resume from Cursor. A commit with an empty
// Conversation only moves the cursor.
type Commit struct {
	Conversation im.ConversationID
	Index        int64
	Cursor       int64
}

// MemoryProgress is a [ProgressStore] in memory: a bot that uses it
// resumes after a reconnect, not after a restart. The zero value is
// ready to use.
type MemoryProgress struct {
	mu sync.Mutex
	p  Progress
}

// LoadProgress implements ProgressStore; the map it returns is a copy.
func (m *MemoryProgress) LoadProgress(context.Context) (Progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.p
	p.Handled = maps.Clone(m.p.Handled)
	if p.Handled == nil {
		p.Handled = make(map[im.ConversationID]int64)
	}
	return p, nil
}

// CommitProgress implements ProgressStore.
func (m *MemoryProgress) CommitProgress(_ context.Context, c Commit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p.Saved = true
	m.p.Cursor = max(m.p.Cursor, c.Cursor)
	if c.Conversation != "" {
		if m.p.Handled == nil {
			m.p.Handled = make(map[im.ConversationID]int64)
		}
		m.p.Handled[c.Conversation] = max(m.p.Handled[c.Conversation], c.Index)
	}
	return nil
}
