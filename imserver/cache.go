package imserver

import (
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// The state changes of the server run one at a time (writeMu), and every
// send reads the same few records: the conversation, the sender's
// membership, the core info's mute, the member list, each member's inbox
// cursor and conversation list entry, the message id counter. Reading them
// from the store cost a dozen ordered-tree lookups and three protobuf
// decodes per send, a quarter of the CPU of a busy server. stateCache
// keeps them decoded for the transactions that run under writeMu.
//
// Consistency: only s.update uses the cache, through cachedTx, which
// forgets (or, for the records a send writes, refreshes) an entry on every
// Put or Delete of its key, so a cached entry always equals what the
// transaction would read from the store. A transaction that wrote and then
// failed (or panicked) resets the whole cache: its writes were rolled back
// and the cache may hold them. Views read the store only, so they never
// see an uncommitted write. The server must therefore be its store's only
// writer, as Config.Store says.

// maxCacheEntries bounds each map of the cache: one that grows past it is
// emptied and refills with what is in use.
const maxCacheEntries = 1 << 16

type convName struct {
	inbox int32
	id    string
}

type userInbox struct {
	user  int64
	inbox int32
}

type userConvKey struct {
	user  int64
	inbox int32
	short int64
}

// memberState is what a send needs of a Participant: who may speak
// (checkCanSend).
type memberState struct {
	user     int64
	role     int32
	blocked  bool
	blockEnd int64 // ms; 0 with blocked: until unmuted
}

func memberStateOf(p *improto.Participant) memberState {
	return memberState{user: p.GetUserId(), role: p.GetRole(), blocked: p.GetBlocked() == improto.BlockStatus_BLOCK, blockEnd: p.GetLeftBlockTime()}
}

// coreMute is what a send needs of a ConversationCoreInfo (checkCanSend).
type coreMute struct {
	blocked    bool
	normalOnly bool
}

func coreMuteOf(core *improto.ConversationCoreInfo) coreMute {
	return coreMute{blocked: core.GetBlockStatus() == improto.BlockStatus_BLOCK, normalOnly: core.GetBlockNormalOnly()}
}

// convState is the cached part of one conversation; each part is loaded
// on first use.
type convState struct {
	rec        convRecord
	hasRec     bool
	core       coreMute
	hasCore    bool
	members    map[int64]memberState
	memberIDs  []int64 // sorted; full capacity, so appending copies
	hasMembers bool
}

type stateCache struct {
	convs     map[int64]*convState
	convIDs   map[convName]int64
	cursors   map[userInbox]int64
	userConvs map[userConvKey]userConvRecord
	counters  map[string]int64
}

func (c *stateCache) reset() {
	*c = stateCache{
		convs:     make(map[int64]*convState),
		convIDs:   make(map[convName]int64),
		cursors:   make(map[userInbox]int64),
		userConvs: make(map[userConvKey]userConvRecord),
		counters:  make(map[string]int64),
	}
}

// room empties m when it is full, so that a new entry fits.
func room[K comparable, V any](m map[K]V) {
	if len(m) >= maxCacheEntries {
		clear(m)
	}
}

// conv returns the state of a conversation, creating an empty one.
func (c *stateCache) conv(short int64) *convState {
	st := c.convs[short]
	if st == nil {
		room(c.convs)
		st = &convState{}
		c.convs[short] = st
	}
	return st
}

// cachedTx is the transaction of s.update: the store's, with the cache
// kept in step with its writes.
type cachedTx struct {
	store.Tx
	c     *stateCache
	dirty bool // a write went through: a rollback must reset the cache
}

// cacheOf returns the cache a transaction may use: nil for views.
func cacheOf(tx store.Tx) *stateCache {
	if ct, ok := tx.(*cachedTx); ok {
		return ct.c
	}
	return nil
}

func (t *cachedTx) Put(bucket string, k, v []byte) error {
	t.forget(bucket, k)
	if err := t.Tx.Put(bucket, k, v); err != nil {
		return err
	}
	// The counters and cursors a send moves are read again by the next
	// one: keep them instead of forgetting them.
	switch {
	case bucket == bucketMeta && len(v) == 8:
		room(t.c.counters)
		t.c.counters[string(k)] = int64At(v, 0)
	case bucket == bucketCursor && len(k) == 12 && len(v) == 8:
		room(t.c.cursors)
		t.c.cursors[userInbox{int64At(k, 0), int32At(k, 8)}] = int64At(v, 0)
	}
	return nil
}

func (t *cachedTx) Delete(bucket string, k []byte) error {
	t.forget(bucket, k)
	return t.Tx.Delete(bucket, k)
}

// forget drops what the cache knows of bucket's key k.
func (t *cachedTx) forget(bucket string, k []byte) {
	t.dirty = true
	c := t.c
	switch bucket {
	case bucketMeta:
		delete(c.counters, string(k))
	case bucketCursor:
		if len(k) == 12 {
			delete(c.cursors, userInbox{int64At(k, 0), int32At(k, 8)})
		}
	case bucketUserConv:
		if len(k) == 20 {
			delete(c.userConvs, userConvKey{int64At(k, 0), int32At(k, 8), int64At(k, 12)})
		}
	case bucketConvByID:
		if len(k) > 4 {
			delete(c.convIDs, convName{int32At(k, 0), string(k[4 : len(k)-1])})
		}
	case bucketConv, bucketCore, bucketMember:
		if len(k) < 8 {
			return
		}
		st := c.convs[int64At(k, 0)]
		if st == nil {
			return
		}
		switch bucket {
		case bucketConv:
			st.hasRec = false
		case bucketCore:
			st.hasCore = false
		default:
			st.hasMembers, st.members, st.memberIDs = false, nil, nil
		}
	}
}

// cachedConv returns the record of conversation short, or false when it
// is not cached.
func (c *stateCache) cachedConv(short int64) (convRecord, bool) {
	if st := c.convs[short]; st != nil && st.hasRec {
		return st.rec, true
	}
	return convRecord{}, false
}

func (c *stateCache) setConv(conv *convRecord) {
	st := c.conv(conv.ShortID)
	st.rec, st.hasRec = *conv, true
	room(c.convIDs)
	c.convIDs[convName{conv.Inbox, conv.ID}] = conv.ShortID
}

// loadMembers fills st's member list from the store.
func (st *convState) loadMembers(tx store.Tx, short int64) error {
	ms := make(map[int64]memberState)
	var ids []int64
	err := members(tx, short, func(p *improto.Participant) bool {
		ms[p.GetUserId()] = memberStateOf(p)
		ids = append(ids, p.GetUserId())
		return true
	})
	if err != nil {
		return err
	}
	st.members, st.memberIDs, st.hasMembers = ms, ids[:len(ids):len(ids)], true
	return nil
}

// cachedMembers returns conversation short's member list, from the cache
// when tx has one. The map and slice are shared: read them only.
func cachedMembers(tx store.Tx, short int64) (map[int64]memberState, []int64, error) {
	c := cacheOf(tx)
	if c == nil {
		st := &convState{}
		err := st.loadMembers(tx, short)
		return st.members, st.memberIDs, err
	}
	st := c.conv(short)
	if !st.hasMembers {
		if err := st.loadMembers(tx, short); err != nil {
			return nil, nil, err
		}
	}
	return st.members, st.memberIDs, nil
}

// convMute returns the mute of conv's core info, from the cache when tx
// has one.
func convMute(tx store.Tx, conv *convRecord) (coreMute, error) {
	c := cacheOf(tx)
	if c != nil {
		if st := c.convs[conv.ShortID]; st != nil && st.hasCore {
			return st.core, nil
		}
	}
	core, err := coreInfo(tx, conv)
	if err != nil {
		return coreMute{}, err
	}
	m := coreMuteOf(core)
	if c != nil {
		st := c.conv(conv.ShortID)
		st.core, st.hasCore = m, true
	}
	return m, nil
}
