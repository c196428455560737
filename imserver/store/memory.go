package store

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/google/btree"
)

// Memory is an in-memory [Store]: what it holds is lost when the process
// exits. It is the store of tests and benchmarks.
type Memory struct {
	mu      sync.RWMutex // Update holds it for writing, View for reading
	closed  bool
	buckets map[string]*btree.BTreeG[pair]
	undo    []undoEntry // the undo log of the Update running, reused
}

// pair is a key and its value, with the key's first 16 bytes (zero
// padded) as two integers: the server's keys start with big-endian ids,
// so most comparisons end there, without following the key's pointer.
type pair struct {
	hi, lo     uint64
	key, value []byte
}

// probe returns the pair to look key up with.
func probe(key []byte) pair {
	var pad [16]byte
	copy(pad[:], key)
	return pair{hi: binary.BigEndian.Uint64(pad[:8]), lo: binary.BigEndian.Uint64(pad[8:]), key: key}
}

// lessPair orders pairs by key. Zero padding keeps the order: where two
// padded prefixes first differ, either both keys have a byte there or
// the shorter key ended and the other's byte is not zero.
func lessPair(a, b pair) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	if a.lo != b.lo {
		return a.lo < b.lo
	}
	return bytes.Compare(a.key, b.key) < 0
}

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
	tx := &memTx{m: m, writable: true, undo: m.undo[:0]}
	defer func() {
		p := recover()
		if p != nil || err != nil {
			tx.rollback()
		}
		// Keep the log's array for the next Update, without the pairs,
		// unless a large transaction grew it.
		clear(tx.undo)
		m.undo = nil
		if cap(tx.undo) <= maxKeptUndo {
			m.undo = tx.undo[:0]
		}
		if p != nil {
			panic(p)
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

// maxKeptUndo bounds the undo log an Update leaves for the next one.
const maxKeptUndo = 256

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
}

func (tx *memTx) Get(bucket string, key []byte) []byte {
	t := tx.m.buckets[bucket]
	if t == nil {
		return nil
	}
	p, ok := t.Get(probe(key))
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
	p := probe(b[:len(key):len(key)])
	p.value = b[len(key):]
	old, had := t.ReplaceOrInsert(p)
	if !had {
		old = p
		old.value = nil
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
	if old, had := t.Delete(probe(key)); had {
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
		t.AscendGreaterOrEqual(probe(from), iter)
	case from == nil:
		t.AscendLessThan(probe(to), iter)
	default:
		t.AscendRange(probe(from), probe(to), iter)
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
	t.DescendLessOrEqual(probe(to), func(p pair) bool {
		if bytes.Equal(p.key, to) {
			return true
		}
		return iter(p)
	})
	return nil
}
