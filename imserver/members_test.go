package imserver_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// storedCore reads conv's ConversationCoreInfo straight from the store
// (bucket "core", key = big-endian short id): 608 and 2004 are served by
// other files, and these tests should not depend on them.
func storedCore(t *testing.T, e *env, shortID int64) *improto.ConversationCoreInfo {
	t.Helper()
	core := &improto.ConversationCoreInfo{}
	err := e.store.View(func(tx store.Tx) error {
		return proto.Unmarshal(tx.Get("core", binary.BigEndian.AppendUint64(nil, uint64(shortID))), core)
	})
	require.NoError(t, err)
	return core
}

func addMembersBody(conv *improto.ConversationInfoV2, users ...int64) *improto.ConversationAddParticipantsRequestBody {
	id, short, typ := convRef(conv)
	return &improto.ConversationAddParticipantsRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, Participants: users}
}

func removeMembersBody(conv *improto.ConversationInfoV2, users ...int64) *improto.ConversationRemoveParticipantsRequestBody {
	id, short, typ := convRef(conv)
	return &improto.ConversationRemoveParticipantsRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, Participants: users}
}

func updateMemberBody(conv *improto.ConversationInfoV2, user int64) *improto.UpdateConversationParticipantRequestBody {
	id, short, typ := convRef(conv)
	return &improto.UpdateConversationParticipantRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, UserId: proto.Int64(user)}
}

// participantsPage fetches one page of 605.
func participantsPage(t *testing.T, c caller, conv *improto.ConversationInfoV2, cursor int64, limit int32) *improto.ParticipantsPage {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.ConversationParticipantsListResponseBody](t, c, improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST,
		&improto.ConversationParticipantsListRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Cursor: proto.Int64(cursor), Limit: proto.Int32(limit)}).GetParticipantsPage()
}

// allParticipants pages through 605 with pages of limit and returns the user ids.
func allParticipants(t *testing.T, c caller, conv *improto.ConversationInfoV2, limit int32) []int64 {
	t.Helper()
	var got []int64
	cursor := int64(0)
	for range 1000 {
		page := participantsPage(t, c, conv, cursor, limit)
		got = append(got, userIDsOf(page.GetParticipants())...)
		if !page.GetHasMore() {
			return got
		}
		cursor = page.GetCursor()
	}
	require.FailNow(t, "605 paging does not end")
	return nil
}

// mgetMembers returns the Participant records 654 gives for users.
func mgetMembers(t *testing.T, c caller, conv *improto.ConversationInfoV2, users ...int64) []*improto.Participant {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.MgetConversationParticipantsResponseBody](t, c, improto.IMCMD_MGET_CONVERSATION_PARTICIPANTS,
		&improto.MgetConversationParticipantsRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Participants: users}).GetParticipants()
}

// oneParticipant returns user's record through 654, failing if absent.
func oneParticipant(t *testing.T, c caller, conv *improto.ConversationInfoV2, user int64) *improto.Participant {
	t.Helper()
	ps := mgetMembers(t, c, conv, user)
	require.Len(t, ps, 1, "user %d is not a member of %s", user, conv.GetConversationId())
	return ps[0]
}

// waitConvUpdated waits for a 502 about conv on s and returns its payload.
func waitConvUpdated(t *testing.T, s *rawclient.Socket, conv *improto.ConversationInfoV2) *improto.ConversationInfo {
	t.Helper()
	for {
		p := waitPush(t, s, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY)
		info := p.GetBody().GetConversationInfoUpdatedNotify().GetConversation()
		if info.GetConversationShortId() == conv.GetConversationShortId() {
			return info
		}
	}
}

func TestMembershipChangesRefuseSingleChats(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createSingle(t, alice, 2)
	update := updateMemberBody(conv, 1)
	update.IsAliasSet, update.Alias = proto.Bool(true), proto.String("a")
	for _, tc := range []struct {
		cmd  improto.IMCMD
		body proto.Message
	}{
		{improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv)},
		{improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv)},
		{improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 3)},
		{improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, removeMembersBody(conv, 2)},
		{improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, update},
		{improto.IMCMD_BLOCK_MEMBERS, blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{2: 0})},
		{improto.IMCMD_BLOCK_CONVERSATION, blockConvBody(conv, improto.BlockStatus_BLOCK, false)},
	} {
		t.Run(tc.cmd.String(), func(t *testing.T) {
			wantStatus(t, alice, tc.cmd, tc.body, improto.StatusCode_INVALID_REQUEST)
		})
	}
	// Reading the two members is fine.
	require.Equal(t, []int64{1, 2}, allParticipants(t, alice, conv, 0), "605 on a single chat")
}

func TestDissolveConversation(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	conv := createGroup(t, alice, 2, 3)
	bobSock := e.socket(2, "bob-web")
	aliceSock := e.socket(1, "alice-web")
	sendText(t, alice, conv, "before")

	wantStatus(t, bob, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv), improto.StatusCode_USER_FORBIDDEN)
	wantStatus(t, e.user(9), improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv), improto.StatusCode_USER_NOT_IN_GROUP)
	before := storedCore(t, e, conv.GetConversationShortId())

	call[proto.Message](t, aliceSock, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv))
	got := waitConvUpdated(t, bobSock, conv)
	require.Equal(t, int32(3), got.GetParticipantsCount(), "502 after dissolve: %v", got)
	core := storedCore(t, e, conv.GetConversationShortId())
	require.Equal(t, int32(1), core.GetStatus(), "core after dissolve: status")
	require.Equal(t, before.GetInfoVersion()+1, core.GetInfoVersion(), "core after dissolve: info_version (was %d)", before.GetInfoVersion())

	// Read-only from now on, but still readable by its members.
	wantStatus(t, alice, improto.IMCMD_SEND_MESSAGE, textBody(conv, "after"), improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, alice, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv), improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, bob, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv), improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, alice, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 4), improto.StatusCode_CONVERSATION_NOT_FOUND)
	require.Equal(t, []int64{1, 2, 3}, allParticipants(t, bob, conv, 0), "members after dissolve")
	require.Len(t, pull(t, bob, 0).GetMessages(), 1, "bob's history after dissolve: messages")
}

func TestLeaveConversation(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3)
	carolSock := e.socket(3, "carol-web")
	bobPhone := e.socket(2, "bob-phone")
	bobWeb := e.socket(2, "bob-web")

	resp := wantStatus(t, alice, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv), improto.StatusCode_USER_FORBIDDEN)
	assert.Contains(t, resp.GetErrorDesc(), "transfer", "owner's refusal does not say what to do")
	assert.Contains(t, resp.GetErrorDesc(), "dissolve", "owner's refusal does not say what to do")

	call[proto.Message](t, bobWeb, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv))
	got := waitConvUpdated(t, carolSock, conv)
	assert.Equal(t, int32(2), got.GetParticipantsCount(), "carol's 502: %v", got)
	got = waitConvUpdated(t, bobPhone, conv)
	assert.Equal(t, int32(2), got.GetParticipantsCount(), "bob's other socket's 502: %v", got)
	require.Equal(t, []int64{1, 3}, allParticipants(t, alice, conv, 0), "members after bob left")
	wantStatus(t, bob, improto.IMCMD_SEND_MESSAGE, textBody(conv, "still here?"), improto.StatusCode_USER_NOT_IN_GROUP)
	wantStatus(t, bob, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv), improto.StatusCode_USER_NOT_IN_GROUP)

	call[proto.Message](t, carol, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv))
	// The last member may leave, owner or not.
	call[proto.Message](t, alice, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv))
	wantStatus(t, alice, improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST, &improto.ConversationParticipantsListRequestBody{
		ConversationShortId: proto.Int64(conv.GetConversationShortId())}, improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestAddParticipants(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3)
	setMemberRole(t, alice, conv, 2, memberManager)
	carolSock := e.socket(3, "carol-web")
	newcomer := e.socket(10, "newcomer")

	wantStatus(t, carol, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 4), improto.StatusCode_USER_FORBIDDEN)
	wantStatus(t, e.user(9), improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 4), improto.StatusCode_USER_NOT_IN_GROUP)
	wantStatus(t, alice, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv), improto.StatusCode_INVALID_REQUEST)

	for _, tc := range []struct {
		name        string
		by          caller
		add         []int64
		wantSuccess []int64
		wantFailed  []int64
		wantStatus  improto.ConversationOperationStatus
	}{
		{"owner", alice, []int64{10, 11}, []int64{10, 11}, nil, improto.ConversationOperationStatus_OP_SUCCEED},
		{"manager, with repeats and bad ids", bob, []int64{12, 3, 0, 12, -5}, []int64{3, 12}, []int64{-5, 0}, improto.ConversationOperationStatus_PARTLY_REJECTED},
		{"members again", alice, []int64{10, 11}, []int64{10, 11}, nil, improto.ConversationOperationStatus_OP_SUCCEED},
		{"only bad ids", alice, []int64{0, -1}, nil, []int64{-1, 0}, improto.ConversationOperationStatus_REJECTED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := call[*improto.ConversationAddParticipantsResponseBody](t, tc.by, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, tc.add...))
			require.Equal(t, tc.wantSuccess, got.GetSuccessParticipants(), "success")
			require.Equal(t, tc.wantFailed, got.GetFailedParticipants(), "failed")
			require.Equal(t, int32(tc.wantStatus), got.GetStatus(), "status, want %v", tc.wantStatus)
		})
	}
	// One 502 per change, to old members and to the new ones.
	got := waitConvUpdated(t, carolSock, conv)
	assert.Equal(t, int32(5), got.GetParticipantsCount(), "carol's first 502: %v", got)
	got = waitConvUpdated(t, carolSock, conv)
	assert.Equal(t, int32(6), got.GetParticipantsCount(), "carol's second 502: %v", got)
	got = waitConvUpdated(t, newcomer, conv)
	assert.Equal(t, int32(5), got.GetParticipantsCount(), "newcomer's 502: %v", got)
	require.Equal(t, []int64{1, 2, 3, 10, 11, 12}, allParticipants(t, e.user(12), conv, 4), "members")
	require.Equal(t, memberOrdinary, oneParticipant(t, alice, conv, 12).GetRole(), "an added member's role")
	// A new member can send and is delivered to.
	sendText(t, e.user(10), conv, "hi all")
	m := waitPush(t, carolSock, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, int64(10), m.GetSender(), "carol got %v", m)
}

func TestAddParticipantsStopsAtTheLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice)
	const limit = 5000 // imserver's maxParticipants
	var many []int64
	for u := int64(2); u < limit; u++ {
		many = append(many, u)
	}
	got := call[*improto.ConversationAddParticipantsResponseBody](t, alice, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, many...))
	// len, not Len: Len would print the 4998 ids.
	require.Equal(t, limit-2, len(got.GetSuccessParticipants()), "filling up to %d: added", limit-1)
	require.Zero(t, got.GetStatus(), "filling up to %d: status", limit-1)
	got = call[*improto.ConversationAddParticipantsResponseBody](t, alice, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 9001, 9002, 2))
	require.Equal(t, []int64{2, 9001}, got.GetSuccessParticipants(), "past the limit: %v", got)
	require.Equal(t, []int64{9002}, got.GetFailedParticipants(), "past the limit: %v", got)
	require.Equal(t, int32(improto.ConversationOperationStatus_PARTLY_REJECTED), got.GetStatus(), "past the limit: %v", got)
	require.Equal(t, []int64{9001}, userIDsOf(mgetMembers(t, alice, conv, 9001, 9002)), "members among 9001, 9002")
}

func TestRemoveParticipants(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3, 4, 5, 6)
	setMemberRole(t, alice, conv, 2, memberManager)
	setMemberRole(t, alice, conv, 6, memberManager)
	setMemberRole(t, alice, conv, 5, memberVisitor)
	daveSock := e.socket(4, "dave-web")
	carolSock := e.socket(3, "carol-web")

	wantStatus(t, carol, improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, removeMembersBody(conv, 4), improto.StatusCode_USER_FORBIDDEN)
	wantStatus(t, e.user(5), improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, removeMembersBody(conv, 4), improto.StatusCode_USER_FORBIDDEN)

	for _, tc := range []struct {
		name       string
		by         caller
		remove     []int64
		wantFailed []int64
		wantStatus improto.ConversationOperationStatus
		wantLeft   []int64
	}{
		// A manager removes ordinary members and visitors, not the owner,
		// another manager or themself; non-members are skipped.
		{"manager", bob, []int64{1, 2, 3, 5, 6, 99}, []int64{1, 2, 6}, improto.ConversationOperationStatus_PARTLY_REJECTED, []int64{1, 2, 4, 6}},
		{"owner removes themself", alice, []int64{1}, []int64{1}, improto.ConversationOperationStatus_REJECTED, []int64{1, 2, 4, 6}},
		{"owner removes a manager", alice, []int64{6}, nil, improto.ConversationOperationStatus_OP_SUCCEED, []int64{1, 2, 4}},
		{"non-members only", alice, []int64{3, 77}, nil, improto.ConversationOperationStatus_OP_SUCCEED, []int64{1, 2, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := call[*improto.ConversationRemoveParticipantsResponseBody](t, tc.by, improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, removeMembersBody(conv, tc.remove...))
			require.Equal(t, tc.wantFailed, got.GetFailedParticipants(), "failed")
			require.Equal(t, int32(tc.wantStatus), got.GetStatus(), "status, want %v", tc.wantStatus)
			require.Equal(t, tc.wantLeft, allParticipants(t, alice, conv, 2), "members")
		})
	}
	// The remaining members and the removed users hear of it.
	got := waitConvUpdated(t, daveSock, conv)
	assert.Equal(t, int32(4), got.GetParticipantsCount(), "dave's 502: %v", got)
	got = waitConvUpdated(t, carolSock, conv)
	assert.Equal(t, int32(4), got.GetParticipantsCount(), "removed carol's 502: %v", got)

	// Carol can no longer send, nor is she delivered to.
	wantStatus(t, carol, improto.IMCMD_SEND_MESSAGE, textBody(conv, "let me back"), improto.StatusCode_USER_NOT_IN_GROUP)
	sendText(t, alice, conv, "without carol")
	for _, p := range pushesBefore(t, e, carolSock, 3) {
		m := p.GetBody().GetHasNewMessageNotify().GetMessage()
		require.NotEqual(t, conv.GetConversationShortId(), m.GetConversationShortId(), "removed member got a group message: %v", m)
	}
	m := waitPush(t, daveSock, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, conv.GetConversationShortId(), m.GetConversationShortId(), "dave got %v", m)
}

func TestListParticipantsPaging(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	var others []int64
	for u := int64(2); u <= 12; u++ {
		others = append(others, u)
	}
	conv := createGroup(t, alice, others...)

	first := participantsPage(t, alice, conv, 0, 5)
	require.Equal(t, []int64{1, 2, 3, 4, 5}, userIDsOf(first.GetParticipants()), "first page")
	require.True(t, first.GetHasMore(), "first page: more")
	require.Equal(t, int64(5), first.GetCursor(), "first page: cursor")
	last := participantsPage(t, alice, conv, 10, 5)
	require.Equal(t, []int64{11, 12}, userIDsOf(last.GetParticipants()), "last page")
	require.False(t, last.GetHasMore(), "last page: more")
	require.Equal(t, int64(12), last.GetCursor(), "last page: cursor")
	require.Equal(t, memberOwner, first.GetParticipants()[0].GetRole(), "owner listed with role")
	// Exactly a full last page: has_more is false.
	exact := participantsPage(t, alice, conv, 7, 5)
	require.False(t, exact.GetHasMore(), "page of the last five: more")
	require.Equal(t, 5, len(exact.GetParticipants()), "page of the last five: %v", userIDsOf(exact.GetParticipants()))
	all := participantsPage(t, alice, conv, 0, 0)
	require.Equal(t, 12, len(all.GetParticipants()), "default limit page: members")
	require.False(t, all.GetHasMore(), "default limit page: more")

	call[*improto.ConversationRemoveParticipantsResponseBody](t, alice, improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, removeMembersBody(conv, 3, 7))
	call[*improto.ConversationAddParticipantsResponseBody](t, alice, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, addMembersBody(conv, 20))
	want := []int64{1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 20}
	for _, limit := range []int32{1, 3, 11, 500, 100000} {
		assert.Equal(t, want, allParticipants(t, e.user(20), conv, limit), "limit %d", limit)
	}

	wantStatus(t, e.user(3), improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST, &improto.ConversationParticipantsListRequestBody{
		ConversationShortId: proto.Int64(conv.GetConversationShortId())}, improto.StatusCode_USER_NOT_IN_GROUP)
	wantStatus(t, alice, improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST, &improto.ConversationParticipantsListRequestBody{
		ConversationShortId: proto.Int64(conv.GetConversationShortId()), Cursor: proto.Int64(-1)}, improto.StatusCode_INVALID_REQUEST)
}

func TestMgetParticipants(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice, 2, 3)
	require.Equal(t, []int64{3, 1}, userIDsOf(mgetMembers(t, e.user(2), conv, 3, 99, 1, 3)), "654 of 3, 99, 1, 3")
	require.Empty(t, mgetMembers(t, alice, conv), "654 of nobody")
	id, short, typ := convRef(conv)
	wantStatus(t, e.user(9), improto.IMCMD_MGET_CONVERSATION_PARTICIPANTS, &improto.MgetConversationParticipantsRequestBody{
		ConversationId: id, ConversationShortId: short, ConversationType: typ, Participants: []int64{1}}, improto.StatusCode_USER_NOT_IN_GROUP)
	tooMany := make([]int64, 501)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	wantStatus(t, alice, improto.IMCMD_MGET_CONVERSATION_PARTICIPANTS, &improto.MgetConversationParticipantsRequestBody{
		ConversationId: id, ConversationShortId: short, ConversationType: typ, Participants: tooMany}, improto.StatusCode_INVALID_REQUEST)
}

func TestUpdateParticipant(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3, 4)
	setMemberRole(t, alice, conv, 2, memberManager)
	daveSock := e.socket(4, "dave-web")

	alias := func(user int64, a string) *improto.UpdateConversationParticipantRequestBody {
		b := updateMemberBody(conv, user)
		b.Alias, b.IsAliasSet = proto.String(a), proto.Bool(true)
		return b
	}
	role := func(user int64, r int32) *improto.UpdateConversationParticipantRequestBody {
		b := updateMemberBody(conv, user)
		b.Role = proto.Int32(r)
		return b
	}
	ext := func(user int64, kv ...string) *improto.UpdateConversationParticipantRequestBody {
		b := updateMemberBody(conv, user)
		b.BizExt = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			b.BizExt[kv[i]] = kv[i+1]
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		by    caller
		body  *improto.UpdateConversationParticipantRequestBody
		want  improto.StatusCode
		check func(p *improto.Participant) bool
	}{
		{"own alias", carol, alias(3, "Caz"), 0, func(p *improto.Participant) bool { return p.GetAlias() == "Caz" }},
		{"another's alias as ordinary", carol, alias(4, "x"), improto.StatusCode_USER_FORBIDDEN, nil},
		{"another's alias as manager", bob, alias(4, "Dave"), 0, func(p *improto.Participant) bool { return p.GetAlias() == "Dave" }},
		{"owner's alias as manager", bob, alias(1, "Boss"), 0, func(p *improto.Participant) bool { return p.GetAlias() == "Boss" }},
		{"own ext", carol, ext(3, "k", "v"), 0, func(p *improto.Participant) bool { return p.GetExt()["k"] == "v" }},
		{"ext merges", carol, ext(3, "k2", "v2"), 0, func(p *improto.Participant) bool {
			return p.GetExt()["k"] == "v" && p.GetExt()["k2"] == "v2" && p.GetAlias() == "Caz"
		}},
		{"another's ext as ordinary", carol, ext(4, "k", "v"), improto.StatusCode_USER_FORBIDDEN, nil},
		{"role as manager", bob, role(3, memberManager), improto.StatusCode_USER_FORBIDDEN, nil},
		{"role as ordinary", carol, role(3, memberManager), improto.StatusCode_USER_FORBIDDEN, nil},
		{"visitor by the owner", alice, role(3, memberVisitor), 0, func(p *improto.Participant) bool { return p.GetRole() == memberVisitor }},
		{"demote a manager", alice, role(2, memberOrdinary), 0, func(p *improto.Participant) bool { return p.GetRole() == memberOrdinary }},
		{"promote back", alice, role(2, memberManager), 0, func(p *improto.Participant) bool { return p.GetRole() == memberManager }},
		{"owner's own role", alice, role(1, memberOrdinary), improto.StatusCode_USER_FORBIDDEN, nil},
		{"unknown role", alice, role(3, 4), improto.StatusCode_INVALID_REQUEST, nil},
		{"non-member target", alice, role(99, memberManager), improto.StatusCode_USER_NOT_IN_GROUP, nil},
		{"no user", alice, role(0, memberManager), improto.StatusCode_INVALID_REQUEST, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != 0 {
				wantStatus(t, tc.by, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, tc.body, tc.want)
				return
			}
			got := call[*improto.UpdateConversationParticipantResponseBody](t, tc.by, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, tc.body)
			require.Equal(t, tc.body.GetUserId(), got.GetParticipant().GetUserId(), "answered %v", got.GetParticipant())
			require.True(t, tc.check(got.GetParticipant()), "answered %v", got.GetParticipant())
			stored := oneParticipant(t, alice, conv, tc.body.GetUserId())
			require.True(t, tc.check(stored), "stored %v", stored)
			info := waitConvUpdated(t, daveSock, conv)
			require.Equal(t, int32(4), info.GetParticipantsCount(), "dave's 502: %v", info)
		})
	}
	// A visitor may not send in a group.
	wantStatus(t, carol, improto.IMCMD_SEND_MESSAGE, textBody(conv, "hi"), improto.StatusCode_USER_BANNED_TO_POST)
}

func TestOwnershipTransfer(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	conv := createGroup(t, alice, 2, 3)
	carolSock := e.socket(3, "carol-web")
	before := storedCore(t, e, conv.GetConversationShortId())

	p := setMemberRole(t, alice, conv, 2, memberOwner)
	require.Equal(t, memberOwner, p.GetRole(), "new owner's record: %v", p)
	waitConvUpdated(t, carolSock, conv)
	roles := map[int64]int32{}
	for _, p := range mgetMembers(t, bob, conv, 1, 2, 3) {
		roles[p.GetUserId()] = p.GetRole()
	}
	require.Equal(t, map[int64]int32{1: memberManager, 2: memberOwner, 3: memberOrdinary}, roles, "roles after transfer")
	core := storedCore(t, e, conv.GetConversationShortId())
	require.Equal(t, int64(2), core.GetOwner(), "core owner")
	require.Equal(t, before.GetInfoVersion()+1, core.GetInfoVersion(), "core info_version (was %d)", before.GetInfoVersion())

	// The old owner is a manager now: no more role changes, no dissolving,
	// but free to leave.
	wantStatus(t, alice, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, func() proto.Message {
		b := updateMemberBody(conv, 3)
		b.Role = proto.Int32(memberManager)
		return b
	}(), improto.StatusCode_USER_FORBIDDEN)
	wantStatus(t, alice, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv), improto.StatusCode_USER_FORBIDDEN)
	wantStatus(t, bob, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv), improto.StatusCode_USER_FORBIDDEN)
	call[proto.Message](t, alice, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv))
	call[proto.Message](t, bob, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv))
}

func TestBlockMembers(t *testing.T) {
	clock := newClock()
	e := newEnv(t, withClock(clock))
	alice, bob, carol, dave := e.user(1), e.user(2), e.user(3), e.user(4)
	conv := createGroup(t, alice, 2, 3, 4, 5)
	setMemberRole(t, alice, conv, 2, memberManager)
	setMemberRole(t, alice, conv, 5, memberManager)
	daveSock := e.socket(4, "dave-web")

	wantStatus(t, carol, improto.IMCMD_BLOCK_MEMBERS, blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{4: 0}), improto.StatusCode_USER_FORBIDDEN)
	noStatus := blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{4: 0})
	noStatus.BlockStatus = nil
	wantStatus(t, alice, improto.IMCMD_BLOCK_MEMBERS, noStatus, improto.StatusCode_INVALID_REQUEST)

	// A manager mutes carol for a minute and dave until unmuted; the owner,
	// the other manager and a non-member fail.
	got := call[*improto.BlockMembersResponseBody](t, bob, improto.IMCMD_BLOCK_MEMBERS,
		blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{3: 60, 4: 0, 1: 60, 5: 60, 99: 60}))
	require.Equal(t, []int64{1, 5, 99}, got.GetFailedMembers(), "failed_members")
	info := waitConvUpdated(t, daveSock, conv)
	require.Equal(t, int32(5), info.GetParticipantsCount(), "dave's 502: %v", info)
	ps := mgetMembers(t, alice, conv, 3, 4, 5)
	require.Equal(t, improto.BlockStatus_BLOCK, ps[0].GetBlocked(), "carol: %v", ps[0])
	require.Equal(t, int64(60_000), ps[0].GetLeftBlockTime(), "carol: %v", ps[0])
	require.Equal(t, improto.BlockStatus_BLOCK, ps[1].GetBlocked(), "dave: %v", ps[1])
	require.Zero(t, ps[1].GetLeftBlockTime(), "dave: %v", ps[1])
	require.Equal(t, improto.BlockStatus_UNBLOCK, ps[2].GetBlocked(), "the other manager: %v", ps[2])
	wantStatus(t, carol, improto.IMCMD_SEND_MESSAGE, textBody(conv, "muted"), improto.StatusCode_USER_BANNED_TO_POST)
	wantStatus(t, dave, improto.IMCMD_SEND_MESSAGE, textBody(conv, "muted"), improto.StatusCode_USER_BANNED_TO_POST)

	clock.Advance(30 * time.Second)
	p := oneParticipant(t, alice, conv, 3)
	require.Equal(t, int64(30_000), p.GetLeftBlockTime(), "carol after 30s: %v", p)
	wantStatus(t, carol, improto.IMCMD_SEND_MESSAGE, textBody(conv, "still muted"), improto.StatusCode_USER_BANNED_TO_POST)

	clock.Advance(31 * time.Second)
	p = oneParticipant(t, alice, conv, 3)
	require.Equal(t, improto.BlockStatus_UNBLOCK, p.GetBlocked(), "carol after the mute ended: %v", p)
	require.Zero(t, p.GetLeftBlockTime(), "carol after the mute ended: %v", p)
	sendText(t, carol, conv, "free again")
	wantStatus(t, dave, improto.IMCMD_SEND_MESSAGE, textBody(conv, "still muted"), improto.StatusCode_USER_BANNED_TO_POST)

	got = call[*improto.BlockMembersResponseBody](t, alice, improto.IMCMD_BLOCK_MEMBERS,
		blockMembersBody(conv, improto.BlockStatus_UNBLOCK, map[int64]int64{4: 0}))
	require.Empty(t, got.GetFailedMembers(), "unmuting dave failed")
	p = oneParticipant(t, alice, conv, 4)
	require.Equal(t, improto.BlockStatus_UNBLOCK, p.GetBlocked(), "dave after unmute: %v", p)
	sendText(t, dave, conv, "free too")

	// The owner mutes a manager; a manager's mute of a manager fails.
	got = call[*improto.BlockMembersResponseBody](t, alice, improto.IMCMD_BLOCK_MEMBERS,
		blockMembersBody(conv, improto.BlockStatus_BLOCK, map[int64]int64{5: 10}))
	require.Empty(t, got.GetFailedMembers(), "owner muting a manager failed")
	wantStatus(t, e.user(5), improto.IMCMD_SEND_MESSAGE, textBody(conv, "muted manager"), improto.StatusCode_USER_BANNED_TO_POST)
}

func TestBlockConversation(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3)
	setMemberRole(t, alice, conv, 2, memberManager)
	carolSock := e.socket(3, "carol-web")
	wantStatus(t, carol, improto.IMCMD_BLOCK_CONVERSATION, blockConvBody(conv, improto.BlockStatus_BLOCK, false), improto.StatusCode_USER_FORBIDDEN)

	senders := []struct {
		name string
		c    caller
	}{{"owner", alice}, {"manager", bob}, {"ordinary", carol}}
	for _, tc := range []struct {
		name       string
		by         caller
		status     improto.BlockStatus
		normalOnly bool
		canSend    []bool // owner, manager, ordinary
	}{
		{"everyone but the owner", bob, improto.BlockStatus_BLOCK, false, []bool{true, false, false}},
		{"ordinary members only", alice, improto.BlockStatus_BLOCK, true, []bool{true, true, false}},
		{"lifted", bob, improto.BlockStatus_UNBLOCK, false, []bool{true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := storedCore(t, e, conv.GetConversationShortId())
			call[*improto.BlockConversationResponseBody](t, tc.by, improto.IMCMD_BLOCK_CONVERSATION, blockConvBody(conv, tc.status, tc.normalOnly))
			waitConvUpdated(t, carolSock, conv)
			core := storedCore(t, e, conv.GetConversationShortId())
			require.Equal(t, tc.status, core.GetBlockStatus(), "core block")
			require.Equal(t, tc.normalOnly, core.GetBlockNormalOnly(), "core normal_only")
			require.Equal(t, before.GetInfoVersion()+1, core.GetInfoVersion(), "core info_version (was %d)", before.GetInfoVersion())
			for i, s := range senders {
				if tc.canSend[i] {
					sendText(t, s.c, conv, "hello")
				} else {
					wantStatus(t, s.c, improto.IMCMD_SEND_MESSAGE, textBody(conv, "hello"), improto.StatusCode_USER_BANNED_TO_POST)
				}
			}
		})
	}
}
