package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/imbot-go/imbot/imserver/store"
)

// DefaultTimeout is how long Open waits for the file lock when
// [Options.Timeout] is not set.
const DefaultTimeout = time.Second

// ErrLocked is returned by Open when another Store, in this process or
// another, holds the file and does not release it within
// [Options.Timeout].
var ErrLocked = errors.New("bolt: database file is locked by another store")

// Options configures Open. A nil *Options and the zero Options both mean
// the defaults.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock. Zero or less
	// means DefaultTimeout. There is deliberately no way to wait forever:
	// a server started twice on the same file should fail and say why,
	// not hang.
	Timeout time.Duration
}

// Store is a [store.Store] kept in a single bbolt file.
//
// A Store is safe for concurrent use. Update transactions run one at a
// time; View transactions run alongside each other and alongside an
// Update. Close waits for running transactions to finish, so calling it
// from inside one deadlocks.
type Store struct {
	db *bbolt.DB
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating the file if it does
// not exist. The directory must exist. Open fails with [ErrLocked] if the
// file is already open and stays so for [Options.Timeout].
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	// Everything else stays at bbolt's defaults; in particular NoSync is
	// false, so every commit is fsynced.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s still held after %v", ErrLocked, path, o.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// View implements [store.Store].
func (s *Store) View(fn func(store.Tx) error) error {
	btx, err := s.begin(false)
	if err != nil {
		return err
	}
	// A read-only transaction has nothing to undo; Rollback just releases
	// it, also when fn panics.
	defer btx.Rollback()
	return fn(&tx{btx: btx})
}

// Update implements [store.Store]. It returns only after the commit is
// fsynced.
func (s *Store) Update(fn func(store.Tx) error) error {
	btx, err := s.begin(true)
	if err != nil {
		return err
	}
	// Rolls back when fn returns an error or panics; after a Commit it is
	// a no-op returning ErrTxClosed. A panic carries on to the caller.
	defer btx.Rollback()
	if err := fn(&tx{btx: btx}); err != nil {
		return err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("bolt: commit: %w", err)
	}
	return nil
}

func (s *Store) begin(writable bool) (*bbolt.Tx, error) {
	btx, err := s.db.Begin(writable)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil, store.ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: begin: %w", err)
	}
	return btx, nil
}

// Close implements [store.Store]. It waits for running transactions, then
// releases the file and its lock. Close is idempotent.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// tx adapts a bbolt transaction to [store.Tx].
type tx struct {
	btx *bbolt.Tx
}

func (t *tx) bucket(name string) *bbolt.Bucket {
	return t.btx.Bucket([]byte(name))
}

func (t *tx) Get(bucket string, key []byte) []byte {
	b := t.bucket(bucket)
	if b == nil {
		return nil
	}
	return b.Get(key)
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if !t.btx.Writable() {
		return store.ErrReadOnly
	}
	if len(key) == 0 {
		return store.ErrEmptyKey
	}
	b, err := t.btx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("bolt: bucket %q: %w", bucket, err)
	}
	// bbolt copies the key but keeps the value slice until commit. An
	// empty slice, unlike nil, reads back as empty rather than missing.
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("bolt: put in %q: %w", bucket, err)
	}
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if !t.btx.Writable() {
		return store.ErrReadOnly
	}
	b := t.bucket(bucket)
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("bolt: delete in %q: %w", bucket, err)
	}
	return nil
}

func (t *tx) Ascend(bucket string, from, to []byte, visit func(key, value []byte) bool) error {
	b := t.bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for ; k != nil && (to == nil || bytes.Compare(k, to) < 0); k, v = c.Next() {
		if !visit(k, v) {
			break
		}
	}
	return nil
}

func (t *tx) Descend(bucket string, from, to []byte, visit func(key, value []byte) bool) error {
	b := t.bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	if to == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(to); k == nil {
		// Every key is below to.
		k, v = c.Last()
	} else {
		// Seek landed on the first key >= to, which the range excludes.
		k, v = c.Prev()
	}
	for ; k != nil && (from == nil || bytes.Compare(k, from) >= 0); k, v = c.Prev() {
		if !visit(k, v) {
			break
		}
	}
	return nil
}
