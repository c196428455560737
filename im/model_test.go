package im

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// testMessage builds a message of conversation "0:1:1:2" from user 2 with ext.
func testMessage(index int64, ext map[string]string) *Message {
	return &Message{
		ConversationID: "0:1:1:2", ConversationShortID: 7, ConversationType: ConversationTypeOneToOne,
		Index: index, Order: index * 10, Sender: 2, Type: MessageTypeText, Ext: ext,
	}
}

func TestMessageExtRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ext  map[string]string
		typ  MessageType
		get  func(*Message) bool
		want bool
	}{
		{"IsRecalled true", map[string]string{"s:is_recalled": "true"}, 0, (*Message).IsRecalled, true},
		{"IsRecalled false", map[string]string{"s:is_recalled": "false"}, 0, (*Message).IsRecalled, false},
		{"IsRecalled unset", nil, 0, (*Message).IsRecalled, false},
		{"IsUnpop true", map[string]string{"s:do_not_pop_conversation": "true"}, 0, (*Message).IsUnpop, true},
		{"IsUnpop unset", nil, 0, (*Message).IsUnpop, false},
		{"IsUnpop other value", map[string]string{"s:do_not_pop_conversation": "1"}, 0, (*Message).IsUnpop, false},
		{"PopsConversation unset", nil, 0, (*Message).PopsConversation, true},
		{"PopsConversation flagged", map[string]string{"s:do_not_pop_conversation": "true"}, 0, (*Message).PopsConversation, false},
		{"IncreasesUnread unset", nil, 0, (*Message).IncreasesUnread, true},
		{"IncreasesUnread flagged", map[string]string{"s:do_not_increase_unread": "true"}, 0, (*Message).IncreasesUnread, false},
		{"IncreasesUnread flag false", map[string]string{"s:do_not_increase_unread": "false"}, 0, (*Message).IncreasesUnread, true},
		{"IncreasesUnread special type", nil, 50002, (*Message).IncreasesUnread, false},
		{"MovesReadIndex unset", nil, 0, (*Message).MovesReadIndex, true},
		{"MovesReadIndex flagged", map[string]string{"s:do_not_move_read_index": "true"}, 0, (*Message).MovesReadIndex, false},
		{"UpdatesLastMessage unset", nil, 0, (*Message).UpdatesLastMessage, true},
		{"UpdatesLastMessage flagged", map[string]string{"s:do_not_update_last_msg": "true"}, 0, (*Message).UpdatesLastMessage, false},
		{"IsRootReference true", map[string]string{"s:is_root_ref": "true"}, 0, (*Message).IsRootReference, true},
		{"IsRootReference unset", nil, 0, (*Message).IsRootReference, false},
		{"IsStrangerMessage mode 1", map[string]string{"s:mode": "1"}, 0, (*Message).IsStrangerMessage, true},
		{"IsStrangerMessage mode 0", map[string]string{"s:mode": "0"}, 0, (*Message).IsStrangerMessage, false},
		{"IsStrangerMessage unset", nil, 0, (*Message).IsStrangerMessage, false},
		{"MentionsAll with 0", map[string]string{"s:mentioned_users": "3,0"}, 0, (*Message).MentionsAll, true},
		{"MentionsAll without 0", map[string]string{"s:mentioned_users": "3,4"}, 0, (*Message).MentionsAll, false},
		{"MentionsAll unset", nil, 0, (*Message).MentionsAll, false},
		{"IsCommand 50001", nil, 50001, (*Message).IsCommand, true},
		{"IsCommand 50002", nil, 50002, (*Message).IsCommand, false},
		{"IsSpecial 50000", nil, 50000, (*Message).IsSpecial, true},
		{"IsSpecial 49999", nil, 49999, (*Message).IsSpecial, false},
		{"IsNormal text", nil, MessageTypeText, (*Message).IsNormal, true},
		{"IsNormal command", nil, MessageTypeCommand, (*Message).IsNormal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := testMessage(1, tt.ext)
			if tt.typ != 0 {
				m.Type = tt.typ
			}
			assert.Equal(t, tt.want, tt.get(m), "ext %v, type %d", tt.ext, m.Type)
		})
	}
}

func TestMessageUserRules(t *testing.T) {
	t.Parallel()
	const me UserID = 3
	tests := []struct {
		name   string
		sender UserID
		ext    map[string]string
		status ServerMessageStatus
		get    func(*Message, UserID) bool
		want   bool
	}{
		{"IsMentioned listed", 2, map[string]string{"s:mentioned_users": "4, 3"}, 0, (*Message).IsMentioned, true},
		{"IsMentioned everyone", 2, map[string]string{"s:mentioned_users": "0"}, 0, (*Message).IsMentioned, true},
		{"IsMentioned others", 2, map[string]string{"s:mentioned_users": "4,5"}, 0, (*Message).IsMentioned, false},
		{"IsMentioned none", 2, nil, 0, (*Message).IsMentioned, false},
		{"IsMentioned malformed", 2, map[string]string{"s:mentioned_users": "x,3y,,"}, 0, (*Message).IsMentioned, false},
		{"IsFromMe mine", me, nil, 0, (*Message).IsFromMe, true},
		{"IsFromMe theirs", 2, nil, 0, (*Message).IsFromMe, false},
		{"IsVisibleTo no lists", 2, nil, 0, (*Message).IsVisibleTo, true},
		{"IsVisibleTo in s:visible", 2, map[string]string{"s:visible": "3,4"}, 0, (*Message).IsVisibleTo, true},
		{"IsVisibleTo not in s:visible", 2, map[string]string{"s:visible": "4"}, 0, (*Message).IsVisibleTo, false},
		{"IsVisibleTo empty s:visible", 2, map[string]string{"s:visible": ""}, 0, (*Message).IsVisibleTo, true},
		{"IsVisibleTo in s:invisible", 2, map[string]string{"s:invisible": "3"}, 0, (*Message).IsVisibleTo, false},
		{"IsVisibleTo not in s:invisible", 2, map[string]string{"s:invisible": "4"}, 0, (*Message).IsVisibleTo, true},
		{"IsVisibleTo sender despite lists", me, map[string]string{"s:visible": "4", "s:invisible": "3"}, 0, (*Message).IsVisibleTo, true},
		{"IsVisibleTo disabled", 2, nil, ServerMessageStatusDisable, (*Message).IsVisibleTo, false},
		{"IsVisibleTo disabled own", me, nil, ServerMessageStatusDisable, (*Message).IsVisibleTo, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := testMessage(1, tt.ext)
			m.Sender, m.ServerStatus = tt.sender, tt.status
			assert.Equal(t, tt.want, tt.get(m, me), "sender %d, ext %v", tt.sender, tt.ext)
		})
	}
}

func TestMessageLists(t *testing.T) {
	t.Parallel()
	m := testMessage(1, map[string]string{"s:mentioned_users": " 5 ,0,x", "s:visible": "1,2", "s:invisible": "9"})
	for _, tt := range []struct {
		name string
		got  []UserID
		want []UserID
	}{
		{"MentionedUsers", m.MentionedUsers(), []UserID{5, 0}},
		{"Visible", m.Visible(), []UserID{1, 2}},
		{"Invisible", m.Invisible(), []UserID{9}},
		{"MentionedUsers unset", testMessage(1, nil).MentionedUsers(), nil},
	} {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
}

func TestMessagePriority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ext  string
		want MessagePriority
	}{
		{"", MessagePriorityNormal},
		{"0", MessagePriorityLow},
		{"1", MessagePriorityNormal},
		{"2", MessagePriorityHigh},
		{"3", MessagePriorityNormal},
		{"-1", MessagePriorityNormal},
		{"high", MessagePriorityNormal},
	}
	for _, tt := range tests {
		ext := map[string]string{}
		if tt.ext != "" {
			ext["s:message_priority"] = tt.ext
		}
		assert.Equal(t, tt.want, testMessage(1, ext).Priority(), "Priority with s:message_priority %q", tt.ext)
	}
}

func TestIsGeneralConversation(t *testing.T) {
	t.Parallel()
	for typ, want := range map[ConversationType]bool{
		ConversationTypeOneToOne: true, ConversationTypeGroup: true, ConversationTypeMassChat: false, 3: false,
	} {
		m := &Message{ConversationType: typ}
		c := &Conversation{Type: typ}
		assert.Equal(t, want, m.IsGeneralConversation(), "type %v: message", typ)
		assert.Equal(t, want, c.IsGeneralConversation(), "type %v: conversation", typ)
	}
}

func TestMessageClone(t *testing.T) {
	t.Parallel()
	m := testMessage(1, map[string]string{"k": "v"})
	m.Properties = map[string][]MessageProperty{"like": {{Value: "1"}}}
	m.Reference = &ReferenceInfo{ReferencedMessageID: 5}
	c := m.Clone()
	c.Ext["k"] = "changed"
	c.Properties["like"][0].Value = "changed"
	c.Reference.ReferencedMessageID = 6
	assert.Equal(t, "v", m.Ext["k"], "changing the clone changed the original's ext")
	assert.Equal(t, "1", m.Properties["like"][0].Value, "changing the clone changed the original's properties")
	assert.EqualValues(t, 5, m.Reference.ReferencedMessageID, "changing the clone changed the original's reference")
	assert.Nil(t, (*Message)(nil).Clone(), "nil.Clone()")
}

func TestMessageFromProto(t *testing.T) {
	t.Parallel()
	created := time.UnixMilli(1_700_000_000_123)
	b := &improto.MessageBody{
		ConversationId:      proto.String("42"),
		ConversationType:    proto.Int32(2),
		ServerMessageId:     proto.Int64(9001),
		IndexInConversation: proto.Int64(5),
		ConversationShortId: proto.Int64(42),
		MessageType:         proto.Int32(10001),
		Sender:              proto.Int64(3),
		SecSender:           proto.String("sec3"),
		Content:             proto.String("hi"),
		Ext:                 map[string]string{"s:client_message_id": "c-1", "s:is_recalled": "true"},
		CreateTime:          proto.Int64(created.UnixMilli()),
		Version:             proto.Int64(4),
		Status:              proto.Int32(1),
		OrderInConversation: proto.Int64(1_700_000_000_123_456),
		PropertyList: map[string]*improto.PropertyItemList{"like": {Items: []*improto.PropertyItem{
			{Uid: proto.Int64(7), SecUid: proto.String("sec7"), CreateTime: proto.Int64(1000), IdempotentId: proto.String("i1"), Value: proto.String("+1")},
			{Uid: proto.Int64(8), CreateTime: proto.Int64(2000), CreateTimeMicro: proto.Int64(2_000_500), Value: proto.String("+1")},
		}}},
		ReferenceInfo: &improto.ReferenceInfo{
			ReferencedMessageId: proto.Int64(9000), Hint: proto.String(`{"a":1}`), RefMessageType: proto.Int64(10003),
			ReferencedMessageStatus: improto.MessageStatus_RECALLED.Enum(), RootMessageId: proto.Int64(8999),
			RootMessageConvIndex: proto.Int64(2), Sender: proto.Int64(4),
		},
	}
	want := &Message{
		ServerID: 9001, ClientID: "c-1", ConversationID: "42", ConversationShortID: 42,
		ConversationType: ConversationTypeGroup, Index: 5, Order: 1_700_000_000_123_456, Sender: 3, SecSender: "sec3",
		Type: MessageTypeText, Content: "hi", Ext: map[string]string{"s:client_message_id": "c-1", "s:is_recalled": "true"},
		CreatedAt: created, Version: 4, ServerStatus: ServerMessageStatusDisable, FlightStatus: FlightStatusSucceeded,
		Properties: map[string][]MessageProperty{"like": {
			{MessageID: 9001, ConversationID: "42", Key: "like", UserID: 7, SecUID: "sec7", CreateTime: time.UnixMilli(1000),
				IdempotentID: "i1", Value: "+1", Status: PropertyStatusSuccess},
			{MessageID: 9001, ConversationID: "42", Key: "like", UserID: 8, CreateTime: time.UnixMicro(2_000_500),
				Value: "+1", Status: PropertyStatusSuccess},
		}},
		Reference: &ReferenceInfo{
			ReferencedMessageID: 9000, Hint: `{"a":1}`, RefMessageType: MessageTypeImage,
			ReferencedMessageStatus: MessageStatusRecalled, RootMessageID: 8999, RootMessageConvIndex: 2, Sender: 4,
		},
	}
	got := messageFromProto(b)
	assert.Equal(t, want, got, "messageFromProto")
	b.Ext["s:client_message_id"] = "changed"
	assert.Equal(t, "c-1", got.Ext["s:client_message_id"], "the message shares its ext map with the proto")
	assert.True(t, got.IsRecalled(), "IsRecalled() for s:is_recalled true")

	t.Run("minimal", func(t *testing.T) {
		t.Parallel()
		m := messageFromProto(&improto.MessageBody{IndexInConversationV2: proto.Int64(8)})
		assert.EqualValues(t, 8, m.Index, "messageFromProto(minimal) = %+v: index", m)
		assert.Empty(t, m.ClientID, "messageFromProto(minimal) = %+v: client id", m)
		assert.True(t, m.CreatedAt.IsZero(), "messageFromProto(minimal) = %+v: created at", m)
		assert.Nil(t, m.Properties, "messageFromProto(minimal): properties")
		assert.Nil(t, m.Reference, "messageFromProto(minimal): reference")
		assert.Equal(t, FlightStatusSucceeded, m.FlightStatus, "messageFromProto(minimal) = %+v: flight status", m)
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		assert.Nil(t, messageFromProto(nil), "messageFromProto(nil)")
	})
}

func TestConversationFromProto(t *testing.T) {
	t.Parallel()
	c := &improto.ConversationInfoV2{
		ConversationId:      proto.String("42"),
		ConversationShortId: proto.Int64(42),
		ConversationType:    proto.Int32(2),
		Ticket:              proto.String("t"),
		FirstPageParticipants: &improto.ParticipantsPage{Participants: []*improto.Participant{
			{UserId: proto.Int64(1), Role: proto.Int32(1)},
			{UserId: proto.Int64(3), Role: proto.Int32(2), Blocked: improto.BlockStatus_BLOCK.Enum(), LeftBlockTime: proto.Int64(60_000)},
		}},
		ParticipantsCount: proto.Int32(2),
		IsParticipant:     proto.Bool(true),
		InboxType:         proto.Int32(0),
		BadgeCount:        proto.Int32(4),
		UserInfo: &improto.Participant{
			UserId: proto.Int64(3), SortOrder: proto.Int64(9), Role: proto.Int32(2), Alias: proto.String("bob"),
			SecUid: proto.String("sec3"), Ext: map[string]string{"p": "1"},
		},
		ConversationCoreInfo: &improto.ConversationCoreInfo{
			InfoVersion: proto.Int64(6), Name: proto.String("g"), Desc: proto.String("d"), Icon: proto.String("i"),
			Notice: proto.String("n"), Owner: proto.Int64(1), SecOwner: proto.String("sec1"),
			BlockStatus: improto.BlockStatus_BLOCK.Enum(), BlockNormalOnly: proto.Bool(true), Mode: proto.Int32(0),
			CreatorUid: proto.Int64(1), Status: proto.Int32(1), Ext: map[string]string{"a": "core", "b": "core"},
		},
		ConversationSettingInfo: &improto.ConversationSettingInfo{
			ConversationId: proto.String("42"), MinIndex: proto.Int64(2), ReadIndex: proto.Int64(11),
			Mute: proto.Int32(1), StickOnTop: proto.Int32(1), SettingVersion: proto.Int64(8), Favorite: proto.Int32(1),
			SetTopTime: proto.Int64(5000), SetFavoriteTime: proto.Int64(6000),
			Ext: map[string]string{
				"b": "setting", "s:push_status": "3",
				"s:push_part_disable_config": `{"whiteUids":["2",5],"whiteMsgTypes":[10003]}`,
			},
		},
	}
	got := conversationFromProto(c)
	weak := &ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{2, 5}, WhiteMsgTypes: []MessageType{MessageTypeImage}}
	want := &Conversation{
		ID: "42", ShortID: 42, Type: ConversationTypeGroup, IsMember: true, ParticipantCount: 2,
		Participant: &Participant{
			UserID: 3, SecUID: "sec3", SortOrder: 9, Role: GroupRoleManager, Alias: "bob", ConversationID: "42",
			MinIndex: 2, ReadIndex: 11, Ext: map[string]string{"p": "1"},
		},
		FirstPageParticipants: []*Participant{
			{UserID: 1, Role: GroupRoleOwner, ConversationID: "42"},
			{UserID: 3, Role: GroupRoleManager, ConversationID: "42", Blocked: true, LeftBlockTime: time.Minute},
		},
		Status: ConversationStatusDissolved,
		CoreInfo: &ConversationCoreInfo{
			ConversationID: "42", Version: 6, Name: "g", Desc: "d", Icon: "i", Notice: "n", Owner: 1, SecOwner: "sec1",
			BlockStatus: BlockStatusBlock, BlockNormalOnly: true, Ext: map[string]string{"a": "core", "b": "core"},
			Creator: 1, Status: ConversationStatusDissolved,
		},
		SettingInfo: &ConversationSettingInfo{
			ConversationID: "42", Version: 8, StickTop: StickTopStateOn, SetTopTime: time.UnixMilli(5000), Mute: MuteStateOn,
			PushStatus: PushStatusPartAllow, Favorite: FavoriteStateOn, SetFavoriteTime: time.UnixMilli(6000),
			ReadIndex: 11, MinIndex: 2, Ext: c.ConversationSettingInfo.Ext, WeakMuteInfo: weak,
		},
		ReadIndex: 11, Version: 8, UnreadCount: 4, Ticket: "t",
	}
	assert.Equal(t, want, got, "conversationFromProto")
	checks := []struct {
		name      string
		got, want any
	}{
		{"PushStatus", got.PushStatus(), PushStatusPartAllow},
		{"WeakMuteInfo", got.WeakMuteInfo(), weak},
		{"IsStickOnTop", got.IsStickOnTop(), true},
		{"IsFavorite", got.IsFavorite(), true},
		{"IsBlocked", got.IsBlocked(), true},
		{"IsBlockNormalOnly", got.IsBlockNormalOnly(), true},
		{"Mode", got.Mode(), int32(0)},
		{"IsStrangerConversation", got.IsStrangerConversation(), false},
		{"Ext", got.Ext(), map[string]string{"a": "core", "b": "setting", "s:push_status": "3",
			"s:push_part_disable_config": `{"whiteUids":["2",5],"whiteMsgTypes":[10003]}`}},
		{"Participant.IsSelf", got.Participant.IsSelf(3), true},
		{"UpdatedAt", got.UpdatedAt(), time.Time{}},
	}
	for _, ch := range checks {
		assert.Equal(t, ch.want, ch.got, ch.name)
	}

	t.Run("bare", func(t *testing.T) {
		t.Parallel()
		conv := conversationFromProto(&improto.ConversationInfoV2{ConversationId: proto.String("0:1:1:2"), ConversationType: proto.Int32(1)})
		assert.Nil(t, conv.CoreInfo, "conversationFromProto(bare): core info")
		assert.Nil(t, conv.SettingInfo, "conversationFromProto(bare): setting info")
		assert.Nil(t, conv.Participant, "conversationFromProto(bare): participant")
		assert.Nil(t, conv.FirstPageParticipants, "conversationFromProto(bare): first page participants")
		assert.Equal(t, PushStatusUnknown, conv.PushStatus(), "a bare conversation's PushStatus")
		assert.Nil(t, conv.WeakMuteInfo(), "a bare conversation's WeakMuteInfo")
		assert.False(t, conv.IsStickOnTop(), "a bare conversation's IsStickOnTop")
		assert.False(t, conv.IsFavorite(), "a bare conversation's IsFavorite")
		assert.False(t, conv.IsBlocked(), "a bare conversation's IsBlocked")
		assert.False(t, conv.IsBlockNormalOnly(), "a bare conversation's IsBlockNormalOnly")
		assert.Zero(t, conv.Mode(), "a bare conversation's Mode")
		assert.Empty(t, conv.Ext(), "a bare conversation's Ext")
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		assert.Nil(t, conversationFromProto(nil), "conversationFromProto(nil)")
		assert.Nil(t, participantFromProto(nil, "x"), "participantFromProto(nil)")
	})
}

func TestConversationExt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		core, setting map[string]string
		want          map[string]string
	}{
		{"setting wins", map[string]string{"k": "core", "c": "1"}, map[string]string{"k": "setting", "s": "2"},
			map[string]string{"k": "setting", "c": "1", "s": "2"}},
		{"core only", map[string]string{"k": "core"}, nil, map[string]string{"k": "core"}},
		{"setting only", nil, map[string]string{"k": "setting"}, map[string]string{"k": "setting"}},
		{"neither", nil, nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Conversation{CoreInfo: &ConversationCoreInfo{Ext: tt.core}, SettingInfo: &ConversationSettingInfo{Ext: tt.setting}}
			got := c.Ext()
			assert.Equal(t, tt.want, got, "Ext()")
			got["new"] = "x"
			assert.NotContains(t, c.CoreInfo.Ext, "new", "Ext() returned the core's map")
		})
	}
}

func TestConversationBlock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     BlockStatus
		normalOnly bool
		blocked    bool
		normal     bool
	}{
		{BlockStatusUnblock, false, false, false},
		{BlockStatusUnblock, true, false, false},
		{BlockStatusBlock, false, true, false},
		{BlockStatusBlock, true, true, true},
	}
	for _, tt := range tests {
		c := &Conversation{CoreInfo: &ConversationCoreInfo{BlockStatus: tt.status, BlockNormalOnly: tt.normalOnly}}
		assert.Equal(t, tt.blocked, c.IsBlocked(), "%v normalOnly=%v: IsBlocked", tt.status, tt.normalOnly)
		assert.Equal(t, tt.normal, c.IsBlockNormalOnly(), "%v normalOnly=%v: IsBlockNormalOnly", tt.status, tt.normalOnly)
	}
}

func TestToParticipantUserID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		id     ConversationID
		typ    ConversationType
		me     UserID
		want   UserID
		wantOK bool
	}{
		{"me first", "0:1:3:7", ConversationTypeOneToOne, 3, 7, true},
		{"me second", "0:1:3:7", ConversationTypeOneToOne, 7, 3, true},
		{"other inbox", "5:1:3:7", ConversationTypeOneToOne, 7, 3, true},
		{"self chat", "0:1:3:3", ConversationTypeOneToOne, 3, 3, true},
		{"not mine", "0:1:3:7", ConversationTypeOneToOne, 9, 0, false},
		{"group", "42", ConversationTypeGroup, 3, 0, false},
		{"group with a single-like id", "0:1:3:7", ConversationTypeGroup, 3, 0, false},
		{"malformed kind", "0:2:3:7", ConversationTypeOneToOne, 3, 0, false},
		{"malformed user", "0:1:3:x", ConversationTypeOneToOne, 3, 0, false},
		{"malformed inbox", "a:1:3:7", ConversationTypeOneToOne, 3, 0, false},
		{"too short", "0:1:3", ConversationTypeOneToOne, 3, 0, false},
		{"empty", "", ConversationTypeOneToOne, 3, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Conversation{ID: tt.id, Type: tt.typ}
			got, ok := c.ToParticipantUserID(tt.me)
			assert.Equal(t, tt.want, got, "ToParticipantUserID(%d) of %q", tt.me, tt.id)
			assert.Equal(t, tt.wantOK, ok, "ToParticipantUserID(%d) of %q: ok", tt.me, tt.id)
		})
	}
}

func TestSingleChatID(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ConversationID("0:1:3:7"), SingleChatID(0, 7, 3), "SingleChatID(0, 7, 3)")
	assert.Equal(t, ConversationID("2:1:3:7"), SingleChatID(2, 3, 7), "SingleChatID(2, 3, 7)")
	a, b, ok := parseSingleChatID(SingleChatID(1, 9, 4))
	assert.True(t, ok, "parse(SingleChatID(1, 9, 4)): ok")
	assert.EqualValues(t, 4, a, "parse(SingleChatID(1, 9, 4)): first user")
	assert.EqualValues(t, 9, b, "parse(SingleChatID(1, 9, 4)): second user")
}

// convMessages is a conversation ("0:1:1:2", read up to index 2) and its
// local messages, unordered, for the tests of the message getters.
func convMessages() (*Conversation, []*Message) {
	c := &Conversation{ID: "0:1:1:2", ShortID: 7, Type: ConversationTypeOneToOne, ReadIndex: 2}
	mine := testMessage(5, nil)
	mine.Sender = 1
	image := testMessage(6, nil)
	image.Type = MessageTypeImage
	image.Sender = 9
	other := testMessage(3, nil)
	other.ConversationID, other.ConversationShortID = "99", 99
	pending := testMessage(0, nil) // not stored by the server yet
	pending.Sender = 1
	unpop := testMessage(4, map[string]string{"s:do_not_pop_conversation": "true"})
	hidden := testMessage(3, map[string]string{"s:invisible": "1"}) // hidden from user 1
	noUnread := testMessage(7, map[string]string{"s:do_not_increase_unread": "true"})
	onlyFor5 := testMessage(8, map[string]string{"s:visible": "5"}) // hidden from user 1
	// Unordered on purpose; 1 and 2 are read; nil is ignored.
	msgs := []*Message{unpop, testMessage(1, nil), hidden, pending, noUnread, mine, image, other, testMessage(2, nil), onlyFor5, nil}
	return c, msgs
}

func messageIndexes(list []*Message) []int64 {
	out := []int64{}
	for _, m := range list {
		out = append(out, m.Index)
	}
	return out
}

func TestConversationMessageGetters(t *testing.T) {
	t.Parallel()
	const me UserID = 1
	c, msgs := convMessages()
	tests := []struct {
		name string
		got  []int64
		want []int64
	}{
		{"MessageList", messageIndexes(c.MessageList(msgs, nil)), []int64{1, 2, 3, 4, 5, 6, 7, 8, 0}},
		{"MessageList filter", messageIndexes(c.MessageList(msgs, func(m *Message) bool { return m.Index%2 == 0 })), []int64{2, 4, 6, 8, 0}},
		{"VisibleMessages", messageIndexes(c.VisibleMessages(msgs, me)), []int64{1, 2, 4, 5, 6, 7, 0}},
		{"UnreadMessages", messageIndexes(c.UnreadMessages(msgs, me)), []int64{4, 6}},
		{"UnreadMessages of 9", messageIndexes(c.UnreadMessages(msgs, 9)), []int64{3, 4, 5}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
	single := []struct {
		name string
		got  *Message
		want int64 // index; -1 for nil
	}{
		{"FirstMessage", c.FirstMessage(msgs), 1},
		{"LastVisibleMessage", c.LastVisibleMessage(msgs, me), 0}, // the pending message, newest
		{"LastVisibleMessage stored", c.LastVisibleMessage(msgs[:3], me), 4},
		{"LastPopVisibleMessage", c.LastPopVisibleMessage(msgs[:3], me), 1},
		{"FirstMessage none", c.FirstMessage(nil), -1},
		{"LastVisibleMessage none", c.LastVisibleMessage(msgs[7:8], me), -1},
	}
	for _, tt := range single {
		if tt.want == -1 {
			assert.Nil(t, tt.got, "%s, want nil", tt.name)
		} else if assert.NotNil(t, tt.got, "%s, want index %d", tt.name, tt.want) {
			assert.Equal(t, tt.want, tt.got.Index, "%s: index", tt.name)
		}
	}
	numbers := []struct {
		name      string
		got, want int64
	}{
		{"FirstMessageIndex", c.FirstMessageIndex(msgs), 1},
		{"FirstMessageIndex pending only", c.FirstMessageIndex(msgs[3:4]), 0},
		{"LastMessageIndex", c.LastMessageIndex(msgs), 8},
		{"LastMessageOrder", c.LastMessageOrder(msgs), 80},
		{"LastMessageIndex none", c.LastMessageIndex(nil), 0},
	}
	for _, tt := range numbers {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
	withLast := *c
	withLast.LastMessage = testMessage(12, nil)
	withLast.LastMessage.CreatedAt = time.UnixMilli(1_700_000_000_000)
	got := withLast.UpdatedAt()
	assert.True(t, got.Equal(withLast.LastMessage.CreatedAt), "UpdatedAt() = %v, want the last message's %v", got, withLast.LastMessage.CreatedAt)
	assert.EqualValues(t, 12, withLast.LastMessageIndex(msgs), "LastMessageIndex with a newer LastMessage")
	assert.EqualValues(t, 120, withLast.LastMessageOrder(msgs), "LastMessageOrder with a newer LastMessage")
	byShortID := &Conversation{ID: "other", ShortID: 7}
	assert.Len(t, messageIndexes(byShortID.MessageList(msgs, nil)), 9, "messages matched by short id")
}

func TestUnreadCountWeakMute(t *testing.T) {
	t.Parallel()
	const me UserID = 1
	tests := []struct {
		name string
		weak *ConversationSettingWeakMuteInfo
		want []int64
	}{
		{"no white lists", nil, nil},
		{"empty white lists", &ConversationSettingWeakMuteInfo{}, nil},
		{"white-listed user", &ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{9}}, []int64{6}},
		{"white-listed type", &ConversationSettingWeakMuteInfo{WhiteMsgTypes: []MessageType{MessageTypeText}}, []int64{4}},
		{"both", &ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{2}, WhiteMsgTypes: []MessageType{MessageTypeImage}}, []int64{4, 6}},
		{"own messages never count", &ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, msgs := convMessages()
			c.SettingInfo = &ConversationSettingInfo{PushStatus: PushStatusPartAllow, WeakMuteInfo: tt.weak}
			assert.Equal(t, len(tt.want), c.UnreadCountWeakMute(msgs, me), "UnreadCountWeakMute")
			got := c.UnreadMessagesWeakMute(msgs, me)
			if len(got) != 0 || len(tt.want) != 0 {
				assert.Equal(t, tt.want, messageIndexes(got), "UnreadMessagesWeakMute")
			}
		})
	}
}

func TestWeakMuteInfoJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ext  string
		want *ConversationSettingWeakMuteInfo
	}{
		{"strings", `{"whiteUids":["2","3"],"whiteMsgTypes":["10001"]}`,
			&ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{2, 3}, WhiteMsgTypes: []MessageType{10001}}},
		{"numbers", `{"whiteUids":[2],"whiteMsgTypes":[10001,7]}`,
			&ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{2}, WhiteMsgTypes: []MessageType{10001, 7}}},
		{"big uid", `{"whiteUids":["9007199254740993"]}`,
			&ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{9007199254740993}}},
		{"empty object", `{}`, &ConversationSettingWeakMuteInfo{}},
		{"absent", ``, nil},
		{"invalid JSON", `{whiteUids`, nil},
		{"not a number", `{"whiteUids":["x"]}`, nil},
		{"fraction", `{"whiteMsgTypes":[1.5]}`, nil},
		{"wrong shape", `{"whiteUids":"2"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ext := map[string]string{}
			if tt.ext != "" {
				ext["s:push_part_disable_config"] = tt.ext
			}
			assert.Equal(t, tt.want, parseWeakMuteInfo(ext), "parseWeakMuteInfo(%s)", tt.ext)
		})
	}
	w := ConversationSettingWeakMuteInfo{WhiteUIDs: []UserID{2, 3}, WhiteMsgTypes: []MessageType{10001}}
	b, err := json.Marshal(w)
	require.NoError(t, err)
	assert.Equal(t, `{"whiteUids":["2","3"],"whiteMsgTypes":[10001]}`, string(b), "json.Marshal")
	var back ConversationSettingWeakMuteInfo
	assert.NoError(t, json.Unmarshal(b, &back), "round trip")
	assert.Equal(t, w, back, "round trip")
}

func TestParsePushStatus(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]PushStatus{
		"": PushStatusUnknown, "0": PushStatusUnknown, "1": PushStatusAllow, "2": PushStatusDisable,
		"3": PushStatusPartAllow, "4": PushStatusUnknown, "-1": PushStatusUnknown, "allow": PushStatusUnknown,
	} {
		ext := map[string]string{}
		if v != "" {
			ext["s:push_status"] = v
		}
		assert.Equal(t, want, parsePushStatus(ext), "parsePushStatus(%q)", v)
	}
}

func TestFriendFromProto(t *testing.T) {
	t.Parallel()
	f := friendFromProto(&improto.FriendUserInfo{
		UserId: proto.Int64(5), ApplyTimeSecond: proto.Int64(1_700_000_000), CreateTime: proto.Int64(1_700_000_001_500),
		Ext: map[string]string{"k": "v"},
	})
	want := &Friend{UserID: 5, ApplyTime: time.Unix(1_700_000_000, 0), CreateTime: time.UnixMilli(1_700_000_001_500),
		Ext: map[string]string{"k": "v"}}
	assert.Equal(t, want, f, "friendFromProto")
	a := friendApplyFromProto(&improto.ApplyUserInfo{
		UserId: proto.Int64(5), ApplyTimeSecond: proto.Int64(1_700_000_000), Ext: map[string]string{"hello": "hi"},
		Status: proto.Int32(2), ApplyId: proto.Int64(77), FromUserId: proto.Int64(5), ToUserId: proto.Int64(6), Index: proto.Int64(3),
	})
	wantApply := &FriendApply{ID: 77, FromUserID: 5, ToUserID: 6, ApplyTime: time.Unix(1_700_000_000, 0),
		Ext: map[string]string{"hello": "hi"}, Status: FriendApplyStatusRefuse, Index: 3}
	assert.Equal(t, wantApply, a, "friendApplyFromProto")
	bare := friendApplyFromProto(&improto.ApplyUserInfo{})
	assert.Equal(t, FriendApplyStatusWaiting, bare.Status, "friendApplyFromProto(empty) = %+v: status", bare)
	assert.True(t, bare.ApplyTime.IsZero(), "friendApplyFromProto(empty) = %+v: apply time", bare)
	assert.Nil(t, friendFromProto(nil), "friendFromProto(nil)")
	assert.Nil(t, friendApplyFromProto(nil), "friendApplyFromProto(nil)")
}

func TestLiveMemberFromProto(t *testing.T) {
	t.Parallel()
	got := liveMemberFromProto(&improto.LiveMemberInfo{
		UserId: proto.Int64(4), IsInConversation: proto.Bool(true), CreateTime: proto.Int64(1000),
		PingTime: proto.Int64(2000), Role: proto.Int32(3),
	})
	want := &LiveMemberInfo{UserID: 4, IsInConversation: true, CreateTime: time.UnixMilli(1000), PingTime: time.UnixMilli(2000), Role: GroupRoleVisitor}
	assert.Equal(t, want, got, "liveMemberFromProto")
	assert.Nil(t, liveMemberFromProto(nil), "liveMemberFromProto(nil)")
}

func TestUserIDHelpers(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []UserID{3, 4}, userIDsFromProto([]int64{3, 4}), "userIDsFromProto")
	assert.Nil(t, userIDsFromProto(nil), "userIDsFromProto(nil)")
	assert.Equal(t, "3,0,12", formatUserIDs([]UserID{3, 0, 12}), "formatUserIDs")
	assert.Equal(t, []UserID{3, 0, 12}, parseUserList(formatUserIDs([]UserID{3, 0, 12})), "parseUserList(formatUserIDs(...))")
	for _, tt := range []struct{ got, want string }{
		{UserID(42).String(), "42"},
		{ConversationID("0:1:1:2").String(), "0:1:1:2"},
		{ConversationShortID(7).String(), "7"},
		{MessageID(-1).String(), "-1"},
		{FriendApplyID(9).String(), "9"},
	} {
		assert.Equal(t, tt.want, tt.got, "String()")
	}
}

func TestFileInfoContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		f       FileInfo
		want    string
		wantErr string
	}{
		{
			name: "image",
			f: FileInfo{Type: FileTypeImage, URL: "https://x/cat.png", Name: "cat.png", Size: 1234, MimeType: "image/png",
				Width: 640, Height: 480, ImageThumbWidth: 64, ImageThumbHeight: 48, ImagePreviewWidth: 320, ImagePreviewHeight: 240,
				ImageSuffix: "png", Ext: map[string]string{"mine": "1", "s:file_ext_key_type": "overridden"}},
			want: `{"__files":{"media":{"remoteURL":"https://x/cat.png","ext":{"mine":"1",` +
				`"s:file_ext_key_file_name":"cat.png","s:file_ext_key_file_size":"1234","s:file_ext_key_img_suffix":"png",` +
				`"s:file_ext_key_mime_type":"image/png","s:file_ext_key_original_height":"480","s:file_ext_key_original_width":"640",` +
				`"s:file_ext_key_preview_height":"240","s:file_ext_key_preview_width":"320",` +
				`"s:file_ext_key_thumb_height":"48","s:file_ext_key_thumb_width":"64",` +
				`"s:file_ext_key_type":"file_ext_value_type_image"}}}}`,
		},
		{
			name: "audio",
			f:    FileInfo{Type: FileTypeAudio, URL: "https://x/a.mp3", Duration: 3500 * time.Millisecond},
			want: `{"__files":{"media":{"remoteURL":"https://x/a.mp3","ext":{"s:file_ext_key_audio_duration":"3.5",` +
				`"s:file_ext_key_type":"file_ext_value_type_audio"}}}}`,
		},
		{
			name: "video",
			f:    FileInfo{Type: FileTypeVideo, URL: "https://x/v.mp4", Duration: time.Minute, Width: 1920, Height: 1080},
			want: `{"__files":{"media":{"remoteURL":"https://x/v.mp4","ext":{"s:file_ext_key_original_height":"1080",` +
				`"s:file_ext_key_original_width":"1920","s:file_ext_key_type":"file_ext_value_type_video",` +
				`"s:file_ext_key_video_duration":"60"}}}}`,
		},
		{
			name: "file",
			f:    FileInfo{Type: FileTypeFile, URL: "https://x/r.pdf", Name: "r.pdf", Size: 10},
			want: `{"__files":{"file":{"remoteURL":"https://x/r.pdf","ext":{"s:file_ext_key_file_name":"r.pdf",` +
				`"s:file_ext_key_file_size":"10","s:file_ext_key_type":"file_ext_value_type_file"}}}}`,
		},
		{name: "no URL", f: FileInfo{Type: FileTypeImage}, wantErr: "URL is required"},
		{name: "no type", f: FileInfo{URL: "https://x"}, wantErr: "unknown Type"},
		{name: "bad type", f: FileInfo{Type: "gif", URL: "https://x"}, wantErr: `unknown Type "gif"`},
		{name: "negative size", f: FileInfo{Type: FileTypeFile, URL: "https://x", Size: -1}, wantErr: "negative"},
		{name: "negative duration", f: FileInfo{Type: FileTypeAudio, URL: "https://x", Duration: -time.Second}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.f.Content()
			if tt.wantErr != "" {
				var e *Error
				if assert.ErrorContains(t, err, tt.wantErr, "Content() = %q, want an InvalidArgument error", got) && assert.ErrorAs(t, err, &e) {
					assert.Equal(t, ErrorTypeInvalidArgument, e.Type, "Content(): %v, want an InvalidArgument error", err)
				}
				return
			}
			assert.NoError(t, err, "Content()")
			assert.Equal(t, tt.want, got, "Content()")
			if tt.f.Ext != nil {
				assert.Equal(t, "overridden", tt.f.Ext["s:file_ext_key_type"], "Content() changed the caller's Ext")
			}
		})
	}
}

func TestFileTypeMessageType(t *testing.T) {
	t.Parallel()
	for ft, want := range map[FileType]MessageType{
		FileTypeImage: MessageTypeImage, FileTypeVideo: MessageTypeVideo, FileTypeAudio: MessageTypeAudio,
		FileTypeFile: MessageTypeFile, "gif": 0,
	} {
		assert.Equal(t, want, ft.MessageType(), "%q.MessageType()", ft)
	}
}

// TestEnumStrings checks that every named value of every enum has a name
// and that other values print as Type(n).
func TestEnumStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
	}{
		{ConversationTypeMassChat.String(), "MassChat"},
		{ConversationType(3).String(), "ConversationType(3)"},
		{FlightStatusSelfVisible.String(), "SelfVisible"},
		{FlightStatus(-9).String(), "FlightStatus(-9)"},
		{MessageTypeCommand.String(), "Command"},
		{MessageType(12345).String(), "MessageType(12345)"},
		{WebSocketLevelPushOnly.String(), "PushOnly"},
		{GroupRoleVisitor.String(), "Visitor"},
		{FriendApplyStatusAgree.String(), "Agree"},
		{ReplyFriendAttitudeReject.String(), "Reject"},
		{ErrorTypeInvalidArgument.String(), "InvalidArgument"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, "String()")
	}
	// Every constant registered for SEED.md that has a String method has a
	// name of its own.
	for name, c := range seedConsts {
		s, ok := c.(interface{ String() string })
		if !ok {
			continue
		}
		assert.NotContains(t, s.String(), "(", "%s.String(): the constant has no name", name)
	}
}

func TestMessageText(t *testing.T) {
	for _, tt := range []struct {
		content, want string
	}{
		{TextContent("hi"), "hi"},
		{TextContent(""), ""},
		{`{"url":"x"}`, ""},
		{"not json", ""},
		{` {"text":"padded"}`, "padded"},
	} {
		assert.Equal(t, tt.want, (&Message{Content: tt.content}).Text(), "Text(%q)", tt.content)
	}
	assert.Empty(t, (*Message)(nil).Text(), "nil.Text()")
}
