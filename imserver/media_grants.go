package imserver

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store"
)

// Grants (the package doc's "Files"): a message that names a file key in
// its content, sent by someone who may read that file, records a grant
// (key, conversation, message). A member of the conversation to whom the
// message is visible, and who has not seen it recalled, may then read
// the file.
const (
	// bucketMediaGrant: file key (64 bytes)|short id|server message id →
	// fileMeta of the file as its sender could read it.
	bucketMediaGrant = "media_grant"
	// filesField marks a content that carries files; a content without it
	// is not parsed, which keeps a plain send's cost at one substring
	// search.
	filesField = `"__files"`
	// extFileKey is the ext entry of a file slot that holds its key.
	extFileKey = "s:file_ext_key_file_key"
	// maxFilesPerMessage bounds the keys one message grants; a content
	// naming more grants the first ones (in the order JSON objects
	// decode, by slot name) and the server stores it all the same.
	maxFilesPerMessage = 100
	// maxGrantScan bounds the grants of one key looked at to answer
	// whether a user may read it without naming a message (a send, or
	// GET_MEDIA_URLS with no server_message_id): a key sent to more
	// conversations than this is still readable through the message
	// that carries it.
	maxGrantScan = 1000
)

// filesContent is the part of a message content that names files:
// {"__files": {"<slot>": {"remoteURL": …, "ext": {"s:file_ext_key_file_key": "<key>", …}}}}.
// ext values are decoded raw so that one value of another JSON type
// does not lose the slot.
type filesContent struct {
	Files map[string]struct {
		Ext map[string]json.RawMessage `json:"ext"`
	} `json:"__files"`
}

// fileKeysIn returns the distinct valid file keys content names, at most
// maxFilesPerMessage, or none when content is not such JSON: a content is
// opaque to the server, and a malformed one only grants nothing.
func fileKeysIn(content string) []string {
	if !strings.Contains(content, filesField) {
		return nil
	}
	var fc filesContent
	if json.Unmarshal([]byte(content), &fc) != nil {
		return nil
	}
	var keys []string
	for _, slot := range fc.Files {
		var k string
		if json.Unmarshal(slot.Ext[extFileKey], &k) != nil || !blob.ValidKey(k) {
			continue
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if len(keys) == maxFilesPerMessage {
			break
		}
	}
	return keys
}

// fileMeta is what a URL is signed with: the size and the declared media
// type of a file as one user uploaded it.
type fileMeta struct {
	size int64
	typ  string
}

func (m fileMeta) encode() []byte { return append(int64Bytes(m.size), m.typ...) }

func decodeFileMeta(v []byte) (fileMeta, bool) {
	if len(v) < 8 {
		return fileMeta{}, false
	}
	return fileMeta{size: int64At(v, 0), typ: string(v[8:])}, true
}

func grantKey(fileKey string, shortID, serverID int64) []byte {
	return append([]byte(fileKey), key(shortID, serverID)...)
}

// grantFiles records a grant for each file m names that its sender may
// read; the others are left ungranted, and m is stored regardless.
func grantFiles(tx store.Tx, m *improto.MessageBody) error {
	for _, k := range fileKeysIn(m.GetContent()) {
		meta, ok, err := mayRead(tx, m.GetSender(), k, nil)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := tx.Put(bucketMediaGrant, grantKey(k, m.GetConversationShortId(), m.GetServerMessageId()), meta.encode()); err != nil {
			return err
		}
	}
	return nil
}

// revokeGrants removes the grants of m, which is being recalled: its
// files are no longer readable through it, and become garbage when
// nothing else holds them.
func revokeGrants(tx store.Tx, m *improto.MessageBody) error {
	for _, k := range fileKeysIn(m.GetContent()) {
		if err := tx.Delete(bucketMediaGrant, grantKey(k, m.GetConversationShortId(), m.GetServerMessageId())); err != nil {
			return err
		}
	}
	return nil
}

// hasGrant reports whether any message holds a grant for fileKey.
func hasGrant(tx store.Tx, fileKey string) (bool, error) {
	found := false
	err := tx.Ascend(bucketMediaGrant, []byte(fileKey), prefixEnd([]byte(fileKey)), func(_, _ []byte) bool {
		found = true
		return false
	})
	return found, err
}

// mayRead reports whether user may read fileKey, and as what: they
// uploaded it, or a message visible to them in a conversation they are a
// member of holds a grant for it. via, when not nil, is a message the
// caller named and may see; its grant is looked at first, and is the
// only one looked at past maxGrantScan.
func mayRead(tx store.Tx, user int64, fileKey string, via *improto.MessageBody) (fileMeta, bool, error) {
	if rec, ok := uploadOf(tx, fileKey, user); ok {
		return fileMeta{size: rec.Size, typ: rec.Type}, true, nil
	}
	if via != nil {
		if meta, ok := decodeFileMeta(tx.Get(bucketMediaGrant, grantKey(fileKey, via.GetConversationShortId(), via.GetServerMessageId()))); ok {
			return meta, true, nil
		}
	}
	prefix := []byte(fileKey)
	type grant struct {
		shortID, serverID int64
		meta              fileMeta
	}
	var grants []grant
	err := tx.Ascend(bucketMediaGrant, prefix, prefixEnd(prefix), func(k, v []byte) bool {
		meta, ok := decodeFileMeta(v)
		if ok && len(k) == len(prefix)+16 {
			grants = append(grants, grant{int64At(k, len(prefix)), int64At(k, len(prefix)+8), meta})
		}
		return len(grants) < maxGrantScan
	})
	if err != nil {
		return fileMeta{}, false, err
	}
	isMember := map[int64]bool{}
	for _, g := range grants {
		in, seen := isMember[g.shortID]
		if !seen {
			p, err := member(tx, g.shortID, user)
			if err != nil {
				return fileMeta{}, false, err
			}
			in = p != nil
			isMember[g.shortID] = in
		}
		if !in {
			continue
		}
		v := tx.Get(bucketMsgByID, key(g.serverID))
		if len(v) != 16 || int64At(v, 0) != g.shortID {
			continue
		}
		m, err := loadMessage(tx, g.shortID, int64At(v, 8))
		if err != nil {
			return fileMeta{}, false, err
		}
		if m != nil && visibleTo(m, user) && !isRecalled(m) {
			return g.meta, true, nil
		}
	}
	return fileMeta{}, false, nil
}
