package imserver_test

import (
	"fmt"
	"testing"

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
	if want := "0:1:1001:1002"; conv.GetConversationId() != want {
		t.Fatalf("single chat id %q, want %q", conv.GetConversationId(), want)
	}
	if again := createSingle(t, bob, 1001); again.GetConversationShortId() != conv.GetConversationShortId() {
		t.Fatalf("creating the same single chat again made a new one: %v", again)
	}
	sent := sendText(t, alice, conv, "hello")

	// Every online device of every member gets the push, the sender's
	// other devices included.
	for name, s := range map[string]*rawclient.Socket{"bob": bobSock, "alice's phone": alicePhone} {
		n := waitPush(t, s, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify()
		m := n.GetMessage()
		if m.GetServerMessageId() != sent.GetServerMessageId() || m.GetIndexInConversation() != 1 || m.GetSender() != 1001 {
			t.Errorf("%s got %v", name, m)
		}
		if n.GetNextCursor() != n.GetPreviousCursor()+1 {
			t.Errorf("%s: cursors %d → %d", name, n.GetPreviousCursor(), n.GetNextCursor())
		}
	}
	got := pull(t, bob, 0)
	if len(got.GetMessages()) != 1 || got.GetMessages()[0].GetServerMessageId() != sent.GetServerMessageId() {
		t.Fatalf("bob's inbox: %v", got)
	}
	if more := pull(t, bob, got.GetNextCursor()); len(more.GetMessages()) != 0 || more.GetNextCursor() != got.GetNextCursor() {
		t.Fatalf("pull after the last cursor: %v", more)
	}
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
		if len(all) != want[u] {
			t.Errorf("user %d: %d messages, want %d", u, len(all), want[u])
		}
		next := map[string]int64{}
		seen := map[int64]bool{}
		for _, m := range all {
			if seen[m.GetServerMessageId()] {
				t.Errorf("user %d: message %d twice", u, m.GetServerMessageId())
			}
			seen[m.GetServerMessageId()] = true
			id := m.GetConversationId()
			if m.GetIndexInConversation() != next[id]+1 {
				t.Errorf("user %d: %s index %d after %d", u, id, m.GetIndexInConversation(), next[id])
			}
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
	if first.GetServerMessageId() != second.GetServerMessageId() {
		t.Fatalf("retry stored a second message: %d and %d", first.GetServerMessageId(), second.GetServerMessageId())
	}
	// The ext key works as well as the field.
	viaExt := textBody(conv, "once more")
	viaExt.Ext = map[string]string{"s:client_message_id": "cmid-1"}
	if third := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, viaExt); third.GetServerMessageId() != first.GetServerMessageId() {
		t.Fatalf("s:client_message_id retry stored a new message")
	}
	if n := len(pull(t, e.user(2), 0).GetMessages()); n != 1 {
		t.Fatalf("member sees %d messages, want 1", n)
	}
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
	if got := fmt.Sprint(indexes(latest)); got != "[16 17 18 19 20 21 22 23 24 25]" || !latest.GetHasMore() || latest.GetNextCursor() != 16 {
		t.Fatalf("latest page %s more=%v next=%d", got, latest.GetHasMore(), latest.GetNextCursor())
	}
	older := page(improto.MessageDirection_OLDER, latest.GetNextCursor(), 10)
	if got := fmt.Sprint(indexes(older)); got != "[6 7 8 9 10 11 12 13 14 15]" {
		t.Fatalf("older page %s", got)
	}
	newer := page(improto.MessageDirection_NEWER, 20, 10)
	if got := fmt.Sprint(indexes(newer)); got != "[21 22 23 24 25]" || newer.GetHasMore() {
		t.Fatalf("newer page %s more=%v", got, newer.GetHasMore())
	}
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
	if len(init.GetConversations()) != 2 || len(init.GetMessages()) != 2 || init.GetHasMore() {
		t.Fatalf("init: %d conversations, %d messages, more=%v", len(init.GetConversations()), len(init.GetMessages()), init.GetHasMore())
	}
	for _, c := range init.GetConversations() {
		if c.GetBadgeCount() != 1 {
			t.Errorf("%s: badge %d, want 1", c.GetConversationId(), c.GetBadgeCount())
		}
	}
	after := sendText(t, alice, convs[0], "after init")
	rest := pull(t, bob, init.GetPerUserCursor())
	if len(rest.GetMessages()) != 1 || rest.GetMessages()[0].GetServerMessageId() != after.GetServerMessageId() {
		t.Fatalf("after init cursor: %v", rest.GetMessages())
	}
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
		if got := len(pull(t, c, 0).GetMessages()); got != n {
			t.Errorf("user %d inbox: %d messages, want %d", u, got, n)
		}
		if got := len(convMessages(t, c, conv, improto.MessageDirection_OLDER, 0, 50).GetMessages()); got != n {
			t.Errorf("user %d 301: %d messages, want %d", u, got, n)
		}
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
	if got := info.GetConversationInfo().GetBadgeCount(); got != 1 {
		t.Fatalf("bob's badge %d, want 1", got)
	}
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
	if len(ms) != 3 {
		t.Fatalf("%d messages", len(ms))
	}
	if got := ms[0].GetExt()["s:mentioned_users"]; got != "2,3" {
		t.Errorf("s:mentioned_users = %q", got)
	}
	ref := ms[1].GetReferenceInfo()
	if ref.GetReferencedMessageId() != first.GetServerMessageId() || ref.GetSender() != 1 || ref.GetHint() != "hey" ||
		ref.GetReferencedMessageStatus() != improto.MessageStatus_AVAILABLE || ref.GetRootMessageId() != first.GetServerMessageId() {
		t.Errorf("reply reference: %v", ref)
	}
	if root := ms[2].GetReferenceInfo().GetRootMessageId(); root != first.GetServerMessageId() {
		t.Errorf("second-level reply root %d, want %d", root, first.GetServerMessageId())
	}
	missing := textBody(conv, "quoting nothing")
	missing.RefMsgInfo = &improto.ReferencedMessageInfo{ReferencedMessageId: proto.Int64(999999)}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, missing)
	last := convMessages(t, alice, conv, improto.MessageDirection_OLDER, 0, 1).GetMessages()[0]
	if st := last.GetReferenceInfo().GetReferencedMessageStatus(); st != improto.MessageStatus_NOT_EXIST {
		t.Errorf("quote of an unknown message: status %v", st)
	}
}

// TestInboxTypesAreIsolated checks that a user's inbox in one inbox type
// does not see conversations of another.
func TestInboxTypesAreIsolated(t *testing.T) {
	e := newEnv(t)
	alice0, bob1 := e.user(1), e.user(2)
	bob1.Inbox = 1
	conv := createSingle(t, alice0, 2)
	sendText(t, alice0, conv, "inbox 0")
	if got := pull(t, bob1, 0).GetMessages(); len(got) != 0 {
		t.Fatalf("inbox 1 sees %d messages of inbox 0", len(got))
	}
	if got := pull(t, e.user(2), 0).GetMessages(); len(got) != 1 {
		t.Fatalf("inbox 0: %d messages, want 1", len(got))
	}
	alice1 := e.user(1)
	alice1.Inbox = 1
	other := createSingle(t, alice1, 2)
	if other.GetConversationId() != "1:1:1:2" || other.GetConversationShortId() == conv.GetConversationShortId() {
		t.Fatalf("inbox 1 single chat: %v", other.GetConversationId())
	}
}
