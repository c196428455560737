package imserver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver/store"
)

// TestCacheForgetsRolledBackWrites checks that what a failed or panicking
// state change wrote is gone from the cache as from the store: the next
// change reads what was committed.
func TestCacheForgetsRolledBackWrites(t *testing.T) {
	st := store.NewMemory()
	defer st.Close()
	s, err := New(Config{AppID: 1, AppSecret: "secret", Store: st})
	require.NoError(t, err)
	err = s.update(func(tx store.Tx, _ *outbox) error {
		return saveConv(tx, &convRecord{ID: "7", ShortID: 7, Type: typeGroup, LastIndex: 1})
	})
	require.NoError(t, err)
	// write changes what the cache holds of a conversation, a counter and
	// a cursor, as a send does.
	write := func(tx store.Tx) error {
		conv, err := loadConv(tx, 0, "7", 0)
		if err != nil {
			return err
		}
		conv.LastIndex = 99
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		if _, err := nextID(tx, counterMsgID); err != nil {
			return err
		}
		_, err = nextCursor(tx, 5, 0)
		return err
	}
	errFail := errors.New("fail")
	err = s.update(func(tx store.Tx, _ *outbox) error {
		if err := write(tx); err != nil {
			return err
		}
		return errFail
	})
	require.ErrorIs(t, err, errFail, "failing update")
	func() {
		defer func() { _ = recover() }()
		_ = s.update(func(tx store.Tx, _ *outbox) error {
			if err := write(tx); err != nil {
				return err
			}
			panic("bug")
		})
	}()
	err = s.update(func(tx store.Tx, _ *outbox) error {
		conv, err := loadConv(tx, 0, "", 7)
		if err != nil {
			return err
		}
		id, err := nextID(tx, counterMsgID)
		if err != nil {
			return err
		}
		cursor, err := nextCursor(tx, 5, 0)
		if err != nil {
			return err
		}
		assert.Equal(t, int64(1), conv.LastIndex, "last index after rollbacks")
		assert.Equal(t, int64(1), id, "message id after rollbacks")
		assert.Equal(t, int64(1), cursor, "cursor after rollbacks")
		return nil
	})
	require.NoError(t, err)
}

func TestCacheMapsAreBounded(t *testing.T) {
	m := make(map[int]bool)
	for i := range maxCacheEntries + 10 {
		room(m)
		m[i] = true
	}
	require.LessOrEqual(t, len(m), maxCacheEntries, "entries, bounded by maxCacheEntries")
}
