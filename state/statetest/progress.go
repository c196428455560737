package statetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// TestProgressStore checks that a [bot.ProgressStore] keeps the contract
// the bot relies on: Load returns what was committed, and nothing was
// saved until the first commit; a commit never moves a conversation's
// index or the cursor back; conversations are independent; the map Load
// returns is the caller's; concurrent commits, one goroutine per
// conversation as the bot makes them, all count.
func TestProgressStore(t *testing.T, newStore func(t *testing.T) bot.ProgressStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s bot.ProgressStore)
	}{
		{"NothingSaved", testNothingSaved},
		{"CommitThenLoad", testCommitThenLoad},
		{"CursorOnly", testCursorOnly},
		{"NeverBack", testNeverBack},
		{"LoadReturnsACopy", testLoadReturnsACopy},
		{"Concurrent", testConcurrentCommits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// TestDurableProgressStore runs [TestProgressStore] and then checks that
// what was committed is there after reopen, and still never moves back.
func TestDurableProgressStore(t *testing.T, newStore func(t *testing.T) bot.ProgressStore, reopen func(t *testing.T, s bot.ProgressStore) bot.ProgressStore) {
	t.Helper()
	TestProgressStore(t, newStore)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		s = reopen(t, s)
		p := load(t, s)
		require.False(t, p.Saved, "an empty store reopened: %+v, want nothing saved", p)
		commit(t, s, bot.Commit{Conversation: "0:1:1:100", Index: 7, Cursor: 70})
		commit(t, s, bot.Commit{Conversation: "g:42", Index: 3, Cursor: 71})
		want := bot.Progress{Saved: true, Cursor: 71, Handled: map[im.ConversationID]int64{"0:1:1:100": 7, "g:42": 3}}
		s = reopen(t, s)
		wantProgress(t, "after reopen", load(t, s), want)
		commit(t, s, bot.Commit{Conversation: "0:1:1:100", Index: 5, Cursor: 60})
		s = reopen(t, s)
		wantProgress(t, "after a lower commit and reopen", load(t, s), want)
	})
}

func load(t *testing.T, s bot.ProgressStore) bot.Progress {
	t.Helper()
	p, err := s.LoadProgress(context.Background())
	require.NoError(t, err, "LoadProgress")
	return p
}

func commit(t *testing.T, s bot.ProgressStore, c bot.Commit) {
	t.Helper()
	require.NoError(t, s.CommitProgress(context.Background(), c), "CommitProgress(%+v)", c)
}

// wantProgress fails t unless got is want; a nil and an empty Handled
// are the same.
func wantProgress(t *testing.T, when string, got, want bot.Progress) {
	t.Helper()
	if len(got.Handled) == 0 {
		got.Handled = nil
	}
	if len(want.Handled) == 0 {
		want.Handled = nil
	}
	require.Equal(t, want, got, "%s: LoadProgress", when)
}

func testNothingSaved(t *testing.T, s bot.ProgressStore) {
	for range 2 { // and Load saves nothing
		wantProgress(t, "nothing committed", load(t, s), bot.Progress{})
	}
}

func testCommitThenLoad(t *testing.T, s bot.ProgressStore) {
	convs := []im.ConversationID{"0:1:1:100", "0:1:2:100", "7301", "ключ/会话"}
	want := bot.Progress{Saved: true, Handled: map[im.ConversationID]int64{}}
	for i, c := range convs {
		commit(t, s, bot.Commit{Conversation: c, Index: int64(10 * (i + 1)), Cursor: int64(100 + i)})
		want.Handled[c] = int64(10 * (i + 1))
		want.Cursor = int64(100 + i)
		wantProgress(t, fmt.Sprintf("after %d commits", i+1), load(t, s), want)
	}
}

func testCursorOnly(t *testing.T, s bot.ProgressStore) {
	commit(t, s, bot.Commit{Cursor: 5})
	wantProgress(t, "a commit of no conversation", load(t, s), bot.Progress{Saved: true, Cursor: 5})
	commit(t, s, bot.Commit{})
	wantProgress(t, "then the zero Commit", load(t, s), bot.Progress{Saved: true, Cursor: 5})
}

func testNeverBack(t *testing.T, s bot.ProgressStore) {
	commit(t, s, bot.Commit{Conversation: "a", Index: 10, Cursor: 100})
	commit(t, s, bot.Commit{Conversation: "b", Index: 1, Cursor: 90}) // b moves, the cursor does not
	commit(t, s, bot.Commit{Conversation: "a", Index: 9, Cursor: 101})
	wantProgress(t, "after lower commits", load(t, s), bot.Progress{
		Saved: true, Cursor: 101, Handled: map[im.ConversationID]int64{"a": 10, "b": 1},
	})
	commit(t, s, bot.Commit{Conversation: "a", Index: 11})
	wantProgress(t, "after a higher index", load(t, s), bot.Progress{
		Saved: true, Cursor: 101, Handled: map[im.ConversationID]int64{"a": 11, "b": 1},
	})
}

func testLoadReturnsACopy(t *testing.T, s bot.ProgressStore) {
	commit(t, s, bot.Commit{Conversation: "a", Index: 1, Cursor: 1})
	p := load(t, s)
	p.Handled["a"] = 99
	p.Handled["b"] = 99
	wantProgress(t, "after changing a loaded map", load(t, s), bot.Progress{
		Saved: true, Cursor: 1, Handled: map[im.ConversationID]int64{"a": 1},
	})
	require.NotNil(t, load(t, s).Handled, "LoadProgress returned a nil Handled map, which the caller cannot add to")
}

// testConcurrentCommits commits from one goroutine per conversation, as
// the bot does, each conversation's indexes in order and the cursors of
// all interleaved, plus a few lagging commits; every one counts.
func testConcurrentCommits(t *testing.T, s bot.ProgressStore) {
	const convs, each = 20, 10
	ctx := context.Background()
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			conv := im.ConversationID(fmt.Sprintf("0:1:%d:100", c))
			for i := range each {
				idx := int64(i + 1)
				if err := s.CommitProgress(ctx, bot.Commit{Conversation: conv, Index: idx, Cursor: idx*convs + int64(c)}); !assert.NoError(t, err, "CommitProgress") {
					return
				}
			}
			// A late commit of an old message changes nothing.
			assert.NoError(t, s.CommitProgress(ctx, bot.Commit{Conversation: conv, Index: 1, Cursor: 1}), "CommitProgress")
		})
	}
	wg.Wait()
	want := bot.Progress{Saved: true, Cursor: each*convs + convs - 1, Handled: map[im.ConversationID]int64{}}
	for c := range convs {
		want.Handled[im.ConversationID(fmt.Sprintf("0:1:%d:100", c))] = each
	}
	wantProgress(t, "after concurrent commits", load(t, s), want)
}
