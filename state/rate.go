package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/middleware"
)

const (
	// maxDirtyRates bounds the buckets changed in memory since the last
	// write: at this many, a Take writes them whatever RateFlush says.
	maxDirtyRates = 4096
	// rateSweep bounds the records of the file that each write of the
	// buckets examines for full ones to delete.
	rateSweep = 32
	// rateRecordSize is the size of a bucket's record: its tokens, its
	// time, and the rate and burst of its limit.
	rateRecordSize = 32
)

// Take implements [middleware.RateStore]. It counts in memory, from the
// bucket the file held, and writes the buckets it changed to the file
// when Options.RateFlush has passed since the last write, in the time
// of now; that Take waits for the write, which goes in one transaction
// with the other writes made at the same time. A bucket that is full
// again is deleted from the file, since a bucket the file does not hold
// is full.
func (f *File) Take(ctx context.Context, key middleware.RateKey, limit middleware.Limit, now time.Time) (time.Duration, error) {
	wait, err := f.rates.take(ctx, rateKey(key), limit, now)
	if err != nil {
		return 0, fmt.Errorf("state: rate take %+v: %w", key, err)
	}
	return wait, nil
}

// rateKey returns the file's key of k: its scope, its user and its
// conversation, the one part of variable length last.
func rateKey(k middleware.RateKey) string {
	b := make([]byte, 0, 9+len(k.Conversation))
	b = append(b, byte(k.Scope))
	b = binary.BigEndian.AppendUint64(b, uint64(k.User))
	return string(append(b, k.Conversation...))
}

// rateRecord is a bucket and the limit of its last take, which says
// when it is full again.
type rateRecord struct {
	bucket middleware.RateBucket
	limit  middleware.Limit
}

func (r rateRecord) full(now time.Time) bool {
	return r.bucket.TokensAt(r.limit, now) >= float64(max(r.limit.Burst, 1))
}

func (r rateRecord) encode() []byte {
	b := make([]byte, 0, rateRecordSize)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.bucket.Tokens))
	b = binary.BigEndian.AppendUint64(b, uint64(clampNano(r.bucket.At)))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(float64(r.limit.Rate)))
	return binary.BigEndian.AppendUint64(b, uint64(r.limit.Burst))
}

func decodeRate(key, raw []byte) (rateRecord, error) {
	if len(raw) != rateRecordSize {
		return rateRecord{}, corrupt(bucketRate, key, raw)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(raw[8*i:]) }
	return rateRecord{
		bucket: middleware.RateBucket{Tokens: math.Float64frombits(u(0)), At: time.Unix(0, int64(u(1)))},
		limit:  middleware.Limit{Rate: rate.Limit(math.Float64frombits(u(2))), Burst: int(u(3))},
	}, nil
}

// rateCache holds the rate buckets of a File that changed since they
// were last written to it. One write runs at a time.
type rateCache struct {
	db     *bbolt.DB
	writes *committer
	every  time.Duration // Options.RateFlush

	mu        sync.Mutex
	written   sync.Cond             // signalled when writing turns nil
	dirty     map[string]rateRecord // changed since the last write began
	writing   map[string]rateRecord // being written; nil when no write is under way
	lastWrite time.Time             // the now of the Take that began the last write
	latest    time.Time             // the latest now of a Take

	// sweepFrom is the key the next sweep of the file starts at: each
	// write examines a few records, and the next write the next few.
	// Only the writes touch it, one transaction after another.
	sweepFrom []byte
}

func (c *rateCache) init(db *bbolt.DB, writes *committer, every time.Duration) {
	c.db, c.writes, c.every = db, writes, every
	c.written.L = &c.mu
	c.dirty = make(map[string]rateRecord)
}

func (c *rateCache) take(ctx context.Context, key string, limit middleware.Limit, now time.Time) (time.Duration, error) {
	c.mu.Lock()
	rec, ok := c.dirty[key]
	if !ok {
		rec, ok = c.writing[key]
	}
	if !ok {
		var err error
		if rec, err = c.read(key); err != nil {
			c.mu.Unlock()
			return 0, err
		}
	}
	var wait time.Duration
	if rec.bucket, wait = rec.bucket.Take(limit, now); wait == 0 {
		rec.limit = limit
		c.dirty[key] = rec
	}
	if now.After(c.latest) {
		c.latest = now
	}
	var batch map[string]rateRecord
	if c.writing == nil && len(c.dirty) > 0 && (len(c.dirty) >= maxDirtyRates || now.Sub(c.lastWrite) >= c.every) {
		batch = c.beginWrite(now)
	}
	c.mu.Unlock()
	if batch != nil {
		return wait, c.write(ctx, batch, now)
	}
	return wait, nil
}

// read returns the record of key in the file, or a full bucket. The
// caller holds c.mu, so that no write changes the record meanwhile.
func (c *rateCache) read(key string) (rateRecord, error) {
	var rec rateRecord
	err := c.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketRate).Get([]byte(key))
		if raw == nil {
			return nil
		}
		var err error
		rec, err = decodeRate([]byte(key), raw)
		return err
	})
	return rec, closedErr(err)
}

// beginWrite moves the dirty buckets to writing and returns them. The
// caller holds c.mu, and no write is under way.
func (c *rateCache) beginWrite(now time.Time) map[string]rateRecord {
	batch := c.dirty
	c.writing, c.dirty, c.lastWrite = batch, make(map[string]rateRecord), now
	return batch
}

// write writes batch, of beginWrite, to the file at now. When the write
// fails, the buckets go back to the dirty ones (unless changed since),
// for the next write.
func (c *rateCache) write(ctx context.Context, batch map[string]rateRecord, now time.Time) error {
	err := c.writes.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRate)
		for k, r := range batch {
			var err error
			if r.full(now) {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), r.encode())
			}
			if err != nil {
				return err
			}
		}
		return c.sweep(b, now)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		for k, r := range batch {
			if _, ok := c.dirty[k]; !ok {
				c.dirty[k] = r
			}
		}
	}
	c.writing = nil
	c.written.Broadcast()
	return err
}

// sweep examines up to rateSweep records of b from c.sweepFrom on, and
// deletes those full at now, and those damaged (a bucket lost is a full
// one, which costs no more than a crash does).
func (c *rateCache) sweep(b *bbolt.Bucket, now time.Time) error {
	cur := b.Cursor()
	k, v := cur.Seek(c.sweepFrom)
	var full [][]byte
	for range rateSweep {
		if k == nil {
			break
		}
		if r, err := decodeRate(k, v); err != nil || r.full(now) {
			full = append(full, bytes.Clone(k))
		}
		k, v = cur.Next()
	}
	c.sweepFrom = bytes.Clone(k) // nil at the end: the next starts over
	for _, k := range full {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// flushAll writes the buckets changed since the last write, at the
// latest now of a Take, after the write under way.
func (c *rateCache) flushAll() error {
	c.mu.Lock()
	for c.writing != nil {
		c.written.Wait()
	}
	if len(c.dirty) == 0 {
		c.mu.Unlock()
		return nil
	}
	now := c.latest
	batch := c.beginWrite(now)
	c.mu.Unlock()
	if err := c.write(context.Background(), batch, now); err != nil {
		return fmt.Errorf("state: write rate buckets: %w", err)
	}
	return nil
}
