package im

import (
	"maps"
	"strconv"
	"time"

	"github.com/imbot-go/imbot/improto"
)

// This file turns wire messages (improto) into the seed's types. Every
// function takes what the server sent as it is: a nil input gives nil, a
// missing field its zero value, and nothing here fails or panics on wire
// data. Maps are copied, so the results share nothing with the protos.

// msTime converts milliseconds since the epoch to a time; 0 is the zero
// time.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// secTime converts seconds since the epoch to a time; 0 is the zero time.
func secTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// messageFromProto converts a stored or pushed message. The server has it,
// so it is FlightStatusSucceeded; ClientID comes from ext
// s:client_message_id, CreatedAt from create_time (ms), Properties from
// property_list. Source is left for the caller to set.
func messageFromProto(b *improto.MessageBody) *Message {
	if b == nil {
		return nil
	}
	m := &Message{
		ServerID:            MessageID(b.GetServerMessageId()),
		ConversationID:      ConversationID(b.GetConversationId()),
		ConversationShortID: ConversationShortID(b.GetConversationShortId()),
		ConversationType:    ConversationType(b.GetConversationType()),
		Index:               b.GetIndexInConversation(),
		Order:               b.GetOrderInConversation(),
		Sender:              UserID(b.GetSender()),
		SecSender:           b.GetSecSender(),
		Type:                MessageType(b.GetMessageType()),
		Content:             b.GetContent(),
		Ext:                 maps.Clone(b.GetExt()),
		CreatedAt:           msTime(b.GetCreateTime()),
		Version:             b.GetVersion(),
		ServerStatus:        ServerMessageStatus(b.GetStatus()),
		FlightStatus:        FlightStatusSucceeded,
		Reference:           referenceFromProto(b.GetReferenceInfo()),
	}
	if m.Index == 0 {
		m.Index = b.GetIndexInConversationV2()
	}
	m.ClientID = m.ext(InfoKeyClientMessageID)
	if props := b.GetPropertyList(); len(props) > 0 {
		m.Properties = make(map[string][]MessageProperty, len(props))
		for key, list := range props {
			items := make([]MessageProperty, 0, len(list.GetItems()))
			for _, it := range list.GetItems() {
				items = append(items, propertyFromProto(m, key, it))
			}
			m.Properties[key] = items
		}
	}
	return m
}

// propertyFromProto converts one item of message m's property key. The
// microsecond creation time is used when the server sent it.
func propertyFromProto(m *Message, key string, it *improto.PropertyItem) MessageProperty {
	created := msTime(it.GetCreateTime())
	if us := it.GetCreateTimeMicro(); us != 0 {
		created = time.UnixMicro(us)
	}
	return MessageProperty{
		MessageID:      m.ServerID,
		ConversationID: m.ConversationID,
		Key:            key,
		UserID:         UserID(it.GetUid()),
		SecUID:         it.GetSecUid(),
		CreateTime:     created,
		IdempotentID:   it.GetIdempotentId(),
		Value:          it.GetValue(),
		Status:         PropertyStatusSuccess,
	}
}

// referenceFromProto converts what a message says about the message it
// quotes.
func referenceFromProto(r *improto.ReferenceInfo) *ReferenceInfo {
	if r == nil {
		return nil
	}
	return &ReferenceInfo{
		ReferencedMessageID:     MessageID(r.GetReferencedMessageId()),
		Hint:                    r.GetHint(),
		RefMessageType:          MessageType(r.GetRefMessageType()),
		ReferencedMessageStatus: MessageStatus(r.GetReferencedMessageStatus()),
		RootMessageID:           MessageID(r.GetRootMessageId()),
		RootMessageConvIndex:    r.GetRootMessageConvIndex(),
		Sender:                  UserID(r.GetSender()),
	}
}

// conversationFromProto converts a conversation as this user sees it:
// Participant is user_info (with the read and min index of the setting
// info), FirstPageParticipants the first page of members, Status the core info's,
// ReadIndex and Version the setting info's, UnreadCount badge_count.
// LastMessage and OnlineMemberCount are the caller's to fill.
func conversationFromProto(c *improto.ConversationInfoV2) *Conversation {
	if c == nil {
		return nil
	}
	id := ConversationID(c.GetConversationId())
	conv := &Conversation{
		ID:               id,
		ShortID:          ConversationShortID(c.GetConversationShortId()),
		Type:             ConversationType(c.GetConversationType()),
		InboxType:        c.GetInboxType(),
		IsMember:         c.GetIsParticipant(),
		ParticipantCount: int(c.GetParticipantsCount()),
		UnreadCount:      int(c.GetBadgeCount()),
		Ticket:           c.GetTicket(),
		CoreInfo:         coreInfoFromProto(c.GetConversationCoreInfo(), id),
		SettingInfo:      settingInfoFromProto(c.GetConversationSettingInfo(), id),
	}
	if conv.CoreInfo != nil {
		conv.Status = conv.CoreInfo.Status
	}
	if s := conv.SettingInfo; s != nil {
		conv.ReadIndex = s.ReadIndex
		conv.Version = s.Version
	}
	if u := c.GetUserInfo(); u != nil {
		conv.Participant = participantFromProto(u, id)
		if s := conv.SettingInfo; s != nil {
			conv.Participant.ReadIndex = s.ReadIndex
			conv.Participant.MinIndex = s.MinIndex
		}
	}
	for _, p := range c.GetFirstPageParticipants().GetParticipants() {
		if p != nil {
			conv.FirstPageParticipants = append(conv.FirstPageParticipants, participantFromProto(p, id))
		}
	}
	return conv
}

// participantFromProto converts a member of conversation conv. The wire
// member has no read or min index; those stay 0 unless the caller knows
// them. left_block_time is the milliseconds left.
func participantFromProto(p *improto.Participant, conv ConversationID) *Participant {
	if p == nil {
		return nil
	}
	return &Participant{
		UserID:         UserID(p.GetUserId()),
		SecUID:         p.GetSecUid(),
		SortOrder:      p.GetSortOrder(),
		Role:           GroupRole(p.GetRole()),
		Alias:          p.GetAlias(),
		ConversationID: conv,
		Blocked:        p.GetBlocked() == improto.BlockStatus_BLOCK,
		LeftBlockTime:  time.Duration(p.GetLeftBlockTime()) * time.Millisecond,
		Ext:            maps.Clone(p.GetExt()),
	}
}

// coreInfoFromProto converts a conversation's core info; conv stands in for
// a missing conversation id.
func coreInfoFromProto(c *improto.ConversationCoreInfo, conv ConversationID) *ConversationCoreInfo {
	if c == nil {
		return nil
	}
	id := ConversationID(c.GetConversationId())
	if id == "" {
		id = conv
	}
	return &ConversationCoreInfo{
		ConversationID:  id,
		Version:         c.GetInfoVersion(),
		Name:            c.GetName(),
		Desc:            c.GetDesc(),
		Icon:            c.GetIcon(),
		Notice:          c.GetNotice(),
		Owner:           UserID(c.GetOwner()),
		SecOwner:        c.GetSecOwner(),
		InboxType:       c.GetInboxType(),
		BlockStatus:     BlockStatus(c.GetBlockStatus()),
		BlockNormalOnly: c.GetBlockNormalOnly(),
		Ext:             maps.Clone(c.GetExt()),
		Mode:            c.GetMode(),
		Creator:         UserID(c.GetCreatorUid()),
		Status:          ConversationStatus(c.GetStatus()),
	}
}

// settingInfoFromProto converts this user's setting info; conv stands in for
// a missing conversation id. PushStatus and WeakMuteInfo are read from the
// ext keys s:push_status and s:push_part_disable_config.
func settingInfoFromProto(s *improto.ConversationSettingInfo, conv ConversationID) *ConversationSettingInfo {
	if s == nil {
		return nil
	}
	id := ConversationID(s.GetConversationId())
	if id == "" {
		id = conv
	}
	ext := maps.Clone(s.GetExt())
	return &ConversationSettingInfo{
		ConversationID:  id,
		Version:         s.GetSettingVersion(),
		StickTop:        StickTopState(s.GetStickOnTop()),
		SetTopTime:      msTime(s.GetSetTopTime()),
		Mute:            MuteState(s.GetMute()),
		PushStatus:      parsePushStatus(ext),
		Favorite:        FavoriteState(s.GetFavorite()),
		SetFavoriteTime: msTime(s.GetSetFavoriteTime()),
		ReadIndex:       s.GetReadIndex(),
		MinIndex:        s.GetMinIndex(),
		Ext:             ext,
		WeakMuteInfo:    parseWeakMuteInfo(ext),
	}
}

// liveMemberFromProto converts a live chat member; times are ms.
func liveMemberFromProto(m *improto.LiveMemberInfo) *LiveMemberInfo {
	if m == nil {
		return nil
	}
	return &LiveMemberInfo{
		UserID:           UserID(m.GetUserId()),
		IsInConversation: m.GetIsInConversation(),
		CreateTime:       msTime(m.GetCreateTime()),
		PingTime:         msTime(m.GetPingTime()),
		Role:             GroupRole(m.GetRole()),
	}
}

// friendFromProto converts a friend: apply_time_second (s) and imbot's
// create_time (ms).
func friendFromProto(f *improto.FriendUserInfo) *Friend {
	if f == nil {
		return nil
	}
	return &Friend{
		UserID:     UserID(f.GetUserId()),
		ApplyTime:  secTime(f.GetApplyTimeSecond()),
		CreateTime: msTime(f.GetCreateTime()),
		Ext:        maps.Clone(f.GetExt()),
	}
}

// friendApplyFromProto converts a friend apply, using imbot's extension
// fields apply_id, from_user_id, to_user_id and index (improto README,
// choice 9); apply_time_second is seconds.
func friendApplyFromProto(a *improto.ApplyUserInfo) *FriendApply {
	if a == nil {
		return nil
	}
	return &FriendApply{
		ID:         FriendApplyID(a.GetApplyId()),
		FromUserID: UserID(a.GetFromUserId()),
		ToUserID:   UserID(a.GetToUserId()),
		ApplyTime:  secTime(a.GetApplyTimeSecond()),
		Ext:        maps.Clone(a.GetExt()),
		Status:     FriendApplyStatus(a.GetStatus()),
		Index:      a.GetIndex(),
	}
}

// userIDsFromProto converts wire user ids, e.g. the failed participants of
// 650 / 651.
func userIDsFromProto(ids []int64) []UserID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]UserID, len(ids))
	for i, id := range ids {
		out[i] = UserID(id)
	}
	return out
}

// formatUserIDs renders users as a comma-separated ext value, the form of
// s:mentioned_users, s:visible and s:invisible.
func formatUserIDs(users []UserID) string {
	b := make([]byte, 0, 8*len(users))
	for i, u := range users {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(u), 10)
	}
	return string(b)
}
