// Package store defines the embedded server's storage: a small ordered
// key-value store with serializable transactions, and an in-memory
// implementation of it.
//
// Everything the server knows (conversations, members, messages, inboxes,
// friends) is kept as records in named buckets; the server alone gives them
// meaning. Keeping the interface this small lets a durable implementation
// ([github.com/imbot-go/imbot/imserver/store/bolt]) and the in-memory one
// share every line of server logic, and lets one conformance suite
// ([github.com/imbot-go/imbot/imserver/store/storetest]) hold both to the
// same contract.
package store

import "errors"

// Errors returned by Store implementations.
var (
	// ErrReadOnly is returned by a write inside a View transaction.
	ErrReadOnly = errors.New("store: write in a read-only transaction")
	// ErrClosed is returned by View and Update after Close.
	ErrClosed = errors.New("store: closed")
	// ErrEmptyKey is returned by Put for an empty key.
	ErrEmptyKey = errors.New("store: empty key")
)

// Store is an ordered key-value store with serializable transactions.
//
// A Store is safe for concurrent use. Update transactions run one at a time;
// View transactions may run alongside each other and see a consistent
// snapshot that excludes any uncommitted Update.
type Store interface {
	// View runs fn in a read-only transaction and returns its error.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction. The transaction commits
	// when fn returns nil and rolls back, leaving no trace, when fn returns
	// an error or panics. Once Update returns nil the writes are as durable
	// as the implementation promises: kept until Close for the memory
	// store, on disk for a durable one.
	Update(fn func(Tx) error) error
	// Close releases the store. Later calls to View and Update return
	// ErrClosed. Close is idempotent.
	Close() error
}

// Tx is a transaction. It is valid only inside the function passed to View
// or Update, and only on that goroutine.
//
// Buckets are created on first write; reading a bucket that was never
// written sees it empty. Slices returned by Get or passed to a visit
// function are valid only until the transaction ends and must not be
// modified. A visit function must not write to the bucket it is visiting.
type Tx interface {
	// Get returns the value under key in bucket, or nil when there is none.
	Get(bucket string, key []byte) []byte
	// Put stores value under key in bucket. The store keeps its own copy.
	Put(bucket string, key, value []byte) error
	// Delete removes key from bucket. Deleting a missing key is not an error.
	Delete(bucket string, key []byte) error
	// Ascend visits the pairs of bucket with from <= key < to in increasing
	// key order until visit returns false. A nil from starts at the first
	// key; a nil to runs to the last.
	Ascend(bucket string, from, to []byte, visit func(key, value []byte) bool) error
	// Descend visits the same range as Ascend in decreasing key order.
	Descend(bucket string, from, to []byte, visit func(key, value []byte) bool) error
}
