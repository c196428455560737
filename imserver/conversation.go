package imserver

import (
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Conversation types the server serves.
const (
	typeSingle = int32(improto.ConversationType_ONE_TO_ONE_CHAT)
	typeGroup  = int32(improto.ConversationType_GROUP_CHAT)
	typeLive   = int32(improto.ConversationType_MASS_CHAT)
)

// Roles of a participant (GroupRole).
const (
	roleOrdinary = int32(improto.GroupRole_ORDINARY)
	roleOwner    = int32(improto.GroupRole_OWNER)
	roleManager  = int32(improto.GroupRole_MANAGER)
	roleVisitor  = int32(improto.GroupRole_VISITOR)
)

// isOwnerOrManager reports whether p may manage the conversation and act
// on other members and their messages.
func isOwnerOrManager(p *improto.Participant) bool {
	return p.GetRole() == roleOwner || p.GetRole() == roleManager
}

// requireAdmin refuses (USER_FORBIDDEN) a caller who is neither owner nor
// manager of conv; action names what they tried, for the description.
func requireAdmin(conv *convRecord, p *improto.Participant, action string) error {
	if !isOwnerOrManager(p) {
		return errStatus(improto.StatusCode_USER_FORBIDDEN,
			"only the owner or a manager of conversation %s may %s; user %d has role %d", conv.ID, action, p.GetUserId(), p.GetRole())
	}
	return nil
}

// maxParticipants bounds one create or add request and a conversation's
// membership.
const maxParticipants = 5000

// firstPageSize is how many participants ConversationInfoV2 carries.
const firstPageSize = 20

// singleChatID is the id of the one-to-one chat of two users in an inbox.
func singleChatID(inbox int32, a, b int64) string {
	lo, hi := min(a, b), max(a, b)
	return fmt.Sprintf("%d:1:%d:%d", inbox, lo, hi)
}

// errNotFound is the answer for a conversation the caller cannot see,
// including one in another inbox type.
func errNotFound(id string, shortID int64) error {
	if id == "" {
		id = strconv.FormatInt(shortID, 10)
	}
	return errStatus(improto.StatusCode_CONVERSATION_NOT_FOUND, "conversation %s not found", id)
}

// loadConv resolves a conversation by id or short id within inbox.
func loadConv(tx store.Tx, inbox int32, id string, shortID int64) (*convRecord, error) {
	if id == "" && shortID == 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "conversation_id or conversation_short_id is required")
	}
	cache := cacheOf(tx)
	if shortID == 0 {
		if cache != nil {
			shortID = cache.convIDs[convName{inbox, id}]
		}
		if shortID == 0 {
			v := tx.Get(bucketConvByID, key(inbox, id))
			if len(v) != 8 {
				return nil, errNotFound(id, 0)
			}
			shortID = int64At(v, 0)
		}
	}
	var conv convRecord
	ok := false
	if cache != nil {
		conv, ok = cache.cachedConv(shortID)
	}
	if !ok {
		var err error
		if ok, err = getRecord(tx, bucketConv, key(shortID), &conv); err != nil {
			return nil, err
		}
		if ok && cache != nil {
			cache.setConv(&conv)
		}
	}
	if !ok || conv.Inbox != inbox || (id != "" && conv.ID != id) {
		return nil, errNotFound(id, shortID)
	}
	return &conv, nil
}

func saveConv(tx store.Tx, conv *convRecord) error {
	if err := putRecord(tx, bucketConv, key(conv.ShortID), conv); err != nil {
		return err
	}
	if cache := cacheOf(tx); cache != nil {
		cache.setConv(conv)
	}
	return nil
}

// convCheck is a condition a command puts on the conversation it names
// (requireWritable, requireGroupLike, requireLive …). loadChecked and
// memberConv apply them in the order given, before the caller's
// membership, so that each command keeps its order of refusals.
type convCheck func(conv *convRecord) error

// loadChecked resolves the conversation a request names in the caller's
// inbox (loadConv) and applies checks to it in order.
func loadChecked(tx store.Tx, c *call, id string, shortID int64, checks ...convCheck) (*convRecord, error) {
	conv, err := loadConv(tx, c.inbox, id, shortID)
	if err != nil {
		return nil, err
	}
	for _, check := range checks {
		if err := check(conv); err != nil {
			return nil, err
		}
	}
	return conv, nil
}

// memberConv is the prologue of the commands only members may use:
// loadChecked, then the caller's Participant record (USER_NOT_IN_GROUP
// when they are not a member).
func memberConv(tx store.Tx, c *call, id string, shortID int64, checks ...convCheck) (*convRecord, *improto.Participant, error) {
	conv, err := loadChecked(tx, c, id, shortID, checks...)
	if err != nil {
		return nil, nil, err
	}
	p, err := requireMember(tx, conv, c.user)
	if err != nil {
		return nil, nil, err
	}
	return conv, p, nil
}

// senderConv is memberConv for a send, which needs only the sender's
// memberState: from the cache of the member list when tx has one.
func senderConv(tx store.Tx, c *call, id string, shortID int64, checks ...convCheck) (*convRecord, memberState, error) {
	conv, err := loadChecked(tx, c, id, shortID, checks...)
	if err != nil {
		return nil, memberState{}, err
	}
	ms, _, err := cachedMembers(tx, conv.ShortID)
	if err != nil {
		return nil, memberState{}, err
	}
	self, ok := ms[c.user]
	if !ok {
		return nil, memberState{}, errNotMember(conv, c.user)
	}
	return conv, self, nil
}

func errNotMember(conv *convRecord, user int64) error {
	return errStatus(improto.StatusCode_USER_NOT_IN_GROUP, "user %d is not a member of conversation %s", user, conv.ID)
}

// member returns user's Participant record in conv, or nil.
func member(tx store.Tx, shortID, user int64) (*improto.Participant, error) {
	return findProto[*improto.Participant](tx, bucketMember, key(shortID, user))
}

// requireMember returns user's Participant record, or USER_NOT_IN_GROUP.
func requireMember(tx store.Tx, conv *convRecord, user int64) (*improto.Participant, error) {
	p, err := member(tx, conv.ShortID, user)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errNotMember(conv, user)
	}
	return p, nil
}

// requireWritable refuses changes to a dissolved conversation.
func requireWritable(conv *convRecord) error {
	if conv.Dissolved {
		return errStatus(improto.StatusCode_CONVERSATION_NOT_FOUND, "conversation %s was dissolved", conv.ID)
	}
	return nil
}

// members visits conv's participants in user id order.
func members(tx store.Tx, shortID int64, visit func(p *improto.Participant) bool) error {
	return membersFrom(tx, shortID, 0, visit)
}

// membersFrom visits conv's participants whose user id is at least from,
// in user id order: members() with a start, for paging.
func membersFrom(tx store.Tx, shortID, from int64, visit func(p *improto.Participant) bool) error {
	return walkProtos(tx.Ascend, bucketMember, key(shortID, from), prefixEnd(key(shortID)), visit)
}

// memberIDs returns the user ids of conv's participants, in order. The
// slice may be the cache's: read it only (appending copies it).
func memberIDs(tx store.Tx, shortID int64) ([]int64, error) {
	if cacheOf(tx) != nil {
		_, ids, err := cachedMembers(tx, shortID)
		return ids, err
	}
	var ids []int64
	err := members(tx, shortID, func(p *improto.Participant) bool {
		ids = append(ids, p.GetUserId())
		return true
	})
	return ids, err
}

// addMember makes user a participant of conv with role, or reports false
// when they already are one. It keeps the membership count, the user's
// conversation list and their setting record in step.
func addMember(tx store.Tx, conv *convRecord, user int64, role int32, nowMs int64) (bool, error) {
	if p, err := member(tx, conv.ShortID, user); err != nil || p != nil {
		return false, err
	}
	p := &improto.Participant{
		UserId:    proto.Int64(user),
		SortOrder: proto.Int64(nowMs),
		Role:      proto.Int32(role),
	}
	if err := putProto(tx, bucketMember, key(conv.ShortID, user), p); err != nil {
		return false, err
	}
	uc := userConvRecord{JoinTime: nowMs}
	if err := putRecord(tx, bucketUserConv, key(user, conv.Inbox, conv.ShortID), &uc); err != nil {
		return false, err
	}
	// A returning member keeps their settings but starts reading at the
	// conversation's current end.
	setting, err := settingInfo(tx, conv, user)
	if err != nil {
		return false, err
	}
	setting.ReadIndex = proto.Int64(max(setting.GetReadIndex(), conv.LastIndex))
	setting.ReadIndexV2 = setting.ReadIndex
	if err := putSetting(tx, conv, user, setting); err != nil {
		return false, err
	}
	conv.Members++
	return true, nil
}

// removeMember removes user from conv, keeping their conversation list
// entry (marked Left) and settings. It reports false when user was not a
// participant.
func removeMember(tx store.Tx, conv *convRecord, user int64) (bool, error) {
	if p, err := member(tx, conv.ShortID, user); err != nil || p == nil {
		return false, err
	}
	if err := tx.Delete(bucketMember, key(conv.ShortID, user)); err != nil {
		return false, err
	}
	var uc userConvRecord
	k := key(user, conv.Inbox, conv.ShortID)
	if _, err := getRecord(tx, bucketUserConv, k, &uc); err != nil {
		return false, err
	}
	uc.Left = true
	if err := putRecord(tx, bucketUserConv, k, &uc); err != nil {
		return false, err
	}
	conv.Members--
	return true, nil
}

// coreInfo returns conv's shared core record.
func coreInfo(tx store.Tx, conv *convRecord) (*improto.ConversationCoreInfo, error) {
	core := &improto.ConversationCoreInfo{}
	if _, err := getProto(tx, bucketCore, key(conv.ShortID), core); err != nil {
		return nil, err
	}
	return core, nil
}

// settingInfo returns user's private setting record of conv.
func settingInfo(tx store.Tx, conv *convRecord, user int64) (*improto.ConversationSettingInfo, error) {
	setting := &improto.ConversationSettingInfo{}
	if _, err := getProto(tx, bucketSetting, key(user, conv.ShortID), setting); err != nil {
		return nil, err
	}
	setting.ConversationId = proto.String(conv.ID)
	setting.ConversationShortId = proto.Int64(conv.ShortID)
	setting.ConversationType = proto.Int32(conv.Type)
	setting.InboxType = proto.Int32(conv.Inbox)
	return setting, nil
}

// putSetting stores user's changed setting record of conv with the next
// setting_version.
func putSetting(tx store.Tx, conv *convRecord, user int64, setting *improto.ConversationSettingInfo) error {
	setting.SettingVersion = proto.Int64(setting.GetSettingVersion() + 1)
	return putProto(tx, bucketSetting, key(user, conv.ShortID), setting)
}

// putCore stores conv's changed core record with the next info_version.
func putCore(tx store.Tx, conv *convRecord, core *improto.ConversationCoreInfo) error {
	core.InfoVersion = proto.Int64(core.GetInfoVersion() + 1)
	return putProto(tx, bucketCore, key(conv.ShortID), core)
}

// participantView returns p as a client sees it: the stored block end
// (absolute, ms) becomes left_block_time, the time left (ms).
func participantView(p *improto.Participant, nowMs int64) *improto.Participant {
	out := proto.Clone(p).(*improto.Participant)
	until := p.GetLeftBlockTime()
	if p.GetBlocked() == improto.BlockStatus_BLOCK && until > 0 && until <= nowMs {
		out.Blocked = improto.BlockStatus_UNBLOCK.Enum()
		out.LeftBlockTime = nil
	} else if until > 0 {
		out.LeftBlockTime = proto.Int64(until - nowMs)
	}
	return out
}

// fillParticipants appends to page up to limit participants of conv whose
// user id is at least from, as clients see them at nowMs (participantView):
// the page's cursor becomes the last user id added, and has_more is set
// when more follow.
func fillParticipants(tx store.Tx, shortID, from int64, limit int, nowMs int64, page *improto.ParticipantsPage) error {
	return membersFrom(tx, shortID, from, func(p *improto.Participant) bool {
		if len(page.Participants) == limit {
			page.HasMore = proto.Bool(true)
			return false
		}
		page.Participants = append(page.Participants, participantView(p, nowMs))
		page.Cursor = proto.Int64(p.GetUserId())
		return true
	})
}

// conversationInfo builds ConversationInfoV2 as user sees conv.
func conversationInfo(tx store.Tx, conv *convRecord, user int64, nowMs int64) (*improto.ConversationInfoV2, error) {
	core, err := coreInfo(tx, conv)
	if err != nil {
		return nil, err
	}
	setting, err := settingInfo(tx, conv, user)
	if err != nil {
		return nil, err
	}
	self, err := member(tx, conv.ShortID, user)
	if err != nil {
		return nil, err
	}
	page := &improto.ParticipantsPage{}
	if err := fillParticipants(tx, conv.ShortID, 0, firstPageSize, nowMs, page); err != nil {
		return nil, err
	}
	info := &improto.ConversationInfoV2{
		ConversationId:          proto.String(conv.ID),
		ConversationShortId:     proto.Int64(conv.ShortID),
		ConversationType:        proto.Int32(conv.Type),
		FirstPageParticipants:   page,
		ParticipantsCount:       proto.Int32(conv.Members),
		IsParticipant:           proto.Bool(self != nil),
		InboxType:               proto.Int32(conv.Inbox),
		ConversationCoreInfo:    core,
		ConversationSettingInfo: setting,
	}
	if self != nil {
		info.UserInfo = participantView(self, nowMs)
		unread, err := unreadCount(tx, conv, user, setting.GetReadIndex())
		if err != nil {
			return nil, err
		}
		info.BadgeCount = proto.Int32(unread)
	}
	return info, nil
}

// unreadCap bounds the messages unreadCount looks at: a badge of "999+"
// does not need an exact count.
const unreadCap = 1000

// unreadCount counts the messages after readIndex that count as unread for
// user: not their own, visible to them, not special, and without
// s:do_not_increase_unread.
func unreadCount(tx store.Tx, conv *convRecord, user int64, readIndex int64) (int32, error) {
	if conv.LastIndex <= readIndex {
		return 0, nil
	}
	from := max(readIndex+1, conv.LastIndex-unreadCap+1)
	var n int32
	err := visitMessages(tx, conv.ShortID, from, conv.LastIndex+1, false, func(m *improto.MessageBody) bool {
		if m.GetSender() != user && visibleTo(m, user) && increasesUnread(m) {
			n++
		}
		return true
	})
	return n, err
}

// pushConversationUpdated tells users that conv changed (membership, core,
// setting, block, dissolve); clients fetch what they need with 608.
func pushConversationUpdated(out *outbox, conv *convRecord, users []int64, except *conn) {
	notify := &improto.ConversationInfoUpdatedNotify{Conversation: &improto.ConversationInfo{
		ConversationId:      proto.String(conv.ID),
		ConversationType:    proto.Int32(conv.Type),
		ConversationShortId: proto.Int64(conv.ShortID),
		ParticipantsCount:   proto.Int32(conv.Members),
		LastMessageIndex:    proto.Int64(conv.LastIndex),
	}}
	body := &improto.ResponseBody{ConversationInfoUpdatedNotify: notify}
	for _, u := range users {
		out.add(u, conv.Inbox, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY, body, except)
	}
}

// createConversation serves 609: single chats are found or created by
// their id; groups and live chats get a new short id, or the one an
// earlier request with the same idempotent_id created.
func (s *Server) createConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.CreateConversationV2RequestBody)
	typ := b.GetConversationType()
	others := slices.DeleteFunc(slices.Clone(b.GetParticipants()), func(u int64) bool { return u == c.user })
	slices.Sort(others)
	others = slices.Compact(others)
	for _, u := range others {
		if u <= 0 {
			return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "participant id %d must be positive", u)
		}
	}
	if len(others) >= maxParticipants {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d participants exceed the limit of %d", len(others)+1, maxParticipants)
	}
	switch typ {
	case typeSingle:
		if len(others) != 1 {
			return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "a single chat needs exactly one other participant, got %d", len(others))
		}
	case typeGroup, typeLive:
	default:
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "conversation_type %d is not served (1 single, 2 group, 100 live)", typ)
	}
	nowMs := c.now.UnixMilli()
	var info *improto.ConversationInfoV2
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, created, err := s.findOrCreate(tx, c, b, others)
		if err != nil {
			return err
		}
		if created {
			all := append([]int64{c.user}, others...)
			pushConversationUpdated(out, conv, all, c.conn)
		}
		info, err = conversationInfo(tx, conv, c.user, nowMs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &improto.CreateConversationV2ResponseBody{Conversation: info, Status: proto.Int32(0)}, nil
}

func (s *Server) findOrCreate(tx store.Tx, c *call, b *improto.CreateConversationV2RequestBody, others []int64) (*convRecord, bool, error) {
	typ := b.GetConversationType()
	var id string
	var idemKey []byte
	if typ == typeSingle {
		id = singleChatID(c.inbox, c.user, others[0])
		if conv, err := loadConv(tx, c.inbox, id, 0); err == nil {
			return conv, false, nil
		}
	} else if b.GetIdempotentId() != "" {
		idemKey = key(c.inbox, c.user, b.GetIdempotentId())
		if v := tx.Get(bucketConvIdem, idemKey); len(v) == 8 {
			conv, err := loadConv(tx, c.inbox, "", int64At(v, 0))
			return conv, false, err
		}
	}
	shortID, err := nextID(tx, counterShortID)
	if err != nil {
		return nil, false, err
	}
	if id == "" {
		id = strconv.FormatInt(shortID, 10)
	}
	nowMs := c.now.UnixMilli()
	conv := &convRecord{ID: id, ShortID: shortID, Type: typ, Inbox: c.inbox, CreateTime: nowMs}
	core := &improto.ConversationCoreInfo{
		ConversationId:      proto.String(id),
		ConversationShortId: proto.Int64(shortID),
		ConversationType:    proto.Int32(typ),
		InfoVersion:         proto.Int64(1),
		InboxType:           proto.Int32(c.inbox),
		CreatorUid:          proto.Int64(c.user),
		Status:              proto.Int32(0),
	}
	creatorRole := roleOrdinary
	if typ != typeSingle {
		core.Name = proto.String(b.GetName())
		core.Icon = proto.String(b.GetAvatarUrl())
		core.Desc = proto.String(b.GetDescription())
		core.Owner = proto.Int64(c.user)
		core.Ext = b.GetBizExt()
		creatorRole = roleOwner
	}
	if _, err := addMember(tx, conv, c.user, creatorRole, nowMs); err != nil {
		return nil, false, err
	}
	for _, u := range others {
		if _, err := addMember(tx, conv, u, roleOrdinary, nowMs); err != nil {
			return nil, false, err
		}
	}
	if typ == typeLive {
		for _, u := range append([]int64{c.user}, others...) {
			if err := markLiveMember(tx, conv, u, true, nowMs); err != nil {
				return nil, false, err
			}
		}
	}
	if err := putProto(tx, bucketCore, key(shortID), core); err != nil {
		return nil, false, err
	}
	if err := tx.Put(bucketConvByID, key(c.inbox, id), int64Bytes(shortID)); err != nil {
		return nil, false, err
	}
	if idemKey != nil {
		if err := tx.Put(bucketConvIdem, idemKey, int64Bytes(shortID)); err != nil {
			return nil, false, err
		}
	}
	return conv, true, saveConv(tx, conv)
}
