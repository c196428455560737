package imserver

import (
	"cmp"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Live chats (MASS_CHAT, 100) keep two records per user: the Participant
// in bucketMember while they are a member, and a LiveMemberInfo in
// bucketLive from the first time they join. A user is "joined" (in the
// live chat now) when they are a participant AND their live record says
// is_in_conversation; only joined users get 505 pushes, may send with 2007
// and count in 2009 and 10003.

// markLiveMember records whether user is in the live chat conv now; the
// first call also records when they first joined.
func markLiveMember(tx store.Tx, conv *convRecord, user int64, in bool, nowMs int64) error {
	_, err := setLiveMember(tx, conv, user, in, nowMs)
	return err
}

// setLiveMember is markLiveMember returning the stored record: in sets
// is_in_conversation and ping_time becomes nowMs; create_time is the time
// of the first call for user.
func setLiveMember(tx store.Tx, conv *convRecord, user int64, in bool, nowMs int64) (*improto.LiveMemberInfo, error) {
	k := key(conv.ShortID, user)
	info := &improto.LiveMemberInfo{}
	found, err := getProto(tx, bucketLive, k, info)
	if err != nil {
		return nil, err
	}
	if !found {
		info.UserId = proto.Int64(user)
		info.CreateTime = proto.Int64(nowMs)
	}
	info.IsInConversation = proto.Bool(in)
	info.PingTime = proto.Int64(nowMs)
	return info, putProto(tx, bucketLive, k, info)
}

// liveMemberView returns info as clients see it: is_in_conversation holds
// only while the user is still a participant (someone removed by other
// means keeps a stale "in" record), and role is the participant's role,
// unset for users who are no longer members.
func liveMemberView(info *improto.LiveMemberInfo, p *improto.Participant) *improto.LiveMemberInfo {
	out := proto.Clone(info).(*improto.LiveMemberInfo)
	out.IsInConversation = proto.Bool(info.GetIsInConversation() && p != nil)
	out.Role = nil
	if p != nil {
		out.Role = proto.Int32(p.GetRole())
	}
	return out
}

// liveMember returns user's live record in conv as clients see it, or nil
// when they never joined.
func liveMember(tx store.Tx, conv *convRecord, user int64) (*improto.LiveMemberInfo, error) {
	info, err := findProto[*improto.LiveMemberInfo](tx, bucketLive, key(conv.ShortID, user))
	if err != nil || info == nil {
		return nil, err
	}
	p, err := member(tx, conv.ShortID, user)
	if err != nil {
		return nil, err
	}
	return liveMemberView(info, p), nil
}

// visitLiveRecords visits the stored live records of a live chat with
// user ids above after, in user id order, until visit returns false. It
// walks everyone who ever joined.
func visitLiveRecords(tx store.Tx, shortID, after int64, visit func(info *improto.LiveMemberInfo) (bool, error)) error {
	var visitErr error
	err := walkProtos(tx.Ascend, bucketLive, key(shortID, after+1), prefixEnd(key(shortID)), func(info *improto.LiveMemberInfo) bool {
		var more bool
		more, visitErr = visit(info)
		return more && visitErr == nil
	})
	return cmp.Or(err, visitErr)
}

// visitLive is visitLiveRecords with each record as liveMemberView shows
// it.
func visitLive(tx store.Tx, shortID, after int64, visit func(info *improto.LiveMemberInfo) bool) error {
	return visitLiveRecords(tx, shortID, after, func(info *improto.LiveMemberInfo) (bool, error) {
		p, err := member(tx, shortID, info.GetUserId())
		if err != nil {
			return false, err
		}
		return visit(liveMemberView(info, p)), nil
	})
}

// visitOnlineJoined visits the users of a live chat who are joined and
// have a socket open now, in user id order. It looks at the hub before the
// member record, so offline users of a large live chat cost one decode.
func (s *Server) visitOnlineJoined(tx store.Tx, shortID int64, visit func(user int64)) error {
	return visitLiveRecords(tx, shortID, 0, func(info *improto.LiveMemberInfo) (bool, error) {
		u := info.GetUserId()
		if !info.GetIsInConversation() || !s.hub.online(u) {
			return true, nil
		}
		p, err := member(tx, shortID, u)
		if err == nil && p != nil {
			visit(u)
		}
		return err == nil, err
	})
}

// countOnline returns how many users of the live chat are joined and
// online now: the counter of 2009 and the online_count of 10003.
func (s *Server) countOnline(tx store.Tx, shortID int64) (int32, error) {
	var n int32
	err := s.visitOnlineJoined(tx, shortID, func(int64) { n++ })
	return n, err
}

// deliverLive pushes a live-chat message (505, body in field 500) to the
// joined members who are online now, the sender's sockets included (as
// with 500). Live chats keep no inbox: members
// that were away page the history with 2008. Members who left (an owner
// stays a participant after 10002) get nothing.
func (s *Server) deliverLive(tx store.Tx, out *outbox, c *call, conv *convRecord, m *improto.MessageBody) error {
	notify := &improto.NewMessageNotify{
		ConversationId:        proto.String(conv.ID),
		ConversationType:      proto.Int32(conv.Type),
		NotifyType:            improto.NewMessageNotifyType_PER_CONVERSATION.Enum(),
		Message:               m,
		IndexInConversation:   proto.Int64(m.GetIndexInConversation()),
		IndexInConversationV2: proto.Int64(m.GetIndexInConversation()),
	}
	body := &improto.ResponseBody{HasNewMessageNotify: notify}
	return s.visitOnlineJoined(tx, conv.ShortID, func(u int64) {
		if visibleTo(m, u) {
			out.add(u, conv.Inbox, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY, body, nil)
		}
	})
}
