package imserver

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/imserver/store"
)

// Buckets of the store and the layout of their keys. Integers in keys are
// big-endian so that byte order is numeric order. "user|inbox" prefixes
// keep inbox types apart.
const (
	bucketMeta      = "meta"       // counter name → uint64
	bucketConv      = "conv"       // short id → convRecord (JSON)
	bucketConvByID  = "conv_by_id" // inbox|conversation id → short id
	bucketConvIdem  = "conv_idem"  // inbox|owner|idempotent id → short id
	bucketCore      = "core"       // short id → ConversationCoreInfo
	bucketMember    = "member"     // short id|user → Participant
	bucketUserConv  = "user_conv"  // user|inbox|short id → userConvRecord (JSON)
	bucketSetting   = "setting"    // user|short id → ConversationSettingInfo
	bucketMsg       = "msg"        // short id|index → MessageBody
	bucketMsgByID   = "msg_by_id"  // server message id → short id|index
	bucketClientID  = "msg_client" // short id|sender|client message id → server message id
	bucketInbox     = "inbox"      // user|inbox|cursor → short id|index
	bucketCursor    = "cursor"     // user|inbox → last cursor
	bucketHidden    = "hidden"     // user|server message id → empty (deleted for self)
	bucketLive      = "live"       // short id|user → LiveMemberInfo
	bucketApply     = "apply"      // apply id → ApplyUserInfo
	bucketApplyTo   = "apply_to"   // to user|index → apply id
	bucketApplyFrom = "apply_from" // from user|apply id → apply id
	bucketApplyPair = "apply_pair" // from user|to user → apply id (the latest)
	bucketFriend    = "friend"     // user|friend → FriendUserInfo
)

// Counters in bucketMeta.
const (
	counterShortID = "short_id"
	counterMsgID   = "msg_id"
	counterApplyID = "apply_id"
)

// key builds a key from int64 and string parts: integers as 8 big-endian
// bytes, strings as their bytes followed by a zero byte so that "a" sorts
// before "a\x00..." and prefixes never collide.
func key(parts ...any) []byte {
	b := make([]byte, 0, 8*len(parts))
	for _, p := range parts {
		switch v := p.(type) {
		case int64:
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		case int32:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case string:
			b = append(b, v...)
			b = append(b, 0)
		default:
			panic(fmt.Sprintf("imserver: key part of type %T", p))
		}
	}
	return b
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, the exclusive end of a prefix scan.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func int64At(b []byte, off int) int64 { return int64(binary.BigEndian.Uint64(b[off : off+8])) }

func int32At(b []byte, off int) int32 { return int32(binary.BigEndian.Uint32(b[off : off+4])) }

func int64Bytes(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// nextID increments and returns a counter.
func nextID(tx store.Tx, name string) (int64, error) {
	n, ok := int64(0), false
	if cache := cacheOf(tx); cache != nil {
		n, ok = cache.counters[name]
	}
	if !ok {
		if v := tx.Get(bucketMeta, []byte(name)); len(v) == 8 {
			n = int64At(v, 0)
		}
	}
	n++
	return n, tx.Put(bucketMeta, []byte(name), int64Bytes(n))
}

// convRecord is a conversation's identity and counters; its shared,
// user-visible part is the ConversationCoreInfo in bucketCore.
type convRecord struct {
	ID         string
	ShortID    int64
	Type       int32
	Inbox      int32
	LastIndex  int64
	LastOrder  int64
	Members    int32
	CreateTime int64 // ms
	Dissolved  bool
}

// userConvRecord is a user's membership of a conversation as the
// conversation list sees it.
type userConvRecord struct {
	JoinTime int64 // ms; sort key of SortType JOIN_TIME
	// DeletedAt is the conversation's last index when the user deleted it
	// for themself (603); the conversation stays off their list until a
	// newer message arrives, and 301 does not return messages up to it.
	DeletedAt int64
	Deleted   bool
	// Left is set when the user left or was removed; the record stays so
	// that include_removed_group can list the conversation.
	Left bool
}

// record is a server record stored in a compact binary form: a version
// byte, then its fields in a fixed order as varints and length-prefixed
// strings. It is read on every send, where JSON cost a quarter of the
// server's time.
type record interface {
	marshal() []byte
	unmarshal(b []byte) error
}

// recordVersion is the first byte of every record.
const recordVersion = 1

func getRecord(tx store.Tx, bucket string, k []byte, r record) (bool, error) {
	b := tx.Get(bucket, k)
	if b == nil {
		return false, nil
	}
	if err := r.unmarshal(b); err != nil {
		return false, fmt.Errorf("imserver: corrupt %s record: %w", bucket, err)
	}
	return true, nil
}

func putRecord(tx store.Tx, bucket string, k []byte, r record) error {
	return tx.Put(bucket, k, r.marshal())
}

// recordReader reads a record's fields in order; the first failure sticks.
type recordReader struct {
	b   []byte
	err error
}

var errShortRecord = errors.New("record too short")

func newRecordReader(b []byte) *recordReader {
	if len(b) == 0 || b[0] != recordVersion {
		return &recordReader{err: fmt.Errorf("record version %v, want %d", b[:min(len(b), 1)], recordVersion)}
	}
	return &recordReader{b: b[1:]}
}

func (r *recordReader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bool() bool { return r.int() != 0 }

func (r *recordReader) string() string {
	n := r.int()
	if r.err != nil {
		return ""
	}
	if n < 0 || n > int64(len(r.b)) {
		r.err = errShortRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return binary.AppendVarint(b, 1)
	}
	return binary.AppendVarint(b, 0)
}

func (c *convRecord) marshal() []byte {
	b := []byte{recordVersion}
	b = binary.AppendVarint(b, int64(len(c.ID)))
	b = append(b, c.ID...)
	for _, v := range []int64{c.ShortID, int64(c.Type), int64(c.Inbox), c.LastIndex, c.LastOrder, int64(c.Members), c.CreateTime} {
		b = binary.AppendVarint(b, v)
	}
	return appendBool(b, c.Dissolved)
}

func (c *convRecord) unmarshal(b []byte) error {
	r := newRecordReader(b)
	*c = convRecord{ID: r.string(), ShortID: r.int(), Type: int32(r.int()), Inbox: int32(r.int()),
		LastIndex: r.int(), LastOrder: r.int(), Members: int32(r.int()), CreateTime: r.int(), Dissolved: r.bool()}
	return r.err
}

func (u *userConvRecord) marshal() []byte {
	b := []byte{recordVersion}
	b = binary.AppendVarint(b, u.JoinTime)
	b = binary.AppendVarint(b, u.DeletedAt)
	b = appendBool(b, u.Deleted)
	return appendBool(b, u.Left)
}

func (u *userConvRecord) unmarshal(b []byte) error {
	r := newRecordReader(b)
	*u = userConvRecord{JoinTime: r.int(), DeletedAt: r.int(), Deleted: r.bool(), Left: r.bool()}
	return r.err
}

func getProto(tx store.Tx, bucket string, k []byte, m proto.Message) (bool, error) {
	b := tx.Get(bucket, k)
	if b == nil {
		return false, nil
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return false, fmt.Errorf("imserver: corrupt %s record: %w", bucket, err)
	}
	return true, nil
}

func putProto(tx store.Tx, bucket string, k []byte, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Put(bucket, k, b)
}

// newProto returns a new, empty M (a generated message pointer type), so
// that the helpers below can decode into any record type.
func newProto[M proto.Message]() M {
	var zero M
	return zero.ProtoReflect().New().Interface().(M)
}

// findProto returns the record at k decoded as M, or nil when there is
// none: the lookup of an optional record (a member, a message, a friend).
func findProto[M proto.Message](tx store.Tx, bucket string, k []byte) (M, error) {
	m := newProto[M]()
	ok, err := getProto(tx, bucket, k, m)
	if !ok || err != nil {
		var none M
		return none, err
	}
	return m, nil
}

// walkFunc is tx.Ascend or tx.Descend.
type walkFunc func(bucket string, from, to []byte, visit func(k, v []byte) bool) error

// walkProtos walks the records of bucket with from <= key < to in walk's
// order, decoding each as M, until visit returns false. A record that does
// not decode ends the walk with its error.
func walkProtos[M proto.Message](walk walkFunc, bucket string, from, to []byte, visit func(m M) bool) error {
	var decodeErr error
	err := walk(bucket, from, to, func(_, v []byte) bool {
		m := newProto[M]()
		if decodeErr = proto.Unmarshal(v, m); decodeErr != nil {
			return false
		}
		return visit(m)
	})
	return cmp.Or(err, decodeErr)
}
