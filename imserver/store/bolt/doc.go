// Package bolt is the durable [store.Store] of the embedded IM server: one
// file on disk, managed by [go.etcd.io/bbolt].
//
//	s, err := bolt.Open(filepath.Join(dataDir, "im.db"), nil)
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//
// # Why bbolt
//
// The server needs a small ordered key-value store that keeps every
// acknowledged write. bbolt fits that need closely:
//
//   - It is pure Go, with no cgo, so the server still cross-compiles to one
//     static binary.
//   - The whole database is a single file, which is easy to back up, move
//     and delete.
//   - Transactions are ACID. Each commit is written copy-on-write and
//     fsynced before [Store.Update] returns, so a write that was
//     acknowledged survives a process kill or a power cut. This package
//     never turns on bbolt's NoSync.
//   - Keys are kept in a B+tree in byte order, and bbolt cursors walk it in
//     either direction from a Seek. That maps directly onto the ordered
//     [store.Tx.Ascend] and [store.Tx.Descend] of our interface.
//   - It is maintained by the etcd project and runs under etcd in production.
//
// bbolt runs one writer at a time next to any number of readers, each
// reader seeing a snapshot. That is the contract of [store.Store], and it
// matches the server's single-writer design.
//
// # Layout
//
// Each bucket of the store is a top-level bbolt bucket of the same name,
// created by its first Put. Keys and values are stored as they are given,
// so the bbolt command-line tool can inspect a file directly.
//
// # Locking
//
// Open takes an exclusive lock on the file, so a second process cannot
// corrupt it. A second Open of a file that is already open, in this
// process or another, waits up to [Options.Timeout] and then fails with
// [ErrLocked].
//
// # Limits
//
// These limits come from bbolt and do not apply to [store.Memory]. Writes
// that break them return an error:
//
//   - a bucket name must not be empty;
//   - a key may be at most [bbolt.MaxKeySize] bytes;
//   - a value may be at most [bbolt.MaxValueSize] bytes.
//
// The file never shrinks: bbolt reuses the pages that deletes free, but
// it does not return them to the file system.
package bolt
