package im

import (
	"context"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Live chats (ConversationTypeMassChat): joining, leaving, members, history
// and online counts. A member is "in" a live chat between JoinLiveChat and
// LeaveLiveChat; only then do they get its messages pushed, send to it and
// count as online. Live chats keep no inbox, so their history is paged with
// LiveMessages, and joins and leaves are not pushed: poll LiveMembers or
// LiveOnlineCounts.

// JoinLiveChat joins a live chat (10001): anyone in the inbox type may,
// as a visitor (owners and managers keep their role); joining again only
// refreshes the member's ping time. It returns the conversation, cached,
// and this user as a live member. Sends (SendMessage) need a join first.
func (c *Client) JoinLiveChat(ctx context.Context, conv ConversationRef) (*Conversation, *LiveMemberInfo, error) {
	body, err := callBody[*improto.JoinLiveGroupResponseBody](ctx, c, improto.IMCMD_JOIN_LIVE_GROUP, &improto.JoinLiveGroupRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	})
	if err != nil {
		return nil, nil, err
	}
	if body.GetConversation() == nil || body.GetMember() == nil {
		return nil, nil, malformedAnswer(improto.IMCMD_JOIN_LIVE_GROUP, "conversation and member", "")
	}
	return c.remember(conversationFromProto(body.GetConversation())), liveMemberFromProto(body.GetMember()), nil
}

// LeaveLiveChat leaves a live chat (10002) and returns this user as a live
// member, no longer in it. A member stops being one, except the owner, who
// stays one, out of the live chat until they join again. Allowed in a
// dissolved live chat; members only (others: ErrNotMember).
func (c *Client) LeaveLiveChat(ctx context.Context, conv ConversationRef) (*LiveMemberInfo, error) {
	body, err := callBody[*improto.LeaveLiveGroupResponseBody](ctx, c, improto.IMCMD_LEAVE_LIVE_GROUP, &improto.LeaveLiveGroupRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	})
	if err != nil {
		return nil, err
	}
	if body.GetMember() == nil {
		return nil, malformedAnswer(improto.IMCMD_LEAVE_LIVE_GROUP, "member", "")
	}
	c.updateCached(c.refID(conv), func(cv *Conversation) {
		if cv.Participant != nil && cv.Participant.Role == GroupRoleOwner {
			return // the owner stays a member
		}
		cv.IsMember = false
		cv.Participant = nil
	})
	return liveMemberFromProto(body.GetMember()), nil
}

// LiveMembersOptions selects a page of a live chat's members.
type LiveMembersOptions struct {
	// Cursor is the Next of the previous page; 0 starts at the beginning.
	Cursor int64
	// Limit is the page size; 0 means the server's default (100, at most
	// 500).
	Limit int
	// OnlineOnly keeps the members who are in the live chat and online
	// now.
	OnlineOnly bool
}

// LiveMemberPage is one page of a live chat's members: plain data, the
// caller's to keep.
type LiveMemberPage struct {
	// Members in user id order.
	Members []*LiveMemberInfo
	// HasMore reports more members after this page; Next is the cursor
	// that asks for them.
	HasMore bool
	Next    int64
	// OnlineCount is how many members of the whole live chat are in it
	// and online now.
	OnlineCount int
}

// LiveMembers returns a page of everyone who ever joined a live chat, in
// user id order (10003); those who left are listed with IsInConversation
// false. Members only (others: ErrNotMember). The cached conversation's
// OnlineMemberCount takes the page's OnlineCount.
func (c *Client) LiveMembers(ctx context.Context, conv ConversationRef, opts LiveMembersOptions) (*LiveMemberPage, error) {
	body, err := callBody[*improto.GetLiveGroupMembersResponseBody](ctx, c, improto.IMCMD_GET_LIVE_GROUP_MEMBERS,
		&improto.GetLiveGroupMembersRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Cursor:              proto.Int64(opts.Cursor),
			Limit:               proto.Int32(int32(opts.Limit)),
			OnlineOnly:          proto.Bool(opts.OnlineOnly),
		})
	if err != nil {
		return nil, err
	}
	page := &LiveMemberPage{HasMore: body.GetHasMore(), Next: body.GetNextCursor(), OnlineCount: int(body.GetOnlineCount())}
	for _, m := range body.GetMembers() {
		if info := liveMemberFromProto(m); info != nil {
			page.Members = append(page.Members, info)
		}
	}
	c.updateCached(c.refID(conv), func(cv *Conversation) { cv.OnlineMemberCount = page.OnlineCount })
	return page, nil
}

// LiveMessages pages a live chat's history by index (2008), oldest first
// either way: with reverse false the messages after cursor, with reverse
// true those before it (cursor 0: from the latest). limit 0 means the
// server's default (50, at most 500). Next continues in the same
// direction. Members, in the live chat or not, may read; others get
// ErrNotMember. Loaded messages join the local cache, with Source
// MessageSourceLoadMore.
func (c *Client) LiveMessages(ctx context.Context, conv ConversationRef, cursor int64, limit int, reverse bool) (*MessagePage, error) {
	body, err := callBody[*improto.BroadcastRecvMessageResponseBody](ctx, c, improto.IMCMD_BROADCAST_RECV_MESSAGE,
		&improto.BroadcastRecvMessageRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Cursor:              proto.Int64(cursor),
			Limit:               proto.Int64(int64(limit)),
			Reverse:             proto.Bool(reverse),
		})
	if err != nil {
		return nil, err
	}
	page := &MessagePage{HasMore: body.GetHasMore(), Next: body.GetNextCursor()}
	for _, b := range body.GetMessages() {
		if m := fetchedMessage(b); m != nil {
			c.cache.putMessage(m)
			page.Messages = append(page.Messages, m)
		}
	}
	return page, nil
}

// LiveOnlineCounts returns, per live chat, how many members are in it and
// online now (2009, in requests of at most 100). The server works by short
// id: a reference without one is resolved through the cache, or its id
// read as the short id in decimal. Conversations this user cannot see, and
// those that are not live chats, are left out. The cached conversations'
// OnlineMemberCount take the counts.
func (c *Client) LiveOnlineCounts(ctx context.Context, convs ...ConversationRef) (map[ConversationShortID]int, error) {
	out := make(map[ConversationShortID]int, len(convs))
	for chunk := range slices.Chunk(convs, maxCountersPerRequest) {
		req := &improto.BroadcastUserCounterRequestBody{}
		for _, ref := range chunk {
			req.Conversations = append(req.Conversations, &improto.ConversationRequest{
				ConversationShortId: proto.Int64(int64(c.shortID(ref))),
				ConversationType:    proto.Int32(int32(ConversationTypeMassChat)),
			})
		}
		body, err := callBody[*improto.BroadcastUserCounterResponseBody](ctx, c, improto.IMCMD_BROADCAST_USER_COUNTER, req)
		if err != nil {
			return nil, err
		}
		for _, info := range body.GetInfos() {
			out[ConversationShortID(info.GetConversationShortId())] = int(info.GetCounter())
		}
	}
	for _, conv := range c.cache.conversations() {
		if n, ok := out[conv.ShortID]; ok && conv.OnlineMemberCount != n {
			c.updateCached(conv.ID, func(cv *Conversation) { cv.OnlineMemberCount = n })
		}
	}
	return out, nil
}

// shortID returns the short id of the conversation ref names: its ShortID,
// the cached conversation's, or its id read as a decimal short id; 0 when
// none of them is known.
func (c *Client) shortID(ref ConversationRef) ConversationShortID {
	if ref.ShortID != 0 {
		return ref.ShortID
	}
	if conv := c.cache.conversation(ref.ID); conv != nil && conv.ShortID != 0 {
		return conv.ShortID
	}
	n, err := strconv.ParseInt(string(ref.ID), 10, 64)
	if err != nil {
		return 0
	}
	return ConversationShortID(n)
}
