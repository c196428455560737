package imserver_test

import (
	"fmt"
	"slices"
	"testing"

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
		if int64(len(page.GetList())) > limit {
			t.Fatalf("page of %d conversations, limit %d", len(page.GetList()), limit)
		}
		for _, ci := range page.GetList() {
			ids = append(ids, ci.GetConversationShortId())
		}
		if !page.GetHasMore() {
			return ids
		}
		if page.GetNextCursor() <= cursor {
			t.Fatalf("next_cursor %d does not move past %d", page.GetNextCursor(), cursor)
		}
		cursor = page.GetNextCursor()
	}
	t.Fatal("conversation list never ends")
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
	if !got.GetIsParticipant() || got.GetBadgeCount() != 2 || got.GetParticipantsCount() != 2 ||
		got.GetConversationCoreInfo().GetName() != "group" || got.GetUserInfo().GetUserId() != 2 {
		t.Fatalf("bob's view: participant=%v badge=%d count=%d name=%q user=%d", got.GetIsParticipant(), got.GetBadgeCount(),
			got.GetParticipantsCount(), got.GetConversationCoreInfo().GetName(), got.GetUserInfo().GetUserId())
	}
	if own := ciInfo(t, owner, conv); own.GetBadgeCount() != 0 {
		t.Errorf("the sender's own messages count as unread: badge %d", own.GetBadgeCount())
	}
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
	if got.GetIsParticipant() || got.GetParticipantsCount() != 1 || got.GetUserInfo() != nil {
		t.Fatalf("former member's view: participant=%v count=%d user_info=%v", got.GetIsParticipant(), got.GetParticipantsCount(), got.GetUserInfo())
	}
	if ids := ciListAll(t, bob, 10, nil, false); len(ids) != 0 {
		t.Errorf("left conversation listed without include_removed_group: %v", ids)
	}
	if ids := ciListAll(t, bob, 10, nil, true); !slices.Equal(ids, []int64{conv.GetConversationShortId()}) {
		t.Errorf("include_removed_group lists %v, want [%d]", ids, conv.GetConversationShortId())
	}
	// A former member may still delete it for themself.
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_DELETE, deleteConvBody(conv))
	if ids := ciListAll(t, bob, 10, nil, true); len(ids) != 0 {
		t.Errorf("deleted conversation still listed: %v", ids)
	}
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
	if st := ciInfo(t, bob, conv).GetConversationCoreInfo().GetStatus(); st != 1 {
		t.Errorf("dissolved conversation has core status %d, want 1", st)
	}
	wantStatus(t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		&improto.SetConversationCoreInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Name: proto.String("late"), IsNameSet: proto.Bool(true)}, improto.StatusCode_CONVERSATION_NOT_FOUND)
	// Private settings still change: a user may still mute or pin it.
	got := call[*improto.SetConversationSettingInfoResponseBody](t, bob, improto.IMCMD_SET_CONVERSATION_SETTING_INFO,
		&improto.SetConversationSettingInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			SetMute: proto.Bool(true)})
	if got.GetSettingInfo().GetMute() != 1 {
		t.Errorf("mute on a dissolved conversation: %v", got.GetSettingInfo())
	}
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
	if want := []string{mine.GetConversationId(), single.GetConversationId()}; !slices.Equal(ids, want) {
		t.Fatalf("610 returned %v, want %v", ids, want)
	}
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
		if got := ciListAll(t, alice, limit, nil, false); !slices.Equal(got, all) {
			t.Errorf("limit %d: listed %v, want %v", limit, got, all)
		}
	}
	if got := ciListAll(t, alice, 2, improto.ConversationType_GROUP_CHAT.Enum(), false); !slices.Equal(got, groups) {
		t.Errorf("groups only: %v, want %v", got, groups)
	}
	if got := ciListAll(t, alice, 2, improto.ConversationType_ONE_TO_ONE_CHAT.Enum(), false); !slices.Equal(got, singles) {
		t.Errorf("single chats only: %v, want %v", got, singles)
	}
	first := call[*improto.GetUserConversationListResponseBody](t, alice, improto.IMCMD_GET_USER_CONVERSATION_LIST,
		&improto.GetUserConversationListRequestBody{})
	if len(first.GetList()) != 7 || first.GetHasMore() || first.GetNextCursor() != all[6] {
		t.Errorf("default page: %d conversations, more=%v next=%d", len(first.GetList()), first.GetHasMore(), first.GetNextCursor())
	}
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
	if n.GetConversation().GetConversationId() != conv.GetConversationId() {
		t.Errorf("502 on alice's phone names %q", n.GetConversation().GetConversationId())
	}
	if got := ciListAll(t, alice, 10, nil, false); !slices.Equal(got, []int64{other.GetConversationShortId()}) {
		t.Errorf("after delete alice lists %v, want only %d", got, other.GetConversationShortId())
	}
	if got := ciListAll(t, bob, 10, nil, false); len(got) != 2 {
		t.Errorf("bob's list changed: %v", got)
	}
	if got := ciHistory(t, alice, conv); len(got) != 0 {
		t.Errorf("alice still sees messages %v", got)
	}
	if got := ciHistory(t, bob, conv); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("bob sees %v, want [1 2]", got)
	}
	v := ciInfo(t, alice, conv)
	if v.GetBadgeCount() != 0 || v.GetConversationSettingInfo().GetReadIndex() != 2 || v.GetConversationSettingInfo().GetSettingVersion() <= before {
		t.Errorf("after delete: badge %d read index %d version %d (was %d)", v.GetBadgeCount(),
			v.GetConversationSettingInfo().GetReadIndex(), v.GetConversationSettingInfo().GetSettingVersion(), before)
	}

	// A new message brings the conversation back, with only new history.
	// Bob heard nothing of the delete: the first push he gets after it is
	// that message.
	sendText(t, alice, conv, "three")
	if p := waitPush(t, bobWeb, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY, improto.IMCMD_MARK_READ_NOTIFY); improto.IMCMD(p.GetCmd()) != improto.IMCMD_NEW_MSG_NOTIFY {
		t.Errorf("bob got %v for alice's delete", improto.IMCMD(p.GetCmd()))
	}
	if got := ciListAll(t, alice, 10, nil, false); !slices.Equal(got, []int64{conv.GetConversationShortId(), other.GetConversationShortId()}) {
		t.Errorf("after a new message alice lists %v", got)
	}
	if got := ciHistory(t, alice, conv); !slices.Equal(got, []int64{3}) {
		t.Errorf("after revival alice sees %v, want [3]", got)
	}
	if b := ciInfo(t, alice, conv).GetBadgeCount(); b != 0 {
		t.Errorf("after revival with her own message badge %d, want 0", b)
	}
	sendText(t, bob, conv, "four")
	if b := ciInfo(t, alice, conv).GetBadgeCount(); b != 1 {
		t.Errorf("after bob's new message badge %d, want 1", b)
	}

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
	if b := ciInfo(t, bob, conv).GetBadgeCount(); b != 3 {
		t.Fatalf("bob's badge before reading: %d, want 3", b)
	}
	before := ciInfo(t, bob, conv).GetConversationSettingInfo().GetSettingVersion()

	// Bob reads up to 2 from his web socket (v1 command).
	call[proto.Message](t, bobWeb, improto.IMCMD_MARK_CONVERSATION_READ, ciMarkRead(conv, 2))
	for name, s := range map[string]*rawclient.Socket{"alice": aliceWeb, "bob's phone": bobPhone, "carol": carolWeb} {
		n := waitPush(t, s, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
		if n.GetUserId() != 2 || n.GetReadIndex() != 2 || n.GetReadIndexV2() != 2 ||
			n.GetMessageId() != sent[1].GetServerMessageId() || n.GetConversationId() != conv.GetConversationId() {
			t.Errorf("%s got 501 %v", name, n)
		}
	}
	v := ciInfo(t, bob, conv)
	if v.GetBadgeCount() != 1 || v.GetConversationSettingInfo().GetReadIndex() != 2 || v.GetConversationSettingInfo().GetSettingVersion() <= before {
		t.Errorf("after reading 2: badge %d read index %d version %d (was %d)", v.GetBadgeCount(),
			v.GetConversationSettingInfo().GetReadIndex(), v.GetConversationSettingInfo().GetSettingVersion(), before)
	}

	// A lower index is accepted and ignored: no push, no change.
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 1))
	// A larger index than the last is clamped (v3 command, over HTTP).
	call[proto.Message](t, bob, improto.IMCMD_MARK_CONVERSATION_READ_V3, ciMarkRead(conv, 100))
	for name, s := range map[string]*rawclient.Socket{"alice": aliceWeb, "bob's web": bobWeb} {
		// bob's web socket did not get the first 501 (it asked for it)
		// and nobody got one for index 1: the next is for 3.
		n := waitPush(t, s, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
		if n.GetReadIndex() != 3 || n.GetMessageId() != sent[2].GetServerMessageId() {
			t.Errorf("%s: next 501 has read index %d message %d, want 3 and %d", name, n.GetReadIndex(), n.GetMessageId(), sent[2].GetServerMessageId())
		}
	}
	if v := ciInfo(t, bob, conv); v.GetBadgeCount() != 0 || v.GetConversationSettingInfo().GetReadIndex() != 3 {
		t.Errorf("after reading all: badge %d read index %d", v.GetBadgeCount(), v.GetConversationSettingInfo().GetReadIndex())
	}

	// Carol marks by server message id.
	carolRead := ciMarkRead(conv, 0)
	carolRead.ServerMessageId = proto.Int64(sent[0].GetServerMessageId())
	call[proto.Message](t, e.user(4), improto.IMCMD_MARK_CONVERSATION_READ_V3, carolRead)
	if r := ciInfo(t, e.user(4), conv).GetConversationSettingInfo().GetReadIndex(); r != 1 {
		t.Errorf("carol's read index by server id: %d, want 1", r)
	}
	n := waitPush(t, aliceWeb, improto.IMCMD_MARK_READ_NOTIFY).GetBody().GetMarkConversationReadNotify()
	if n.GetUserId() != 4 || n.GetReadIndex() != 1 {
		t.Errorf("alice got 501 %v for carol", n)
	}

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
		if r.GetIndexMin() != 1 || r.GetIndexV2() != r.GetIndex() {
			t.Errorf("user %d: index_min %d index_v2 %d index %d", r.GetUserId(), r.GetIndexMin(), r.GetIndexV2(), r.GetIndex())
		}
	}
	if want := map[int64]int64{1: 2, 2: 3, 3: 1}; fmt.Sprint(byUser) != fmt.Sprint(want) {
		t.Errorf("read indexes %v, want %v", byUser, want)
	}
	wantStatus(t, e.user(9), improto.IMCMD_GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3, req, improto.StatusCode_USER_NOT_IN_GROUP)
}

func TestCoreAndSettingGettersAreEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user(1)
	resp := callRaw(t, alice, improto.IMCMD_GET_CONVERSATION_CORE_INFO, &improto.GetConversationCoreInfoRequestBody{})
	if resp.GetStatusCode() != 0 || resp.GetBody().GetGetConversationCoreInfoBody() == nil {
		t.Errorf("901: status %d body %v", resp.GetStatusCode(), resp.GetBody())
	}
	resp = callRaw(t, alice, improto.IMCMD_GET_CONVERSATION_SETTING_INFO, &improto.GetConversationSettingInfoRequestBody{})
	if resp.GetStatusCode() != 0 || resp.GetBody().GetGetConversationSettingInfoBody() == nil {
		t.Errorf("920: status %d body %v", resp.GetStatusCode(), resp.GetBody())
	}
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
	if got.GetStatus() != 0 || core.GetName() != "new name" || core.GetNotice() != "be nice" || core.GetDesc() != "" ||
		core.GetExt()["k"] != "v" || core.GetInfoVersion() != v0+1 {
		t.Fatalf("902 answered %v", got)
	}
	for name, s := range map[string]*rawclient.Socket{"owner's phone": ownerPhone, "bob": bobWeb} {
		n := waitPush(t, s, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY).GetBody().GetConversationInfoUpdatedNotify()
		if n.GetConversation().GetConversationShortId() != conv.GetConversationShortId() {
			t.Errorf("%s got 502 for %d", name, n.GetConversation().GetConversationShortId())
		}
	}
	if c := ciInfo(t, bob, conv).GetConversationCoreInfo(); c.GetName() != "new name" || c.GetInfoVersion() != v0+1 {
		t.Errorf("bob sees name %q version %d", c.GetName(), c.GetInfoVersion())
	}

	// The same values again change nothing.
	same := call[*improto.SetConversationCoreInfoResponseBody](t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		set(func(b *improto.SetConversationCoreInfoRequestBody) {
			b.Name, b.IsNameSet = proto.String("new name"), proto.Bool(true)
		}))
	if same.GetConversationCoreInfo().GetInfoVersion() != v0+1 {
		t.Errorf("a no-op 902 moved info_version to %d", same.GetConversationCoreInfo().GetInfoVersion())
	}

	// 904 merges keys; an empty value deletes one.
	up := call[*improto.UpsertConversationCoreExtInfoResponseBody](t, owner, improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO,
		&improto.UpsertConversationCoreExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Ext: map[string]string{"k": "", "a": "1", "b": "2"}})
	if ext := up.GetCoreInfo().GetExt(); fmt.Sprint(ext) != "map[a:1 b:2]" || up.GetCoreInfo().GetInfoVersion() != v0+2 {
		t.Errorf("904: ext %v version %d", ext, up.GetCoreInfo().GetInfoVersion())
	}
	n := waitPush(t, bobWeb, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY)
	if n.GetBody().GetConversationInfoUpdatedNotify().GetConversation().GetConversationShortId() != conv.GetConversationShortId() {
		t.Errorf("bob's 502 after 904: %v", n.GetBody())
	}
	// Replacing the ext through 902.
	rep := call[*improto.SetConversationCoreInfoResponseBody](t, owner, improto.IMCMD_SET_CONVERSATION_CORE_INFO,
		set(func(b *improto.SetConversationCoreInfoRequestBody) { b.Ext = map[string]string{"only": "this"} }))
	if ext := rep.GetConversationCoreInfo().GetExt(); fmt.Sprint(ext) != "map[only:this]" {
		t.Errorf("902 ext replace: %v", ext)
	}

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
	if c := ciInfo(t, bob, conv).GetConversationCoreInfo(); c.GetName() != "new name" || c.GetExt()["a"] != "" {
		t.Errorf("a refused change took effect: name %q ext %v", c.GetName(), c.GetExt())
	}
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
		if resp.GetStatus() != 0 {
			t.Fatalf("921 status %d", resp.GetStatus())
		}
		return resp.GetSettingInfo()
	}
	v0 := ciInfo(t, alice, conv).GetConversationSettingInfo().GetSettingVersion()

	s1 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetStickOnTop = proto.Bool(true) })
	if s1.GetStickOnTop() != 1 || s1.GetSetTopTime() <= 0 || s1.GetMute() != 0 || s1.GetFavorite() != 0 || s1.GetSettingVersion() != v0+1 {
		t.Fatalf("after stick on top: %v", s1)
	}
	if n := waitPush(t, alicePhone, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY); n.GetBody().GetConversationInfoUpdatedNotify().GetConversation().GetConversationId() != conv.GetConversationId() {
		t.Errorf("alice's phone 502: %v", n.GetBody())
	}
	s2 := setting(func(b *improto.SetConversationSettingInfoRequestBody) {
		b.SetMute, b.SetFavorite = proto.Bool(true), proto.Bool(true)
	})
	if s2.GetStickOnTop() != 1 || s2.GetSetTopTime() != s1.GetSetTopTime() || s2.GetMute() != 1 || s2.GetFavorite() != 1 ||
		s2.GetSetFavoriteTime() <= 0 || s2.GetSettingVersion() != v0+2 {
		t.Fatalf("after mute and favorite: %v", s2)
	}
	s3 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetStickOnTop = proto.Bool(false) })
	if s3.GetStickOnTop() != 0 || s3.GetSetTopTime() != 0 || s3.GetMute() != 1 || s3.GetSettingVersion() != v0+3 {
		t.Fatalf("after unstick: %v", s3)
	}
	if s4 := setting(func(b *improto.SetConversationSettingInfoRequestBody) { b.SetMute = proto.Bool(true) }); s4.GetSettingVersion() != v0+3 {
		t.Errorf("a no-op 921 moved setting_version to %d", s4.GetSettingVersion())
	}
	// Settings are private: bob's stay as they were.
	if bs := ciInfo(t, e.user(2), conv).GetConversationSettingInfo(); bs.GetMute() != 0 || bs.GetFavorite() != 0 {
		t.Errorf("bob's settings changed: %v", bs)
	}

	upsert := func(ext map[string]string) *improto.UpsertConversationSettingExtInfoRequestBody {
		return &improto.UpsertConversationSettingExtInfoRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ, Ext: ext}
	}
	up := call[*improto.UpsertConversationSettingExtInfoResponseBody](t, alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
		upsert(map[string]string{"s:push_status": "3", "s:push_part_disable_config": `{"whiteUids":["2"],"whiteMsgTypes":[7]}`, "mine": "x"}))
	if ext := up.GetSettingInfo().GetExt(); len(ext) != 3 || ext["s:push_status"] != "3" || up.GetSettingInfo().GetSettingVersion() != v0+4 {
		t.Errorf("922: ext %v version %d", ext, up.GetSettingInfo().GetSettingVersion())
	}
	up = call[*improto.UpsertConversationSettingExtInfoResponseBody](t, alice, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
		upsert(map[string]string{"mine": "", "s:push_status": "1"}))
	if ext := up.GetSettingInfo().GetExt(); len(ext) != 2 || ext["s:push_status"] != "1" || up.GetSettingInfo().GetMute() != 1 {
		t.Errorf("922 delete: ext %v mute %d", ext, up.GetSettingInfo().GetMute())
	}
	if got := ciInfo(t, alice, conv).GetConversationSettingInfo(); got.GetSettingVersion() != v0+5 || got.GetExt()["s:push_status"] != "1" {
		t.Errorf("608 setting after 922: %v", got)
	}

	// Settings are private: the first push bob gets after all that is a
	// later message, not a 502.
	sendText(t, alice, conv, "marker")
	if p := waitPush(t, bobWeb, improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY); improto.IMCMD(p.GetCmd()) != improto.IMCMD_NEW_MSG_NOTIFY {
		t.Errorf("bob got %v for alice's settings", improto.IMCMD(p.GetCmd()))
	}

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
	if got := ciInfo(t, alice, conv).GetConversationSettingInfo(); got.GetSettingVersion() != v0+5 {
		t.Errorf("a refused change moved setting_version to %d", got.GetSettingVersion())
	}
}
