package state_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver/store/bolt"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
)

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	first := openAt(t, path, nil)
	const timeout = 100 * time.Millisecond
	start := time.Now()
	f, err := state.Open(path, &state.Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		f.Close()
	}
	require.Error(t, err, "a second Open of an open file succeeded")
	require.ErrorIs(t, err, state.ErrLocked, "second Open")
	require.EqualError(t, err, "state: "+path+" is locked: another process, or another state.File in this one, has held it for 100ms; "+
		"each bot needs a state file of its own, not another bot's nor the imserver's -data file", "second Open")
	// bbolt polls the lock every 50ms and may give up a poll early.
	assert.GreaterOrEqual(t, elapsed, timeout/2, "gave up after %v, want about %v", elapsed, timeout)
	assert.LessOrEqual(t, elapsed, timeout+5*time.Second, "gave up after %v, want about %v", elapsed, timeout)
	require.NoError(t, first.Close())
	openAt(t, path, &state.Options{Timeout: timeout}) // free again
	assert.Equal(t, time.Second, state.DefaultTimeout, "DefaultTimeout, documented as 1s")
}

// A file that another program holds, as a running imserver -data im.db
// holds its file, is locked too, and the error says so: it cannot be
// read to tell what it is.
func TestOpenLockedByTheServer(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "im.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err, "bolt.Open")
	defer st.Close()
	f, err := state.Open(path, &state.Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		f.Close()
	}
	require.ErrorIs(t, err, state.ErrLocked, "Open of a file the server holds")
	require.ErrorContains(t, err, "state: "+path+" is locked: another process", "Open of a file the server holds")
}

// The embedded server's data file (imserver -data im.db, a bbolt file of
// imserver/store/bolt) is no state file, and Open says what it is. The
// file here is a real one: a server ran on it and kept a conversation.
func TestOpenIMServerFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "im.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err, "bolt.Open")
	s := imtest.NewUnstartedServer(t)
	s.Config.Store = st
	s.Start()
	alice := s.NewUser(t, 1001)
	alice.Send(t, alice.CreateSingle(t, 1002), "hello")
	alice.Client.Close()
	s.Close()
	require.NoError(t, st.Close(), "closing the server's store")
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	f, err := state.Open(path, nil)
	if err == nil {
		f.Close()
	}
	require.EqualError(t, err, "state: "+path+" is an imserver data file (imserver/store/bolt), not a bot state file", "Open")
	require.ErrorIs(t, err, state.ErrFormat, "Open")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(after, before), "Open changed the server's file")
}

// TestOpenNotAStateFile opens files that are not imbot state files of
// this version: each is refused with ErrFormat naming the file, and none
// is changed.
func TestOpenNotAStateFile(t *testing.T) {
	t.Parallel()
	// withBolt returns a bbolt file with the buckets and records of fn.
	withBolt := func(t *testing.T, fn func(tx *bbolt.Tx) error) []byte {
		t.Helper()
		path := filepath.Join(t.TempDir(), "bolt.db")
		db, err := bbolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(fn))
		require.NoError(t, db.Close())
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	stateFile := func(t *testing.T) []byte {
		t.Helper()
		path := filepath.Join(t.TempDir(), "state.db")
		f, err := state.Open(path, nil)
		require.NoError(t, err)
		require.NoError(t, f.CommitProgress(context.Background(), bot.Commit{Conversation: "c", Index: 1}))
		require.NoError(t, f.Close())
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name    string
		content func(t *testing.T) []byte
		wantErr string
	}{
		{"text", func(*testing.T) []byte { return bytes.Repeat([]byte("not a bolt file\n"), 1024) }, "invalid"},
		{"zeros", func(*testing.T) []byte { return make([]byte, 64<<10) }, "invalid"},
		{"truncated", func(t *testing.T) []byte { return stateFile(t)[:100] }, ""},
		{"another program's bolt file", func(t *testing.T) []byte {
			return withBolt(t, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("users"))
				if err != nil {
					return err
				}
				return b.Put([]byte("alice"), []byte("online"))
			})
		}, `no format record, and buckets ["users"]`},
		{"another program's meta bucket", func(t *testing.T) []byte {
			return withBolt(t, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("version"), []byte("3"))
			})
		}, `no format record, and buckets ["meta"]`},
		{"a server file with counters only", func(t *testing.T) []byte {
			return withBolt(t, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("short_id"), make([]byte, 8))
			})
		}, `is an imserver data file (imserver/store/bolt), not a bot state file`},
		{"another program's bolt file with a server bucket", func(t *testing.T) []byte {
			return withBolt(t, func(tx *bbolt.Tx) error {
				for _, name := range []string{"msg", "users"} {
					if _, err := tx.CreateBucket([]byte(name)); err != nil {
						return err
					}
				}
				return nil
			})
		}, `no format record, and buckets ["msg" "users"]`},
		{"another format", func(t *testing.T) []byte {
			return withBolt(t, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("format"), []byte("imbot-state 2"))
			})
		}, `has format "imbot-state 2", this program reads "imbot-state 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			content := tt.content(t)
			require.NoError(t, os.WriteFile(path, content, 0o600))
			f, err := state.Open(path, &state.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				f.Close()
			}
			require.Error(t, err, "Open succeeded")
			require.ErrorIs(t, err, state.ErrFormat, "Open")
			require.ErrorContains(t, err, path, "Open: want ErrFormat naming the file")
			require.ErrorContains(t, err, tt.wantErr, "Open")
			after, _ := os.ReadFile(path)
			assert.True(t, bytes.Equal(after, content), "Open changed the file it refused")
		})
	}
}

// An empty file, as a crash between creating the file and writing it
// leaves, is a new state file.
func TestOpenEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	f := openAt(t, path, nil)
	p, err := f.LoadProgress(context.Background())
	require.NoError(t, err, "LoadProgress")
	require.False(t, p.Saved, "LoadProgress = %+v; want nothing saved", p)
}

func TestOpenMissingDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no", "state.db")
	f, err := state.Open(path, nil)
	if f != nil {
		f.Close()
	}
	require.ErrorIs(t, err, os.ErrNotExist, "Open in a missing directory")
	require.ErrorContains(t, err, path, "Open in a missing directory: want an error naming the file")
}

// A damaged record is an ErrFormat error of the call that reads it, not
// a panic and not a wrong value.
func TestDamagedRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := state.Open(path, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, f.CommitProgress(ctx, bot.Commit{Conversation: "c", Index: 1, Cursor: 1}))
	require.NoError(t, f.Close())
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, r := range []struct{ bucket, key string }{{"handled", "c"}, {"dedup", "k"}, {"runs", "daily"}, {"rate", "\x03" + strings.Repeat("\x00", 8)}} {
			if err := tx.Bucket([]byte(r.bucket)).Put([]byte(r.key), []byte("bad")); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	f = openAt(t, path, nil)
	wantDamaged := func(what string, err error) {
		t.Helper()
		assert.ErrorIs(t, err, state.ErrFormat, "%s: want an ErrFormat error saying the record is damaged", what)
		assert.ErrorContains(t, err, "damaged", "%s: want an ErrFormat error saying the record is damaged", what)
	}
	_, err = f.LoadProgress(ctx)
	wantDamaged("LoadProgress", err)
	wantDamaged("CommitProgress", f.CommitProgress(ctx, bot.Commit{Conversation: "c", Index: 2}))
	_, err = f.Seen(ctx, "k", time.Now())
	wantDamaged("Seen", err)
	wantDamaged("Mark", f.Mark(ctx, "k", time.Now()))
	_, _, err = f.LastRun(ctx, "daily")
	wantDamaged("LastRun", err)
	_, err = f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 1}, time.Now())
	wantDamaged("Take", err)
	// The other records work.
	assert.NoError(t, f.CommitProgress(ctx, bot.Commit{Conversation: "d", Index: 2}), "CommitProgress of another conversation")
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx := context.Background()
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "second Close")
	_, err1 := f.LoadProgress(ctx)
	err2 := f.CommitProgress(ctx, bot.Commit{Cursor: 1})
	_, err3 := f.Seen(ctx, "k", time.Now())
	err4 := f.Mark(ctx, "k", time.Now())
	_, err5 := f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 1}, time.Now())
	_, _, err6 := f.LastRun(ctx, "j")
	err7 := f.SetLastRun(ctx, "j", time.Now())
	for i, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		assert.ErrorIs(t, err, state.ErrClosed, "call %d after Close", i+1)
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.CommitProgress(ctx, bot.Commit{Cursor: 1}), context.Canceled, "CommitProgress with a cancelled context")
	p, _ := f.LoadProgress(context.Background())
	require.False(t, p.Saved, "a commit refused for its context was saved")
}

// A write that fails fails alone: the writes that shared its
// transaction are committed.
func TestFailedWriteFailsAlone(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx := context.Background()
	const convs = 20
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			for i := range 5 {
				assert.NoError(t, f.CommitProgress(ctx, bot.Commit{Conversation: im.ConversationID(fmt.Sprint(c)), Index: int64(i + 1)}), "CommitProgress")
			}
		})
	}
	for range 5 {
		assert.ErrorIs(t, f.Mark(ctx, "", time.Now()), berrors.ErrKeyRequired, "Mark of an empty key, want bbolt's ErrKeyRequired")
	}
	wg.Wait()
	p, err := f.LoadProgress(ctx)
	require.NoError(t, err)
	for c := range convs {
		assert.EqualValues(t, 5, p.Handled[im.ConversationID(fmt.Sprint(c))], "conversation %d", c)
	}
}

// countKeys returns how many records each bucket of the state file at
// path holds; the file must be closed.
func countKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	n := map[string]int{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(_, _ []byte) error {
				n[string(name)]++
				return nil
			})
		})
	})
	require.NoError(t, err)
	return n
}

// copyFile copies the file at path, as a crash would leave it when no
// write is under way, and returns the copy's path.
func copyFile(t *testing.T, path string) string {
	t.Helper()
	src, err := os.Open(path)
	require.NoError(t, err)
	defer src.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	out, err := os.Create(dst)
	require.NoError(t, err)
	_, err = io.Copy(out, src)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return dst
}

// The dedup keys of the file are bounded by those of the window: each
// Mark deletes a few of those expired at the latest Seen.
func TestDedupFileIsBounded(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx := context.Background()
	const window, every, n = time.Minute, time.Second, 600 // 60 keys in a window
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		now := t0.Add(time.Duration(i) * every)
		key := fmt.Sprint("100/c/", i)
		seen, err := f.Seen(ctx, key, now)
		require.NoError(t, err, "Seen(%s)", key)
		require.False(t, seen, "Seen(%s)", key)
		require.NoError(t, f.Mark(ctx, key, now.Add(window)))
	}
	path := f.Path()
	require.NoError(t, f.Close())
	got := countKeys(t, path)
	want := int(window / every)
	require.Equal(t, want, got["dedup"], "after %d marks, %d a window: keys in the file, want the window's", n, want)
	require.Equal(t, want, got["dedup-expiry"], "after %d marks, %d a window: keys by expiry in the file, want the window's", n, want)
}

// Rate buckets are written once RateFlush has passed in the time of
// Take, and at Close; a bucket full again leaves the file.
func TestRateFlush(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	f := openAt(t, path, &state.Options{RateFlush: time.Minute})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limit := middleware.Limit{Rate: rate.Every(time.Hour), Burst: 10}
	user := func(u im.UserID) middleware.RateKey {
		return middleware.RateKey{Scope: middleware.LimitPerUser, User: u}
	}
	takeN := func(f *state.File, key middleware.RateKey, now time.Time, n int) int {
		t.Helper()
		for i := range n {
			wait, err := f.Take(ctx, key, limit, now)
			require.NoError(t, err)
			if wait > 0 {
				return i
			}
		}
		return n
	}
	// tokensIn returns how many tokens user 1 has left at t0 in a copy of
	// the file as it is now.
	tokensIn := func() int {
		t.Helper()
		c := openAt(t, copyFile(t, path), nil)
		defer c.Close()
		return takeN(c, user(1), t0, 20)
	}
	takeN(f, user(1), t0, 1) // the first Take writes
	require.Equal(t, 9, tokensIn(), "after the first take, the file's tokens")
	takeN(f, user(1), t0.Add(time.Millisecond), 4)
	require.Equal(t, 9, tokensIn(), "within RateFlush, the file's tokens, want the 9 of the last write")
	takeN(f, user(1), t0.Add(time.Minute), 1)
	require.Equal(t, 4, tokensIn(), "after RateFlush, the file's tokens")
	takeN(f, user(2), t0.Add(time.Minute+time.Second), 3)
	require.NoError(t, f.Close())
	require.Equal(t, 2, countKeys(t, path)["rate"], "after Close, buckets in the file")
	// A day on, both are full again: the next write deletes them.
	f = openAt(t, path, nil)
	takeN(f, user(3), t0.Add(24*time.Hour), 1)
	require.NoError(t, f.Close())
	require.Equal(t, 1, countKeys(t, path)["rate"], "a day on, buckets in the file, want 1 (user 3's): the full ones leave")
	assert.Equal(t, time.Second, state.DefaultRateFlush, "DefaultRateFlush, documented as 1s")
}

// TestOpenDamagedFile damages a state file, 16 bytes at a time at
// offsets spread over its pages past the meta pages, and opens it: Open
// refuses it with ErrFormat, or every read then works or fails with an
// error; none panics.
func TestOpenDamagedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := state.Open(path, nil)
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	for i := range 100 {
		require.NoError(t, f.CommitProgress(ctx, bot.Commit{Conversation: im.ConversationID(fmt.Sprint("0:1:", i, ":100")), Index: int64(i), Cursor: int64(i)}))
		require.NoError(t, f.Mark(ctx, fmt.Sprint("100/c/", i), now.Add(time.Hour)))
	}
	require.NoError(t, f.SetLastRun(ctx, "daily", now))
	_, err = f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 5}, now)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	const pageSize = 4096 // bbolt's two meta pages are checksummed
	refused := 0
	for off := 2 * pageSize; off < len(orig); off += 331 {
		damaged := bytes.Clone(orig)
		for j := off; j < min(off+16, len(damaged)); j++ {
			damaged[j] ^= 0xa5
		}
		p := filepath.Join(t.TempDir(), "damaged.db")
		require.NoError(t, os.WriteFile(p, damaged, 0o600))
		f, err := state.Open(p, nil)
		if err != nil {
			assert.ErrorIs(t, err, state.ErrFormat, "damage at %d: Open", off)
			refused++
			continue
		}
		f.LoadProgress(ctx)
		f.Seen(ctx, "100/c/7", now)
		f.LastRun(ctx, "daily")
		f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 5}, now)
		f.CommitProgress(ctx, bot.Commit{Conversation: "0:1:7:100", Index: 100})
		f.Mark(ctx, "100/c/7", now.Add(time.Hour))
		f.Close()
	}
	assert.NotZero(t, refused, "no damage was refused: the test damaged nothing that matters")
}
