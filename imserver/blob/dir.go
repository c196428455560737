package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a Store in a directory: the file with key k is at
// <dir>/<k[:2]>/<k>. Put writes to a temporary file in <dir>/tmp, syncs
// it and renames it into place, then syncs the directory, so that a file
// is either whole under its key or absent, across kills and restarts. A
// Dir is safe for concurrent use, also by several processes on one
// directory.
type Dir struct {
	dir string
}

var _ Store = (*Dir)(nil)

// tmpDir is where unfinished uploads are written, under the Dir.
const tmpDir = "tmp"

// NewDir returns a Dir in dir, creating it when missing, and removes the
// temporary files a killed process left behind.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, tmpDir, "upload-*"))
	for _, p := range left {
		_ = os.Remove(p)
	}
	return &Dir{dir: dir}, nil
}

func (d *Dir) path(key string) string { return filepath.Join(d.dir, key[:2], key) }

// Put implements Store. It holds no more of the file in memory than
// io.Copy's buffer.
func (d *Dir) Put(ctx context.Context, r io.Reader, size int64) (key string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("blob: put: %w", err)
		}
	}()
	tmp, err := os.CreateTemp(filepath.Join(d.dir, tmpDir), "upload-*")
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if err := copyExact(ctx, io.MultiWriter(tmp, h), r, size); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	key = keyOf(h.Sum(nil))
	final := d.path(key)
	if _, err := os.Stat(final); err == nil {
		_ = os.Remove(tmp.Name())
		done = true
		return key, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	done = true
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", err
	}
	return key, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open implements Store.
func (d *Dir) Open(key string) (File, int64, error) {
	if !ValidKey(key) {
		return nil, 0, ErrBadKey
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blob: %w", err)
	}
	return f, st.Size(), nil
}

// Delete implements Store.
func (d *Dir) Delete(key string) error {
	if !ValidKey(key) {
		return ErrBadKey
	}
	err := os.Remove(d.path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Keys returns the keys of the files in d, for tests and tools.
func (d *Dir) Keys() ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == tmpDir {
			return filepath.SkipDir
		}
		if !e.IsDir() && ValidKey(e.Name()) && strings.HasPrefix(e.Name(), filepath.Base(filepath.Dir(p))) {
			keys = append(keys, e.Name())
		}
		return nil
	})
	return keys, err
}
