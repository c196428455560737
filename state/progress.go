package state

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

var cursorKey = []byte("cursor")

// LoadProgress implements [bot.ProgressStore].
func (f *File) LoadProgress(context.Context) (bot.Progress, error) {
	p := bot.Progress{Handled: make(map[im.ConversationID]int64)}
	err := f.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketProgress).Get(cursorKey)
		if raw == nil {
			return nil
		}
		cursor, err := getInt(bucketProgress, cursorKey, raw)
		if err != nil {
			return err
		}
		p.Saved, p.Cursor = true, cursor
		return tx.Bucket(bucketHandled).ForEach(func(k, v []byte) error {
			index, err := getInt(bucketHandled, k, v)
			p.Handled[im.ConversationID(k)] = index
			return err
		})
	})
	if err != nil {
		return bot.Progress{}, fmt.Errorf("state: load progress: %w", err)
	}
	return p, nil
}

// CommitProgress implements [bot.ProgressStore]: the commit is fsynced
// before it returns, in one transaction with the other writes made at
// the same time.
func (f *File) CommitProgress(ctx context.Context, c bot.Commit) error {
	err := f.writes.update(ctx, func(tx *bbolt.Tx) error {
		if err := putMax(tx.Bucket(bucketProgress), bucketProgress, cursorKey, c.Cursor); err != nil {
			return err
		}
		if c.Conversation == "" {
			return nil
		}
		return putMax(tx.Bucket(bucketHandled), bucketHandled, []byte(c.Conversation), c.Index)
	})
	if err != nil {
		return fmt.Errorf("state: commit progress %+v: %w", c, err)
	}
	return nil
}

// putMax sets key of b, named bucket, to v unless it holds more.
func putMax(b *bbolt.Bucket, bucket, key []byte, v int64) error {
	if raw := b.Get(key); raw != nil {
		old, err := getInt(bucket, key, raw)
		if err != nil {
			return err
		}
		if old >= v {
			return nil
		}
	}
	return b.Put(key, putInt(v))
}
