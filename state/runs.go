package state

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// LastRun returns when job last ran, as SetLastRun recorded it, and
// false if it never did. With SetLastRun, it is the store of the cron
// plugin's last runs.
func (f *File) LastRun(_ context.Context, job string) (t time.Time, ok bool, err error) {
	err = f.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketRuns).Get([]byte(job))
		if raw == nil {
			return nil
		}
		if err := t.UnmarshalBinary(raw); err != nil {
			return corrupt(bucketRuns, []byte(job), raw)
		}
		ok = true
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("state: last run of %q: %w", job, err)
	}
	return t, ok, nil
}

// SetLastRun records that job ran at t; the last call for a job wins. It
// is fsynced before it returns, in one transaction with the other writes
// made at the same time.
func (f *File) SetLastRun(ctx context.Context, job string, t time.Time) error {
	raw, err := t.MarshalBinary()
	if err != nil {
		return fmt.Errorf("state: set last run of %q: %w", job, err)
	}
	err = f.writes.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRuns).Put([]byte(job), raw)
	})
	if err != nil {
		return fmt.Errorf("state: set last run of %q: %w", job, err)
	}
	return nil
}
