package imserver_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// Friend apply statuses and reply attitudes on the wire (the seed's
// FriendApplyStatus and ReplyFriendAttitude).
const (
	applyWaiting = 0
	applyAgree   = 1
	applyRefuse  = 2

	attitudeAcceptApply = 0
	attitudeRejectApply = 1
)

// sendApply sends a friend apply and returns its response body.
func sendApply(t *testing.T, c caller, to int64, ext map[string]string) *improto.SendFriendApplyResponseBody {
	t.Helper()
	return call[*improto.SendFriendApplyResponseBody](t, c, improto.IMCMD_SEND_FRIEND_APPLY,
		&improto.SendFriendApplyRequestBody{UserId: proto.Int64(to), Ext: ext})
}

// replyApply answers the applies of applicants.
func replyApply(t *testing.T, c caller, attitude int32, applicants ...int64) *improto.ReplyFriendApplyResponseBody {
	t.Helper()
	return call[*improto.ReplyFriendApplyResponseBody](t, c, improto.IMCMD_REPLY_FRIEND_APPLY,
		&improto.ReplyFriendApplyRequestBody{UserId: applicants, Attitude: proto.Int32(attitude)})
}

// receivedApplies lists the applies sent to c.
func receivedApplies(t *testing.T, c caller, body *improto.GetFriendReceiveApplyListRequestBody) *improto.GetFriendReceiveApplyListResponseBody {
	t.Helper()
	return call[*improto.GetFriendReceiveApplyListResponseBody](t, c, improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST, body)
}

// sentApplies lists the applies c sent.
func sentApplies(t *testing.T, c caller, body *improto.GetFriendApplyListRequestBody) *improto.GetFriendApplyListResponseBody {
	t.Helper()
	return call[*improto.GetFriendApplyListResponseBody](t, c, improto.IMCMD_GET_FRIEND_APPLY_LIST, body)
}

// friendIDs returns the user ids on c's whole friend list.
func friendIDs(t *testing.T, c caller) []int64 {
	t.Helper()
	list := call[*improto.GetFriendListResponseBody](t, c, improto.IMCMD_GET_FRIEND_LIST,
		&improto.GetFriendListRequestBody{Limit: proto.Int64(200)})
	if list.GetHasMore() {
		t.Fatalf("friend list has more than 200 entries")
	}
	return userIDsOf(list.GetUserList())
}

// friendPush waits for the next 508 push on s.
func friendPush(t *testing.T, s *rawclient.Socket) *improto.NewFriendMessageNotify {
	t.Helper()
	n := waitPush(t, s, improto.IMCMD_NEW_FRIEND_MSG_NOTIFY).GetBody().GetNewFriendMessageNotify()
	if n == nil {
		t.Fatal("508 push without new_friend_message_notify")
	}
	return n
}

// wantFriendEvent checks a friend push's type and parties.
func wantFriendEvent(t *testing.T, who string, n *improto.NewFriendMessageNotify, typ improto.FriendMessageType, from, to int64) {
	t.Helper()
	if n.GetMessageType() != int32(typ) || n.GetFromId() != from || n.GetToId() != to {
		t.Fatalf("%s got type %d %d→%d, want %v %d→%d", who, n.GetMessageType(), n.GetFromId(), n.GetToId(), typ, from, to)
	}
}

// applyOthers returns the user_id of each apply: the other party.
func applyOthers(list []*improto.ApplyUserInfo) string {
	return fmt.Sprint(userIDsOf(list))
}

// befriend has a apply to b and b accept.
func befriend(t *testing.T, a, b caller, aID, bID int64) {
	t.Helper()
	sendApply(t, a, bID, nil)
	if r := replyApply(t, b, attitudeAcceptApply, aID); len(r.GetFailedUserId()) != 0 {
		t.Fatalf("accepting %d: failed %v", aID, r.GetFailedUserId())
	}
}

func TestSendFriendApplyPushes(t *testing.T) {
	e := newEnv(t)
	bobSock := e.socket(2, "bob-web")
	aliceWeb, alicePhone := e.socket(1, "alice-web"), e.socket(1, "alice-phone")

	resp := sendApply(t, aliceWeb, 2, map[string]string{"hello": "bob"})
	a := resp.GetApply()
	if resp.GetStatus() != int32(improto.FriendErrorCode_FRIEND_SUCCESS) || a.GetApplyId() <= 0 || a.GetIndex() != 1 ||
		a.GetUserId() != 2 || a.GetFromUserId() != 1 || a.GetToUserId() != 2 || a.GetStatus() != applyWaiting ||
		a.GetExt()["hello"] != "bob" || a.ApplyTimeSecond == nil {
		t.Fatalf("send apply: status %d apply %v", resp.GetStatus(), a)
	}

	n := friendPush(t, bobSock)
	wantFriendEvent(t, "bob", n, improto.FriendMessageType_SendApply, 1, 2)
	if got := n.GetApply(); got.GetApplyId() != a.GetApplyId() || got.GetIndex() != 1 || got.GetUserId() != 1 || got.GetExt()["hello"] != "bob" {
		t.Fatalf("bob's push carries %v", got)
	}
	n = friendPush(t, alicePhone)
	wantFriendEvent(t, "alice's phone", n, improto.FriendMessageType_SendApply, 1, 2)
	if got := n.GetApply(); got.GetApplyId() != a.GetApplyId() || got.GetUserId() != 2 {
		t.Fatalf("alice's phone push carries %v", got)
	}

	// The socket the apply came on gets the push too, as a sender's socket
	// gets its own message, and before carol's later apply.
	n = friendPush(t, aliceWeb)
	wantFriendEvent(t, "alice-web", n, improto.FriendMessageType_SendApply, 1, 2)
	if got := n.GetApply(); got.GetApplyId() != a.GetApplyId() || got.GetUserId() != 2 {
		t.Fatalf("alice-web's push carries %v", got)
	}
	sendApply(t, e.user(3), 1, nil)
	wantFriendEvent(t, "alice-web", friendPush(t, aliceWeb), improto.FriendMessageType_SendApply, 3, 1)

	// Indexes count per receiver.
	if got := sendApply(t, e.user(3), 2, nil).GetApply().GetIndex(); got != 2 {
		t.Fatalf("bob's second apply has index %d, want 2", got)
	}
}

func TestFriendApplyLists(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	for u := int64(2); u <= 5; u++ {
		sendApply(t, e.user(u), 1, nil)
	}
	sendApply(t, alice, 6, nil)
	sendApply(t, alice, 7, nil)
	replyApply(t, alice, attitudeRejectApply, 3)
	replyApply(t, alice, attitudeAcceptApply, 4)

	t.Run("received pages by index", func(t *testing.T) {
		first := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Limit: proto.Int64(2), GetTotalCount: proto.Bool(true)})
		if got := applyOthers(first.GetUserList()); got != "[2 3]" || !first.GetHasMore() || first.GetNextCursor() != 2 || first.GetTotalCount() != 4 {
			t.Fatalf("first page %s more=%v next=%d total=%d", got, first.GetHasMore(), first.GetNextCursor(), first.GetTotalCount())
		}
		for i, a := range first.GetUserList() {
			if a.GetIndex() != int64(i+1) || a.GetToUserId() != 1 {
				t.Errorf("apply %d: %v", i, a)
			}
		}
		second := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Cursor: proto.Int64(first.GetNextCursor()), Limit: proto.Int64(2)})
		if got := applyOthers(second.GetUserList()); got != "[4 5]" || second.GetHasMore() || second.GetNextCursor() != 4 || second.TotalCount != nil {
			t.Fatalf("second page %s more=%v next=%d total=%v", got, second.GetHasMore(), second.GetNextCursor(), second.TotalCount)
		}
	})

	t.Run("received by status", func(t *testing.T) {
		for _, tc := range []struct {
			status int32
			want   string
		}{
			{applyWaiting, "[2 5]"},
			{applyAgree, "[4]"},
			{applyRefuse, "[3]"},
		} {
			got := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(tc.status), GetTotalCount: proto.Bool(true)})
			if ids := applyOthers(got.GetUserList()); ids != tc.want || got.GetTotalCount() != int64(len(got.GetUserList())) {
				t.Errorf("status %d: %s total %d, want %s", tc.status, ids, got.GetTotalCount(), tc.want)
			}
			for _, a := range got.GetUserList() {
				if a.GetStatus() != tc.status {
					t.Errorf("status %d filter returned %v", tc.status, a)
				}
			}
		}
		// A filtered page stops at the limit and continues after it.
		page := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting), Limit: proto.Int64(1)})
		if ids := applyOthers(page.GetUserList()); ids != "[2]" || !page.GetHasMore() {
			t.Fatalf("waiting, limit 1: %s more=%v", ids, page.GetHasMore())
		}
		rest := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting), Cursor: proto.Int64(page.GetNextCursor())})
		if ids := applyOthers(rest.GetUserList()); ids != "[5]" || rest.GetHasMore() || rest.GetNextCursor() != 4 {
			t.Fatalf("waiting after %d: %s more=%v next=%d", page.GetNextCursor(), ids, rest.GetHasMore(), rest.GetNextCursor())
		}
	})

	t.Run("sent pages by apply id", func(t *testing.T) {
		first := sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Limit: proto.Int64(1), GetTotalCount: proto.Bool(true)})
		if got := applyOthers(first.GetUserList()); got != "[6]" || !first.GetHasMore() || first.GetTotalCount() != 2 {
			t.Fatalf("first page %s more=%v total=%d", got, first.GetHasMore(), first.GetTotalCount())
		}
		a := first.GetUserList()[0]
		if first.GetNextCursor() != a.GetApplyId() || a.GetFromUserId() != 1 || a.GetIndex() != 1 {
			t.Fatalf("next cursor %d for %v", first.GetNextCursor(), a)
		}
		second := sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Cursor: proto.Int64(first.GetNextCursor()), Limit: proto.Int64(1)})
		if got := applyOthers(second.GetUserList()); got != "[7]" || second.GetHasMore() {
			t.Fatalf("second page %s more=%v", got, second.GetHasMore())
		}
		// The applicant sees the answer in their sent list.
		for u, want := range map[int64]int32{3: applyRefuse, 4: applyAgree, 5: applyWaiting} {
			list := sentApplies(t, e.user(u), &improto.GetFriendApplyListRequestBody{}).GetUserList()
			if len(list) != 1 || list[0].GetUserId() != 1 || list[0].GetStatus() != want {
				t.Errorf("user %d's sent list: %v, want status %d", u, list, want)
			}
		}
		if got := sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Status: proto.Int32(applyAgree)}); len(got.GetUserList()) != 0 {
			t.Fatalf("alice's agreed sent applies: %v", got.GetUserList())
		}
	})
}

func TestAcceptFriendApply(t *testing.T) {
	e := newEnv(t)
	aliceSock := e.socket(1, "alice-web")
	bobWeb, bobPhone := e.socket(2, "bob-web"), e.socket(2, "bob-phone")
	apply := sendApply(t, e.user(1), 2, map[string]string{"note": "hi"}).GetApply()
	for _, s := range []*rawclient.Socket{aliceSock, bobWeb, bobPhone} {
		wantFriendEvent(t, "apply", friendPush(t, s), improto.FriendMessageType_SendApply, 1, 2)
	}

	r := replyApply(t, bobWeb, attitudeAcceptApply, 1)
	if len(r.GetFailedUserId()) != 0 || len(r.GetApplies()) != 1 {
		t.Fatalf("reply: %v", r)
	}
	if a := r.GetApplies()[0]; a.GetApplyId() != apply.GetApplyId() || a.GetStatus() != applyAgree || a.GetUserId() != 1 {
		t.Fatalf("answered apply %v", a)
	}

	n := friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_ReplyApply, 1, 2)
	if a := n.GetApply(); a.GetApplyId() != apply.GetApplyId() || a.GetStatus() != applyAgree || a.GetUserId() != 2 {
		t.Fatalf("alice's reply push carries %v", a)
	}
	n = friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_AddFriend, 1, 2)
	if f := n.GetFriend(); f.GetUserId() != 2 || f.GetCreateTime() <= 0 {
		t.Fatalf("alice's add push carries %v", f)
	}
	// Both of bob's sockets hear of the new friend, the one that accepted
	// included: its next push is AddFriend (ReplyApply is alice's alone).
	for _, s := range []struct {
		name string
		sock *rawclient.Socket
	}{{"bob's phone", bobPhone}, {"bob-web", bobWeb}} {
		n = friendPush(t, s.sock)
		wantFriendEvent(t, s.name, n, improto.FriendMessageType_AddFriend, 1, 2)
		if f := n.GetFriend(); f.GetUserId() != 1 {
			t.Fatalf("%s's add push carries %v", s.name, f)
		}
	}

	for _, tc := range []struct {
		c    caller
		want string
	}{{e.user(1), "[2]"}, {e.user(2), "[1]"}} {
		list := call[*improto.GetFriendListResponseBody](t, tc.c, improto.IMCMD_GET_FRIEND_LIST, &improto.GetFriendListRequestBody{})
		if len(list.GetUserList()) != 1 {
			t.Fatalf("friend list %v, want %s", list.GetUserList(), tc.want)
		}
		f := list.GetUserList()[0]
		if fmt.Sprint([]int64{f.GetUserId()}) != tc.want || f.GetExt()["note"] != "hi" ||
			f.GetApplyTimeSecond() != apply.GetApplyTimeSecond() || f.GetCreateTime() <= 0 {
			t.Fatalf("friend record %v, want friend %s", f, tc.want)
		}
	}

	// Applying to a friend makes no apply.
	again := sendApply(t, e.user(1), 2, nil)
	if again.GetStatus() != int32(improto.FriendErrorCode_FRIEND_ALREADY_FRIEND) || again.GetApply() != nil {
		t.Fatalf("apply to a friend: status %d apply %v", again.GetStatus(), again.GetApply())
	}
	if n := len(sentApplies(t, e.user(1), &improto.GetFriendApplyListRequestBody{}).GetUserList()); n != 1 {
		t.Fatalf("alice has %d sent applies, want 1", n)
	}
	// The apply is answered: answering it again fails.
	if r := replyApply(t, e.user(2), attitudeRejectApply, 1); fmt.Sprint(r.GetFailedUserId()) != "[1]" || len(r.GetApplies()) != 0 {
		t.Fatalf("second answer: %v", r)
	}
}

func TestRejectFriendApply(t *testing.T) {
	e := newEnv(t)
	aliceSock := e.socket(1, "alice-web")
	first := sendApply(t, e.user(1), 2, nil).GetApply()
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_SendApply, 1, 2)
	sendApply(t, e.user(3), 2, nil)

	r := replyApply(t, e.user(2), attitudeRejectApply, 1, 4)
	if fmt.Sprint(r.GetFailedUserId()) != "[4]" || len(r.GetApplies()) != 1 || r.GetApplies()[0].GetStatus() != applyRefuse {
		t.Fatalf("reject: %v", r)
	}
	n := friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_ReplyApply, 1, 2)
	if n.GetApply().GetStatus() != applyRefuse || n.GetApply().GetApplyId() != first.GetApplyId() {
		t.Fatalf("alice's reply push carries %v", n.GetApply())
	}
	if got := friendIDs(t, e.user(1)); len(got) != 0 {
		t.Fatalf("alice's friends after a reject: %v", got)
	}
	if got := friendIDs(t, e.user(2)); len(got) != 0 {
		t.Fatalf("bob's friends after a reject: %v", got)
	}

	// After a refusal the applicant may apply again; the new apply comes
	// next in bob's list.
	again := sendApply(t, e.user(1), 2, nil)
	if again.GetStatus() != int32(improto.FriendErrorCode_FRIEND_SUCCESS) || again.GetApply().GetApplyId() == first.GetApplyId() || again.GetApply().GetIndex() != 3 {
		t.Fatalf("apply after refusal: status %d apply %v", again.GetStatus(), again.GetApply())
	}
	// Carol's apply is untouched.
	waiting := receivedApplies(t, e.user(2), &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting)})
	if got := applyOthers(waiting.GetUserList()); got != "[3 1]" {
		t.Fatalf("bob's waiting applies from %s, want [3 1]", got)
	}
}

func TestDuplicateFriendApply(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	first := sendApply(t, alice, 2, map[string]string{"v": "1"})
	second := sendApply(t, alice, 2, map[string]string{"v": "2"})
	if second.GetStatus() != int32(improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY) ||
		second.GetApply().GetApplyId() != first.GetApply().GetApplyId() || second.GetApply().GetExt()["v"] != "1" {
		t.Fatalf("duplicate apply: status %d apply %v", second.GetStatus(), second.GetApply())
	}
	got := receivedApplies(t, e.user(2), &improto.GetFriendReceiveApplyListRequestBody{GetTotalCount: proto.Bool(true)})
	if got.GetTotalCount() != 1 || len(got.GetUserList()) != 1 {
		t.Fatalf("bob received %v", got.GetUserList())
	}
}

// TestCrossApplyAccepts: applying to someone whose apply to you is
// waiting accepts theirs.
func TestCrossApplyAccepts(t *testing.T) {
	e := newEnv(t)
	aliceSock := e.socket(1, "alice-web")
	apply := sendApply(t, e.user(1), 2, nil).GetApply()
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_SendApply, 1, 2)

	back := sendApply(t, e.user(2), 1, nil)
	if back.GetStatus() != int32(improto.FriendErrorCode_FRIEND_SUCCESS) || back.GetApply().GetApplyId() != apply.GetApplyId() ||
		back.GetApply().GetStatus() != applyAgree || back.GetApply().GetFromUserId() != 1 || back.GetApply().GetUserId() != 1 {
		t.Fatalf("apply back: status %d apply %v", back.GetStatus(), back.GetApply())
	}
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_ReplyApply, 1, 2)
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_AddFriend, 1, 2)
	if got := fmt.Sprint(friendIDs(t, e.user(1)), friendIDs(t, e.user(2))); got != "[2] [1]" {
		t.Fatalf("friends of alice and bob: %s", got)
	}
	if got := sentApplies(t, e.user(2), &improto.GetFriendApplyListRequestBody{}); len(got.GetUserList()) != 0 {
		t.Fatalf("applying back stored an apply: %v", got.GetUserList())
	}
	if got := receivedApplies(t, e.user(1), &improto.GetFriendReceiveApplyListRequestBody{}); len(got.GetUserList()) != 0 {
		t.Fatalf("alice received %v", got.GetUserList())
	}
}

func TestDeleteFriend(t *testing.T) {
	e := newEnv(t)
	aliceWeb, alicePhone := e.socket(1, "alice-web"), e.socket(1, "alice-phone")
	bobSock := e.socket(2, "bob-web")
	befriend(t, e.user(1), e.user(2), 1, 2)
	befriend(t, e.user(1), e.user(3), 1, 3)
	for _, s := range []*rawclient.Socket{aliceWeb, alicePhone} {
		for range 6 { // per friend: SendApply, ReplyApply, AddFriend
			friendPush(t, s)
		}
	}
	friendPush(t, bobSock) // the apply
	friendPush(t, bobSock) // AddFriend

	del := call[*improto.DeleteFriendResponseBody](t, aliceWeb, improto.IMCMD_DELETE_FRIEND,
		&improto.DeleteFriendRequestBody{UserId: []int64{2, 9, 2}})
	if got := fmt.Sprint(del.GetFailedUserId()); got != "[9]" {
		t.Fatalf("failed %s, want [9]", got)
	}
	n := friendPush(t, bobSock)
	wantFriendEvent(t, "bob", n, improto.FriendMessageType_DeleteFriend, 1, 2)
	if n.GetFriend().GetUserId() != 1 {
		t.Fatalf("bob's delete push carries %v", n.GetFriend())
	}
	// Both of alice's sockets hear of it, the one that deleted included.
	for _, s := range []struct {
		name string
		sock *rawclient.Socket
	}{{"alice's phone", alicePhone}, {"alice-web", aliceWeb}} {
		n = friendPush(t, s.sock)
		wantFriendEvent(t, s.name, n, improto.FriendMessageType_DeleteFriend, 1, 2)
		if n.GetFriend().GetUserId() != 2 {
			t.Fatalf("%s's delete push carries %v", s.name, n.GetFriend())
		}
	}
	if got := fmt.Sprint(friendIDs(t, e.user(1)), friendIDs(t, e.user(2))); got != "[3] []" {
		t.Fatalf("friends of alice and bob after delete: %s", got)
	}

	// Bob deleting alice now fails, and pushes nothing: the next push of
	// the socket alice deleted on is bob's new apply.
	del = call[*improto.DeleteFriendResponseBody](t, e.user(2), improto.IMCMD_DELETE_FRIEND, &improto.DeleteFriendRequestBody{UserId: []int64{1}})
	if got := fmt.Sprint(del.GetFailedUserId()); got != "[1]" {
		t.Fatalf("deleting a former friend: failed %s", got)
	}
	if got := sendApply(t, e.user(2), 1, nil); got.GetStatus() != int32(improto.FriendErrorCode_FRIEND_SUCCESS) || got.GetApply().GetStatus() != applyWaiting {
		t.Fatalf("apply after delete: %v", got)
	}
	wantFriendEvent(t, "alice-web", friendPush(t, aliceWeb), improto.FriendMessageType_SendApply, 2, 1)
}

// TestApplyWhileOffline: a user who was offline when an apply arrived
// finds it in their received list.
func TestApplyWhileOffline(t *testing.T) {
	e := newEnv(t)
	sentApply := sendApply(t, e.user(1), 2, map[string]string{"k": "v"}).GetApply()
	bob := e.socket(2, "bob-web")
	got := receivedApplies(t, bob, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting)})
	if len(got.GetUserList()) != 1 {
		t.Fatalf("bob received %v", got.GetUserList())
	}
	if a := got.GetUserList()[0]; a.GetApplyId() != sentApply.GetApplyId() || a.GetUserId() != 1 || a.GetFromUserId() != 1 || a.GetExt()["k"] != "v" {
		t.Fatalf("bob's apply %v", a)
	}
	replyApply(t, bob, attitudeAcceptApply, 1)
	if got := friendIDs(t, e.user(1)); fmt.Sprint(got) != "[2]" {
		t.Fatalf("alice's friends %v", got)
	}
}

func TestFriendListPaging(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	for _, u := range []int64{7, 3, 5, 9, 4} {
		befriend(t, alice, e.user(u), 1, u)
	}
	var ids []int64
	cursor, pages := int64(0), 0
	for {
		page := call[*improto.GetFriendListResponseBody](t, alice, improto.IMCMD_GET_FRIEND_LIST,
			&improto.GetFriendListRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int64(2), GetTotalCount: proto.Bool(true)})
		if page.GetTotalCount() != 5 {
			t.Fatalf("total %d, want 5", page.GetTotalCount())
		}
		pages++
		for _, f := range page.GetUserList() {
			ids = append(ids, f.GetUserId())
		}
		cursor = page.GetNextCursor()
		if !page.GetHasMore() {
			break
		}
	}
	if got := fmt.Sprint(ids); got != "[3 4 5 7 9]" || pages != 3 {
		t.Fatalf("paged friends %s in %d pages", got, pages)
	}
}

func TestFriendBadInputs(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	sendApply(t, e.user(2), 1, nil)
	for _, tc := range []struct {
		name string
		cmd  improto.IMCMD
		body proto.Message
	}{
		{"apply to self", improto.IMCMD_SEND_FRIEND_APPLY, &improto.SendFriendApplyRequestBody{UserId: proto.Int64(1)}},
		{"apply to 0", improto.IMCMD_SEND_FRIEND_APPLY, &improto.SendFriendApplyRequestBody{UserId: proto.Int64(0)}},
		{"apply to negative", improto.IMCMD_SEND_FRIEND_APPLY, &improto.SendFriendApplyRequestBody{UserId: proto.Int64(-5)}},
		{"apply to nobody", improto.IMCMD_SEND_FRIEND_APPLY, &improto.SendFriendApplyRequestBody{}},
		{"reply attitude 2", improto.IMCMD_REPLY_FRIEND_APPLY, &improto.ReplyFriendApplyRequestBody{UserId: []int64{2}, Attitude: proto.Int32(2)}},
		{"reply attitude -1", improto.IMCMD_REPLY_FRIEND_APPLY, &improto.ReplyFriendApplyRequestBody{UserId: []int64{2}, Attitude: proto.Int32(-1)}},
		{"reply to nobody", improto.IMCMD_REPLY_FRIEND_APPLY, &improto.ReplyFriendApplyRequestBody{Attitude: proto.Int32(0)}},
		{"reply to 0", improto.IMCMD_REPLY_FRIEND_APPLY, &improto.ReplyFriendApplyRequestBody{UserId: []int64{2, 0}, Attitude: proto.Int32(0)}},
		{"delete nobody", improto.IMCMD_DELETE_FRIEND, &improto.DeleteFriendRequestBody{}},
		{"delete negative", improto.IMCMD_DELETE_FRIEND, &improto.DeleteFriendRequestBody{UserId: []int64{-1}}},
		{"received negative cursor", improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST, &improto.GetFriendReceiveApplyListRequestBody{Cursor: proto.Int64(-1)}},
		{"received status 3", improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(3)}},
		{"sent status -1", improto.IMCMD_GET_FRIEND_APPLY_LIST, &improto.GetFriendApplyListRequestBody{Status: proto.Int32(-1)}},
		{"friends negative cursor", improto.IMCMD_GET_FRIEND_LIST, &improto.GetFriendListRequestBody{Cursor: proto.Int64(-3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, alice, tc.cmd, tc.body, improto.StatusCode_INVALID_REQUEST)
		})
	}
	// The refused requests changed nothing: bob's apply still waits.
	got := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting)})
	if ids := applyOthers(got.GetUserList()); ids != "[2]" {
		t.Fatalf("alice's waiting applies from %s, want [2]", ids)
	}
	if got := friendIDs(t, alice); len(got) != 0 {
		t.Fatalf("alice's friends %v", got)
	}
}
