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
		if err := s.Update(func(tx store.Tx) error {
			_ = tx.Put("b", key(1000), []byte("x"))
			return errBoom
		}); !errors.Is(err, errBoom) {
			t.Fatalf("Update = %v, want %v", err, errBoom)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, dir)
		defer s.Close()
		var n int
		mustView(t, s, func(tx store.Tx) error {
			return tx.Ascend("b", nil, nil, func(k, v []byte) bool {
				n++
				return true
			})
		})
		if n != 99 {
			t.Fatalf("after reopen %d keys, want 99", n)
		}
		mustView(t, s, func(tx store.Tx) error {
			if got := tx.Get("b", key(7)); string(got) != "7" {
				t.Errorf("key 7 = %q", got)
			}
			if got := tx.Get("b", key(50)); got != nil {
				t.Errorf("deleted key 50 = %q", got)
			}
			if got := tx.Get("b", key(1000)); got != nil {
				t.Errorf("rolled back key = %q", got)
			}
			return nil
		})
	})
}

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
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
	if v := get(t, s, "b", []byte("k")); v != nil {
		t.Fatalf("empty store: %q", v)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("b", []byte("k"), []byte("v1")); err != nil {
			return err
		}
		if got := tx.Get("b", []byte("k")); string(got) != "v1" {
			t.Errorf("read own write: %q", got)
		}
		return tx.Put("b", []byte("k"), []byte("v2"))
	})
	if v := get(t, s, "b", []byte("k")); string(v) != "v2" {
		t.Fatalf("overwrite: %q", v)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("b", []byte("empty"), nil); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("missing")); err != nil {
			return err
		}
		return tx.Delete("b", []byte("k"))
	})
	if v := get(t, s, "b", []byte("k")); v != nil {
		t.Fatalf("deleted: %q", v)
	}
	if v := get(t, s, "b", []byte("empty")); v == nil || len(v) != 0 {
		t.Fatalf("empty value must read back as empty, not missing: %v", v)
	}
}

func testCopiesValues(t *testing.T, s store.Store) {
	k, v := []byte("k"), []byte("value")
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("b", k, v) })
	k[0], v[0] = 'x', 'x'
	if got := get(t, s, "b", []byte("k")); string(got) != "value" {
		t.Fatalf("store kept the caller's slice: %q", got)
	}
}

func testEmptyKey(t *testing.T, s store.Store) {
	err := s.Update(func(tx store.Tx) error { return tx.Put("b", nil, []byte("v")) })
	if !errors.Is(err, store.ErrEmptyKey) {
		t.Fatalf("Put(nil key) = %v, want ErrEmptyKey", err)
	}
}

func testReadOnlyView(t *testing.T, s store.Store) {
	err := s.View(func(tx store.Tx) error { return tx.Put("b", []byte("k"), []byte("v")) })
	if !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("Put in View = %v, want ErrReadOnly", err)
	}
	err = s.View(func(tx store.Tx) error { return tx.Delete("b", []byte("k")) })
	if !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("Delete in View = %v, want ErrReadOnly", err)
	}
}

func testBucketsAreSeparate(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("a", []byte("k"), []byte("in a")); err != nil {
			return err
		}
		return tx.Put("b", []byte("k"), []byte("in b"))
	})
	if got := get(t, s, "a", []byte("k")); string(got) != "in a" {
		t.Fatalf("bucket a: %q", got)
	}
	if got := get(t, s, "never", []byte("k")); got != nil {
		t.Fatalf("unwritten bucket: %q", got)
	}
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

func eq(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

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
		if got := collect(t, s, false, c.from, c.to); !eq(got, c.want) {
			t.Errorf("Ascend(%x, %x) = %v, want %v", c.from, c.to, got, c.want)
		}
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
		if got := collect(t, s, true, c.from, c.to); !eq(got, c.want) {
			t.Errorf("Descend(%x, %x) = %v, want %v", c.from, c.to, got, c.want)
		}
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
	if !slices.EqualFunc(got, sorted, bytes.Equal) {
		t.Fatalf("Ascend order:\n got %x\nwant %x", got, sorted)
	}
	// Every key is found, and a range between neighbours holds exactly
	// the lower one.
	mustView(t, s, func(tx store.Tx) error {
		for i, k := range sorted {
			if v := tx.Get("order", k); !bytes.Equal(v, k) {
				t.Errorf("Get(%x) = %x", k, v)
			}
			if i+1 == len(sorted) {
				break
			}
			var in [][]byte
			_ = tx.Ascend("order", k, sorted[i+1], func(k, _ []byte) bool {
				in = append(in, slices.Clone(k))
				return true
			})
			if len(in) != 1 || !bytes.Equal(in[0], k) {
				t.Errorf("Ascend(%x, %x) = %x, want only the first", k, sorted[i+1], in)
			}
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
		if n != 2 {
			t.Errorf("descend=%v: visited %d after stop, want 2", descend, n)
		}
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
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if got := get(t, s, "b", []byte("keep")); string(got) != "old" {
		t.Errorf("overwritten key after rollback: %q", got)
	}
	if got := get(t, s, "b", []byte("gone")); string(got) != "old" {
		t.Errorf("deleted key after rollback: %q", got)
	}
	if got := get(t, s, "b", []byte("added")); got != nil {
		t.Errorf("added key after rollback: %q", got)
	}
	if got := get(t, s, "other", []byte("added")); got != nil {
		t.Errorf("added key in new bucket after rollback: %q", got)
	}
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Update swallowed the panic")
			}
		}()
		_ = s.Update(func(tx store.Tx) error {
			_ = tx.Put("b", []byte("k"), []byte("v"))
			panic("boom")
		})
	}()
	if got := get(t, s, "b", []byte("k")); got != nil {
		t.Fatalf("write of a panicking Update survived: %q", got)
	}
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
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := binary.BigEndian.Uint64(get(t, s, "b", []byte("n"))); got != workers*each {
		t.Fatalf("counter = %d, want %d", got, workers*each)
	}
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
			if err != nil {
				t.Error(err)
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
					if sum := read(tx, "a") + read(tx, "b"); sum != 1000 {
						t.Errorf("view saw sum %d", sum)
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
}

func testClose(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := s.View(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("View after Close = %v", err)
	}
	if err := s.Update(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update after Close = %v", err)
	}
}
