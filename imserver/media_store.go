package imserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store"
)

// What the quotas count, kept in the transactions that change it so that
// it survives restarts as the records do.
const (
	// bucketMediaBlob: file key → size (8 bytes), one per distinct file
	// the server keeps; its entries add up to usageTotal.
	bucketMediaBlob = "media_blob"
	// bucketMediaUsage: user id (8 bytes) → the bytes of their upload
	// records; usageTotal → the bytes of bucketMediaBlob.
	bucketMediaUsage = "media_usage"
	usageTotal       = "total"
	// bucketMediaOrphan: file key → empty, a file left with no upload
	// record, whose blob the sweep deletes unless someone uploads or
	// grants it first (media_gc.go).
	bucketMediaOrphan = "media_orphan"
)

func userUsageKey(user int64) []byte { return key(user) }

func readInt64(tx store.Tx, bucket string, k []byte) int64 {
	if v := tx.Get(bucket, k); len(v) == 8 {
		return int64At(v, 0)
	}
	return 0
}

// addInt64 adds delta to the counter bucket[k] and returns the new value;
// a counter that reaches zero is deleted.
func addInt64(tx store.Tx, bucket string, k []byte, delta int64) (int64, error) {
	n := readInt64(tx, bucket, k) + delta
	switch {
	case delta == 0:
		return n, nil
	case n == 0:
		return 0, tx.Delete(bucket, k)
	}
	return n, tx.Put(bucket, k, int64Bytes(n))
}

// quotaError is a refusal by MaxStoredBytesPerUser or MaxStoredBytes.
type quotaError struct {
	quota       string // the Config field
	have, adds  int64
	limit, user int64 // user is 0 for the server's total
}

func (e *quotaError) Error() string {
	whose := "the server's files"
	if e.user != 0 {
		whose = fmt.Sprintf("user %d's files", e.user)
	}
	return fmt.Sprintf("storing %d more bytes would make %s %d bytes, above the %d of %s",
		e.adds, whose, e.have+e.adds, e.limit, e.quota)
}

// status is the refusal as GET_MEDIA_UPLOAD_TOKEN answers it: TOUCH_LIMIT,
// the reference's status for a limit reached.
func (e *quotaError) status() error {
	return errStatus(improto.StatusCode_TOUCH_LIMIT, "%s", e.Error())
}

// checkQuota refuses storing addUser more bytes for user and addTotal
// more distinct bytes on the server, when either passes its quota.
func (s *Server) checkQuota(tx store.Tx, user, addUser, addTotal int64) error {
	if limit := s.cfg.MaxStoredBytesPerUser; limit >= 0 && addUser > 0 {
		if have := readInt64(tx, bucketMediaUsage, userUsageKey(user)); have+addUser > limit {
			return &quotaError{quota: "MaxStoredBytesPerUser", have: have, adds: addUser, limit: limit, user: user}
		}
	}
	if limit := s.cfg.MaxStoredBytes; limit > 0 && addTotal > 0 {
		if have := readInt64(tx, bucketMediaUsage, []byte(usageTotal)); have+addTotal > limit {
			return &quotaError{quota: "MaxStoredBytes", have: have, adds: addTotal, limit: limit}
		}
	}
	return nil
}

// errCollected means that the file an upload stored was deleted by a
// sweep between Blobs.Put and its record: the same bytes, uploaded long
// before and never sent, were collected. The client uploads again.
var errCollected = errors.New("imserver: the file was collected while it was being stored")

// recordUpload records that claims.user uploaded key (already in the
// Blobs), under the quotas, and returns the server's new total of
// stored bytes. It runs under writeMu, as the sweep's blob deletions do,
// so that either the sweep saw this record, or the blob's absence is
// seen here.
func (s *Server) recordUpload(tx store.Tx, key string, claims uploadClaims, nowMs int64) (int64, error) {
	f, _, err := s.cfg.Blobs.Open(key)
	if errors.Is(err, blob.ErrNotFound) {
		return 0, errCollected
	}
	if err != nil {
		return 0, err
	}
	_ = f.Close() // only read-only use: nothing to lose
	_, had := uploadOf(tx, key, claims.user)
	known := tx.Get(bucketMediaBlob, []byte(key)) != nil
	var addUser, addTotal int64
	if !had {
		addUser = claims.size
	}
	if !known {
		addTotal = claims.size
	}
	if err := s.checkQuota(tx, claims.user, addUser, addTotal); err != nil {
		if !known {
			// Nothing else holds these bytes: the refused upload leaves
			// nothing stored. A concurrent upload of the same bytes that
			// is not recorded yet finds them gone (errCollected).
			if derr := s.cfg.Blobs.Delete(key); derr != nil {
				return 0, derr
			}
		}
		return 0, err
	}
	rec, _ := json.Marshal(uploadRecord{Size: claims.size, Type: claims.typ, At: nowMs}) // cannot fail: no maps, no floats
	if err := tx.Put(bucketMedia, mediaKey(key, claims.user), rec); err != nil {
		return 0, err
	}
	if _, err := addInt64(tx, bucketMediaUsage, userUsageKey(claims.user), addUser); err != nil {
		return 0, err
	}
	if !known {
		if err := tx.Put(bucketMediaBlob, []byte(key), int64Bytes(claims.size)); err != nil {
			return 0, err
		}
	}
	return addInt64(tx, bucketMediaUsage, []byte(usageTotal), addTotal)
}

// quotaRefusal answers an upload a quota refuses: 507 Insufficient
// Storage, naming the quota and the numbers.
func quotaRefusal(w http.ResponseWriter, err *quotaError) {
	w.Header().Set("Connection", "close")
	mediaError(w, http.StatusInsufficientStorage, "%s", err.Error())
}
