package imserver

import (
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// markLiveMember records whether user is in the live chat conv now; the
// first call also records when they first joined.
func markLiveMember(tx store.Tx, conv *convRecord, user int64, in bool, nowMs int64) error {
	k := key(conv.ShortID, user)
	info := &improto.LiveMemberInfo{}
	found, err := getProto(tx, bucketLive, k, info)
	if err != nil {
		return err
	}
	if !found {
		info.UserId = proto.Int64(user)
		info.CreateTime = proto.Int64(nowMs)
	}
	info.IsInConversation = proto.Bool(in)
	info.PingTime = proto.Int64(nowMs)
	return putProto(tx, bucketLive, k, info)
}

// deliverLive pushes a live-chat message (505, body in field 500) to the
// joined members who are online now. Live chats keep no inbox: members
// that were away page the history with 2008.
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
	return members(tx, conv.ShortID, func(p *improto.Participant) bool {
		if u := p.GetUserId(); s.hub.online(u) && visibleTo(m, u) {
			out.add(u, conv.Inbox, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY, body, c.conn)
		}
		return true
	})
}
