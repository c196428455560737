package state

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// dedupSweep bounds the expired keys each Mark deletes: a Mark adds one
// key and deletes up to this many, so that the expired keys leave faster
// than new ones come, and no Mark pays for a large sweep.
const dedupSweep = 16

// Seen implements [middleware.DedupStore]: a key whose expiry is not
// after now is not seen, whether or not a Mark has deleted it yet.
func (f *File) Seen(_ context.Context, key string, now time.Time) (bool, error) {
	n := clampNano(now)
	for old := f.seenNow.Load(); n > old; old = f.seenNow.Load() {
		if f.seenNow.CompareAndSwap(old, n) {
			break
		}
	}
	var seen bool
	err := f.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketDedup).Get([]byte(key))
		if raw == nil {
			return nil
		}
		if len(raw) != 8 {
			return corrupt(bucketDedup, []byte(key), raw)
		}
		seen = getNano(raw) > n
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("state: dedup seen %q: %w", key, err)
	}
	return seen, nil
}

// Mark implements [middleware.DedupStore]. The mark is fsynced before it
// returns, in one transaction with the other writes made at the same
// time. Each Mark also deletes a few of the keys that expired by the
// latest now passed to Seen, oldest first.
func (f *File) Mark(ctx context.Context, key string, expires time.Time) error {
	k, exp := []byte(key), putNano(clampNano(expires))
	err := f.writes.update(ctx, func(tx *bbolt.Tx) error {
		keys, byExpiry := tx.Bucket(bucketDedup), tx.Bucket(bucketDedupExpiry)
		if old := keys.Get(k); old != nil {
			if len(old) != 8 {
				return corrupt(bucketDedup, k, old)
			}
			if err := byExpiry.Delete(append(old[:8:8], k...)); err != nil {
				return err
			}
		}
		if err := keys.Put(k, exp); err != nil {
			return err
		}
		if err := byExpiry.Put(append(exp[:8:8], k...), nil); err != nil {
			return err
		}
		return sweepDedup(keys, byExpiry, f.seenNow.Load())
	})
	if err != nil {
		return fmt.Errorf("state: dedup mark %q: %w", key, err)
	}
	return nil
}

// sweepDedup deletes up to dedupSweep keys that expired by now, oldest
// first.
func sweepDedup(keys, byExpiry *bbolt.Bucket, now int64) error {
	for range dedupSweep {
		// First again each time: a bbolt cursor may skip a key after a
		// Delete.
		ek, _ := byExpiry.Cursor().First()
		if len(ek) < 8 || getNano(ek) > now {
			return nil
		}
		ek = bytes.Clone(ek) // not the page's bytes, which the deletes change
		key := ek[8:]
		if err := keys.Delete(key); err != nil {
			return err
		}
		if err := byExpiry.Delete(ek); err != nil {
			return err
		}
	}
	return nil
}
