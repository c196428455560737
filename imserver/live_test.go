package imserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/rawclient"
)

const (
	liveType         = int32(improto.ConversationType_MASS_CHAT)
	livePriorityKey  = "s:message_priority"
	livePollInterval = 5 * time.Millisecond
)

// createLive creates a live chat owned by owner with members.
func createLive(t *testing.T, owner caller, members ...int64) *improto.ConversationInfoV2 {
	t.Helper()
	return call[*improto.CreateConversationV2ResponseBody](t, owner, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(liveType),
			Participants:     members,
			Name:             proto.String("live"),
		}).GetConversation()
}

func liveJoinBody(conv *improto.ConversationInfoV2) *improto.JoinLiveGroupRequestBody {
	id, short, typ := convRef(conv)
	return &improto.JoinLiveGroupRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

func liveLeaveBody(conv *improto.ConversationInfoV2) *improto.LeaveLiveGroupRequestBody {
	id, short, typ := convRef(conv)
	return &improto.LeaveLiveGroupRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

// joinLive joins c to a live chat.
func joinLive(t *testing.T, c caller, conv *improto.ConversationInfoV2) *improto.JoinLiveGroupResponseBody {
	t.Helper()
	return call[*improto.JoinLiveGroupResponseBody](t, c, improto.IMCMD_JOIN_LIVE_GROUP, liveJoinBody(conv))
}

func liveBody(conv *improto.ConversationInfoV2, text, clientID string) *improto.BroadcastSendMessageRequestBody {
	id, short, typ := convRef(conv)
	b := &improto.BroadcastSendMessageRequestBody{
		ConversationId: id, ConversationShortId: short, ConversationType: typ,
		MessageType: proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
		Content:     proto.String(fmt.Sprintf(`{"text":%q}`, text)),
	}
	if clientID != "" {
		b.ClientMessageId = proto.String(clientID)
	}
	return b
}

// sendLive sends a text to a live chat with 2007.
func sendLive(t *testing.T, c caller, conv *improto.ConversationInfoV2, text string) *improto.BroadcastSendMessageResponseBody {
	t.Helper()
	return call[*improto.BroadcastSendMessageResponseBody](t, c, improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, text, ""))
}

// sendLiveWithHeaders posts a 2007 as user with the given Request headers.
func sendLiveWithHeaders(t *testing.T, e *env, user int64, body *improto.BroadcastSendMessageRequestBody, headers map[string]string) *improto.Response {
	t.Helper()
	req, err := rawclient.Request(improto.IMCMD_BROADCAST_SEND_MESSAGE, 1, e.token(user), 0, body)
	require.NoError(t, err)
	req.Headers = headers
	cmd, _ := improto.LookupCommand(improto.IMCMD_BROADCAST_SEND_MESSAGE)
	resp, err := e.user(user).Post(ctx(t), cmd.Route(), req)
	require.NoError(t, err)
	return resp
}

// recvLive pages a live chat with 2008.
func recvLive(t *testing.T, c caller, conv *improto.ConversationInfoV2, cursor, limit int64, reverse bool) *improto.BroadcastRecvMessageResponseBody {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.BroadcastRecvMessageResponseBody](t, c, improto.IMCMD_BROADCAST_RECV_MESSAGE,
		&improto.BroadcastRecvMessageRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Cursor: proto.Int64(cursor), Limit: proto.Int64(limit), Reverse: proto.Bool(reverse)})
}

// liveMembers pages a live chat's members with 10003.
func liveMembers(t *testing.T, c caller, conv *improto.ConversationInfoV2, cursor int64, limit int32, onlineOnly bool) *improto.GetLiveGroupMembersResponseBody {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.GetLiveGroupMembersResponseBody](t, c, improto.IMCMD_GET_LIVE_GROUP_MEMBERS,
		&improto.GetLiveGroupMembersRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Cursor: proto.Int64(cursor), Limit: proto.Int32(limit), OnlineOnly: proto.Bool(onlineOnly)})
}

// liveCounters asks 2009 about the given short ids and returns short id →
// counter for those answered.
func liveCounters(t *testing.T, c caller, shortIDs ...int64) map[int64]int32 {
	t.Helper()
	body := &improto.BroadcastUserCounterRequestBody{}
	for _, id := range shortIDs {
		body.Conversations = append(body.Conversations, &improto.ConversationRequest{ConversationShortId: proto.Int64(id)})
	}
	resp := call[*improto.BroadcastUserCounterResponseBody](t, c, improto.IMCMD_BROADCAST_USER_COUNTER, body)
	out := map[int64]int32{}
	for _, info := range resp.GetInfos() {
		assert.Equal(t, liveType, info.GetConversationType(), "2009 answered conversation %d with type", info.GetConversationShortId())
		out[info.GetConversationShortId()] = info.GetCounter()
	}
	return out
}

// livePushes returns the messages of the 505 pushes among pushes.
func livePushes(pushes []*improto.Response) []*improto.MessageBody {
	var out []*improto.MessageBody
	for _, p := range pushes {
		if p.GetCmd() == int32(improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY) {
			out = append(out, p.GetBody().GetHasNewMessageNotify().GetMessage())
		}
	}
	return out
}

func TestLiveJoinSendAndPush(t *testing.T) {
	clock := newClock()
	e := newEnv(t, withClock(clock))
	owner := e.user(1)
	conv := createLive(t, owner)
	socks := map[int64]*rawclient.Socket{}
	for _, u := range []int64{2, 3, 4, 5} {
		socks[u] = e.socket(u, "web")
	}
	joinedAt := clock.Now().UnixMilli()
	for _, u := range []int64{2, 3, 4} {
		j := joinLive(t, e.user(u), conv)
		m := j.GetMember()
		require.Equal(t, u, m.GetUserId(), "user %d joined as %v", u, m)
		require.True(t, m.GetIsInConversation(), "user %d joined as %v", u, m)
		require.Equal(t, memberVisitor, m.GetRole(), "user %d joined as %v", u, m)
		require.Equal(t, joinedAt, m.GetCreateTime(), "user %d joined as %v", u, m)
		require.Equal(t, joinedAt, m.GetPingTime(), "user %d joined as %v", u, m)
		c := j.GetConversation()
		require.Equal(t, liveType, c.GetConversationType(), "user %d's join answered %v", u, c)
		require.True(t, c.GetIsParticipant(), "user %d's join answered %v", u, c)
		require.Equal(t, memberVisitor, c.GetUserInfo().GetRole(), "user %d's join answered %v", u, c)
	}
	require.Equal(t, int32(4), joinLive(t, e.user(4), conv).GetConversation().GetParticipantsCount(), "participants_count after 3 joins")

	// Joining again keeps the role and the first join time and refreshes
	// ping_time; the owner stays owner.
	clock.Advance(time.Second)
	again := joinLive(t, e.user(2), conv).GetMember()
	require.Equal(t, memberVisitor, again.GetRole(), "joining twice: %v", again)
	require.Equal(t, joinedAt, again.GetCreateTime(), "joining twice: %v", again)
	require.Equal(t, joinedAt+1000, again.GetPingTime(), "joining twice: %v", again)
	m := joinLive(t, owner, conv).GetMember()
	require.Equal(t, memberOwner, m.GetRole(), "owner joined as %v", m)
	require.True(t, m.GetIsInConversation(), "owner joined as %v", m)

	sent := sendLive(t, e.user(2), conv, "hello live")
	for _, u := range []int64{2, 3, 4} { // sent over HTTP: the sender's socket gets it too
		n := waitPush(t, socks[u], improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY).GetBody().GetHasNewMessageNotify()
		m := n.GetMessage()
		assert.Equal(t, sent.GetServerMessageId(), m.GetServerMessageId(), "user %d got %v", u, m)
		assert.Equal(t, int64(2), m.GetSender(), "user %d got %v", u, m)
		assert.Equal(t, int64(1), m.GetIndexInConversation(), "user %d got %v", u, m)
		assert.Equal(t, liveType, m.GetConversationType(), "user %d got %v", u, m)
		assert.Equal(t, "1", m.GetExt()[livePriorityKey], "user %d got %v", u, m)
		assert.Equal(t, conv.GetConversationId(), n.GetConversationId(), "user %d: notify %v", u, n)
		assert.Equal(t, improto.NewMessageNotifyType_PER_CONVERSATION, n.GetNotifyType(), "user %d: notify %v", u, n)
	}
	require.Empty(t, livePushes(pushesBefore(t, e, socks[5], 5)), "user 5 never joined but got pushes")
	// Live messages have no inbox.
	require.Empty(t, pull(t, e.user(3), 0).GetMessages(), "live message in the inbox")
}

func TestLivePriorityFromRequestHeaders(t *testing.T) {
	e := newEnv(t)
	conv := createLive(t, e.user(1), 2)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string // stored s:message_priority; "" means refused
	}{
		{name: "absent", headers: nil, want: "1"},
		{name: "empty", headers: map[string]string{livePriorityKey: ""}, want: "1"},
		{name: "low", headers: map[string]string{livePriorityKey: "0"}, want: "0"},
		{name: "normal", headers: map[string]string{livePriorityKey: "1"}, want: "1"},
		{name: "high", headers: map[string]string{livePriorityKey: "2"}, want: "2"},
		{name: "out of range", headers: map[string]string{livePriorityKey: "3"}, want: ""},
		{name: "name", headers: map[string]string{livePriorityKey: "HIGH"}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := sendLiveWithHeaders(t, e, 1, liveBody(conv, tc.name, ""), tc.headers)
			if tc.want == "" {
				got := improto.StatusCode(resp.GetStatusCode())
				require.Equal(t, improto.StatusCode_INVALID_REQUEST, got, "status %v (%s), want INVALID_REQUEST", got, resp.GetErrorDesc())
				return
			}
			require.Zero(t, resp.GetStatusCode(), "status: %s", resp.GetErrorDesc())
			id := resp.GetBody().GetBroadcastSendMessageBody().GetServerMessageId()
			last := recvLive(t, e.user(2), conv, 0, 1, true).GetMessages()
			require.Len(t, last, 1, "latest message")
			require.Equal(t, id, last[0].GetServerMessageId(), "latest message %v", last)
			require.Equal(t, tc.want, last[0].GetExt()[livePriorityKey], "latest message's priority")
		})
	}

	// Over a socket the header rides in the framed Request the same way;
	// the sender's socket gets the response, the other member the push.
	sender, other := e.socket(1, "web"), e.socket(2, "web")
	req, err := rawclient.Request(improto.IMCMD_BROADCAST_SEND_MESSAGE, 77, e.token(1), 0, liveBody(conv, "urgent", ""))
	require.NoError(t, err)
	req.Headers = map[string]string{livePriorityKey: "2"}
	payload, err := proto.Marshal(req)
	require.NoError(t, err)
	resp, err := sender.CallFrame(ctx(t), &improto.Frame{Seqid: proto.Uint64(77), Payload: payload})
	require.NoError(t, err, "2007 over the socket")
	require.Zero(t, resp.GetStatusCode(), "2007 over the socket: %v", resp)
	m := waitPush(t, other, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, resp.GetBody().GetBroadcastSendMessageBody().GetServerMessageId(), m.GetServerMessageId(), "member got %v", m)
	require.Equal(t, "2", m.GetExt()[livePriorityKey], "member got %v", m)
	// The sending socket gets its own message too, as with 500 pushes.
	got := livePushes(pushesBefore(t, e, sender, 1))
	require.Len(t, got, 1, "the sending socket, want its own message once")
	require.Equal(t, m.GetServerMessageId(), got[0].GetServerMessageId(), "the sending socket got %v, want its own message once", got)
}

func TestLiveSendIsIdempotent(t *testing.T) {
	e := newEnv(t)
	conv := createLive(t, e.user(1), 2)
	body := liveBody(conv, "once", "cmid-live")
	first := call[*improto.BroadcastSendMessageResponseBody](t, e.user(2), improto.IMCMD_BROADCAST_SEND_MESSAGE, body)
	require.Equal(t, "cmid-live", first.GetClientMessageId(), "first send answered %v", first)
	require.Equal(t, int32(improto.SendMessageStatus_SEND_SUCCEED), first.GetStatus(), "first send answered %v", first)
	// The retry carries another priority: the stored message wins.
	retry := sendLiveWithHeaders(t, e, 2, body, map[string]string{livePriorityKey: "2"})
	require.Zero(t, retry.GetStatusCode(), "retry answered %v", retry)
	require.Equal(t, first.GetServerMessageId(), retry.GetBody().GetBroadcastSendMessageBody().GetServerMessageId(), "retry answered %v", retry)
	// Another sender may use the same client id.
	other := call[*improto.BroadcastSendMessageResponseBody](t, e.user(1), improto.IMCMD_BROADCAST_SEND_MESSAGE, body)
	require.NotEqual(t, first.GetServerMessageId(), other.GetServerMessageId(), "another sender's client id matched the first sender's message")
	all := recvLive(t, e.user(1), conv, 0, 0, false).GetMessages()
	require.Len(t, all, 2, "stored messages")
	require.Equal(t, first.GetServerMessageId(), all[0].GetServerMessageId(), "stored messages %v", all)
	require.Equal(t, "1", all[0].GetExt()[livePriorityKey], "stored messages %v", all)
}

func TestLiveReceivePaging(t *testing.T) {
	e := newEnv(t)
	conv := createLive(t, e.user(1), 2)
	sender := e.user(1)
	for i := range 55 {
		sendLive(t, sender, conv, fmt.Sprint(i))
	}
	reader := e.user(2)
	for _, tc := range []struct {
		name     string
		cursor   int64
		limit    int64
		reverse  bool
		want     string
		wantMore bool
		wantNext int64
	}{
		{"default limit from the oldest", 0, 0, false, fmt.Sprint(liveSeq(1, 50)), true, 50},
		{"forward rest", 50, 20, false, "[51 52 53 54 55]", false, 55},
		{"forward at the end", 55, 20, false, "[]", false, 55},
		{"latest", 0, 20, true, fmt.Sprint(liveSeq(36, 55)), true, 36},
		{"older", 36, 20, true, fmt.Sprint(liveSeq(16, 35)), true, 16},
		{"oldest", 16, 20, true, fmt.Sprint(liveSeq(1, 15)), false, 1},
		{"before the first", 1, 20, true, "[]", false, 1},
		{"limit above the cap", 0, 100000, false, fmt.Sprint(liveSeq(1, 55)), false, 55},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := recvLive(t, reader, conv, tc.cursor, tc.limit, tc.reverse)
			idx := indexesOf(page.GetMessages())
			if idx == nil {
				idx = []int64{}
			}
			require.Equal(t, tc.want, fmt.Sprint(idx), "indexes")
			require.Equal(t, tc.wantMore, page.GetHasMore(), "more")
			require.Equal(t, tc.wantNext, page.GetNextCursor(), "next")
		})
	}
	id, short, typ := convRef(conv)
	wantStatus(t, reader, improto.IMCMD_BROADCAST_RECV_MESSAGE,
		&improto.BroadcastRecvMessageRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, Cursor: proto.Int64(-1)},
		improto.StatusCode_INVALID_REQUEST)
	wantStatus(t, e.user(3), improto.IMCMD_BROADCAST_RECV_MESSAGE,
		&improto.BroadcastRecvMessageRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ},
		improto.StatusCode_USER_NOT_IN_GROUP)
}

// seq returns [from, to].
func liveSeq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestLiveOnlineCounts(t *testing.T) {
	e := newEnv(t)
	owner := e.user(1) // joined (creator) but never online
	conv := createLive(t, owner)
	short := conv.GetConversationShortId()
	socks := map[int64]*rawclient.Socket{}
	for _, u := range []int64{2, 3, 4} {
		socks[u] = e.socket(u, "web")
		joinLive(t, e.user(u), conv)
	}
	joinLive(t, e.user(5), conv) // joined, offline
	e.socket(6, "web")           // online, never joined

	require.Equal(t, int32(3), liveCounters(t, e.user(6), short)[short], "2009 counter")
	all := liveMembers(t, owner, conv, 0, 0, false)
	require.Equal(t, "[1 2 3 4 5]", fmt.Sprint(userIDsOf(all.GetMembers())), "members")
	require.False(t, all.GetHasMore(), "members: more")
	require.Equal(t, int32(3), all.GetOnlineCount(), "members: online")
	require.Equal(t, int64(5), all.GetNextCursor(), "members: next")
	for _, m := range all.GetMembers() {
		want := memberVisitor
		if m.GetUserId() == 1 {
			want = memberOwner
		}
		assert.Equal(t, want, m.GetRole(), "member %v: role", m)
		assert.True(t, m.GetIsInConversation(), "member %v, want in the conversation", m)
	}
	var paged []int64
	for cursor, more := int64(0), true; more; {
		page := liveMembers(t, e.user(5), conv, cursor, 2, false)
		require.LessOrEqual(t, len(page.GetMembers()), 2, "page with limit 2")
		paged = append(paged, userIDsOf(page.GetMembers())...)
		cursor, more = page.GetNextCursor(), page.GetHasMore()
	}
	require.Equal(t, "[1 2 3 4 5]", fmt.Sprint(paged), "paged members")
	online := liveMembers(t, owner, conv, 0, 0, true)
	require.Equal(t, "[2 3 4]", fmt.Sprint(userIDsOf(online.GetMembers())), "online members")
	require.Equal(t, int32(3), online.GetOnlineCount(), "online count")

	// Closing a socket takes the user offline once the server notices;
	// nothing is pushed for it, so poll 2009.
	socks[4].Close()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(livePollInterval)
	defer tick.Stop()
	for liveCounters(t, e.user(6), short)[short] != 2 {
		if time.Now().After(deadline) {
			require.FailNowf(t, "2009 counter still not 2", "%v after closing a socket", waitFor)
		}
		<-tick.C
	}
	online = liveMembers(t, owner, conv, 0, 0, true)
	require.Equal(t, "[2 3]", fmt.Sprint(userIDsOf(online.GetMembers())), "online members after the close")
	require.Equal(t, int32(2), online.GetOnlineCount(), "online count after the close")

	// 2009 leaves out what the caller cannot see.
	group := createGroup(t, e.user(6), 2)
	other := e.user(6)
	other.Inbox = 1
	require.Empty(t, liveCounters(t, other, short), "2009 from another inbox type")
	require.Equal(t, map[int64]int32{short: 2}, liveCounters(t, e.user(6), short, group.GetConversationShortId(), 999999), "2009, want only the live chat")
	tooMany := &improto.BroadcastUserCounterRequestBody{}
	for range 101 {
		tooMany.Conversations = append(tooMany.Conversations, &improto.ConversationRequest{ConversationShortId: proto.Int64(short)})
	}
	wantStatus(t, owner, improto.IMCMD_BROADCAST_USER_COUNTER, tooMany, improto.StatusCode_INVALID_REQUEST)
	id, shortP, typ := convRef(conv)
	wantStatus(t, e.user(6), improto.IMCMD_GET_LIVE_GROUP_MEMBERS,
		&improto.GetLiveGroupMembersRequestBody{ConversationId: id, ConversationShortId: shortP, ConversationType: typ},
		improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestLiveLeave(t *testing.T) {
	e := newEnv(t)
	owner := e.user(1)
	conv := createLive(t, owner)
	socks := map[int64]*rawclient.Socket{}
	for _, u := range []int64{1, 2, 3} {
		socks[u] = e.socket(u, "web")
	}
	first := joinLive(t, e.user(2), conv).GetMember().GetCreateTime()
	joinLive(t, e.user(3), conv)

	left := call[*improto.LeaveLiveGroupResponseBody](t, e.user(2), improto.IMCMD_LEAVE_LIVE_GROUP, liveLeaveBody(conv)).GetMember()
	require.Equal(t, int64(2), left.GetUserId(), "leaving answered %v", left)
	require.False(t, left.GetIsInConversation(), "leaving answered %v", left)
	require.Nil(t, left.Role, "leaving answered %v", left)
	sent := sendLive(t, e.user(3), conv, "after 2 left")
	for _, u := range []int64{1, 3} {
		m := waitPush(t, socks[u], improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
		require.Equal(t, sent.GetServerMessageId(), m.GetServerMessageId(), "joined member %d got %v", u, m)
	}
	require.Empty(t, livePushes(pushesBefore(t, e, socks[2], 2)), "user 2 left but got pushes")
	for _, tc := range []struct {
		cmd  improto.IMCMD
		body proto.Message
	}{
		{improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "not a member", "")},
		{improto.IMCMD_BROADCAST_RECV_MESSAGE, &improto.BroadcastRecvMessageRequestBody{ConversationShortId: proto.Int64(conv.GetConversationShortId())}},
		{improto.IMCMD_LEAVE_LIVE_GROUP, liveLeaveBody(conv)},
		{improto.IMCMD_GET_LIVE_GROUP_MEMBERS, &improto.GetLiveGroupMembersRequestBody{ConversationShortId: proto.Int64(conv.GetConversationShortId())}},
	} {
		wantStatus(t, e.user(2), tc.cmd, tc.body, improto.StatusCode_USER_NOT_IN_GROUP)
	}
	members := liveMembers(t, owner, conv, 0, 0, false).GetMembers()
	require.Len(t, members, 3, "members after 2 left")
	require.Equal(t, int64(2), members[1].GetUserId(), "members after 2 left: %v", members)
	require.False(t, members[1].GetIsInConversation(), "members after 2 left: %v", members)
	require.Nil(t, members[1].Role, "members after 2 left: %v", members)

	// The owner stays a participant but is out of the live chat: no
	// pushes, no sending, until they join again as owner.
	ownerLeft := call[*improto.LeaveLiveGroupResponseBody](t, owner, improto.IMCMD_LEAVE_LIVE_GROUP, liveLeaveBody(conv)).GetMember()
	require.False(t, ownerLeft.GetIsInConversation(), "owner leaving answered %v", ownerLeft)
	require.Equal(t, memberOwner, ownerLeft.GetRole(), "owner leaving answered %v", ownerLeft)
	sendLive(t, e.user(3), conv, "after the owner left")
	require.Empty(t, livePushes(pushesBefore(t, e, socks[1], 1)), "the owner left but got pushes")
	wantStatus(t, owner, improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "owner away", ""), improto.StatusCode_USER_NOT_IN_GROUP)
	require.Equal(t, "[1 2]", fmt.Sprint(indexesOf(recvLive(t, owner, conv, 0, 0, false).GetMessages())), "what the owner, still a member, reads")
	back := joinLive(t, owner, conv).GetMember()
	require.Equal(t, memberOwner, back.GetRole(), "owner rejoined as %v", back)
	require.True(t, back.GetIsInConversation(), "owner rejoined as %v", back)

	// A returning visitor keeps their first join time and gets pushes
	// again.
	back = joinLive(t, e.user(2), conv).GetMember()
	require.Equal(t, memberVisitor, back.GetRole(), "user 2 rejoined as %v", back)
	require.Equal(t, first, back.GetCreateTime(), "user 2 rejoined as %v: first join time", back)
	welcome := sendLive(t, owner, conv, "welcome back")
	m := waitPush(t, socks[2], improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, welcome.GetServerMessageId(), m.GetServerMessageId(), "user 2 back got %v", m)
}

func TestLiveRefusesOtherConversations(t *testing.T) {
	e := newEnv(t)
	owner := e.user(1)
	live := createLive(t, owner, 2)
	group := createGroup(t, owner, 2)
	single := createSingle(t, owner, 2)
	for _, conv := range []*improto.ConversationInfoV2{group, single} {
		id, short, typ := convRef(conv)
		for _, tc := range []struct {
			cmd  improto.IMCMD
			body proto.Message
		}{
			{improto.IMCMD_JOIN_LIVE_GROUP, liveJoinBody(conv)},
			{improto.IMCMD_LEAVE_LIVE_GROUP, liveLeaveBody(conv)},
			{improto.IMCMD_GET_LIVE_GROUP_MEMBERS, &improto.GetLiveGroupMembersRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}},
			{improto.IMCMD_BROADCAST_RECV_MESSAGE, &improto.BroadcastRecvMessageRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}},
			{improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "x", "")},
			// The stored type decides, not the body's.
			{improto.IMCMD_BROADCAST_SEND_MESSAGE, &improto.BroadcastSendMessageRequestBody{ConversationShortId: short, ConversationType: proto.Int32(liveType)}},
		} {
			t.Run(fmt.Sprintf("%v on type %d", tc.cmd, conv.GetConversationType()), func(t *testing.T) {
				wantStatus(t, e.user(2), tc.cmd, tc.body, improto.StatusCode_INVALID_REQUEST)
			})
		}
	}
	// 100 refuses live chats, 2007 other types named in its body.
	wantStatus(t, owner, improto.IMCMD_SEND_MESSAGE, textBody(live, "x"), improto.StatusCode_INVALID_REQUEST)
	wrongType := liveBody(live, "x", "")
	wrongType.ConversationType = proto.Int32(int32(improto.ConversationType_GROUP_CHAT))
	wantStatus(t, owner, improto.IMCMD_BROADCAST_SEND_MESSAGE, wrongType, improto.StatusCode_INVALID_REQUEST)

	// Other inbox types do not see the live chat; strangers may join it
	// but not send before joining.
	other := e.user(3)
	other.Inbox = 1
	wantStatus(t, other, improto.IMCMD_JOIN_LIVE_GROUP, liveJoinBody(live), improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, e.user(3), improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(live, "x", ""), improto.StatusCode_USER_NOT_IN_GROUP)
	wantStatus(t, e.user(3), improto.IMCMD_JOIN_LIVE_GROUP,
		&improto.JoinLiveGroupRequestBody{ConversationShortId: proto.Int64(999999)}, improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, e.user(3), improto.IMCMD_JOIN_LIVE_GROUP, &improto.JoinLiveGroupRequestBody{}, improto.StatusCode_INVALID_REQUEST)
}

func TestLiveMuteAndDissolve(t *testing.T) {
	e := newEnv(t)
	owner := e.user(1)
	conv := createLive(t, owner)
	for _, u := range []int64{2, 3} {
		joinLive(t, e.user(u), conv)
	}
	// Visitors may send in live chats; a muted visitor may not.
	sendLive(t, e.user(3), conv, "visitor speaks")
	call[*improto.BlockMembersResponseBody](t, owner, improto.IMCMD_BLOCK_MEMBERS,
		blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{2: 0}))
	wantStatus(t, e.user(2), improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "muted", ""), improto.StatusCode_USER_BANNED_TO_POST)
	sendLive(t, e.user(3), conv, "not muted")

	// A muted conversation lets only its owner speak.
	call[*improto.BlockConversationResponseBody](t, owner, improto.IMCMD_BLOCK_CONVERSATION,
		blockConvBody(conv, improto.BlockStatus_BLOCK, false))
	wantStatus(t, e.user(3), improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "muted room", ""), improto.StatusCode_USER_BANNED_TO_POST)
	sendLive(t, owner, conv, "owner speaks")

	// A dissolved live chat can be read and left, not joined or sent to.
	call[proto.Message](t, owner, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv))
	wantStatus(t, e.user(4), improto.IMCMD_JOIN_LIVE_GROUP, liveJoinBody(conv), improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, owner, improto.IMCMD_BROADCAST_SEND_MESSAGE, liveBody(conv, "too late", ""), improto.StatusCode_CONVERSATION_NOT_FOUND)
	require.Equal(t, "[1 2 3]", fmt.Sprint(indexesOf(recvLive(t, e.user(3), conv, 0, 0, false).GetMessages())), "history of the dissolved live chat")
	call[*improto.LeaveLiveGroupResponseBody](t, e.user(3), improto.IMCMD_LEAVE_LIVE_GROUP, liveLeaveBody(conv))
}

func TestLiveReceiveLimitCap(t *testing.T) {
	e := newEnv(t)
	sender := e.user(1)
	conv := createLive(t, sender)
	for i := range 501 {
		sendLive(t, sender, conv, fmt.Sprint(i))
	}
	page := recvLive(t, sender, conv, 0, 10000, false)
	require.Equal(t, 500, len(page.GetMessages()), "messages with limit 10000, want the cap of 500")
	require.True(t, page.GetHasMore(), "more with limit 10000")
	require.Equal(t, int64(500), page.GetNextCursor(), "next with limit 10000")
}
