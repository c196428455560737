package store

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// Memory is an in-memory [Store]: what it holds is lost when the process
// exits. It is the store of tests and benchmarks.
type Memory struct {
	mu      sync.RWMutex // Update holds it for writing, View for reading
	closed  bool
	buckets map[string]*btree.BTreeG[pair]
}

type pair struct{ key, value []byte }

func lessPair(a, b pair) bool { return bytes.Compare(a.key, b.key) < 0 }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{buckets: make(map[string]*btree.BTreeG[pair])}
}

var _ Store = (*Memory)(nil)

// View implements [Store].
func (m *Memory) View(fn func(Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(&memTx{m: m})
}

// Update implements [Store].
func (m *Memory) Update(fn func(Tx) error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	tx := &memTx{m: m, writable: true, undo: make([]undoEntry, 0, 16)}
	defer func() {
		if p := recover(); p != nil {
			tx.rollback()
			panic(p)
		}
		if err != nil {
			tx.rollback()
		}
	}()
	return fn(tx)
}

// Close implements [Store].
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.buckets = nil
	return nil
}

// memTx keeps an undo log so that a failed Update leaves no trace.
type memTx struct {
	m        *Memory
	writable bool
	undo     []undoEntry
}

type undoEntry struct {
	bucket string
	old    pair
	had    bool
}

func (tx *memTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		t := tx.m.buckets[u.bucket]
		if u.had {
			t.ReplaceOrInsert(u.old)
		} else {
			t.Delete(u.old)
		}
	}
	tx.undo = nil
}

func (tx *memTx) Get(bucket string, key []byte) []byte {
	t := tx.m.buckets[bucket]
	if t == nil {
		return nil
	}
	p, ok := t.Get(pair{key: key})
	if !ok {
		return nil
	}
	return p.value
}

func (tx *memTx) Put(bucket string, key, value []byte) error {
	if !tx.writable {
		return ErrReadOnly
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	t := tx.m.buckets[bucket]
	if t == nil {
		t = btree.NewG(16, lessPair)
		tx.m.buckets[bucket] = t
	}
	// One allocation holds both copies: a send writes about ten pairs.
	b := make([]byte, len(key)+len(value))
	copy(b, key)
	copy(b[len(key):], value)
	p := pair{key: b[:len(key):len(key)], value: b[len(key):]}
	old, had := t.ReplaceOrInsert(p)
	if !had {
		old = pair{key: p.key}
	}
	tx.undo = append(tx.undo, undoEntry{bucket: bucket, old: old, had: had})
	return nil
}

func (tx *memTx) Delete(bucket string, key []byte) error {
	if !tx.writable {
		return ErrReadOnly
	}
	t := tx.m.buckets[bucket]
	if t == nil {
		return nil
	}
	if old, had := t.Delete(pair{key: key}); had {
		tx.undo = append(tx.undo, undoEntry{bucket: bucket, old: old, had: true})
	}
	return nil
}

func (tx *memTx) Ascend(bucket string, from, to []byte, visit func(key, value []byte) bool) error {
	t := tx.m.buckets[bucket]
	if t == nil {
		return nil
	}
	iter := func(p pair) bool { return visit(p.key, p.value) }
	switch {
	case from == nil && to == nil:
		t.Ascend(iter)
	case to == nil:
		t.AscendGreaterOrEqual(pair{key: from}, iter)
	case from == nil:
		t.AscendLessThan(pair{key: to}, iter)
	default:
		t.AscendRange(pair{key: from}, pair{key: to}, iter)
	}
	return nil
}

func (tx *memTx) Descend(bucket string, from, to []byte, visit func(key, value []byte) bool) error {
	t := tx.m.buckets[bucket]
	if t == nil {
		return nil
	}
	iter := func(p pair) bool {
		if from != nil && bytes.Compare(p.key, from) < 0 {
			return false
		}
		return visit(p.key, p.value)
	}
	if to == nil {
		t.Descend(iter)
		return nil
	}
	// DescendLessOrEqual includes to itself; the range excludes it.
	t.DescendLessOrEqual(pair{key: to}, func(p pair) bool {
		if bytes.Equal(p.key, to) {
			return true
		}
		return iter(p)
	})
	return nil
}
