// Package storetest is the conformance suite of [store.Store]: every
// implementation runs it from its own tests, as slog handlers run
// testing/slogtest.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, dir string) store.Store { … })
//	}
package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver/store"
)

// Open opens a store whose data lives in dir (a durable implementation) or
// nowhere (the memory store ignores dir). Calling it again with the same dir
// after Close must find the data a durable store committed.
type Open func(t *testing.T, dir string) store.Store

// Run runs the suite that every Store must pass.
func Run(t *testing.T, open Open) {
	t.Helper()
	fresh := func(t *testing.T) store.Store {
		s := open(t, t.TempDir())
		t.Cleanup(func() { s.Close() })
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"CopiesValues", testCopiesValues},
		{"EmptyKey", testEmptyKey},
		{"ReadOnlyView", testReadOnlyView},
		{"BucketsAreSeparate", testBucketsAreSeparate},
		{"AscendOrderAndRanges", testAscend},
		{"DescendOrderAndRanges", testDescend},
		{"ByteOrderOfKeys", testByteOrder},
		{"StopEarly", testStopEarly},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"SerializableUpdates", testSerializableUpdates},
		{"ConsistentViews", testConsistentViews},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, fresh(t))
		})
	}
}

// RunDurable runs [Run] and then the checks a durable store must also pass:
// what an Update committed is there after Close and reopen, and what it
// rolled back is not.
func RunDurable(t *testing.T, open Open) {
	t.Helper()
	Run(t, open)
	t.Run("SurvivesReopen", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s := open(t, dir)
		mustUpdate(t, s, func(tx store.Tx) error {
			for i := range 100 {
				if err := tx.Put("b", key(i), []byte(fmt.Sprint(i))); err != nil {
					return err
				}
			}
			return tx.Delete("b", key(50))
		})
		errBoom := errors.New("boom")
		err := s.Update(func(tx store.Tx) error {
			_ = tx.Put("b", key(1000), []byte("x"))
			return errBoom
		})
		require.ErrorIs(t, err, errBoom, "Update")
		require.NoError(t, s.Close())
		s = open(t, dir)
		defer s.Close()
		var n int
		mustView(t, s, func(tx store.Tx) error {
			return tx.Ascend("b", nil, nil, func(k, v []byte) bool {
				n++
				return true
			})
		})
		require.Equal(t, 99, n, "keys after reopen")
		mustView(t, s, func(tx store.Tx) error {
			assert.Equal(t, "7", string(tx.Get("b", key(7))), "key 7")
			assert.Nil(t, tx.Get("b", key(50)), "deleted key 50")
			assert.Nil(t, tx.Get("b", key(1000)), "rolled back key")
			return nil
		})
	})
}

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(fn), "Update")
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	require.NoError(t, s.View(fn), "View")
}

func get(t *testing.T, s store.Store, bucket string, k []byte) []byte {
	t.Helper()
	var out []byte
	mustView(t, s, func(tx store.Tx) error {
		if v := tx.Get(bucket, k); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out
}

func testGetPutDelete(t *testing.T, s store.Store) {
	require.Nil(t, get(t, s, "b", []byte("k")), "empty store")
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("b", []byte("k"), []byte("v1")); err != nil {
			return err
		}
		assert.Equal(t, "v1", string(tx.Get("b", []byte("k"))), "read own write")
		return tx.Put("b", []byte("k"), []byte("v2"))
	})
	require.Equal(t, "v2", string(get(t, s, "b", []byte("k"))), "overwrite")
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("b", []byte("empty"), nil); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("missing")); err != nil {
			return err
		}
		return tx.Delete("b", []byte("k"))
	})
	require.Nil(t, get(t, s, "b", []byte("k")), "deleted")
	v := get(t, s, "b", []byte("empty"))
	require.NotNil(t, v, "empty value must read back as empty, not missing")
	require.Empty(t, v, "empty value must read back as empty")
}

func testCopiesValues(t *testing.T, s store.Store) {
	k, v := []byte("k"), []byte("value")
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("b", k, v) })
	k[0], v[0] = 'x', 'x'
	require.Equal(t, "value", string(get(t, s, "b", []byte("k"))), "store kept the caller's slice")
}

func testEmptyKey(t *testing.T, s store.Store) {
	err := s.Update(func(tx store.Tx) error { return tx.Put("b", nil, []byte("v")) })
	require.ErrorIs(t, err, store.ErrEmptyKey, "Put(nil key)")
}

func testReadOnlyView(t *testing.T, s store.Store) {
	err := s.View(func(tx store.Tx) error { return tx.Put("b", []byte("k"), []byte("v")) })
	require.ErrorIs(t, err, store.ErrReadOnly, "Put in View")
	err = s.View(func(tx store.Tx) error { return tx.Delete("b", []byte("k")) })
	require.ErrorIs(t, err, store.ErrReadOnly, "Delete in View")
}

func testBucketsAreSeparate(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("a", []byte("k"), []byte("in a")); err != nil {
			return err
		}
		return tx.Put("b", []byte("k"), []byte("in b"))
	})
	require.Equal(t, "in a", string(get(t, s, "a", []byte("k"))), "bucket a")
	require.Nil(t, get(t, s, "never", []byte("k")), "unwritten bucket")
}

// keys in byte order, including the edge bytes a careless implementation
// would sort as signed or as strings with a terminator.
var orderedKeys = [][]byte{{0x00}, {0x00, 0x00}, {0x01}, {0x7f}, {0x80}, {0xff}, {0xff, 0x00}}

func fill(t *testing.T, s store.Store) {
	t.Helper()
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := len(orderedKeys) - 1; i >= 0; i-- {
			if err := tx.Put("b", orderedKeys[i], []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	})
}

func collect(t *testing.T, s store.Store, descend bool, from, to []byte) []int {
	t.Helper()
	var out []int
	mustView(t, s, func(tx store.Tx) error {
		walk := tx.Ascend
		if descend {
			walk = tx.Descend
		}
		return walk("b", from, to, func(k, v []byte) bool {
			out = append(out, int(v[0]))
			return true
		})
	})
	return out
}

func testAscend(t *testing.T, s store.Store) {
	fill(t, s)
	cases := []struct {
		from, to []byte
		want     []int
	}{
		{nil, nil, []int{0, 1, 2, 3, 4, 5, 6}},
		{[]byte{0x01}, nil, []int{2, 3, 4, 5, 6}},
		{nil, []byte{0x80}, []int{0, 1, 2, 3}},
		{[]byte{0x00, 0x00}, []byte{0xff}, []int{1, 2, 3, 4}},
		{[]byte{0x02}, []byte{0x03}, nil},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, collect(t, s, false, c.from, c.to), "Ascend(%x, %x)", c.from, c.to)
	}
}

func testDescend(t *testing.T, s store.Store) {
	fill(t, s)
	cases := []struct {
		from, to []byte
		want     []int
	}{
		{nil, nil, []int{6, 5, 4, 3, 2, 1, 0}},
		{[]byte{0x01}, nil, []int{6, 5, 4, 3, 2}},
		{nil, []byte{0x80}, []int{3, 2, 1, 0}},
		{[]byte{0x00, 0x00}, []byte{0xff}, []int{4, 3, 2, 1}},
		{[]byte{0x02}, []byte{0x03}, nil},
		{nil, []byte{0x00}, nil},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, collect(t, s, true, c.from, c.to), "Descend(%x, %x)", c.from, c.to)
	}
}

// testByteOrder checks that keys sort as bytes.Compare sorts them, for
// keys of every length up to 20 that differ only in zeros and in their
// first, eighth, sixteenth and last bytes: the places where an
// implementation that compares a fixed-size prefix first could go wrong.
func testByteOrder(t *testing.T, s store.Store) {
	var keys [][]byte
	for n := 1; n <= 20; n++ {
		for _, at := range []int{0, 7, 8, 15, 16, n - 1} {
			for _, b := range []byte{0x00, 0x01, 0xff} {
				if at >= n {
					continue
				}
				k := bytes.Repeat([]byte{0x00}, n)
				k[at] = b
				keys = append(keys, k)
			}
		}
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		// In an order unrelated to the sorted one: by length, descending.
		for i := len(keys) - 1; i >= 0; i-- {
			if err := tx.Put("order", keys[i], keys[i]); err != nil {
				return err
			}
		}
		return nil
	})
	sorted := slices.SortedFunc(slices.Values(keys), bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	var got [][]byte
	mustView(t, s, func(tx store.Tx) error {
		return tx.Ascend("order", nil, nil, func(k, v []byte) bool {
			got = append(got, slices.Clone(k))
			return true
		})
	})
	require.Equal(t, sorted, got, "Ascend order")
	// Every key is found, and a range between neighbours holds exactly
	// the lower one.
	mustView(t, s, func(tx store.Tx) error {
		for i, k := range sorted {
			assert.Equal(t, k, tx.Get("order", k), "Get(%x)", k)
			if i+1 == len(sorted) {
				break
			}
			var in [][]byte
			_ = tx.Ascend("order", k, sorted[i+1], func(k, _ []byte) bool {
				in = append(in, slices.Clone(k))
				return true
			})
			assert.Equal(t, [][]byte{k}, in, "Ascend(%x, %x) must hold only the first", k, sorted[i+1])
		}
		return nil
	})
}

func testStopEarly(t *testing.T, s store.Store) {
	fill(t, s)
	for _, descend := range []bool{false, true} {
		var n int
		mustView(t, s, func(tx store.Tx) error {
			walk := tx.Ascend
			if descend {
				walk = tx.Descend
			}
			return walk("b", nil, nil, func(k, v []byte) bool {
				n++
				return n < 2
			})
		})
		assert.Equal(t, 2, n, "descend=%v: visited after stop", descend)
	}
}

func testRollbackOnError(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("b", []byte("keep"), []byte("old")); err != nil {
			return err
		}
		return tx.Put("b", []byte("gone"), []byte("old"))
	})
	errBoom := errors.New("boom")
	err := s.Update(func(tx store.Tx) error {
		_ = tx.Put("b", []byte("keep"), []byte("new"))
		_ = tx.Put("b", []byte("keep"), []byte("newer"))
		_ = tx.Delete("b", []byte("gone"))
		_ = tx.Put("b", []byte("added"), []byte("new"))
		_ = tx.Put("other", []byte("added"), []byte("new"))
		return errBoom
	})
	require.ErrorIs(t, err, errBoom, "Update must return the function's error")
	assert.Equal(t, "old", string(get(t, s, "b", []byte("keep"))), "overwritten key after rollback")
	assert.Equal(t, "old", string(get(t, s, "b", []byte("gone"))), "deleted key after rollback")
	assert.Nil(t, get(t, s, "b", []byte("added")), "added key after rollback")
	assert.Nil(t, get(t, s, "other", []byte("added")), "added key in new bucket after rollback")
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	assert.Panics(t, func() {
		_ = s.Update(func(tx store.Tx) error {
			_ = tx.Put("b", []byte("k"), []byte("v"))
			panic("boom")
		})
	}, "Update swallowed the panic")
	require.Nil(t, get(t, s, "b", []byte("k")), "write of a panicking Update survived")
	// The store must still work: the panic released its lock.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("b", []byte("k"), []byte("v")) })
}

// testSerializableUpdates runs read-modify-write increments from many
// goroutines: any lost update shows as a short count.
func testSerializableUpdates(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Update(func(tx store.Tx) error {
					var n uint64
					if v := tx.Get("b", []byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return tx.Put("b", []byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, uint64(workers*each), binary.BigEndian.Uint64(get(t, s, "b", []byte("n"))), "counter")
}

// testConsistentViews moves value between two keys while readers check that
// their sum never changes: a View must never see half an Update.
func testConsistentViews(t *testing.T, s store.Store) {
	put := func(tx store.Tx, k string, n int64) error {
		return tx.Put("b", []byte(k), binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	read := func(tx store.Tx, k string) int64 { return int64(binary.BigEndian.Uint64(tx.Get("b", []byte(k)))) }
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := put(tx, "a", 1000); err != nil {
			return err
		}
		return put(tx, "b", 0)
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 100 {
			err := s.Update(func(tx store.Tx) error {
				if err := put(tx, "a", read(tx, "a")-int64(i%7)); err != nil {
					return err
				}
				return put(tx, "b", read(tx, "b")+int64(i%7))
			})
			if !assert.NoError(t, err) {
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_ = s.View(func(tx store.Tx) error {
					assert.Equal(t, int64(1000), read(tx, "a")+read(tx, "b"), "view saw sum")
					return nil
				})
			}
		})
	}
	wg.Wait()
}

func testClose(t *testing.T, s store.Store) {
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "second Close")
	require.ErrorIs(t, s.View(func(store.Tx) error { return nil }), store.ErrClosed, "View after Close")
	require.ErrorIs(t, s.Update(func(store.Tx) error { return nil }), store.ErrClosed, "Update after Close")
}
