package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
)

// Memory is a Store in memory, for tests and the embedded server's memory
// store. It holds every file whole; the zero value is not usable, call
// NewMemory. A Memory is safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	files map[string][]byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{files: make(map[string][]byte)} }

// Put implements Store. The file is in memory only once it is complete.
func (m *Memory) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	var buf bytes.Buffer
	if size >= 0 && size < 64<<20 {
		buf.Grow(int(size))
	}
	h := sha256.New()
	if err := copyExact(ctx, io.MultiWriter(&buf, h), r, size); err != nil {
		return "", fmt.Errorf("blob: put: %w", err)
	}
	key := keyOf(h.Sum(nil))
	m.mu.Lock()
	if _, ok := m.files[key]; !ok {
		m.files[key] = buf.Bytes()
	}
	m.mu.Unlock()
	return key, nil
}

// Open implements Store.
func (m *Memory) Open(key string) (File, int64, error) {
	if !ValidKey(key) {
		return nil, 0, ErrBadKey
	}
	m.mu.Lock()
	b, ok := m.files[key]
	m.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return nopCloser{bytes.NewReader(b)}, int64(len(b)), nil
}

// Delete implements Store.
func (m *Memory) Delete(key string) error {
	m.mu.Lock()
	delete(m.files, key)
	m.mu.Unlock()
	return nil
}

// Len returns how many files m holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.files)
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
