package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func openInternal(t *testing.T) *File {
	t.Helper()
	f, err := Open(filepath.Join(t.TempDir(), "state.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// txRecorder records the ids of the transactions that writes ran in.
type txRecorder struct {
	mu  sync.Mutex
	ids map[string]int // write → transaction id of its last run
}

// write returns an fn that puts name into the runs bucket and records
// its transaction.
func (r *txRecorder) write(name string) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		r.mu.Lock()
		r.ids[name] = tx.ID()
		r.mu.Unlock()
		return tx.Bucket(bucketRuns).Put([]byte(name), []byte("x"))
	}
}

func (r *txRecorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	txs := map[int]bool{}
	for _, id := range r.ids {
		txs[id] = true
	}
	return len(txs)
}

// The writes asked for while a transaction is under way all go in the
// next one.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	f := openInternal(t)
	c := &f.writes
	ctx := context.Background()
	rec := &txRecorder{ids: map[string]int{}}
	entered, release := make(chan struct{}), make(chan struct{})
	firstDone := make(chan error, 1)
	go func() { // joined through firstDone
		var once sync.Once
		firstDone <- c.update(ctx, func(tx *bbolt.Tx) error {
			once.Do(func() { close(entered) })
			<-release
			return rec.write("first")(tx)
		})
	}()
	<-entered
	const waiting = 20
	var wg sync.WaitGroup
	for i := range waiting {
		wg.Go(func() {
			assert.NoError(t, c.update(ctx, rec.write(fmt.Sprint("w", i))), "update")
		})
	}
	// Let the first transaction go once all the others wait behind it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n == waiting {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			require.Failf(t, "timed out", "%d of %d writes queued behind the first", n, waiting)
		}
		runtime.Gosched()
	}
	close(release)
	require.NoError(t, <-firstDone)
	wg.Wait()
	require.Equal(t, 2, rec.distinct(), "%d writes: transactions, want 2: the first, and one for those that waited", waiting+1)
}

// A write that fails gets its error; the others of its batch commit
// together without it.
func TestCommitFailureIsolated(t *testing.T) {
	t.Parallel()
	f := openInternal(t)
	rec := &txRecorder{ids: map[string]int{}}
	errBad := errors.New("bad write")
	batch := []*write{
		{fn: rec.write("a"), done: make(chan error, 1)},
		{fn: func(*bbolt.Tx) error { return errBad }, done: make(chan error, 1)},
		{fn: rec.write("b"), done: make(chan error, 1)},
	}
	f.writes.commit(batch)
	for i, want := range []error{nil, errBad, nil} {
		assert.ErrorIs(t, <-batch[i].done, want, "write %d", i) // a nil want is no error
	}
	assert.Equal(t, 1, rec.distinct(), "the good writes ran last in how many transactions")
	err := f.view(func(tx *bbolt.Tx) error {
		for _, name := range []string{"a", "b"} {
			assert.NotNil(t, tx.Bucket(bucketRuns).Get([]byte(name)), "write %s was not committed", name)
		}
		return nil
	})
	require.NoError(t, err)
}
