package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/middleware"
)

// Defaults of Options.
const (
	// DefaultTimeout is how long Open waits for the file lock.
	DefaultTimeout = time.Second
	// DefaultRateFlush is how much event time the rate buckets in the
	// file may lag behind those in memory.
	DefaultRateFlush = time.Second
)

// Errors of Open and of the stores. The errors of bbolt are wrapped.
var (
	// ErrLocked is returned by Open when another process, or another
	// File in this one, holds the file and does not release it within
	// Options.Timeout. The error names the file.
	ErrLocked = errors.New("state: file is locked")
	// ErrFormat is returned by Open for a file that is not an imbot state
	// file of this version (another program's, the embedded server's
	// data file, or one damaged beyond what bbolt checks), and by the
	// stores for a record that cannot be decoded.
	ErrFormat = errors.New("state: not an imbot state file")
	// ErrClosed is returned by the stores of a File that was closed.
	ErrClosed = errors.New("state: file is closed")
)

// Options configures Open. A nil *Options and the zero Options both mean
// the defaults.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock. Zero or less
	// means DefaultTimeout. There is no way to wait forever: a bot
	// started twice on one file must fail and say why, not hang.
	Timeout time.Duration
	// RateFlush is how often, in the time the rate limiter passes to
	// Take, the rate buckets changed in memory are written to the file;
	// after a crash, the buckets are as they were at the last write.
	// Zero or less means DefaultRateFlush.
	RateFlush time.Duration
}

// File is a bot's durable state in one bbolt file: its progress
// ([bot.ProgressStore]), the dedup window ([middleware.DedupStore]), the
// rate buckets ([middleware.RateStore]) and the cron plugin's last runs
// (LastRun and SetLastRun). See the package doc for what each keeps and
// how durably.
//
// A File is safe for concurrent use. Close waits for the writes under
// way; the methods of a closed File return ErrClosed.
type File struct {
	path   string
	db     *bbolt.DB
	writes committer
	rates  rateCache

	// seenNow is the latest now passed to Seen, as clampNano: the time
	// at which Mark sweeps expired keys.
	seenNow atomic.Int64
}

var (
	_ bot.ProgressStore     = (*File)(nil)
	_ middleware.DedupStore = (*File)(nil)
	_ middleware.RateStore  = (*File)(nil)
)

// Bucket names, and the format record. Changing the layout of a bucket
// means a new format.
var (
	bucketMeta        = []byte("meta")         // formatKey → format
	bucketProgress    = []byte("progress")     // cursorKey → int64
	bucketHandled     = []byte("handled")      // conversation id → int64
	bucketDedup       = []byte("dedup")        // key → expiry
	bucketDedupExpiry = []byte("dedup-expiry") // expiry ‖ key → nothing: the keys by expiry
	bucketRate        = []byte("rate")         // rate key → rate record
	bucketRuns        = []byte("runs")         // job → time.MarshalBinary

	buckets = [][]byte{bucketMeta, bucketProgress, bucketHandled, bucketDedup, bucketDedupExpiry, bucketRate, bucketRuns}

	formatKey = []byte("format")
	format    = []byte("imbot-state 1")
)

// The buckets of the embedded server's durable store (imserver/store/bolt,
// the file of imserver -data), as imserver/records.go names them, and
// the counters of its meta bucket: Open tells such a file from a state
// file by them. They are copied, not imported: a bot's state does not
// depend on the server (a test checks the copy).
var (
	imserverBuckets = []string{"meta", "conv", "conv_by_id", "conv_idem", "core", "member", "user_conv",
		"setting", "msg", "msg_by_id", "msg_client", "inbox", "cursor", "hidden", "live",
		"apply", "apply_to", "apply_from", "apply_pair", "friend"}
	imserverCounters = []string{"short_id", "msg_id", "apply_id"}
)

// openError is an error of Open that reads as msg and is kind
// (ErrLocked, ErrFormat) for errors.Is.
type openError struct {
	kind error
	msg  string
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.kind }

// Open opens the state file at path, creating it if it does not exist
// (the directory must). It fails with ErrLocked when another process,
// or another File in this one, holds the file for longer than
// opts.Timeout, and with ErrFormat when the file is not an imbot state
// file of this version; both name the file, and ErrFormat says what the
// file is when Open can tell (the embedded server's data file, say).
func Open(path string, opts *Options) (*File, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RateFlush <= 0 {
		o.RateFlush = DefaultRateFlush
	}
	// Everything else stays at bbolt's defaults; in particular NoSync is
	// false, so every commit is fsynced.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.Timeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &openError{kind: ErrLocked, msg: fmt.Sprintf("state: %s is locked: another process, or another state.File "+
			"in this one, has held it for %v; each bot needs a state file of its own, "+
			"not another bot's nor the imserver's -data file", path, o.Timeout)}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, path, err)
	case err != nil:
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	if err := db.View(verify); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %s is damaged: %w", ErrFormat, path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return initFile(tx, path) }); err != nil {
		db.Close()
		if errors.Is(err, ErrFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	f := &File{path: path, db: db}
	f.writes.db = db
	f.writes.idle.L = &f.writes.mu
	f.seenNow.Store(math.MinInt64)
	f.rates.init(db, &f.writes, o.RateFlush)
	return f, nil
}

// verify reads the whole file of tx: bbolt's consistency check, then
// every record. bbolt trusts the pages it reads, and panics on a damaged
// one; its check turns the panics of its own walk into errors, and
// verify does the same for the rest, so that a file damaged on disk is
// refused at Open with an error, and the File reads no page later that
// was not read here first. This is the package's one recover, at the
// one place where it reads bytes that it did not write. It costs a read
// of the file, which a bot's state keeps small.
func verify(tx *bbolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	for e := range tx.Check() {
		if err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
		return b.ForEach(func(_, _ []byte) error { return nil })
	})
}

// initFile checks the format of the file at path, of tx, or makes a
// new file into a state file.
func initFile(tx *bbolt.Tx, path string) error {
	var got []byte
	if meta := tx.Bucket(bucketMeta); meta != nil {
		got = meta.Get(formatKey)
	}
	if got != nil && !bytes.Equal(got, format) {
		return fmt.Errorf("%w: %s has format %q, this program reads %q", ErrFormat, path, got, format)
	}
	if got == nil {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		switch {
		case isIMServerFile(tx, names):
			return &openError{kind: ErrFormat, msg: fmt.Sprintf(
				"state: %s is an imserver data file (imserver/store/bolt), not a bot state file", path)}
		case len(names) > 0:
			return fmt.Errorf("%w: %s has no format record, and buckets %q", ErrFormat, path, names)
		}
	}
	for _, name := range buckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(formatKey, format)
}

// isIMServerFile reports whether the buckets of tx, names, are those of
// the embedded server's store: some, all of them its own, and when the
// meta bucket is the only one (whose name a state file shares), its keys
// are the server's counters.
func isIMServerFile(tx *bbolt.Tx, names []string) bool {
	if len(names) == 0 {
		return false
	}
	for _, name := range names {
		if !slices.Contains(imserverBuckets, name) {
			return false
		}
	}
	if len(names) > 1 || names[0] != string(bucketMeta) {
		return true
	}
	keys, counters := 0, 0
	_ = tx.Bucket(bucketMeta).ForEach(func(k, _ []byte) error {
		keys++
		if slices.Contains(imserverCounters, string(k)) {
			counters++
		}
		return nil
	})
	return keys > 0 && counters == keys
}

// Path returns the path of the file.
func (f *File) Path() string { return f.path }

// Close writes the rate buckets changed since the last write, waits for
// the writes under way and closes the file, releasing its lock. Close is
// idempotent.
func (f *File) Close() error {
	flushErr := f.rates.flushAll()
	if errors.Is(flushErr, ErrClosed) {
		flushErr = nil // closed before
	}
	f.writes.close()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", f.path, err)
	}
	return flushErr
}

// view runs fn in a read transaction.
func (f *File) view(fn func(tx *bbolt.Tx) error) error {
	err := f.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// committer runs the write transactions of a File with group commit:
// the writes that callers ask for while a transaction is being written
// and fsynced wait, and then go together in the next transaction, so
// that many concurrent writes share one fsync while a lone write waits
// for none. The caller whose write came first among them runs the next
// transaction; no goroutine of the committer's own runs anything.
type committer struct {
	db *bbolt.DB

	mu      sync.Mutex
	idle    sync.Cond // signalled when leading turns false
	queue   []*write  // waiting for the next transaction
	leading bool      // a caller is running a transaction
	closed  bool
}

// write is one caller's part of a transaction.
type write struct {
	fn   func(tx *bbolt.Tx) error
	done chan error // the result; errLead first when the caller is to lead
}

// errLead tells a waiting caller that it runs the next transaction.
var errLead = errors.New("lead")

// update runs fn in a write transaction, maybe with other callers' fns,
// and returns when the transaction is fsynced. fn may run more than
// once, in more than one transaction, of which only the last commits:
// it must do the same each time.
func (c *committer) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &write{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		if err := <-w.done; err != errLead {
			return err
		}
		c.mu.Lock()
	}
	c.leading = true
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()

	c.commit(batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		c.queue[0].done <- errLead
	} else {
		c.leading = false
		c.idle.Broadcast()
	}
	c.mu.Unlock()
	return <-w.done
}

// commit runs batch in one transaction and sends each write its result.
// When a write's fn fails, the transaction is rolled back, that write
// gets its error, and the others run again without it, so that one
// write's failure is its own.
func (c *committer) commit(batch []*write) {
	var failed *write
	var failure error
	err := c.db.Update(func(tx *bbolt.Tx) error {
		for _, w := range batch {
			if err := w.fn(tx); err != nil {
				failed, failure = w, err
				return err
			}
		}
		return nil
	})
	if failed == nil {
		for _, w := range batch {
			w.done <- closedErr(err)
		}
		return
	}
	failed.done <- failure
	rest := slices.DeleteFunc(slices.Clone(batch), func(w *write) bool { return w == failed })
	if len(rest) > 0 {
		c.commit(rest)
	}
}

// close makes further updates fail with ErrClosed and waits for those
// under way.
func (c *committer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for c.leading {
		c.idle.Wait()
	}
}

// closedErr turns bbolt's error of a closed database into ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// putInt encodes v for a record.
func putInt(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// getInt decodes raw, a record of putInt of key in bucket.
func getInt(bucket, key, raw []byte) (int64, error) {
	if len(raw) != 8 {
		return 0, corrupt(bucket, key, raw)
	}
	return int64(binary.BigEndian.Uint64(raw)), nil
}

// corrupt returns the error of a record that cannot be decoded.
func corrupt(bucket, key, raw []byte) error {
	return fmt.Errorf("%w: record %q of bucket %q is damaged (%d bytes)", ErrFormat, key, bucket, len(raw))
}

// Times outside the range of UnixNano (years 1678 to 2262) are clamped to
// it: as expiries and refill times, they mean "long ago" or "never".
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// clampNano returns t's UnixNano, clamped to the range it can say.
func clampNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// putNano encodes n, of clampNano, so that the encodings sort as the
// times do: with the sign bit flipped, big-endian.
func putNano(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)^(1<<63)) }

// getNano decodes the 8 bytes of putNano at the start of raw.
func getNano(raw []byte) int64 { return int64(binary.BigEndian.Uint64(raw) ^ (1 << 63)) }
