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

func infoBody(conv *improto.ConversationInfoV2) *improto.GetConversationInfoV2RequestBody {
	id, short, typ := convRef(conv)
	return &improto.GetConversationInfoV2RequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

func deleteConvBody(conv *improto.ConversationInfoV2) *improto.DeleteConversationRequestBody {
	id, short, typ := convRef(conv)
	return &improto.DeleteConversationRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

// ciInfo fetches conv as c sees it (608).
func ciInfo(t *testing.T, c caller, conv *improto.ConversationInfoV2) *improto.ConversationInfoV2 {
	t.Helper()
	return call[*improto.GetConversationInfoV2ResponseBody](t, c, improto.IMCMD_GET_CONVERSATION_INFO_V2, infoBody(conv)).GetConversationInfo()
}

// ciListAll pages through c's conversation list (2006) with limit per page
// and returns the short ids in order.
func ciListAll(t *testing.T, c caller, limit int64, conType *improto.ConversationType, withLeft bool) []int64 {
	t.Helper()
	var ids []int64
	cursor := int64(0)
	for range 100 {
		page := call[*improto.GetUserConversationListResponseBody](t, c, improto.IMCMD_GET_USER_CONVERSATION_LIST,
			&improto.GetUserConversationListRequestBody{
				SortType: improto.SortType_ACTIVE_TIME.Enum(), Cursor: proto.Int64(cursor), Limit: proto.Int64(limit),
				ConType: conType, IncludeRemovedGroup: proto.Bool(withLeft),
			})
		require.LessOrEqual(t, int64(len(page.GetList())), limit, "conversations in a page")
		for _, ci := range page.GetList() {
			ids = append(ids, ci.GetConversationShortId())
		}
		if !page.GetHasMore() {
			return ids
		}
		require.Greater(t, page.GetNextCursor(), cursor, "next_cursor must move past the cursor")
		cursor = page.GetNextCursor()
	}
	require.FailNow(t, "conversation list never ends")
	return nil
}

// ciHistory returns the indexes 301 gives c for conv, latest first page.
func ciHistory(t *testing.T, c caller, conv *improto.ConversationInfoV2) []int64 {
	t.Helper()
	return indexesOf(convMessages(t, c, conv, improto.MessageDirection_FROM_LATEST, 0, 100).GetMessages())
}

func ciMarkRead(conv *improto.ConversationInfoV2, index int64) *improto.MarkConversationReadRequestBody {
	id, short, typ := convRef(conv)
	return &improto.MarkConversationReadRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
		ReadMessageIndex: proto.Int64(index)}
}

func TestGetConversationInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, bob, stranger := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, owner, 2)
	sendText(t, owner, conv, "one")
	sendText(t, owner, conv, "two")

	got := ciInfo(t, bob, conv)
	require.True(t, got.GetIsParticipant(), "bob's view: participant")
	require.Equal(t, int32(2), got.GetBadgeCount(), "bob's view: badge")
	require.Equal(t, int32(2), got.GetParticipantsCount(), "bob's view: count")
	require.Equal(t, "group", got.GetConversationCoreInfo().GetName(), "bob's view: name")
	require.Equal(t, int64(2), got.GetUserInfo().GetUserId(), "bob's view: user")
	assert.Zero(t, ciInfo(t, owner, conv).GetBadgeCount(), "the sender's own messages count as unread: badge")
	wantStatus(t, stranger, improto.IMCMD_GET_CONVERSATION_INFO_V2, infoBody(conv), improto.StatusCode_USER_NOT_IN_GROUP)
	wantStatus(t, bob, improto.IMCMD_GET_CONVERSATION_INFO_V2,
		&improto.GetConversationInfoV2RequestBody{ConversationId: proto.String("no-such")},
		improto.StatusCode_CONVERSATION_NOT_FOUND)
	wantStatus(t, bob, improto.IMCMD_GET_CONVERSATION_INFO_V2, &improto.GetConversationInfoV2RequestBody{},
		improto.StatusCode_INVALID_REQUEST)
}

func TestFormerMemberReadsInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, bob := e.user(1), e.user(2)
	conv := createGroup(t, owner, 2)
	call[proto.Message](t, bob, improto.IMCMD_LEAVE_CONVERSATION, leaveConvBody(conv))
	got := ciInfo(t, bob, conv)
	require.False(t, got.GetIsParticipant(), "former member's view: participant")
	require.Equal(t, int32(1), got.GetParticipantsCount(), "former member's view: count")
	require.Nil(t, got.GetUserInfo(), "former member's view: user_info")
	assert.Empty(t, ciListAll(t, bob, 10, nil, false), "left conversation listed without include_removed_group")
	assert.Equal(t, []int64{conv.GetConversationShortId()}, ciListAll(t, bob, 10, nil, true), "include_removed_group lists")
	// A former member may still delete it for themself.
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_DELETE, deleteConvBody(conv))
	assert.Empty(t, ciListAll(t, bob, 10, nil, true), "deleted conversation still listed")
}

// TestDissolvedConversationIsReadOnly checks that members still read a
// dissolved group (core status 1) but can no longer change its core.
func TestDissolvedConversationIsReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, bob := e.user(1), e.user(2)
	conv := createGroup(t, owner, 2)
	id, short, typ := convRef(conv)
	call[proto.Message](t, owner, improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(conv))
	assert.Equal(t, int32(1), ciInfo(t, bob, conv).GetConversationCoreInfo().GetStatus(), "dissolved conversation's core status")
	wantStatus(t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		&improto.SetConversationCoreInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Name: proto.String("late"), IsNameSet: proto.Bool(true)}, improto.StatusCode_CONVERSATION_NOT_FOUND)
	// Private settings still change: a user may still mute or pin it.
	got := call[*improto.SetConversationSettingInfoResponseBody](t, bob, improto.IMCMD_SET_CONVERSATION_SETTING_INFO,
		&improto.SetConversationSettingInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			SetMute: proto.Bool(true)})
	assert.Equal(t, int32(1), got.GetSettingInfo().GetMute(), "mute on a dissolved conversation: %v", got.GetSettingInfo())
}

func TestGetConversationInfoList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	mine := createGroup(t, alice, 2)
	single := createSingle(t, alice, 2)
	notMine := createGroup(t, bob, 3)
	got := call[*improto.GetConversationInfoListV2ResponseBody](t, alice, improto.IMCMD_GET_CONVERSATION_INFO_LIST_V2,
		&improto.GetConversationInfoListV2RequestBody{ConversationInfoList: []*improto.GetConversationInfoV2RequestBody{
			infoBody(mine), infoBody(notMine), {ConversationId: proto.String("no-such")}, infoBody(single), infoBody(mine),
		}})
	var ids []string
	for _, c := range got.GetConversationInfoList() {
		ids = append(ids, c.GetConversationId())
	}
	require.Equal(t, []string{mine.GetConversationId(), single.GetConversationId()}, ids, "610 returned")
	tooMany := make([]*improto.GetConversationInfoV2RequestBody, 101)
	for i := range tooMany {
		tooMany[i] = infoBody(mine)
	}
	wantStatus(t, alice, improto.IMCMD_GET_CONVERSATION_INFO_LIST_V2,
		&improto.GetConversationInfoListV2RequestBody{ConversationInfoList: tooMany}, improto.StatusCode_INVALID_REQUEST)
}

func TestUserConversationListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user(1)
	var all, groups, singles []int64
	for i := range 7 {
		var c *improto.ConversationInfoV2
		if i%2 == 0 {
			c = createGroup(t, alice, 100+int64(i))
			groups = append(groups, c.GetConversationShortId())
		} else {
			c = createSingle(t, alice, 100+int64(i))
			singles = append(singles, c.GetConversationShortId())
		}
		all = append(all, c.GetConversationShortId())
	}
	createGroup(t, e.user(50), 51) // someone else's

	for _, limit := range []int64{1, 3, 7, 50} {
		assert.Equal(t, all, ciListAll(t, alice, limit, nil, false), "limit %d: listed", limit)
	}
	assert.Equal(t, groups, ciListAll(t, alice, 2, improto.ConversationType_GROUP_CHAT.Enum(), false), "groups only")
	assert.Equal(t, singles, ciListAll(t, alice, 2, improto.ConversationType_ONE_TO_ONE_CHAT.Enum(), false), "single chats only")
	first := call[*improto.GetUserConversationListResponseBody](t, alice, improto.IMCMD_GET_USER_CONVERSATION_LIST,
		&improto.GetUserConversationListRequestBody{})
	assert.Equal(t, 7, len(first.GetList()), "default page: conversations")
	assert.False(t, first.GetHasMore(), "default page: more")
	assert.Equal(t, all[6], first.GetNextCursor(), "default page: next")
	wantStatus(t, alice, improto.IMCMD_GET_USER_CONVERSATION_LIST,
		&improto.GetUserConversationListRequestBody{Cursor: proto.Int64(-1)}, improto.StatusCode_INVALID_REQUEST)
}

func TestDeleteConversationForSelf(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob, stranger := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2)
	other := createGroup(t, alice, 2)
	sendText(t, bob, conv, "one")
	sendText(t, bob, conv, "two")
	alicePhone := e.socket(1, "alice-phone")
	bobWeb := e.socket(2, "bob-web")
	before := ciInfo(t, alice, conv).GetConversationSettingInfo().GetSettingVersion()

	del := deleteConvBody(conv)
	call[proto.Message](t, alice, improto.IMCMD_MARK_CONVERSATION_DELETE, del)

	n := waitPush(t, alicePhone, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY).GetBody().GetConversationInfoUpdatedNotify()
	assert.Equal(t, conv.GetConversationId(), n.GetConversation().GetConversationId(), "502 on alice's phone names")
	assert.Equal(t, []int64{other.GetConversationShortId()}, ciListAll(t, alice, 10, nil, false), "after delete alice lists")
	assert.Len(t, ciListAll(t, bob, 10, nil, false), 2, "bob's list changed")
	assert.Empty(t, ciHistory(t, alice, conv), "alice still sees messages")
	assert.Equal(t, []int64{1, 2}, ciHistory(t, bob, conv), "bob sees")
	v := ciInfo(t, alice, conv)
	assert.Zero(t, v.GetBadgeCount(), "after delete: badge")
	assert.Equal(t, int64(2), v.GetConversationSettingInfo().GetReadIndex(), "after delete: read index")
	assert.Greater(t, v.GetConversationSettingInfo().GetSettingVersion(), before, "after delete: setting version")

	// A new message brings the conversation back, with only new history.
	// Bob heard nothing of the delete: the first push he gets after it is
	// that message.
	sendText(t, alice, conv, "three")
	p := waitPush(t, bobWeb, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY, improto.IMCMD_MARK_READ_NOTIFY)
	assert.Equal(t, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD(p.GetCmd()), "bob got %v for alice's delete", improto.IMCMD(p.GetCmd()))
	assert.Equal(t, []int64{conv.GetConversationShortId(), other.GetConversationShortId()}, ciListAll(t, alice, 10, nil, false), "after a new message alice lists")
	assert.Equal(t, []int64{3}, ciHistory(t, alice, conv), "after revival alice sees")
	assert.Zero(t, ciInfo(t, alice, conv).GetBadgeCount(), "after revival with her own message: badge")
	sendText(t, bob, conv, "four")
	assert.Equal(t, int32(1), ciInfo(t, alice, conv).GetBadgeCount(), "after bob's new message: badge")

	wantStatus(t, stranger, improto.IMCMD_MARK_CONVERSATION_DELETE, del, improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestMarkConversationRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob, stranger := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 4)
	var sent []*improto.SendMessageResponseBody
	for i := range 3 {
		sent = append(sent, sendText(t, alice, conv, fmt.Sprint(i)))
	}
	aliceWeb := e.socket(1, "alice-web")
	bobWeb := e.socket(2, "bob-web")
	bobPhone := e.socket(2, "bob-phone")
	carolWeb := e.socket(4, "carol-web")
	require.Equal(t, int32(3), ciInfo(t, bob, conv).GetBadgeCount(), "bob's badge before reading")
	before := ciInfo(t, bob, conv).GetConversationSettingInfo().GetSettingVersion()

	// Bob reads up to 2 from his web socket (v1 command).
	call[proto.Message](t, bobWeb, improto.IMCMD_MARK_CONVERSATION_READ, ciMarkRead(conv, 2))
	for name, s := range map[string]*rawclient.Socket{"alice": aliceWeb, "bob's phone": bobPhone, "carol": carolWeb} {
		n := waitPush(t, s, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
		assert.Equal(t, int64(2), n.GetUserId(), "%s got 501 %v", name, n)
		assert.Equal(t, int64(2), n.GetReadIndex(), "%s got 501 %v", name, n)
		assert.Equal(t, int64(2), n.GetReadIndexV2(), "%s got 501 %v", name, n)
		assert.Equal(t, sent[1].GetServerMessageId(), n.GetMessageId(), "%s got 501 %v", name, n)
		assert.Equal(t, conv.GetConversationId(), n.GetConversationId(), "%s got 501 %v", name, n)
	}
	v := ciInfo(t, bob, conv)
	assert.Equal(t, int32(1), v.GetBadgeCount(), "after reading 2: badge")
	assert.Equal(t, int64(2), v.GetConversationSettingInfo().GetReadIndex(), "after reading 2: read index")
	assert.Greater(t, v.GetConversationSettingInfo().GetSettingVersion(), before, "after reading 2: setting version")

	// A lower index is accepted and ignored: no push, no change.
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 1))
	// A larger index than the last is clamped (v3 command, over HTTP).
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 100))
	for name, s := range map[string]*rawclient.Socket{"alice": aliceWeb, "bob's web": bobWeb} {
		// bob's web socket did not get the first 501 (it asked for it)
		// and nobody got one for index 1: the next is for 3.
		n := waitPush(t, s, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
		assert.Equal(t, int64(3), n.GetReadIndex(), "%s: next 501's read index", name)
		assert.Equal(t, sent[2].GetServerMessageId(), n.GetMessageId(), "%s: next 501's message", name)
	}
	v = ciInfo(t, bob, conv)
	assert.Zero(t, v.GetBadgeCount(), "after reading all: badge")
	assert.Equal(t, int64(3), v.GetConversationSettingInfo().GetReadIndex(), "after reading all: read index")

	// Carol marks by server message id.
	carolRead := ciMarkRead(conv, 0)
	carolRead.ServerMessageId = proto.Int64(sent[0].GetServerMessageId())
	call[proto.Message](t, e.user(4), improto.IMCMD_MARK_CONVERSATION_READ_V3, carolRead)
	assert.Equal(t, int64(1), ciInfo(t, e.user(4), conv).GetConversationSettingInfo().GetReadIndex(), "carol's read index by server id")
	n := waitPush(t, aliceWeb, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
	assert.Equal(t, int64(4), n.GetUserId(), "alice got 501 %v for carol", n)
	assert.Equal(t, int64(1), n.GetReadIndex(), "alice got 501 %v for carol", n)

	refusals := []struct {
		name string
		c    caller
		body *improto.MarkConversationReadRequestBody
		want improto.StatusCode
	}{
		{"negative index", bob, ciMarkRead(conv, -1), improto.StatusCode_INVALID_REQUEST},
		{"non-member", stranger, ciMarkRead(conv, 1), improto.StatusCode_USER_NOT_IN_GROUP},
		{"unknown message", bob, func() *improto.MarkConversationReadRequestBody {
			b := ciMarkRead(conv, 0)
			b.ServerMessageId = proto.Int64(999999)
			return b
		}(), improto.StatusCode_INVALID_REQUEST},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			wantStatus(t, r.c, improto.IMCMD_MARK_CONVERSATION_READ_V3, r.body, r.want)
		})
	}
}

func TestGetReadIndexes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, alice, 2, 3)
	for i := range 4 {
		sendText(t, alice, conv, fmt.Sprint(i))
	}
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 3))
	call[proto.Message](t, carol, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 1))
	call[proto.Message](t, alice, improto.IMCMD_MARK_CONVERSATION_READ, ciMarkRead(conv, 2))
	id, short, typ := convRef(conv)
	req := &improto.GetConversationParticipantsReadIndexV3RequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
	got := call[*improto.GetConversationParticipantsReadIndexV3ResponseBody](t, bob, improto.IMCMD_GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3, req)
	byUser := map[int64]int64{}
	for _, r := range got.GetIndexes() {
		byUser[r.GetUserId()] = r.GetIndex()
		assert.Equal(t, int64(1), r.GetIndexMin(), "user %d: index_min", r.GetUserId())
		assert.Equal(t, r.GetIndex(), r.GetIndexV2(), "user %d: index_v2, as index", r.GetUserId())
	}
	assert.Equal(t, map[int64]int64{1: 2, 2: 3, 3: 1}, byUser, "read indexes")
	wantStatus(t, e.user(9), improto.IMCMD_GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3, req, improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestCoreAndSettingGettersAreEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user(1)
	resp := callRaw(t, alice, improto.IMCMD_GET_CONVERSATION_CORE_INFO, &improto.GetConversationCoreInfoRequestBody{})
	assert.Zero(t, resp.GetStatusCode(), "901: status")
	assert.NotNil(t, resp.GetBody().GetGetConversationCoreInfoBody(), "901: body %v", resp.GetBody())
	resp = callRaw(t, alice, improto.IMCMD_GET_CONVERSATION_SETTING_INFO, &improto.GetConversationSettingInfoRequestBody{})
	assert.Zero(t, resp.GetStatusCode(), "920: status")
	assert.NotNil(t, resp.GetBody().GetGetConversationSettingInfoBody(), "920: body %v", resp.GetBody())
}

func TestSetCoreInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, bob, stranger := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, owner, 2)
	single := createSingle(t, owner, 2)
	ownerPhone := e.socket(1, "owner-phone")
	bobWeb := e.socket(2, "bob-web")
	id, short, typ := convRef(conv)
	set := func(mod func(b *improto.SetConversationCoreInfoRequestBody)) *improto.SetConversationCoreInfoRequestBody {
		b := &improto.SetConversationCoreInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
		mod(b)
		return b
	}
	v0 := conv.GetConversationCoreInfo().GetInfoVersion()

	got := call[*improto.SetConversationCoreInfoResponseBody](t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		set(func(b *improto.SetConversationCoreInfoRequestBody) {
			b.Name, b.IsNameSet = proto.String("new name"), proto.Bool(true)
			b.Notice, b.IsNoticeSet = proto.String("be nice"), proto.Bool(true)
			b.Desc = proto.String("not flagged, so ignored")
			b.Ext = map[string]string{"k": "v"}
		}))
	core := got.GetConversationCoreInfo()
	require.Zero(t, got.GetStatus(), "902 answered %v", got)
	require.Equal(t, "new name", core.GetName(), "902 answered %v", got)
	require.Equal(t, "be nice", core.GetNotice(), "902 answered %v", got)
	require.Empty(t, core.GetDesc(), "902 answered %v", got)
	require.Equal(t, "v", core.GetExt()["k"], "902 answered %v", got)
	require.Equal(t, v0+1, core.GetInfoVersion(), "902 answered %v", got)
	for name, s := range map[string]*rawclient.Socket{"owner's phone": ownerPhone, "bob": bobWeb} {
		n := waitPush(t, s, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY).GetBody().GetConversationInfoUpdatedNotify()
		assert.Equal(t, conv.GetConversationShortId(), n.GetConversation().GetConversationShortId(), "%s got 502 for", name)
	}
	c := ciInfo(t, bob, conv).GetConversationCoreInfo()
	assert.Equal(t, "new name", c.GetName(), "bob sees name")
	assert.Equal(t, v0+1, c.GetInfoVersion(), "bob sees version")

	// The same values again change nothing.
	same := call[*improto.SetConversationCoreInfoResponseBody](t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		set(func(b *improto.SetConversationCoreInfoRequestBody) {
			b.Name, b.IsNameSet = proto.String("new name"), proto.Bool(true)
		}))
	assert.Equal(t, v0+1, same.GetConversationCoreInfo().GetInfoVersion(), "a no-op 902 moved info_version")

	// 904 merges keys; an empty value deletes one.
	up := call[*improto.UpsertConversationCoreExtInfoResponseBody](t, owner, improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO,
		&improto.UpsertConversationCoreExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Ext: map[string]string{"k": "", "a": "1", "b": "2"}})
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, up.GetCoreInfo().GetExt(), "904: ext")
	assert.Equal(t, v0+2, up.GetCoreInfo().GetInfoVersion(), "904: version")
	n := waitPush(t, bobWeb, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY)
	assert.Equal(t, conv.GetConversationShortId(), n.GetBody().GetConversationInfoUpdatedNotify().GetConversation().GetConversationShortId(),
		"bob's 502 after 904: %v", n.GetBody())
	// Replacing the ext through 902.
	rep := call[*improto.SetConversationCoreInfoResponseBody](t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		set(func(b *improto.SetConversationCoreInfoRequestBody) { b.Ext = map[string]string{"only": "this"} }))
	assert.Equal(t, map[string]string{"only": "this"}, rep.GetConversationCoreInfo().GetExt(), "902 ext replace")

	sid, sshort, styp := convRef(single)
	refusals := []struct {
		name string
		c    caller
		cmd  improto.IMCMD
		body proto.Message
		want improto.StatusCode
	}{
		{"902 by an ordinary member", bob, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
			set(func(b *improto.SetConversationCoreInfoRequestBody) {
				b.Name, b.IsNameSet = proto.String("mine"), proto.Bool(true)
			}),
			improto.StatusCode_USER_FORBIDDEN},
		{"902 by a stranger", stranger, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
			set(func(b *improto.SetConversationCoreInfoRequestBody) {}), improto.StatusCode_USER_NOT_IN_GROUP},
		{"902 on a single chat", owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
			&improto.SetConversationCoreInfoRequestBody{ConversationId: sid, ConversationShortId: sshort, ConversationType: styp,
				Name: proto.String("x"), IsNameSet: proto.Bool(true)}, improto.StatusCode_INVALID_REQUEST},
		{"904 by an ordinary member", bob, improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO,
			&improto.UpsertConversationCoreExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
				Ext: map[string]string{"a": "x"}}, improto.StatusCode_USER_FORBIDDEN},
		{"904 with an empty key", owner, improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO,
			&improto.UpsertConversationCoreExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
				Ext: map[string]string{"": "x"}}, improto.StatusCode_INVALID_REQUEST},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			wantStatus(t, r.c, r.cmd, r.body, r.want)
		})
	}
	c = ciInfo(t, bob, conv).GetConversationCoreInfo()
	assert.Equal(t, "new name", c.GetName(), "a refused change took effect: name")
	assert.Empty(t, c.GetExt()["a"], "a refused change took effect: ext %v", c.GetExt())
}

func TestSetSettingInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, stranger := e.user(1), e.user(3)
	conv := createGroup(t, alice, 2)
	alicePhone := e.socket(1, "alice-phone")
	bobWeb := e.socket(2, "bob-web")
	id, short, typ := convRef(conv)
	setting := func(mod func(b *improto.SetConversationSettingInfoRequestBody)) *improto.ConversationSettingInfo {
		t.Helper()
		b := &improto.SetConversationSettingInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
		mod(b)
		resp := call[*improto.SetConversationSettingInfoResponseBody](t, alice, improto.IMCMD_SET_CONVERSATION_SETTING_INFO, b)
		require.Zero(t, resp.GetStatus(), "921 status")
		return resp.GetSettingInfo()
	}
	v0 := ciInfo(t, alice, conv).GetConversationSettingInfo().GetSettingVersion()

	s1 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetStickOnTop = proto.Bool(true) })
	require.Equal(t, int32(1), s1.GetStickOnTop(), "after stick on top: %v", s1)
	require.Positive(t, s1.GetSetTopTime(), "after stick on top: %v", s1)
	require.Zero(t, s1.GetMute(), "after stick on top: %v", s1)
	require.Zero(t, s1.GetFavorite(), "after stick on top: %v", s1)
	require.Equal(t, v0+1, s1.GetSettingVersion(), "after stick on top: %v", s1)
	n := waitPush(t, alicePhone, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY)
	assert.Equal(t, conv.GetConversationId(), n.GetBody().GetConversationInfoUpdatedNotify().GetConversation().GetConversationId(), "alice's phone 502: %v", n.GetBody())
	s2 := setting(func(b *improto.SetConversationSettingInfoRequestBody) {
		b.SetMute, b.SetFavorite = proto.Bool(true), proto.Bool(true)
	})
	require.Equal(t, int32(1), s2.GetStickOnTop(), "after mute and favorite: %v", s2)
	require.Equal(t, s1.GetSetTopTime(), s2.GetSetTopTime(), "after mute and favorite: %v", s2)
	require.Equal(t, int32(1), s2.GetMute(), "after mute and favorite: %v", s2)
	require.Equal(t, int32(1), s2.GetFavorite(), "after mute and favorite: %v", s2)
	require.Positive(t, s2.GetSetFavoriteTime(), "after mute and favorite: %v", s2)
	require.Equal(t, v0+2, s2.GetSettingVersion(), "after mute and favorite: %v", s2)
	s3 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetStickOnTop = proto.Bool(false) })
	require.Zero(t, s3.GetStickOnTop(), "after unstick: %v", s3)
	require.Zero(t, s3.GetSetTopTime(), "after unstick: %v", s3)
	require.Equal(t, int32(1), s3.GetMute(), "after unstick: %v", s3)
	require.Equal(t, v0+3, s3.GetSettingVersion(), "after unstick: %v", s3)
	s4 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetMute = proto.Bool(true) })
	assert.Equal(t, v0+3, s4.GetSettingVersion(), "a no-op 921 moved setting_version")
	// Settings are private: bob's stay as they were.
	bs := ciInfo(t, e.user(2), conv).GetConversationSettingInfo()
	assert.Zero(t, bs.GetMute(), "bob's settings changed: %v", bs)
	assert.Zero(t, bs.GetFavorite(), "bob's settings changed: %v", bs)

	upsert := func(ext map[string]string) *improto.UpsertConversationSettingExtInfoRequestBody {
		return &improto.UpsertConversationSettingExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, Ext: ext}
	}
	up := call[*improto.UpsertConversationSettingExtInfoResponseBody](t, alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
		upsert(map[string]string{"s:push_status": "3", "s:push_part_disable_config": `{"whiteUids":["2"],"whiteMsgTypes":[7]}`, "mine": "x"}))
	ext := up.GetSettingInfo().GetExt()
	assert.Len(t, ext, 3, "922: ext")
	assert.Equal(t, "3", ext["s:push_status"], "922: ext %v", ext)
	assert.Equal(t, v0+4, up.GetSettingInfo().GetSettingVersion(), "922: version")
	up = call[*improto.UpsertConversationSettingExtInfoResponseBody](t, alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
		upsert(map[string]string{"mine": "", "s:push_status": "1"}))
	ext = up.GetSettingInfo().GetExt()
	assert.Len(t, ext, 2, "922 delete: ext")
	assert.Equal(t, "1", ext["s:push_status"], "922 delete: ext %v", ext)
	assert.Equal(t, int32(1), up.GetSettingInfo().GetMute(), "922 delete: mute")
	got := ciInfo(t, alice, conv).GetConversationSettingInfo()
	assert.Equal(t, v0+5, got.GetSettingVersion(), "608 setting after 922: %v", got)
	assert.Equal(t, "1", got.GetExt()["s:push_status"], "608 setting after 922: %v", got)

	// Settings are private: the first push bob gets after all that is a
	// later message, not a 502.
	sendText(t, alice, conv, "marker")
	p := waitPush(t, bobWeb, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY)
	assert.Equal(t, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD(p.GetCmd()), "bob got %v for alice's settings", improto.IMCMD(p.GetCmd()))

	refusals := []struct {
		name string
		c    caller
		cmd  improto.IMCMD
		body proto.Message
		want improto.StatusCode
	}{
		{"921 by a stranger", stranger, improto.IMCMD_SET_CONVERSATION_SETTING_INFO,
			&improto.SetConversationSettingInfoRequestBody{ConversationId: id, SetMute: proto.Bool(true)}, improto.StatusCode_USER_NOT_IN_GROUP},
		{"922 by a stranger", stranger, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
			upsert(map[string]string{"a": "b"}), improto.StatusCode_USER_NOT_IN_GROUP},
		{"push status out of range", alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
			upsert(map[string]string{"s:push_status": "4"}), improto.StatusCode_INVALID_REQUEST},
		{"push status not a number", alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
			upsert(map[string]string{"s:push_status": "allow"}), improto.StatusCode_INVALID_REQUEST},
		{"weak-mute config not JSON", alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
			upsert(map[string]string{"s:push_part_disable_config": "{whiteUids"}), improto.StatusCode_INVALID_REQUEST},
		{"unknown conversation", alice, improto.IMCMD_SET_CONVERSATION_SETTING_INFO,
			&improto.SetConversationSettingInfoRequestBody{ConversationId: proto.String("nope"), SetMute: proto.Bool(true)},
			improto.StatusCode_CONVERSATION_NOT_FOUND},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			wantStatus(t, r.c, r.cmd, r.body, r.want)
		})
	}
	assert.Equal(t, v0+5, ciInfo(t, alice, conv).GetConversationSettingInfo().GetSettingVersion(), "a refused change moved setting_version")
}
