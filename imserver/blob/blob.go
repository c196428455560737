// Package blob stores the files users upload to the embedded server:
// opaque bytes under the hex SHA-256 of their content.
//
// A [Store] takes a file with Put, which reads it from an io.Reader and
// keeps it only when exactly the announced number of bytes arrived, and
// gives it back with Open, seekable so that an HTTP server can answer
// range requests (http.ServeContent). Two Stores are provided:
// [NewMemory], the in-memory default the embedded server uses with its
// memory store, and [NewDir], a directory on disk whose files are written
// to a temporary file, synced and renamed into place, so that a reader or
// a restart after a kill never sees half a file.
package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
)

// Errors the Stores return, wrapped.
var (
	// ErrNotFound means no file has the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrTooLarge means the reader gave more bytes than announced.
	ErrTooLarge = errors.New("blob: more bytes than announced")
	// ErrShort means the reader ended before the announced size.
	ErrShort = errors.New("blob: fewer bytes than announced")
	// ErrBadKey means a key is not 64 lowercase hex digits.
	ErrBadKey = errors.New("blob: bad key")
)

// Store keeps files by the hex SHA-256 of their content.
//
// Implementations are safe for concurrent use. Putting the same content
// twice keeps one copy and returns the same key.
type Store interface {
	// Put reads r to its end and stores what it read when that is
	// exactly size bytes, returning its key; otherwise it stores nothing
	// and returns an error wrapping ErrTooLarge, ErrShort or r's error.
	// It reads at most size+1 bytes. ctx ends an unfinished Put.
	Put(ctx context.Context, r io.Reader, size int64) (key string, err error)
	// Open returns the file with key for reading and its size, or an
	// error wrapping ErrNotFound or ErrBadKey. The caller closes it.
	Open(key string) (f File, size int64, err error)
	// Delete removes the file with key; deleting a missing one is not an
	// error.
	Delete(key string) error
}

// File is an open stored file.
type File interface {
	io.ReadSeekCloser
}

// ValidKey reports whether key is what Put returns: 64 lowercase hex
// digits.
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// keyOf renders a SHA-256 sum as a key.
func keyOf(sum []byte) string { return hex.EncodeToString(sum) }

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyExact copies r to w, which must take exactly size bytes, and
// reports ErrTooLarge or ErrShort when r gives more or fewer.
func copyExact(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	if size < 0 {
		return ErrShort
	}
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, size+1))
	switch {
	case err != nil:
		return err
	case n > size:
		return ErrTooLarge
	case n < size:
		return ErrShort
	}
	return nil
}
