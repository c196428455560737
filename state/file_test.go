package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
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
		t.Fatal("a second Open of an open file succeeded")
	}
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, path)
	}
	// bbolt polls the lock every 50ms and may give up a poll early.
	if elapsed < timeout/2 || elapsed > timeout+5*time.Second {
		t.Errorf("gave up after %v, want about %v", elapsed, timeout)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, &state.Options{Timeout: timeout}) // free again
	if state.DefaultTimeout != time.Second {
		t.Errorf("DefaultTimeout %v, documented as 1s", state.DefaultTimeout)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stateFile := func(t *testing.T) []byte {
		t.Helper()
		path := filepath.Join(t.TempDir(), "state.db")
		f, err := state.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.CommitProgress(context.Background(), bot.Commit{Conversation: "c", Index: 1}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
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
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := state.Open(path, &state.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, state.ErrFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open = %v, want ErrFormat naming %s and saying %q", err, path, tt.wantErr)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, content) {
				t.Error("Open changed the file it refused")
			}
		})
	}
}

// An empty file, as a crash between creating the file and writing it
// leaves, is a new state file.
func TestOpenEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := openAt(t, path, nil)
	if p, err := f.LoadProgress(context.Background()); err != nil || p.Saved {
		t.Fatalf("LoadProgress = %+v, %v; want nothing saved", p, err)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no", "state.db")
	if f, err := state.Open(path, nil); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("Open in a missing directory = %v, want an os.ErrNotExist error naming %s", err, path)
	}
}

// A damaged record is an ErrFormat error of the call that reads it, not
// a panic and not a wrong value.
func TestDamagedRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.CommitProgress(ctx, bot.Commit{Conversation: "c", Index: 1, Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, r := range []struct{ bucket, key string }{{"handled", "c"}, {"dedup", "k"}, {"runs", "daily"}, {"rate", "\x03" + strings.Repeat("\x00", 8)}} {
			if err := tx.Bucket([]byte(r.bucket)).Put([]byte(r.key), []byte("bad")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f = openAt(t, path, nil)
	wantDamaged := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, state.ErrFormat) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s = %v, want an ErrFormat error saying the record is damaged", what, err)
		}
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
	if err := f.CommitProgress(ctx, bot.Commit{Conversation: "d", Index: 2}); err != nil {
		t.Errorf("CommitProgress of another conversation: %v", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx := context.Background()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err1 := f.LoadProgress(ctx)
	err2 := f.CommitProgress(ctx, bot.Commit{Cursor: 1})
	_, err3 := f.Seen(ctx, "k", time.Now())
	err4 := f.Mark(ctx, "k", time.Now())
	_, err5 := f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 1}, time.Now())
	_, _, err6 := f.LastRun(ctx, "j")
	err7 := f.SetLastRun(ctx, "j", time.Now())
	for i, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if !errors.Is(err, state.ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i+1, err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	f := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.CommitProgress(ctx, bot.Commit{Cursor: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CommitProgress with a cancelled context = %v, want context.Canceled", err)
	}
	if p, _ := f.LoadProgress(context.Background()); p.Saved {
		t.Fatal("a commit refused for its context was saved")
	}
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
				if err := f.CommitProgress(ctx, bot.Commit{Conversation: im.ConversationID(fmt.Sprint(c)), Index: int64(i + 1)}); err != nil {
					t.Errorf("CommitProgress: %v", err)
				}
			}
		})
	}
	for range 5 {
		if err := f.Mark(ctx, "", time.Now()); !errors.Is(err, berrors.ErrKeyRequired) {
			t.Errorf("Mark of an empty key = %v, want bbolt's ErrKeyRequired", err)
		}
	}
	wg.Wait()
	p, err := f.LoadProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for c := range convs {
		if got := p.Handled[im.ConversationID(fmt.Sprint(c))]; got != 5 {
			t.Errorf("conversation %d at %d, want 5", c, got)
		}
	}
}

// countKeys returns how many records each bucket of the state file at
// path holds; the file must be closed.
func countKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// copyFile copies the file at path, as a crash would leave it when no
// write is under way, and returns the copy's path.
func copyFile(t *testing.T, path string) string {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
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
		if seen, err := f.Seen(ctx, key, now); err != nil || seen {
			t.Fatalf("Seen(%s) = %v, %v", key, seen, err)
		}
		if err := f.Mark(ctx, key, now.Add(window)); err != nil {
			t.Fatal(err)
		}
	}
	path := f.Path()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := countKeys(t, path)
	if want := int(window / every); got["dedup"] != want || got["dedup-expiry"] != want {
		t.Fatalf("after %d marks, %d a window, the file holds %d keys and %d by expiry; want the window's %d each",
			n, want, got["dedup"], got["dedup-expiry"], want)
	}
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
			if err != nil {
				t.Fatal(err)
			}
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
	if got := tokensIn(); got != 9 {
		t.Fatalf("after the first take, the file has %d tokens, want 9", got)
	}
	takeN(f, user(1), t0.Add(time.Millisecond), 4)
	if got := tokensIn(); got != 9 {
		t.Fatalf("within RateFlush, the file has %d tokens, want the 9 of the last write", got)
	}
	takeN(f, user(1), t0.Add(time.Minute), 1)
	if got := tokensIn(); got != 4 {
		t.Fatalf("after RateFlush, the file has %d tokens, want 4", got)
	}
	takeN(f, user(2), t0.Add(time.Minute+time.Second), 3)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, path)["rate"]; got != 2 {
		t.Fatalf("after Close, %d buckets in the file, want 2", got)
	}
	// A day on, both are full again: the next write deletes them.
	f = openAt(t, path, nil)
	takeN(f, user(3), t0.Add(24*time.Hour), 1)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countKeys(t, path)["rate"]; got != 1 {
		t.Fatalf("a day on, %d buckets in the file, want 1 (user 3's): the full ones leave", got)
	}
	if state.DefaultRateFlush != time.Second {
		t.Errorf("DefaultRateFlush %v, documented as 1s", state.DefaultRateFlush)
	}
}

// TestOpenDamagedFile damages a state file, 16 bytes at a time at
// offsets spread over its pages past the meta pages, and opens it: Open
// refuses it with ErrFormat, or every read then works or fails with an
// error; none panics.
func TestOpenDamagedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	for i := range 100 {
		if err := f.CommitProgress(ctx, bot.Commit{Conversation: im.ConversationID(fmt.Sprint("0:1:", i, ":100")), Index: int64(i), Cursor: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if err := f.Mark(ctx, fmt.Sprint("100/c/", i), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetLastRun(ctx, "daily", now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Take(ctx, middleware.RateKey{Scope: middleware.LimitGlobal}, middleware.Limit{Rate: 1, Burst: 5}, now); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096 // bbolt's two meta pages are checksummed
	refused := 0
	for off := 2 * pageSize; off < len(orig); off += 331 {
		damaged := bytes.Clone(orig)
		for j := off; j < min(off+16, len(damaged)); j++ {
			damaged[j] ^= 0xa5
		}
		p := filepath.Join(t.TempDir(), "damaged.db")
		if err := os.WriteFile(p, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := state.Open(p, nil)
		if err != nil {
			if !errors.Is(err, state.ErrFormat) {
				t.Errorf("damage at %d: Open = %v, want ErrFormat", off, err)
			}
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
	if refused == 0 {
		t.Error("no damage was refused: the test damaged nothing that matters")
	}
}
