package bolt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/imserver/store/bolt"
	"github.com/imbot-go/imbot/imserver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T, dir string) store.Store {
		s, err := bolt.Open(filepath.Join(dir, "im.db"), nil)
		require.NoError(t, err)
		return s
	})
}

// open opens a fresh store in a temporary directory and closes it when the
// test ends.
func open(t *testing.T) (*bolt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "im.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *bolt.Options
		want time.Duration
	}{
		{"Timeout", &bolt.Options{Timeout: 100 * time.Millisecond}, 100 * time.Millisecond},
		{"DefaultNil", nil, bolt.DefaultTimeout},
		{"DefaultZero", &bolt.Options{}, bolt.DefaultTimeout},
		{"DefaultNegative", &bolt.Options{Timeout: -1}, bolt.DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, path := open(t)

			type result struct {
				s   *bolt.Store
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				s, err := bolt.Open(path, tt.opts)
				done <- result{s, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(tt.want + 10*time.Second):
				// Release the lock so the goroutine can finish.
				first.Close()
				r = <-done
				require.Failf(t, "second Open still waiting", "after %v", time.Since(start))
			}
			elapsed := time.Since(start)
			if r.err == nil {
				r.s.Close()
			}
			require.Error(t, r.err, "second Open of a locked file succeeded")
			require.ErrorIs(t, r.err, bolt.ErrLocked, "second Open")
			assert.ErrorContains(t, r.err, path, "error does not name the file")
			// bbolt polls the lock every 50ms and gives up one poll before
			// the timeout would pass, so allow for less; half the timeout
			// still tells the default from the 100ms case.
			assert.GreaterOrEqual(t, elapsed, tt.want/2, "gave up after %v, want about %v", elapsed, tt.want)
			assert.LessOrEqual(t, elapsed, tt.want+time.Second, "gave up after %v, want about %v", elapsed, tt.want)

			// Once the first store is closed, the file opens again.
			require.NoError(t, first.Close())
			s, err := bolt.Open(path, tt.opts)
			require.NoError(t, err, "Open after Close")
			s.Close()
		})
	}
}

func TestOpenNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "im.db")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a bolt file\n"), 1024), 0o600))
	s, err := bolt.Open(path, nil)
	if err == nil {
		s.Close()
	}
	require.Error(t, err, "Open of a text file succeeded")
	require.NotErrorIs(t, err, bolt.ErrLocked, "Open")
	require.ErrorContains(t, err, path, "Open must name the file")
}

// TestPutCopiesWithinTx checks the copy a test after commit cannot see:
// bbolt holds on to the value slice until the commit.
func TestPutCopiesWithinTx(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	err := s.Update(func(tx store.Tx) error {
		v := []byte("value")
		if err := tx.Put("b", []byte("k"), v); err != nil {
			return err
		}
		copy(v, "XXXXX")
		assert.Equal(t, "value", string(tx.Get("b", []byte("k"))), "in tx")
		return nil
	})
	require.NoError(t, err)
	err = s.View(func(tx store.Tx) error {
		assert.Equal(t, "value", string(tx.Get("b", []byte("k"))), "after commit")
		return nil
	})
	require.NoError(t, err)
}

func TestEmptyValue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "im.db")
	check := func(t *testing.T, tx store.Tx, when string) {
		t.Helper()
		for _, k := range []string{"nil", "empty"} {
			// Equal of []byte tells nil from empty: want empty, not nil.
			assert.Equal(t, []byte{}, tx.Get("b", []byte(k)), "%s: Get(%s), want empty", when, k)
		}
		_ = tx.Ascend("b", nil, nil, func(k, v []byte) bool {
			assert.Equal(t, []byte{}, v, "%s: Ascend visits %s, want empty", when, k)
			return true
		})
	}
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	err = s.Update(func(tx store.Tx) error {
		if err := tx.Put("b", []byte("nil"), nil); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("empty"), []byte{}); err != nil {
			return err
		}
		check(t, tx, "in tx")
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s, err = bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	err = s.View(func(tx store.Tx) error {
		check(t, tx, "after reopen")
		return nil
	})
	require.NoError(t, err)
}

// TestEmptyBucketName pins down a limit bbolt has and the memory store
// does not: a write to the bucket "" fails instead of panicking.
func TestEmptyBucketName(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	err := s.Update(func(tx store.Tx) error { return tx.Put("", []byte("k"), []byte("v")) })
	require.Error(t, err, "Put in bucket \"\"")
	require.True(t, strings.HasPrefix(err.Error(), "bolt: "), "Put in bucket \"\" = %v, want a bolt: error", err)
	err = s.View(func(tx store.Tx) error {
		assert.Nil(t, tx.Get("", []byte("k")), "Get")
		return nil
	})
	require.NoError(t, err)
}

// TestCursorsAcrossPages walks a bucket spread over many B+tree pages,
// committed and with uncommitted changes, and compares every range with
// the keys it should hold.
func TestCursorsAcrossPages(t *testing.T) {
	t.Parallel()
	s, _ := open(t)
	const n = 5000
	key := func(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }
	// Even keys only, so that bounds on odd keys fall between two keys.
	err := s.Update(func(tx store.Tx) error {
		for i := 0; i < n; i += 2 {
			if err := tx.Put("b", key(i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)

	bounds := []struct{ from, to int }{
		{-1, -1}, {0, n}, {1, n - 1}, {2, 4}, {3, 4}, {1999, 2001}, {2000, 2000},
		{-1, 0}, {-1, 1}, {n - 2, -1}, {n - 1, -1}, {n + 10, -1}, {-1, n + 10}, {10, 5},
	}
	bound := func(i int) []byte {
		if i < 0 {
			return nil
		}
		return key(i)
	}
	// want lists the present keys in [from, to), in walk order.
	want := func(present func(int) bool, from, to int, descend bool) string {
		var out []int
		for i := range n {
			if present(i) && (from < 0 || i >= from) && (to < 0 || i < to) {
				out = append(out, i)
			}
		}
		if descend {
			for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
				out[l], out[r] = out[r], out[l]
			}
		}
		return fmt.Sprint(out)
	}
	walk := func(t *testing.T, tx store.Tx, present func(int) bool) {
		t.Helper()
		for _, b := range bounds {
			for _, descend := range []bool{false, true} {
				var out []int
				w := tx.Ascend
				if descend {
					w = tx.Descend
				}
				err := w("b", bound(b.from), bound(b.to), func(k, v []byte) bool {
					out = append(out, int(binary.BigEndian.Uint32(k)))
					return true
				})
				require.NoError(t, err)
				if got, want := fmt.Sprint(out), want(present, b.from, b.to, descend); got != want {
					t.Errorf("descend=%v [%d, %d): got %.60s…, want %.60s…", descend, b.from, b.to, got, want)
				}
			}
		}
	}

	even := func(i int) bool { return i%2 == 0 }
	err = s.View(func(tx store.Tx) error {
		walk(t, tx, even)
		return nil
	})
	require.NoError(t, err)

	// Inside an Update, the cursors must see the transaction's own writes:
	// drop every key divisible by 4 and add every odd key below 100.
	errDiscard := errors.New("discard")
	err = s.Update(func(tx store.Tx) error {
		for i := 0; i < n; i += 4 {
			if err := tx.Delete("b", key(i)); err != nil {
				return err
			}
		}
		for i := 1; i < 100; i += 2 {
			if err := tx.Put("b", key(i), nil); err != nil {
				return err
			}
		}
		walk(t, tx, func(i int) bool { return (even(i) && i%4 != 0) || (!even(i) && i < 100) })
		return errDiscard
	})
	require.ErrorIs(t, err, errDiscard, "Update")
}
