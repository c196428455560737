package im

import (
	"strconv"
	"strings"
)

// UserID is an IM user id: the seed's uid, a string holding an int64 in the
// web SDK and an int64 on the wire.
type UserID int64

// String returns the id in decimal, as the seed's string uids are written.
func (id UserID) String() string { return strconv.FormatInt(int64(id), 10) }

// ConversationID is a conversation's id. The seed's rule: a single chat's id
// is "{inboxType}:1:{minUid}:{maxUid}" (see [SingleChatID]); a group's or a
// live chat's id is its short id in decimal.
type ConversationID string

// String returns the id itself.
func (id ConversationID) String() string { return string(id) }

// ConversationShortID is a conversation's short id, the seed's shortId: an
// int64 the server assigns. Messages carry it as conversationShortId.
type ConversationShortID int64

// String returns the short id in decimal.
func (id ConversationShortID) String() string { return strconv.FormatInt(int64(id), 10) }

// MessageID is a message's server id, the seed's serverId ("an int64 in
// string form"). Local messages the server has not stored have none (0);
// they are known by their client id.
type MessageID int64

// String returns the id in decimal.
func (id MessageID) String() string { return strconv.FormatInt(int64(id), 10) }

// FriendApplyID is the id of a friend apply, the seed's FriendApply.id.
type FriendApplyID int64

// String returns the id in decimal.
func (id FriendApplyID) String() string { return strconv.FormatInt(int64(id), 10) }

// SingleChatID returns the id of the single chat between a and b in an inbox
// type, following the seed's rule "{inboxType}:1:{minUid}:{maxUid}".
func SingleChatID(inboxType int32, a, b UserID) ConversationID {
	lo, hi := min(a, b), max(a, b)
	return ConversationID(strconv.FormatInt(int64(inboxType), 10) + ":1:" + lo.String() + ":" + hi.String())
}

// parseSingleChatID splits a single chat id "{inboxType}:1:{a}:{b}" into its
// two users; ok is false for any other form.
func parseSingleChatID(id ConversationID) (a, b UserID, ok bool) {
	parts := strings.Split(string(id), ":")
	if len(parts) != 4 || parts[1] != "1" {
		return 0, 0, false
	}
	if _, err := strconv.ParseInt(parts[0], 10, 32); err != nil {
		return 0, 0, false
	}
	x, err1 := strconv.ParseInt(parts[2], 10, 64)
	y, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return UserID(x), UserID(y), true
}

// parseUserList parses a comma-separated list of user ids, as the ext keys
// s:mentioned_users, s:visible and s:invisible carry them. Blank and
// malformed entries are skipped: ext is wire data and never makes a caller
// fail.
func parseUserList(s string) []UserID {
	if s == "" {
		return nil
	}
	var out []UserID
	for f := range strings.SplitSeq(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
			out = append(out, UserID(n))
		}
	}
	return out
}
