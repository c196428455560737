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
