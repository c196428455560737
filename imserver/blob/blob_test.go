package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver/blob"
)

func stores(t *testing.T) map[string]blob.Store {
	d, err := blob.NewDir(t.TempDir())
	require.NoError(t, err)
	return map[string]blob.Store{"memory": blob.NewMemory(), "dir": d}
}

// failingReader gives n bytes then fails, as a client that hangs up.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestStores(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			data := bytes.Repeat([]byte("abc"), 1000)
			sum := sha256.Sum256(data)
			key, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(sum[:]), key)
			again, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			assert.Equal(t, key, again)

			f, size, err := s.Open(key)
			require.NoError(t, err)
			assert.EqualValues(t, len(data), size)
			_, err = f.Seek(10, io.SeekStart)
			require.NoError(t, err)
			got, err := io.ReadAll(f)
			require.NoError(t, err)
			assert.Equal(t, data[10:], got)
			require.NoError(t, f.Close())

			for _, tc := range []struct {
				name string
				r    io.Reader
				size int64
				want error
			}{
				{"more", strings.NewReader("12345"), 4, blob.ErrTooLarge},
				{"fewer", strings.NewReader("123"), 4, blob.ErrShort},
				{"broken", &failingReader{n: 3}, 4, io.ErrUnexpectedEOF},
			} {
				k, err := s.Put(ctx, tc.r, tc.size)
				assert.ErrorIs(t, err, tc.want, tc.name)
				assert.Empty(t, k, tc.name)
			}
			sum4 := sha256.Sum256([]byte("1234"))
			_, _, err = s.Open(hex.EncodeToString(sum4[:]))
			assert.ErrorIs(t, err, blob.ErrNotFound, "nothing stored by a failed put")
			_, _, err = s.Open("../../etc/passwd")
			assert.ErrorIs(t, err, blob.ErrBadKey)

			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err = s.Put(cctx, strings.NewReader("x"), 1)
			assert.ErrorIs(t, err, context.Canceled)

			require.NoError(t, s.Delete(key))
			require.NoError(t, s.Delete(key))
			_, _, err = s.Open(key)
			assert.True(t, errors.Is(err, blob.ErrNotFound))

			empty, err := s.Put(ctx, strings.NewReader(""), 0)
			require.NoError(t, err)
			f, size, err = s.Open(empty)
			require.NoError(t, err)
			assert.Zero(t, size)
			f.Close()
		})
	}
}

// TestDirLeavesNoTemporaryFiles checks that failed puts leave nothing in
// the directory and that NewDir removes what a killed process left.
func TestDirLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := blob.NewDir(dir)
	require.NoError(t, err)
	_, err = d.Put(context.Background(), &failingReader{n: 100}, 1000)
	require.Error(t, err)
	left, err := os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, left)
	keys, err := d.Keys()
	require.NoError(t, err)
	assert.Empty(t, keys)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "upload-123"), []byte("half"), 0o600))
	_, err = blob.NewDir(dir)
	require.NoError(t, err)
	left, err = os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, left)
}
