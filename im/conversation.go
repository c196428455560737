package im

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Conversation is the seed's Conversation: a single chat, group chat or live
// chat as this user sees it.
//
// The fields are what the server said when the client last fetched the
// conversation; the seed's read-only properties are methods. The seed's
// getters over the client's local messages (lastVisibleMessage,
// unreadMessageList, getMessageList, ...) are pure functions here: they take
// the messages to look at, typically Client.CachedMessages(c.ID), and ignore
// those of other conversations.
//
// A Conversation is plain data: its methods only read it, so any number of
// goroutines may read one at once, but it must not be changed while it is
// shared. The client replaces a Conversation when it changes.
type Conversation struct {
	// ID is the conversation's id: "{inboxType}:1:{minUid}:{maxUid}" for a
	// single chat, the short id in decimal otherwise.
	ID ConversationID
	// ShortID is the conversation's short id.
	ShortID ConversationShortID
	// Type is the conversation's type.
	Type ConversationType
	// InboxType is the inbox type the conversation lives in.
	InboxType int32
	// IsMember reports whether this user is a member.
	IsMember bool
	// ParticipantCount is the number of members, as last fetched (the seed
	// warns it is cached, not live).
	ParticipantCount int
	// OnlineMemberCount is the number of members online, for live chats;
	// the client fills it when it asks the server (0 until then).
	OnlineMemberCount int
	// Participant is this user as a member (seed: userInfo); nil when they
	// are not one.
	Participant *Participant
	// FirstPageParticipants are the members the client knows: the first
	// page of members the server sends with the conversation (seed:
	// getParticipantList, the members the SDK has locally).
	FirstPageParticipants []*Participant
	// Status is whether the conversation is normal or dissolved (from the
	// core info).
	Status ConversationStatus
	// CoreInfo is the conversation's shared info: name, owner, notice, ext.
	CoreInfo *ConversationCoreInfo
	// SettingInfo is this user's private settings of the conversation.
	SettingInfo *ConversationSettingInfo
	// IsOffline reports a conversation the client knows only locally,
	// without the server's full info.
	IsOffline bool
	// LastMessage is the newest message that may be the last message (see
	// Message.UpdatesLastMessage), when the client knows it; nil otherwise.
	LastMessage *Message
	// ReadIndex is the index of the newest message this user has read.
	ReadIndex int64
	// Version is the version of this user's setting info.
	Version int64
	// UnreadCount is the number of unread messages: messages after
	// ReadIndex, not this user's own, visible to them, and counting towards
	// unread (Message.IncreasesUnread). The server counts it when the
	// conversation is fetched; in the client's cache the sync engine keeps
	// it current as it applies messages and read indexes, counting from
	// the cached messages ([Conversation.UnreadMessages]) when they reach
	// back to ReadIndex, else adding new unread messages to the server's
	// count.
	UnreadCount int
	// Ticket is the conversation's send ticket, a wire detail some servers
	// require on sends.
	Ticket string
}

// Mode returns the conversation's push-pull mode (the core info's mode):
// non-zero for a stranger conversation, 0 between acquaintances.
func (c *Conversation) Mode() int32 {
	if c.CoreInfo == nil {
		return 0
	}
	return c.CoreInfo.Mode
}

// IsStrangerConversation reports whether this is a stranger conversation:
// its Mode is not 0.
func (c *Conversation) IsStrangerConversation() bool { return c.Mode() != 0 }

// PushStatus returns how the conversation's messages are pushed to this
// user (from the setting info).
func (c *Conversation) PushStatus() PushStatus {
	if c.SettingInfo == nil {
		return PushStatusUnknown
	}
	return c.SettingInfo.PushStatus
}

// WeakMuteInfo returns the white lists of low-disturbance mode (from the
// setting info), or nil when there are none.
func (c *Conversation) WeakMuteInfo() *ConversationSettingWeakMuteInfo {
	if c.SettingInfo == nil {
		return nil
	}
	return c.SettingInfo.WeakMuteInfo
}

// IsStickOnTop reports whether this user pinned the conversation.
func (c *Conversation) IsStickOnTop() bool {
	return c.SettingInfo != nil && c.SettingInfo.StickTop == StickTopStateOn
}

// IsFavorite reports whether this user marked the conversation a
// favourite.
func (c *Conversation) IsFavorite() bool {
	return c.SettingInfo != nil && c.SettingInfo.Favorite == FavoriteStateOn
}

// Ext returns the conversation's ext: the core info's ext merged with the
// setting info's, whose keys win over the core's. It is a new map; for one
// side alone read CoreInfo.Ext or SettingInfo.Ext.
func (c *Conversation) Ext() map[string]string {
	out := make(map[string]string)
	if c.CoreInfo != nil {
		maps.Copy(out, c.CoreInfo.Ext)
	}
	if c.SettingInfo != nil {
		maps.Copy(out, c.SettingInfo.Ext)
	}
	return out
}

// UpdatedAt returns when the last message was created, which stands for when
// the conversation was updated; the zero time when there is no last
// message.
func (c *Conversation) UpdatedAt() time.Time {
	if c.LastMessage == nil {
		return time.Time{}
	}
	return c.LastMessage.CreatedAt
}

// IsGeneralConversation reports whether this is a general conversation, a
// single or group chat but not a live chat.
func (c *Conversation) IsGeneralConversation() bool { return c.Type.IsGeneral() }

// ToParticipantUserID returns the other user of a single chat, read from the
// id "{inboxType}:1:{a}:{b}", for me, this user. ok is false for other
// conversation types, an id of another form, or an id that does not name
// me. In a chat with oneself the other user is me.
func (c *Conversation) ToParticipantUserID(me UserID) (other UserID, ok bool) {
	if c.Type != ConversationTypeOneToOne {
		return 0, false
	}
	a, b, ok := parseSingleChatID(c.ID)
	switch {
	case !ok:
		return 0, false
	case a == me:
		return b, true
	case b == me:
		return a, true
	}
	return 0, false
}

// IsBlocked reports whether the conversation is muted (禁言), from the core
// info's block status.
func (c *Conversation) IsBlocked() bool {
	return c.CoreInfo != nil && c.CoreInfo.BlockStatus == BlockStatusBlock
}

// IsBlockNormalOnly reports whether the conversation is muted for ordinary
// members only (owner and managers may still speak): it is blocked and the
// core info's BlockNormalOnly is set.
func (c *Conversation) IsBlockNormalOnly() bool {
	return c.IsBlocked() && c.CoreInfo.BlockNormalOnly
}

// owns reports whether m belongs to c, by id or short id.
func (c *Conversation) owns(m *Message) bool {
	if m == nil {
		return false
	}
	return m.ConversationID == c.ID || (m.ConversationShortID != 0 && m.ConversationShortID == c.ShortID)
}

// MessageList returns the messages of c among msgs that keep accepts (all
// of them when keep is nil), oldest first: by Index, with messages the
// server has not stored yet (Index 0) last, in the order given (seed:
// getMessageList with a filter). [Conversation.VisibleMessages] applies the
// seed's default filter.
func (c *Conversation) MessageList(msgs []*Message, keep func(*Message) bool) []*Message {
	var out []*Message
	for _, m := range msgs {
		if c.owns(m) && (keep == nil || keep(m)) {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, compareMessages)
	return out
}

// compareMessages orders messages by Index, those without one (0) last.
func compareMessages(a, b *Message) int {
	switch {
	case a.Index == b.Index:
		return 0
	case a.Index == 0:
		return 1
	case b.Index == 0:
		return -1
	case a.Index < b.Index:
		return -1
	}
	return 1
}

// VisibleMessages returns the messages of c among msgs that me sees, oldest
// first: getMessageList with the seed's default filter, m => m.visible.
func (c *Conversation) VisibleMessages(msgs []*Message, me UserID) []*Message {
	return c.MessageList(msgs, func(m *Message) bool { return m.IsVisibleTo(me) })
}

// FirstMessage returns the oldest message of c among msgs, or nil.
func (c *Conversation) FirstMessage(msgs []*Message) *Message {
	list := c.MessageList(msgs, nil)
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

// FirstMessageIndex returns the index of the oldest message of c among msgs
// that the server stored, or 0 when there is none.
func (c *Conversation) FirstMessageIndex(msgs []*Message) int64 {
	for _, m := range c.MessageList(msgs, nil) {
		if m.Index > 0 {
			return m.Index
		}
	}
	return 0
}

// LastMessageIndex returns the index of the newest message of c: the
// largest among msgs and LastMessage; 0 when there is none.
func (c *Conversation) LastMessageIndex(msgs []*Message) int64 {
	var last int64
	if c.LastMessage != nil {
		last = c.LastMessage.Index
	}
	for _, m := range msgs {
		if c.owns(m) {
			last = max(last, m.Index)
		}
	}
	return last
}

// LastMessageOrder returns the order of the newest message of c: the
// largest among msgs and LastMessage; 0 when there is none.
func (c *Conversation) LastMessageOrder(msgs []*Message) int64 {
	var last int64
	if c.LastMessage != nil {
		last = c.LastMessage.Order
	}
	for _, m := range msgs {
		if c.owns(m) {
			last = max(last, m.Order)
		}
	}
	return last
}

// LastVisibleMessage returns the newest message of c among msgs that me
// sees (Message.IsVisibleTo), or nil.
func (c *Conversation) LastVisibleMessage(msgs []*Message, me UserID) *Message {
	return lastOf(c.VisibleMessages(msgs, me))
}

// LastPopVisibleMessage returns the newest message of c among msgs that me
// sees and that moves the conversation up the list (not
// Message.IsUnpop), or nil.
func (c *Conversation) LastPopVisibleMessage(msgs []*Message, me UserID) *Message {
	return lastOf(c.MessageList(msgs, func(m *Message) bool { return m.IsVisibleTo(me) && !m.IsUnpop() }))
}

func lastOf(list []*Message) *Message {
	if len(list) == 0 {
		return nil
	}
	return list[len(list)-1]
}

// UnreadMessages returns the messages of c among msgs that are unread for
// me, oldest first (seed: unreadMessageList): after ReadIndex, not sent by
// me, visible to me, and counting towards unread (Message.IncreasesUnread).
// The server counts UnreadCount by the same rule.
func (c *Conversation) UnreadMessages(msgs []*Message, me UserID) []*Message {
	return c.MessageList(msgs, func(m *Message) bool {
		return m.Index > c.ReadIndex && !m.IsFromMe(me) && m.IsVisibleTo(me) && m.IncreasesUnread()
	})
}

// UnreadMessagesWeakMute returns the unread messages of c among msgs that
// pass the low-disturbance white lists (seed:
// unreadMessageListWithWhiteList): those of UnreadMessages sent by a
// white-listed user or of a white-listed type. With no white lists there
// are none. It does not look at PushStatus: the caller decides whether
// low-disturbance mode applies.
func (c *Conversation) UnreadMessagesWeakMute(msgs []*Message, me UserID) []*Message {
	w := c.WeakMuteInfo()
	if w == nil {
		return nil
	}
	var out []*Message
	for _, m := range c.UnreadMessages(msgs, me) {
		if w.Allows(m) {
			out = append(out, m)
		}
	}
	return out
}

// UnreadCountWeakMute returns the number of unread messages of c among msgs
// that pass the low-disturbance white lists (seed:
// unreadCountWithWhiteList); see [Conversation.UnreadMessagesWeakMute].
func (c *Conversation) UnreadCountWeakMute(msgs []*Message, me UserID) int {
	return len(c.UnreadMessagesWeakMute(msgs, me))
}

// Participant is the seed's Participant: a member of a conversation.
//
// A Participant is plain data, safe to read from many goroutines and not to
// be changed while shared.
type Participant struct {
	// UserID is the member's user id.
	UserID UserID
	// SecUID is the member's encrypted uid.
	SecUID string
	// SortOrder orders the member list.
	SortOrder int64
	// Role is the member's role.
	Role GroupRole
	// Alias is the member's nickname in the conversation.
	Alias string
	// ConversationID is the conversation's id; for a group it is the short
	// id that messages carry, in decimal.
	ConversationID ConversationID
	// Blocked reports whether the member is muted.
	Blocked bool
	// LeftBlockTime is how long the member stays muted; 0 when muted until
	// unmuted (or not muted).
	LeftBlockTime time.Duration
	// MinIndex is the smallest message index the member can pull.
	MinIndex int64
	// ReadIndex is the index of the newest message the member has read
	// (Message.Index).
	ReadIndex int64
	// ReadOrder is the member's read mark in message order (Message.Order).
	ReadOrder int64
	// Ext is the member's ext map.
	Ext map[string]string
}

// IsSelf reports whether the member is me (seed: isSelf).
func (p *Participant) IsSelf(me UserID) bool { return p.UserID == me }

// ConversationCoreInfo is the seed's ConversationCoreInfo: the shared info of
// a conversation, which owners and managers change.
type ConversationCoreInfo struct {
	// ConversationID is the conversation's id.
	ConversationID ConversationID
	// Version is the core info's version; it grows with every change.
	Version int64
	// Name is the conversation's name.
	Name string
	// Desc is its description.
	Desc string
	// Icon is its icon, a group's avatar.
	Icon string
	// Notice is a group's notice.
	Notice string
	// Owner is the group's owner (or creator).
	Owner UserID
	// SecOwner is the owner's encrypted uid.
	SecOwner string
	// InboxType is the inbox type.
	InboxType int32
	// BlockStatus is whether the conversation is muted.
	BlockStatus BlockStatus
	// BlockNormalOnly reports that a mute applies to ordinary members
	// only.
	BlockNormalOnly bool
	// Ext is the core ext map.
	Ext map[string]string
	// Mode is the push-pull mode, non-zero for stranger conversations (a
	// wire field behind the seed's Conversation.mode).
	Mode int32
	// Creator is the user who created the conversation (a wire field the
	// seed does not list).
	Creator UserID
	// Status is normal or dissolved (a wire field behind the seed's
	// Conversation.status).
	Status ConversationStatus
}

// ConversationSettingInfo is the seed's ConversationSettingInfo: this user's
// private settings of a conversation.
type ConversationSettingInfo struct {
	// ConversationID is the conversation's id.
	ConversationID ConversationID
	// Version is the setting info's version; it grows with every change.
	Version int64
	// StickTop is whether the conversation is pinned.
	StickTop StickTopState
	// SetTopTime is when it was pinned; zero when it is not.
	SetTopTime time.Time
	// Mute is the do-not-disturb state.
	Mute MuteState
	// PushStatus is how messages are pushed, read from Ext
	// "s:push_status" (PushStatusUnknown when absent or invalid).
	PushStatus PushStatus
	// Favorite is whether the conversation is a favourite (seed: favor).
	Favorite FavoriteState
	// SetFavoriteTime is when it was made a favourite; zero when it is
	// not.
	SetFavoriteTime time.Time
	// ReadIndex is the index of the newest message read.
	ReadIndex int64
	// MinIndex is the smallest index this user can pull (a wire field the
	// seed does not list).
	MinIndex int64
	// Ext is the setting ext map.
	Ext map[string]string
	// WeakMuteInfo is the low-disturbance white lists, read from Ext
	// "s:push_part_disable_config"; nil when absent or not valid JSON.
	WeakMuteInfo *ConversationSettingWeakMuteInfo
}

// ConversationSettingWeakMuteInfo is the seed's
// ConversationSettingWeakMuteInfo: in low-disturbance mode
// (PushStatusPartAllow), the users and message types that still notify.
//
// In the setting ext (s:push_part_disable_config) it is JSON with the
// seed's field names, {"whiteUids": ["2", "3"], "whiteMsgTypes": [10001]};
// user ids may be strings (as the web SDK writes its Longs) or numbers.
type ConversationSettingWeakMuteInfo struct {
	// WhiteUIDs lists the users whose messages still notify (seed:
	// whiteUids).
	WhiteUIDs []UserID
	// WhiteMsgTypes lists the message types that still notify (seed:
	// whiteMsgTypes).
	WhiteMsgTypes []MessageType
}

// Allows reports whether m passes the white lists: its sender or its type is
// listed.
func (w *ConversationSettingWeakMuteInfo) Allows(m *Message) bool {
	return slices.Contains(w.WhiteUIDs, m.Sender) || slices.Contains(w.WhiteMsgTypes, m.Type)
}

// weakMuteJSON is the wire form of ConversationSettingWeakMuteInfo.
type weakMuteJSON struct {
	WhiteUids     []json.RawMessage `json:"whiteUids,omitempty"`
	WhiteMsgTypes []json.RawMessage `json:"whiteMsgTypes,omitempty"`
}

// MarshalJSON writes the setting ext form: user ids as strings, message
// types as numbers.
func (w ConversationSettingWeakMuteInfo) MarshalJSON() ([]byte, error) {
	var out weakMuteJSON
	for _, u := range w.WhiteUIDs {
		out.WhiteUids = append(out.WhiteUids, json.RawMessage(strconv.Quote(u.String())))
	}
	for _, t := range w.WhiteMsgTypes {
		out.WhiteMsgTypes = append(out.WhiteMsgTypes, json.RawMessage(strconv.FormatInt(int64(t), 10)))
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the setting ext form, accepting numbers and decimal
// strings in both lists.
func (w *ConversationSettingWeakMuteInfo) UnmarshalJSON(b []byte) error {
	var in weakMuteJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	var out ConversationSettingWeakMuteInfo
	for _, raw := range in.WhiteUids {
		n, err := jsonInt(raw)
		if err != nil {
			return err
		}
		out.WhiteUIDs = append(out.WhiteUIDs, UserID(n))
	}
	for _, raw := range in.WhiteMsgTypes {
		n, err := jsonInt(raw)
		if err != nil {
			return err
		}
		out.WhiteMsgTypes = append(out.WhiteMsgTypes, MessageType(n))
	}
	*w = out
	return nil
}

// jsonInt reads an integer written as a JSON number or a decimal string.
func jsonInt(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// parseWeakMuteInfo reads the setting ext's weak-mute configuration; nil
// when absent or invalid (wire data never makes a caller fail).
func parseWeakMuteInfo(ext map[string]string) *ConversationSettingWeakMuteInfo {
	v := ext[string(InfoKeyPushPartDisableConfig)]
	if v == "" {
		return nil
	}
	var w ConversationSettingWeakMuteInfo
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return nil
	}
	return &w
}

// parsePushStatus reads the setting ext's push status; PushStatusUnknown
// when absent or not one of the seed's values.
func parsePushStatus(ext map[string]string) PushStatus {
	n, err := strconv.Atoi(ext[string(InfoKeyPushStatus)])
	if err != nil || n < int(PushStatusUnknown) || n > int(PushStatusPartAllow) {
		return PushStatusUnknown
	}
	return PushStatus(n)
}

// LiveMemberInfo is the seed's IMemberInfo: a member of a live chat.
type LiveMemberInfo struct {
	// UserID is the member's user id (seed: user_id).
	UserID UserID
	// IsInConversation reports whether the member is in the live chat now,
	// online (seed: is_in_conversation).
	IsInConversation bool
	// CreateTime is when the member joined (seed: create_time).
	CreateTime time.Time
	// PingTime is when the member was last active (seed: ping_time).
	PingTime time.Time
	// Role is the member's role (a wire field the seed does not list).
	Role GroupRole
}

// CreateConversationResult is the seed's CreateConversationResult,
// ICheckCodeResult<Conversation, CreateConversationV2ResponseBody>, named
// for the mapping. [Client.CreateConversation] does not return it: Go
// splits the seed's result into the Payload, the *Conversation it returns,
// and the failure, an *Error holding the status, check code and log id.
type CreateConversationResult = Result[*Conversation]

// SetConversationSettingInfoResult is the seed's
// SetConversationSettingInfoResult, ICheckCodeResult<Conversation,
// SetConversationSettingInfoResponseBody>, named for the mapping.
// [Client.SetSettingInfo] (and the ext setters) do not return it: they
// return the new *ConversationSettingInfo, which the cached Conversation
// takes, and fail with an *Error holding the status and check code.
type SetConversationSettingInfoResult = Result[*Conversation]

// AddParticipantResult is the seed's AddParticipantResult: the Payload is
// the conversation, the Body the raw ConversationAddParticipantsResponseBody,
// and FailedParticipants the users who could not be added.
type AddParticipantResult struct {
	Result[*Conversation]
	// FailedParticipants are the users who were not added (seed:
	// failedParticipant).
	FailedParticipants []UserID
}

// RemoveParticipantResult is the seed's RemoveParticipantResult: the
// Payload is the conversation, the Body the raw
// ConversationRemoveParticipantsResponseBody, and FailedParticipants the
// users who could not be removed.
type RemoveParticipantResult struct {
	Result[*Conversation]
	// FailedParticipants are the users who were not removed (seed:
	// failedParticipant).
	FailedParticipants []UserID
}

// UpdateParticipantResult is the seed's UpdateParticipantResult,
// ICheckCodeResult<Participant, UpdateConversationParticipantResponseBody>,
// named for the mapping. [Client.UpdateParticipant] does not return it: it
// returns the Payload, the *Participant as it is now, and fails with an
// *Error holding the status and check code.
type UpdateParticipantResult = Result[*Participant]
