package imserver

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/imbot-go/imbot/imserver/store"
)

// Defaults of the Config's file garbage and quota settings.
const (
	DefaultUnsentFileTTL         = 24 * time.Hour
	DefaultMediaSweepInterval    = 10 * time.Minute
	DefaultMaxStoredBytesPerUser = 1 << 30
)

// mediaSweepBatch bounds the records one sweep transaction looks at, so
// that a big store is never held under one transaction (and writeMu, which
// every send takes, for long).
const mediaSweepBatch = 256

// sweepStats counts what one sweep removed.
type sweepStats struct {
	records int   // upload records deleted
	files   int   // blobs deleted
	bytes   int64 // their bytes
}

// startJanitor starts the goroutine that sweeps unsent files every
// MediaSweepInterval, at the server's first request, unless the server
// is closing or UnsentFileTTL is negative. Shutdown stops it and waits for
// it with the sockets' goroutines.
func (s *Server) startJanitor() {
	if s.cfg.UnsentFileTTL < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.wg.Add(1)
	go s.janitor() // ends when Shutdown cancels s.stop
}

func (s *Server) janitor() {
	defer s.wg.Done()
	ctx := s.stop
	t := time.NewTicker(s.cfg.MediaSweepInterval)
	defer t.Stop()
	for {
		if _, err := s.sweepMedia(ctx, mediaSweepBatch); err != nil && ctx.Err() == nil {
			s.log.Error("imserver: sweeping unsent files", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepMedia deletes the upload records older than UnsentFileTTL whose
// key no message grants, then the blobs no record and no grant hold, at
// most batch records a transaction. Sweeps run one at a time; ctx stops
// one between two transactions.
//
// A blob is deleted in a transaction (under writeMu) that checks again
// that nothing holds its key, and recordUpload checks, under writeMu,
// that the blob it records is still there: an upload of the same bytes
// that Put them again just before the deletion is then refused with
// errCollected rather than recorded without its file.
func (s *Server) sweepMedia(ctx context.Context, batch int) (sweepStats, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	var st sweepStats
	cutoff := s.cfg.Now().Add(-s.cfg.UnsentFileTTL).UnixMilli()
	// Each pass resumes after the last key the previous one looked at,
	// so that it ends even when some keys stay (kept or undeletable).
	pass := func(step func(tx store.Tx, from []byte, got *sweepStats) ([]byte, error)) error {
		var from []byte
		for first := true; first || from != nil; first = false {
			if err := ctx.Err(); err != nil {
				return err
			}
			var got sweepStats
			var next []byte
			err := s.update(func(tx store.Tx, _ *outbox) error {
				var err error
				got = sweepStats{}
				next, err = step(tx, from, &got)
				return err
			})
			if err != nil {
				return err
			}
			from = next
			st.records += got.records
			st.files += got.files
			st.bytes += got.bytes
		}
		return nil
	}
	err := pass(func(tx store.Tx, from []byte, got *sweepStats) ([]byte, error) {
		return s.expireUploads(tx, from, batch, cutoff, got)
	})
	if err == nil {
		err = pass(func(tx store.Tx, from []byte, got *sweepStats) ([]byte, error) {
			return s.deleteOrphans(tx, from, batch, got)
		})
	}
	if err != nil {
		return st, err
	}
	{
		var total int64
		if err := s.view(func(tx store.Tx) error {
			total = readInt64(tx, bucketMediaUsage, []byte(usageTotal))
			return nil
		}); err != nil {
			return st, err
		}
		s.metrics.mediaStored(total)
	}
	if st.records > 0 || st.files > 0 {
		s.log.Info("imserver: collected unsent files", "records", st.records, "files", st.files, "bytes", st.bytes)
		s.metrics.mediaCollected(st.files)
	}
	return st, nil
}

// expireUploads looks at up to batch upload records from the key from on
// and deletes those older than cutoff (ms) whose key has no grant,
// marking a key with no record left as an orphan. It returns where the
// next batch starts, nil after the last.
func (s *Server) expireUploads(tx store.Tx, from []byte, batch int, cutoff int64, got *sweepStats) (next []byte, err error) {
	type expired struct {
		k       []byte
		fileKey string
		user    int64
		size    int64
	}
	var old []expired
	seen := 0
	err = tx.Ascend(bucketMedia, from, nil, func(k, v []byte) bool {
		seen++
		next = append(append(next[:0], k...), 0) // the least key after k
		var rec uploadRecord
		if len(k) < 66 || k[64] != ':' || json.Unmarshal(v, &rec) != nil || rec.At >= cutoff {
			return seen < batch
		}
		user, perr := strconv.ParseInt(string(k[65:]), 10, 64)
		if perr == nil {
			old = append(old, expired{append([]byte(nil), k...), string(k[:64]), user, rec.Size})
		}
		return seen < batch
	})
	if err != nil {
		return nil, err
	}
	if seen < batch {
		next = nil
	}
	for _, e := range old {
		granted, err := hasGrant(tx, e.fileKey)
		if err != nil {
			return nil, err
		}
		if granted {
			continue
		}
		if err := tx.Delete(bucketMedia, e.k); err != nil {
			return nil, err
		}
		if _, err := addInt64(tx, bucketMediaUsage, userUsageKey(e.user), -e.size); err != nil {
			return nil, err
		}
		got.records++
		if !hasUpload(tx, e.fileKey) {
			if err := tx.Put(bucketMediaOrphan, []byte(e.fileKey), []byte{}); err != nil {
				return nil, err
			}
		}
	}
	return next, nil
}

// hasUpload reports whether anyone's upload record holds fileKey.
func hasUpload(tx store.Tx, fileKey string) bool {
	prefix := []byte(fileKey + ":")
	found := false
	_ = tx.Ascend(bucketMedia, prefix, prefixEnd(prefix), func(_, _ []byte) bool {
		found = true
		return false
	})
	return found
}

// deleteOrphans deletes the blobs of up to batch orphan keys from the
// key from on that still have no upload record and no grant, and takes
// every one it looked at off the orphan list (a key recorded or granted
// again is simply kept). A blob the Blobs fail to delete stays an orphan,
// for the next sweep. It returns where the next batch starts, nil after
// the last.
func (s *Server) deleteOrphans(tx store.Tx, from []byte, batch int, got *sweepStats) (next []byte, err error) {
	var keys []string
	err = tx.Ascend(bucketMediaOrphan, from, nil, func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return len(keys) < batch
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == batch {
		next = append([]byte(keys[batch-1]), 0)
	}
	for _, k := range keys {
		granted, err := hasGrant(tx, k)
		if err != nil {
			return nil, err
		}
		if !granted && !hasUpload(tx, k) {
			if err := s.cfg.Blobs.Delete(k); err != nil {
				s.log.Warn("imserver: deleting an unsent file", "file_key", k, "err", err)
				continue
			}
			size := readInt64(tx, bucketMediaBlob, []byte(k))
			if err := tx.Delete(bucketMediaBlob, []byte(k)); err != nil {
				return nil, err
			}
			if _, err := addInt64(tx, bucketMediaUsage, []byte(usageTotal), -size); err != nil {
				return nil, err
			}
			got.files++
			got.bytes += size
		}
		if err := tx.Delete(bucketMediaOrphan, []byte(k)); err != nil {
			return nil, err
		}
	}
	return next, nil
}
