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
	require.False(t, list.GetHasMore(), "friend list has more than 200 entries")
	return userIDsOf(list.GetUserList())
}

// friendPush waits for the next 508 push on s.
func friendPush(t *testing.T, s *rawclient.Socket) *improto.NewFriendMessageNotify {
	t.Helper()
	n := waitPush(t, s, improto.IMCMD_NEW_FRIEND_MSG_NOTIFY).GetBody().GetNewFriendMessageNotify()
	require.NotNil(t, n, "508 push without new_friend_message_notify")
	return n
}

// wantFriendEvent checks a friend push's type and parties.
func wantFriendEvent(t *testing.T, who string, n *improto.NewFriendMessageNotify, typ improto.FriendMessageType, from, to int64) {
	t.Helper()
	require.Equal(t, int32(typ), n.GetMessageType(), "%s got type, want %v", who, typ)
	require.Equal(t, from, n.GetFromId(), "%s got from", who)
	require.Equal(t, to, n.GetToId(), "%s got to", who)
}

// applyOthers returns the user_id of each apply: the other party.
func applyOthers(list []*improto.ApplyUserInfo) string {
	return fmt.Sprint(userIDsOf(list))
}

// befriend has a apply to b and b accept.
func befriend(t *testing.T, a, b caller, aID, bID int64) {
	t.Helper()
	sendApply(t, a, bID, nil)
	require.Empty(t, replyApply(t, b, attitudeAcceptApply, aID).GetFailedUserId(), "accepting %d: failed", aID)
}

func TestSendFriendApplyPushes(t *testing.T) {
	e := newEnv(t)
	bobSock := e.socket(2, "bob-web")
	aliceWeb, alicePhone := e.socket(1, "alice-web"), e.socket(1, "alice-phone")

	resp := sendApply(t, aliceWeb, 2, map[string]string{"hello": "bob"})
	a := resp.GetApply()
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_SUCCESS), resp.GetStatus(), "send apply: status")
	require.Positive(t, a.GetApplyId(), "send apply: apply %v", a)
	require.Equal(t, int64(1), a.GetIndex(), "send apply: apply %v", a)
	require.Equal(t, int64(2), a.GetUserId(), "send apply: apply %v", a)
	require.Equal(t, int64(1), a.GetFromUserId(), "send apply: apply %v", a)
	require.Equal(t, int64(2), a.GetToUserId(), "send apply: apply %v", a)
	require.Equal(t, int32(applyWaiting), a.GetStatus(), "send apply: apply %v", a)
	require.Equal(t, "bob", a.GetExt()["hello"], "send apply: apply %v", a)
	require.NotNil(t, a.ApplyTimeSecond, "send apply: apply %v", a)

	n := friendPush(t, bobSock)
	wantFriendEvent(t, "bob", n, improto.FriendMessageType_SendApply, 1, 2)
	got := n.GetApply()
	require.Equal(t, a.GetApplyId(), got.GetApplyId(), "bob's push carries %v", got)
	require.Equal(t, int64(1), got.GetIndex(), "bob's push carries %v", got)
	require.Equal(t, int64(1), got.GetUserId(), "bob's push carries %v", got)
	require.Equal(t, "bob", got.GetExt()["hello"], "bob's push carries %v", got)
	n = friendPush(t, alicePhone)
	wantFriendEvent(t, "alice's phone", n, improto.FriendMessageType_SendApply, 1, 2)
	got = n.GetApply()
	require.Equal(t, a.GetApplyId(), got.GetApplyId(), "alice's phone push carries %v", got)
	require.Equal(t, int64(2), got.GetUserId(), "alice's phone push carries %v", got)

	// The socket the apply came on gets the push too, as a sender's socket
	// gets its own message, and before carol's later apply.
	n = friendPush(t, aliceWeb)
	wantFriendEvent(t, "alice-web", n, improto.FriendMessageType_SendApply, 1, 2)
	got = n.GetApply()
	require.Equal(t, a.GetApplyId(), got.GetApplyId(), "alice-web's push carries %v", got)
	require.Equal(t, int64(2), got.GetUserId(), "alice-web's push carries %v", got)
	sendApply(t, e.user(3), 1, nil)
	wantFriendEvent(t, "alice-web", friendPush(t, aliceWeb), improto.FriendMessageType_SendApply, 3, 1)

	// Indexes count per receiver.
	require.Equal(t, int64(2), sendApply(t, e.user(3), 2, nil).GetApply().GetIndex(), "bob's second apply's index")
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
		require.Equal(t, "[2 3]", applyOthers(first.GetUserList()), "first page")
		require.True(t, first.GetHasMore(), "first page: more")
		require.Equal(t, int64(2), first.GetNextCursor(), "first page: next")
		require.Equal(t, int64(4), first.GetTotalCount(), "first page: total")
		for i, a := range first.GetUserList() {
			assert.Equal(t, int64(i+1), a.GetIndex(), "apply %d: %v", i, a)
			assert.Equal(t, int64(1), a.GetToUserId(), "apply %d: %v", i, a)
		}
		second := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Cursor: proto.Int64(first.GetNextCursor()), Limit: proto.Int64(2)})
		require.Equal(t, "[4 5]", applyOthers(second.GetUserList()), "second page")
		require.False(t, second.GetHasMore(), "second page: more")
		require.Equal(t, int64(4), second.GetNextCursor(), "second page: next")
		require.Nil(t, second.TotalCount, "second page: total")
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
			assert.Equal(t, tc.want, applyOthers(got.GetUserList()), "status %d", tc.status)
			assert.Equal(t, int64(len(got.GetUserList())), got.GetTotalCount(), "status %d: total", tc.status)
			for _, a := range got.GetUserList() {
				assert.Equal(t, tc.status, a.GetStatus(), "status %d filter returned %v", tc.status, a)
			}
		}
		// A filtered page stops at the limit and continues after it.
		page := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting), Limit: proto.Int64(1)})
		require.Equal(t, "[2]", applyOthers(page.GetUserList()), "waiting, limit 1")
		require.True(t, page.GetHasMore(), "waiting, limit 1: more")
		rest := receivedApplies(t, alice, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting), Cursor: proto.Int64(page.GetNextCursor())})
		require.Equal(t, "[5]", applyOthers(rest.GetUserList()), "waiting after %d", page.GetNextCursor())
		require.False(t, rest.GetHasMore(), "waiting after %d: more", page.GetNextCursor())
		require.Equal(t, int64(4), rest.GetNextCursor(), "waiting after %d: next", page.GetNextCursor())
	})

	t.Run("sent pages by apply id", func(t *testing.T) {
		first := sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Limit: proto.Int64(1), GetTotalCount: proto.Bool(true)})
		require.Equal(t, "[6]", applyOthers(first.GetUserList()), "first page")
		require.True(t, first.GetHasMore(), "first page: more")
		require.Equal(t, int64(2), first.GetTotalCount(), "first page: total")
		a := first.GetUserList()[0]
		require.Equal(t, a.GetApplyId(), first.GetNextCursor(), "next cursor for %v", a)
		require.Equal(t, int64(1), a.GetFromUserId(), "apply %v", a)
		require.Equal(t, int64(1), a.GetIndex(), "apply %v", a)
		second := sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Cursor: proto.Int64(first.GetNextCursor()), Limit: proto.Int64(1)})
		require.Equal(t, "[7]", applyOthers(second.GetUserList()), "second page")
		require.False(t, second.GetHasMore(), "second page: more")
		// The applicant sees the answer in their sent list.
		for u, want := range map[int64]int32{3: applyRefuse, 4: applyAgree, 5: applyWaiting} {
			list := sentApplies(t, e.user(u), &improto.GetFriendApplyListRequestBody{}).GetUserList()
			if assert.Len(t, list, 1, "user %d's sent list", u) {
				assert.Equal(t, int64(1), list[0].GetUserId(), "user %d's sent list: %v", u, list)
				assert.Equal(t, want, list[0].GetStatus(), "user %d's sent list: %v", u, list)
			}
		}
		require.Empty(t, sentApplies(t, alice, &improto.GetFriendApplyListRequestBody{Status: proto.Int32(applyAgree)}).GetUserList(), "alice's agreed sent applies")
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
	require.Empty(t, r.GetFailedUserId(), "reply: %v", r)
	require.Len(t, r.GetApplies(), 1, "reply: %v", r)
	a := r.GetApplies()[0]
	require.Equal(t, apply.GetApplyId(), a.GetApplyId(), "answered apply %v", a)
	require.Equal(t, int32(applyAgree), a.GetStatus(), "answered apply %v", a)
	require.Equal(t, int64(1), a.GetUserId(), "answered apply %v", a)

	n := friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_ReplyApply, 1, 2)
	a = n.GetApply()
	require.Equal(t, apply.GetApplyId(), a.GetApplyId(), "alice's reply push carries %v", a)
	require.Equal(t, int32(applyAgree), a.GetStatus(), "alice's reply push carries %v", a)
	require.Equal(t, int64(2), a.GetUserId(), "alice's reply push carries %v", a)
	n = friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_AddFriend, 1, 2)
	f := n.GetFriend()
	require.Equal(t, int64(2), f.GetUserId(), "alice's add push carries %v", f)
	require.Positive(t, f.GetCreateTime(), "alice's add push carries %v", f)
	// Both of bob's sockets hear of the new friend, the one that accepted
	// included: its next push is AddFriend (ReplyApply is alice's alone).
	for _, s := range []struct {
		name string
		sock *rawclient.Socket
	}{{"bob's phone", bobPhone}, {"bob-web", bobWeb}} {
		n = friendPush(t, s.sock)
		wantFriendEvent(t, s.name, n, improto.FriendMessageType_AddFriend, 1, 2)
		require.Equal(t, int64(1), n.GetFriend().GetUserId(), "%s's add push carries %v", s.name, n.GetFriend())
	}

	for _, tc := range []struct {
		c    caller
		want string
	}{{e.user(1), "[2]"}, {e.user(2), "[1]"}} {
		list := call[*improto.GetFriendListResponseBody](t, tc.c, improto.IMCMD_GET_FRIEND_LIST, &improto.GetFriendListRequestBody{})
		require.Len(t, list.GetUserList(), 1, "friend list, want %s", tc.want)
		f := list.GetUserList()[0]
		require.Equal(t, tc.want, fmt.Sprint([]int64{f.GetUserId()}), "friend record %v", f)
		require.Equal(t, "hi", f.GetExt()["note"], "friend record %v", f)
		require.Equal(t, apply.GetApplyTimeSecond(), f.GetApplyTimeSecond(), "friend record %v", f)
		require.Positive(t, f.GetCreateTime(), "friend record %v", f)
	}

	// Applying to a friend makes no apply.
	again := sendApply(t, e.user(1), 2, nil)
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_ALREADY_FRIEND), again.GetStatus(), "apply to a friend: status")
	require.Nil(t, again.GetApply(), "apply to a friend: apply")
	require.Len(t, sentApplies(t, e.user(1), &improto.GetFriendApplyListRequestBody{}).GetUserList(), 1, "alice's sent applies")
	// The apply is answered: answering it again fails.
	r = replyApply(t, e.user(2), attitudeRejectApply, 1)
	require.Equal(t, "[1]", fmt.Sprint(r.GetFailedUserId()), "second answer: %v", r)
	require.Empty(t, r.GetApplies(), "second answer: %v", r)
}

func TestRejectFriendApply(t *testing.T) {
	e := newEnv(t)
	aliceSock := e.socket(1, "alice-web")
	first := sendApply(t, e.user(1), 2, nil).GetApply()
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_SendApply, 1, 2)
	sendApply(t, e.user(3), 2, nil)

	r := replyApply(t, e.user(2), attitudeRejectApply, 1, 4)
	require.Equal(t, "[4]", fmt.Sprint(r.GetFailedUserId()), "reject: %v", r)
	require.Len(t, r.GetApplies(), 1, "reject: %v", r)
	require.Equal(t, int32(applyRefuse), r.GetApplies()[0].GetStatus(), "reject: %v", r)
	n := friendPush(t, aliceSock)
	wantFriendEvent(t, "alice", n, improto.FriendMessageType_ReplyApply, 1, 2)
	require.Equal(t, int32(applyRefuse), n.GetApply().GetStatus(), "alice's reply push carries %v", n.GetApply())
	require.Equal(t, first.GetApplyId(), n.GetApply().GetApplyId(), "alice's reply push carries %v", n.GetApply())
	require.Empty(t, friendIDs(t, e.user(1)), "alice's friends after a reject")
	require.Empty(t, friendIDs(t, e.user(2)), "bob's friends after a reject")

	// After a refusal the applicant may apply again; the new apply comes
	// next in bob's list.
	again := sendApply(t, e.user(1), 2, nil)
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_SUCCESS), again.GetStatus(), "apply after refusal: status")
	require.NotEqual(t, first.GetApplyId(), again.GetApply().GetApplyId(), "apply after refusal: apply %v", again.GetApply())
	require.Equal(t, int64(3), again.GetApply().GetIndex(), "apply after refusal: apply %v", again.GetApply())
	// Carol's apply is untouched.
	waiting := receivedApplies(t, e.user(2), &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting)})
	require.Equal(t, "[3 1]", applyOthers(waiting.GetUserList()), "bob's waiting applies from")
}

func TestDuplicateFriendApply(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	first := sendApply(t, alice, 2, map[string]string{"v": "1"})
	second := sendApply(t, alice, 2, map[string]string{"v": "2"})
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY), second.GetStatus(), "duplicate apply: status")
	require.Equal(t, first.GetApply().GetApplyId(), second.GetApply().GetApplyId(), "duplicate apply: apply %v", second.GetApply())
	require.Equal(t, "1", second.GetApply().GetExt()["v"], "duplicate apply: apply %v", second.GetApply())
	got := receivedApplies(t, e.user(2), &improto.GetFriendReceiveApplyListRequestBody{GetTotalCount: proto.Bool(true)})
	require.Equal(t, int64(1), got.GetTotalCount(), "bob received %v", got.GetUserList())
	require.Len(t, got.GetUserList(), 1, "bob received")
}

// TestCrossApplyAccepts: applying to someone whose apply to you is
// waiting accepts theirs.
func TestCrossApplyAccepts(t *testing.T) {
	e := newEnv(t)
	aliceSock := e.socket(1, "alice-web")
	apply := sendApply(t, e.user(1), 2, nil).GetApply()
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_SendApply, 1, 2)

	back := sendApply(t, e.user(2), 1, nil)
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_SUCCESS), back.GetStatus(), "apply back: status")
	require.Equal(t, apply.GetApplyId(), back.GetApply().GetApplyId(), "apply back: apply %v", back.GetApply())
	require.Equal(t, int32(applyAgree), back.GetApply().GetStatus(), "apply back: apply %v", back.GetApply())
	require.Equal(t, int64(1), back.GetApply().GetFromUserId(), "apply back: apply %v", back.GetApply())
	require.Equal(t, int64(1), back.GetApply().GetUserId(), "apply back: apply %v", back.GetApply())
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_ReplyApply, 1, 2)
	wantFriendEvent(t, "alice", friendPush(t, aliceSock), improto.FriendMessageType_AddFriend, 1, 2)
	require.Equal(t, "[2] [1]", fmt.Sprint(friendIDs(t, e.user(1)), friendIDs(t, e.user(2))), "friends of alice and bob")
	require.Empty(t, sentApplies(t, e.user(2), &improto.GetFriendApplyListRequestBody{}).GetUserList(), "applying back stored an apply")
	require.Empty(t, receivedApplies(t, e.user(1), &improto.GetFriendReceiveApplyListRequestBody{}).GetUserList(), "alice received")
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
	require.Equal(t, "[9]", fmt.Sprint(del.GetFailedUserId()), "failed")
	n := friendPush(t, bobSock)
	wantFriendEvent(t, "bob", n, improto.FriendMessageType_DeleteFriend, 1, 2)
	require.Equal(t, int64(1), n.GetFriend().GetUserId(), "bob's delete push carries %v", n.GetFriend())
	// Both of alice's sockets hear of it, the one that deleted included.
	for _, s := range []struct {
		name string
		sock *rawclient.Socket
	}{{"alice's phone", alicePhone}, {"alice-web", aliceWeb}} {
		n = friendPush(t, s.sock)
		wantFriendEvent(t, s.name, n, improto.FriendMessageType_DeleteFriend, 1, 2)
		require.Equal(t, int64(2), n.GetFriend().GetUserId(), "%s's delete push carries %v", s.name, n.GetFriend())
	}
	require.Equal(t, "[3] []", fmt.Sprint(friendIDs(t, e.user(1)), friendIDs(t, e.user(2))), "friends of alice and bob after delete")

	// Bob deleting alice now fails, and pushes nothing: the next push of
	// the socket alice deleted on is bob's new apply.
	del = call[*improto.DeleteFriendResponseBody](t, e.user(2), improto.IMCMD_DELETE_FRIEND, &improto.DeleteFriendRequestBody{UserId: []int64{1}})
	require.Equal(t, "[1]", fmt.Sprint(del.GetFailedUserId()), "deleting a former friend: failed")
	got := sendApply(t, e.user(2), 1, nil)
	require.Equal(t, int32(improto.FriendErrorCode_FRIEND_SUCCESS), got.GetStatus(), "apply after delete: %v", got)
	require.Equal(t, int32(applyWaiting), got.GetApply().GetStatus(), "apply after delete: %v", got)
	wantFriendEvent(t, "alice-web", friendPush(t, aliceWeb), improto.FriendMessageType_SendApply, 2, 1)
}

// TestApplyWhileOffline: a user who was offline when an apply arrived
// finds it in their received list.
func TestApplyWhileOffline(t *testing.T) {
	e := newEnv(t)
	sentApply := sendApply(t, e.user(1), 2, map[string]string{"k": "v"}).GetApply()
	bob := e.socket(2, "bob-web")
	got := receivedApplies(t, bob, &improto.GetFriendReceiveApplyListRequestBody{Status: proto.Int32(applyWaiting)})
	require.Len(t, got.GetUserList(), 1, "bob received")
	a := got.GetUserList()[0]
	require.Equal(t, sentApply.GetApplyId(), a.GetApplyId(), "bob's apply %v", a)
	require.Equal(t, int64(1), a.GetUserId(), "bob's apply %v", a)
	require.Equal(t, int64(1), a.GetFromUserId(), "bob's apply %v", a)
	require.Equal(t, "v", a.GetExt()["k"], "bob's apply %v", a)
	replyApply(t, bob, attitudeAcceptApply, 1)
	require.Equal(t, "[2]", fmt.Sprint(friendIDs(t, e.user(1))), "alice's friends")
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
		require.Equal(t, int64(5), page.GetTotalCount(), "total")
		pages++
		for _, f := range page.GetUserList() {
			ids = append(ids, f.GetUserId())
		}
		cursor = page.GetNextCursor()
		if !page.GetHasMore() {
			break
		}
	}
	require.Equal(t, "[3 4 5 7 9]", fmt.Sprint(ids), "paged friends")
	require.Equal(t, 3, pages, "pages of friends")
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
	require.Equal(t, "[2]", applyOthers(got.GetUserList()), "alice's waiting applies from")
	require.Empty(t, friendIDs(t, alice), "alice's friends")
}
