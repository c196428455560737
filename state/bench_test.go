package state_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/state"
)

// BenchmarkCommitProgress measures commits of progress as the bot makes
// them, one goroutine per conversation being handled: 50 at once, and
// one alone, on a File and on a bot.MemoryProgress. On the File, the
// commits that come while a transaction is being fsynced share the next
// one, so that 50 at once cost far less each than one alone.
func BenchmarkCommitProgress(b *testing.B) {
	for _, goroutines := range []int{50, 1} {
		b.Run(fmt.Sprintf("File/%d", goroutines), func(b *testing.B) {
			f, err := state.Open(filepath.Join(b.TempDir(), "state.db"), nil)
			require.NoError(b, err)
			defer f.Close()
			benchCommits(b, f, goroutines)
		})
		b.Run(fmt.Sprintf("Memory/%d", goroutines), func(b *testing.B) {
			benchCommits(b, new(bot.MemoryProgress), goroutines)
		})
	}
}

// benchCommits makes b.N commits from goroutines goroutines, each its
// own conversation's.
func benchCommits(b *testing.B, s bot.ProgressStore, goroutines int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			conv := im.ConversationID(fmt.Sprint("0:1:", g, ":100"))
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := s.CommitProgress(ctx, bot.Commit{Conversation: conv, Index: i, Cursor: i}); !assert.NoError(b, err) {
					return
				}
			}
		})
	}
	wg.Wait()
}
