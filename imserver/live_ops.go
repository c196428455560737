package imserver

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Bounds of the live-chat commands.
const (
	defaultLiveMessages = 50  // 2008 page without a limit
	maxLiveMessages     = 500 // 2008 page at most
	defaultLiveMembers  = 100 // 10003 page without a limit
	maxLiveMembers      = 500 // 10003 page at most
	maxCounterRequests  = 100 // conversations in one 2009
)

// requireLive is the convCheck of the live-chat commands: any other
// conversation type is refused with INVALID_REQUEST naming c's command.
func requireLive(c *call) convCheck {
	return func(conv *convRecord) error {
		if conv.Type != typeLive {
			return errStatus(improto.StatusCode_INVALID_REQUEST, "%v serves live chats (type %d); conversation %s is type %d",
				c.cmd.Cmd, typeLive, conv.ID, conv.Type)
		}
		return nil
	}
}

// requireJoined refuses (USER_NOT_IN_GROUP) a member of the live chat who
// is not in it now (is_in_conversation).
func requireJoined(tx store.Tx, conv *convRecord, user int64) error {
	info, err := liveMember(tx, conv, user)
	if err != nil {
		return err
	}
	if !info.GetIsInConversation() {
		return errStatus(improto.StatusCode_USER_NOT_IN_GROUP,
			"user %d left live chat %s; join it again with %v", user, conv.ID, improto.IMCMD_JOIN_LIVE_GROUP)
	}
	return nil
}

// livePriority reads a live message's priority from the Request headers
// (s:message_priority): 2007's body has no ext map, so the header carries
// what the reference puts in the message ext, as the MessagePriority
// number "0" LOW, "1" NORMAL or "2" HIGH. Absent or empty means NORMAL.
func livePriority(c *call) (string, error) {
	switch v := c.req.GetHeaders()[extMessagePriority]; v {
	case "":
		return "1", nil
	case "0", "1", "2": // LOW, NORMAL, HIGH
		return v, nil
	default:
		return "", errStatus(improto.StatusCode_INVALID_REQUEST,
			"header %s %q is not a MessagePriority (0 LOW, 1 NORMAL, 2 HIGH)", extMessagePriority, v)
	}
}

// sendLiveMessage serves 2007: a joined member sends to a live chat. The
// message is stored in the conversation (no inbox) and pushed with 505 to
// the joined members online now. A retry with the same client_message_id
// is answered with the message the first attempt stored. The priority
// comes from the Request header s:message_priority and is stored in the
// message ext under the same key.
func (s *Server) sendLiveMessage(c *call) (proto.Message, error) {
	b := c.body.(*improto.BroadcastSendMessageRequestBody)
	if t := b.GetConversationType(); t != 0 && t != typeLive {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST,
			"%v sends to live chats (type %d), not type %d; use %v", c.cmd.Cmd, typeLive, t, improto.IMCMD_SEND_MESSAGE)
	}
	priority, err := livePriority(c)
	if err != nil {
		return nil, err
	}
	var resp *improto.BroadcastSendMessageResponseBody
	err = s.update(func(tx store.Tx, out *outbox) error {
		conv, p, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireLive(c), requireWritable)
		if err != nil {
			return err
		}
		if err := requireJoined(tx, conv, c.user); err != nil {
			return err
		}
		m, err := s.sendOnce(tx, out, c, conv, memberStateOf(p), newMessage{
			sender: c.user, msgType: b.GetMessageType(), content: b.GetContent(),
			ext:      map[string]string{extMessagePriority: priority},
			clientID: b.GetClientMessageId(), mentioned: b.GetMentionedUsers(),
		})
		if err != nil {
			return err
		}
		resp = &improto.BroadcastSendMessageResponseBody{
			ServerMessageId: proto.Int64(m.GetServerMessageId()),
			ClientMessageId: proto.String(m.GetExt()[extClientMessageID]),
			Status:          proto.Int32(int32(improto.SendMessageStatus_SEND_SUCCEED)),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// receiveLiveMessages serves 2008: a member (joined or not) pages a live
// chat's history by index. reverse=false returns the messages after
// cursor, oldest first; reverse=true those before cursor (0: from the
// latest), also oldest first. next_cursor continues in the same direction:
// the last index looked at, so messages hidden from the caller are not
// looked at again.
func (s *Server) receiveLiveMessages(c *call) (proto.Message, error) {
	b := c.body.(*improto.BroadcastRecvMessageRequestBody)
	if b.GetCursor() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", b.GetCursor())
	}
	limit := pageLimit(b.GetLimit(), defaultLiveMessages, maxLiveMessages)
	cursor, reverse := b.GetCursor(), b.GetReverse()
	resp := &improto.BroadcastRecvMessageResponseBody{HasMore: proto.Bool(false), NextCursor: proto.Int64(cursor)}
	err := s.view(func(tx store.Tx) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireLive(c))
		if err != nil {
			return err
		}
		from, to := cursor+1, conv.LastIndex+1
		if reverse {
			from = 1
			if cursor > 0 {
				to = min(to, cursor)
			}
		}
		var page []*improto.MessageBody
		err = visitMessages(tx, conv.ShortID, from, to, reverse, func(m *improto.MessageBody) bool {
			if !visibleTo(m, c.user) || hiddenFor(tx, c.user, m) {
				resp.NextCursor = proto.Int64(m.GetIndexInConversation())
				return true
			}
			if len(page) == limit {
				resp.HasMore = proto.Bool(true)
				return false
			}
			page = append(page, m)
			resp.NextCursor = proto.Int64(m.GetIndexInConversation())
			return true
		})
		if err != nil {
			return err
		}
		if reverse {
			slices.Reverse(page)
		}
		resp.Messages = page
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// liveUserCounter serves 2009: for each requested live chat, how many
// joined members are online now. Conversations the caller cannot see (not
// found, another inbox type, not a live chat) are left out of the answer;
// membership is not required, as anyone in the inbox may join.
func (s *Server) liveUserCounter(c *call) (proto.Message, error) {
	b := c.body.(*improto.BroadcastUserCounterRequestBody)
	if n := len(b.GetConversations()); n > maxCounterRequests {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d conversations exceed the limit of %d per request", n, maxCounterRequests)
	}
	resp := &improto.BroadcastUserCounterResponseBody{}
	err := s.view(func(tx store.Tx) error {
		for _, r := range b.GetConversations() {
			if r.GetConversationShortId() <= 0 {
				continue
			}
			if t := r.GetConversationType(); t != 0 && t != typeLive {
				continue
			}
			conv, err := loadConv(tx, c.inbox, "", r.GetConversationShortId())
			if isStatus(err) {
				continue // not found, or in another inbox type
			}
			if err != nil {
				return err
			}
			if conv.Type != typeLive {
				continue
			}
			n, err := s.countOnline(tx, conv.ShortID)
			if err != nil {
				return err
			}
			resp.Infos = append(resp.Infos, &improto.BroadcastUserInfo{
				ConversationShortId: proto.Int64(conv.ShortID),
				Counter:             proto.Int32(n),
				ConversationType:    proto.Int32(conv.Type),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// joinLiveGroup serves 10001: any user of the inbox joins a live chat. A
// newcomer becomes a participant with role visitor; an existing member
// keeps their role. Joining again only refreshes ping_time. Membership
// changes of live chats are not pushed (a live chat can be huge): clients
// poll 2009 and 10003.
func (s *Server) joinLiveGroup(c *call) (proto.Message, error) {
	b := c.body.(*improto.JoinLiveGroupRequestBody)
	nowMs := c.now.UnixMilli()
	resp := &improto.JoinLiveGroupResponseBody{}
	err := s.update(func(tx store.Tx, _ *outbox) error {
		conv, err := loadChecked(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireLive(c), requireWritable)
		if err != nil {
			return err
		}
		if _, err := addMember(tx, conv, c.user, roleVisitor, nowMs); err != nil {
			return err
		}
		if err := markLiveMember(tx, conv, c.user, true, nowMs); err != nil {
			return err
		}
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		if resp.Member, err = liveMember(tx, conv, c.user); err != nil {
			return err
		}
		resp.Conversation, err = conversationInfo(tx, conv, c.user, nowMs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// leaveLiveGroup serves 10002: a member leaves a live chat. They stop
// being a participant, except the owner, who stays one (the live chat
// keeps its owner) but is marked not in the conversation until they join
// again. Leaving is allowed in a dissolved live chat. Not pushed, like
// joins.
func (s *Server) leaveLiveGroup(c *call) (proto.Message, error) {
	b := c.body.(*improto.LeaveLiveGroupRequestBody)
	nowMs := c.now.UnixMilli()
	resp := &improto.LeaveLiveGroupResponseBody{}
	err := s.update(func(tx store.Tx, _ *outbox) error {
		conv, p, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireLive(c))
		if err != nil {
			return err
		}
		if err := markLiveMember(tx, conv, c.user, false, nowMs); err != nil {
			return err
		}
		if p.GetRole() != roleOwner {
			if _, err := removeMember(tx, conv, c.user); err != nil {
				return err
			}
			if err := saveConv(tx, conv); err != nil {
				return err
			}
		}
		resp.Member, err = liveMember(tx, conv, c.user)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// liveGroupMembers serves 10003: a member pages everyone who ever joined
// the live chat, in user id order (cursor: the last user id of the
// previous page). Users who left are listed with is_in_conversation false
// and no role. online_only keeps those joined and online now;
// online_count counts them over the whole live chat.
func (s *Server) liveGroupMembers(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetLiveGroupMembersRequestBody)
	if b.GetCursor() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", b.GetCursor())
	}
	limit := pageLimit(int64(b.GetLimit()), defaultLiveMembers, maxLiveMembers)
	resp := &improto.GetLiveGroupMembersResponseBody{HasMore: proto.Bool(false), NextCursor: proto.Int64(b.GetCursor())}
	err := s.view(func(tx store.Tx) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireLive(c))
		if err != nil {
			return err
		}
		err = visitLive(tx, conv.ShortID, b.GetCursor(), func(info *improto.LiveMemberInfo) bool {
			if b.GetOnlineOnly() && !(info.GetIsInConversation() && s.hub.online(info.GetUserId())) {
				return true
			}
			if len(resp.Members) == limit {
				resp.HasMore = proto.Bool(true)
				return false
			}
			resp.Members = append(resp.Members, info)
			resp.NextCursor = proto.Int64(info.GetUserId())
			return true
		})
		if err != nil {
			return err
		}
		n, err := s.countOnline(tx, conv.ShortID)
		resp.OnlineCount = proto.Int32(n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
