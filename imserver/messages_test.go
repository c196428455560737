package imserver_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/rawclient"
)

func TestSendPushAndPull(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1001), e.user(1002)
	bobSock := e.socket(1002, "bob-web")
	alicePhone := e.socket(1001, "alice-phone")
	conv := createSingle(t, alice, 1002)
	require.Equal(t, "0:1:1001:1002", conv.GetConversationId(), "single chat id")
	again := createSingle(t, bob, 1001)
	require.Equal(t, conv.GetConversationShortId(), again.GetConversationShortId(), "creating the same single chat again made a new one: %v", again)
	sent := sendText(t, alice, conv, "hello")

	// Every online device of every member gets the push, the sender's
	// other devices included.
	for name, s := range map[string]*rawclient.Socket{"bob": bobSock, "alice's phone": alicePhone} {
		n := waitPush(t, s, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify()
		m := n.GetMessage()
		assert.Equal(t, sent.GetServerMessageId(), m.GetServerMessageId(), "%s got %v", name, m)
		assert.Equal(t, int64(1), m.GetIndexInConversation(), "%s got %v", name, m)
		assert.Equal(t, int64(1001), m.GetSender(), "%s got %v", name, m)
		assert.Equal(t, n.GetPreviousCursor()+1, n.GetNextCursor(), "%s: cursors %d → %d", name, n.GetPreviousCursor(), n.GetNextCursor())
	}
	got := pull(t, bob, 0)
	require.Len(t, got.GetMessages(), 1, "bob's inbox: %v", got)
	require.Equal(t, sent.GetServerMessageId(), got.GetMessages()[0].GetServerMessageId(), "bob's inbox: %v", got)
	more := pull(t, bob, got.GetNextCursor())
	require.Empty(t, more.GetMessages(), "pull after the last cursor: %v", more)
	require.Equal(t, got.GetNextCursor(), more.GetNextCursor(), "pull after the last cursor: %v", more)
}

// TestInboxIsGapFreeAndOrdered interleaves messages in several
// conversations and checks that each member's inbox holds every message
// they should see exactly once, with indexes 1, 2, 3 … per conversation.
func TestInboxIsGapFreeAndOrdered(t *testing.T) {
	e := newEnv(t)
	owner := e.user(1)
	groups := []*improto.ConversationInfoV2{
		createGroup(t, owner, 2, 3),
		createGroup(t, owner, 2),
		createGroup(t, owner, 3),
	}
	senders := map[int64]*rawclient.Client{1: owner, 2: e.user(2), 3: e.user(3)}
	want := map[int64]int{} // user → messages they should see
	for i := range 60 {
		g := groups[i%len(groups)]
		var members []int64
		for _, p := range g.GetFirstPageParticipants().GetParticipants() {
			members = append(members, p.GetUserId())
		}
		from := members[i%len(members)]
		sendText(t, senders[from], g, fmt.Sprint("m", i))
		for _, u := range members {
			want[u]++
		}
	}
	for u, c := range senders {
		var all []*improto.MessageBody
		cursor := int64(0)
		for {
			page := call[*improto.MessagesPerUserResponseBody](t, c, improto.IMCMD_GET_MESSAGES_BY_USER,
				&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int32(7)})
			all = append(all, page.GetMessages()...)
			cursor = page.GetNextCursor()
			if !page.GetHasMore() {
				break
			}
		}
		assert.Equal(t, want[u], len(all), "user %d: messages", u)
		next := map[string]int64{}
		seen := map[int64]bool{}
		for _, m := range all {
			assert.False(t, seen[m.GetServerMessageId()], "user %d: message %d twice", u, m.GetServerMessageId())
			seen[m.GetServerMessageId()] = true
			id := m.GetConversationId()
			assert.Equal(t, next[id]+1, m.GetIndexInConversation(), "user %d: %s index after %d", u, id, next[id])
			next[id] = m.GetIndexInConversation()
		}
	}
}

func TestClientMessageIDMakesSendIdempotent(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice, 2)
	body := textBody(conv, "once")
	body.ClientMessageId = proto.String("cmid-1")
	first := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, body)
	second := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, body)
	require.Equal(t, first.GetServerMessageId(), second.GetServerMessageId(), "retry stored a second message")
	// The ext key works as well as the field.
	viaExt := textBody(conv, "once more")
	viaExt.Ext = map[string]string{"s:client_message_id": "cmid-1"}
	third := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, viaExt)
	require.Equal(t, first.GetServerMessageId(), third.GetServerMessageId(), "s:client_message_id retry stored a new message")
	require.Len(t, pull(t, e.user(2), 0).GetMessages(), 1, "messages the member sees")
}

func TestMessagesByConversationPaging(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice, 2)
	for i := range 25 {
		sendText(t, alice, conv, fmt.Sprint(i))
	}
	bob := e.user(2)
	page := func(dir improto.MessageDirection, anchor int64, limit int32) *improto.MessagesInConversationResponseBody {
		return convMessages(t, bob, conv, dir, anchor, limit)
	}
	indexes := func(p *improto.MessagesInConversationResponseBody) []int64 { return indexesOf(p.GetMessages()) }
	latest := page(improto.MessageDirection_OLDER, 0, 10)
	require.Equal(t, "[16 17 18 19 20 21 22 23 24 25]", fmt.Sprint(indexes(latest)), "latest page")
	require.True(t, latest.GetHasMore(), "latest page has more")
	require.Equal(t, int64(16), latest.GetNextCursor(), "latest page next cursor")
	older := page(improto.MessageDirection_OLDER, latest.GetNextCursor(), 10)
	require.Equal(t, "[6 7 8 9 10 11 12 13 14 15]", fmt.Sprint(indexes(older)), "older page")
	newer := page(improto.MessageDirection_NEWER, 20, 10)
	require.Equal(t, "[21 22 23 24 25]", fmt.Sprint(indexes(newer)), "newer page")
	require.False(t, newer.GetHasMore(), "newer page has more")
	wantStatus(t, e.user(3), improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
		&improto.MessagesInConversationRequestBody{ConversationId: proto.String(conv.GetConversationId()), Direction: improto.MessageDirection_OLDER.Enum()},
		improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestInitSyncThenContinueFromCursor(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	convs := []*improto.ConversationInfoV2{createSingle(t, alice, 2), createGroup(t, alice, 2)}
	for _, c := range convs {
		sendText(t, alice, c, "before init")
	}
	init := call[*improto.MessagesPerUserInitV2ResponseBody](t, bob, improto.IMCMD_GET_MESSAGES_BY_USER_INIT_V2,
		&improto.MessagesPerUserInitV2RequestBody{})
	require.Len(t, init.GetConversations(), 2, "init: conversations")
	require.Len(t, init.GetMessages(), 2, "init: messages")
	require.False(t, init.GetHasMore(), "init: more")
	for _, c := range init.GetConversations() {
		assert.Equal(t, int32(1), c.GetBadgeCount(), "%s: badge", c.GetConversationId())
	}
	after := sendText(t, alice, convs[0], "after init")
	rest := pull(t, bob, init.GetPerUserCursor())
	require.Len(t, rest.GetMessages(), 1, "after init cursor")
	require.Equal(t, after.GetServerMessageId(), rest.GetMessages()[0].GetServerMessageId(), "after init cursor: %v", rest.GetMessages())
}

// TestVisibilityExtKeys checks s:visible and s:invisible: who gets the
// message in their inbox and in 301, and who does not.
func TestVisibilityExtKeys(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice, 2, 3, 4)
	onlyTwo := textBody(conv, "for 2 only")
	onlyTwo.Ext = map[string]string{"s:visible": "2"}
	notThree := textBody(conv, "not for 3")
	notThree.Ext = map[string]string{"s:invisible": "3, 4"}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, onlyTwo)
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, notThree)
	want := map[int64]int{1: 2, 2: 2, 3: 0, 4: 0}
	for u, n := range want {
		c := e.user(u)
		assert.Len(t, pull(t, c, 0).GetMessages(), n, "user %d inbox: messages", u)
		assert.Len(t, convMessages(t, c, conv, improto.MessageDirection_OLDER, 0, 50).GetMessages(), n, "user %d 301: messages", u)
	}
}

// TestUnreadBadgeHonoursExtKeys checks what counts as unread: not one's
// own messages, not s:do_not_increase_unread, not special types.
func TestUnreadBadgeHonoursExtKeys(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	conv := createGroup(t, alice, 2)
	sendText(t, alice, conv, "counts")
	quiet := textBody(conv, "does not count")
	quiet.Ext = map[string]string{"s:do_not_increase_unread": "true"}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, quiet)
	command := textBody(conv, "command")
	command.MessageType = proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_COMMAND))
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, command)
	sendText(t, bob, conv, "bob's own")
	id, short, typ := convRef(conv)
	info := call[*improto.GetConversationInfoV2ResponseBody](t, bob, improto.IMCMD_GET_CONVERSATION_INFO_V2,
		&improto.GetConversationInfoV2RequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ})
	require.Equal(t, int32(1), info.GetConversationInfo().GetBadgeCount(), "bob's badge")
}

// TestMentionsAndQuotes checks that mentioned_users lands in
// s:mentioned_users and that a reply carries the quoted message's
// reference info, with the root of a quote chain.
func TestMentionsAndQuotes(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	conv := createGroup(t, alice, 2, 3)
	mention := textBody(conv, "hey @2 @3")
	mention.MentionedUsers = []int64{2, 3}
	first := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, mention)
	reply := textBody(conv, "replying")
	reply.RefMsgInfo = &improto.ReferencedMessageInfo{ReferencedMessageId: proto.Int64(first.GetServerMessageId()), Hint: proto.String("hey")}
	second := call[*improto.SendMessageResponseBody](t, bob, improto.IMCMD_SEND_MESSAGE, reply)
	again := textBody(conv, "replying to the reply")
	again.RefMsgInfo = &improto.ReferencedMessageInfo{ReferencedMessageId: proto.Int64(second.GetServerMessageId())}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, again)

	ms := pull(t, e.user(3), 0).GetMessages()
	require.Len(t, ms, 3, "messages")
	assert.Equal(t, "2,3", ms[0].GetExt()["s:mentioned_users"], "s:mentioned_users")
	ref := ms[1].GetReferenceInfo()
	assert.Equal(t, first.GetServerMessageId(), ref.GetReferencedMessageId(), "reply reference: %v", ref)
	assert.Equal(t, int64(1), ref.GetSender(), "reply reference: %v", ref)
	assert.Equal(t, "hey", ref.GetHint(), "reply reference: %v", ref)
	assert.Equal(t, improto.MessageStatus_AVAILABLE, ref.GetReferencedMessageStatus(), "reply reference: %v", ref)
	assert.Equal(t, first.GetServerMessageId(), ref.GetRootMessageId(), "reply reference: %v", ref)
	assert.Equal(t, first.GetServerMessageId(), ms[2].GetReferenceInfo().GetRootMessageId(), "second-level reply root")
	missing := textBody(conv, "quoting nothing")
	missing.RefMsgInfo = &improto.ReferencedMessageInfo{ReferencedMessageId: proto.Int64(999999)}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, missing)
	last := convMessages(t, alice, conv, improto.MessageDirection_OLDER, 0, 1).GetMessages()[0]
	assert.Equal(t, improto.MessageStatus_NOT_EXIST, last.GetReferenceInfo().GetReferencedMessageStatus(), "quote of an unknown message: status")
}

// TestInboxTypesAreIsolated checks that a user's inbox in one inbox type
// does not see conversations of another.
func TestInboxTypesAreIsolated(t *testing.T) {
	e := newEnv(t)
	alice0, bob1 := e.user(1), e.user(2)
	bob1.Inbox = 1
	conv := createSingle(t, alice0, 2)
	sendText(t, alice0, conv, "inbox 0")
	require.Empty(t, pull(t, bob1, 0).GetMessages(), "inbox 1 sees messages of inbox 0")
	require.Len(t, pull(t, e.user(2), 0).GetMessages(), 1, "inbox 0: messages")
	alice1 := e.user(1)
	alice1.Inbox = 1
	other := createSingle(t, alice1, 2)
	require.Equal(t, "1:1:1:2", other.GetConversationId(), "inbox 1 single chat")
	require.NotEqual(t, conv.GetConversationShortId(), other.GetConversationShortId(), "inbox 1 single chat short id")
}
