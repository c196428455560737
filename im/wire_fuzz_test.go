package im

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// wireSeeds are encoded MessageBodies for the decoders' fuzz tests: a
// plain message, one with every field the client reads, and broken ones.
func wireSeeds(t testing.TB) [][]byte {
	full := &improto.MessageBody{
		ConversationId: proto.String("0:1:1:2"), ConversationType: proto.Int32(1), ServerMessageId: proto.Int64(7),
		IndexInConversation: proto.Int64(3), ConversationShortId: proto.Int64(9), MessageType: proto.Int32(10001),
		Sender: proto.Int64(2), Content: proto.String(`{"text":"hi"}`), CreateTime: proto.Int64(1700000000000),
		Version: proto.Int64(2), Status: proto.Int32(0), OrderInConversation: proto.Int64(1700000000000000),
		SecSender: proto.String("sec"), IndexInConversationV2: proto.Int64(3),
		Ext:          map[string]string{"s:client_message_id": "abc", "s:server_message_id": "7", "": ""},
		UserProfile:  map[string]string{"name": "bob"},
		PropertyList: map[string]*improto.PropertyItemList{"like": {Items: []*improto.PropertyItem{{Uid: proto.Int64(2), Value: proto.String("1"), CreateTimeMicro: proto.Int64(5)}}}, "empty": {}},
		ReferenceInfo: &improto.ReferenceInfo{ReferencedMessageId: proto.Int64(6), Hint: proto.String("quoted"),
			ReferencedMessageStatus: improto.MessageStatus_AVAILABLE.Enum(), Sender: proto.Int64(1)},
		MediaInfoList: []*improto.MediaInfo{{}},
		ContentPb:     []byte{1, 2, 3},
	}
	plain := &improto.MessageBody{ConversationId: proto.String("5"), IndexInConversationV2: proto.Int64(4), Content: proto.String("x")}
	var out [][]byte
	for _, m := range []*improto.MessageBody{full, plain, {}} {
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		out = append(out, b)
	}
	// Repeated fields: the later scalar wins, sub-messages merge.
	out = append(out, append(append([]byte(nil), out[0]...), out[1]...))
	out = append(out, []byte{0x0a, 0xff}, []byte{0x4a, 0x02, 0x0a, 0xff}, []byte{0x92, 0x01, 0x01, 0x08}, []byte{0x10})
	return out
}

// FuzzDecodeMessage holds decodeMessage to the generic path: it accepts
// exactly what proto.Unmarshal accepts, and gives what messageFromProto
// gives.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range wireSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.MessageBody{}
		wantErr := proto.Unmarshal(data, want)
		got, err := decodeMessage(data)
		require.Equal(t, wantErr == nil, err == nil, "decodeMessage error %v, proto.Unmarshal error %v", err, wantErr)
		if err != nil {
			return
		}
		require.Equal(t, messageFromProto(want), got, "decodeMessage, against messageFromProto")
	})
}

// FuzzDecodePullResponse holds decodePullResponse to proto.Unmarshal of
// the Response: the same acceptance, envelope, cursor and messages.
func FuzzDecodePullResponse(f *testing.F) {
	var msgs []*improto.MessageBody
	for _, s := range wireSeeds(f)[:3] {
		m := &improto.MessageBody{}
		require.NoError(f, proto.Unmarshal(s, m))
		msgs = append(msgs, m)
	}
	page := &improto.Response{Cmd: proto.Int32(200), SequenceId: proto.Int64(3), StatusCode: proto.Int32(0), InboxType: proto.Int32(0),
		LogId: proto.String("42"), Headers: map[string]string{improto.HeaderRetryAfterMs: "5"},
		Body: &improto.ResponseBody{MessagesPerUserBody: &improto.MessagesPerUserResponseBody{
			Messages: msgs, NextCursor: proto.Int64(99), HasMore: proto.Bool(true), NextInterval: proto.Int64(1)}}}
	b, err := proto.Marshal(page)
	require.NoError(f, err)
	f.Add(b)
	f.Add(append(append([]byte(nil), b...), b...))
	empty, _ := proto.Marshal(&improto.Response{StatusCode: proto.Int32(5), ErrorDesc: proto.String("no")})
	f.Add(empty)
	f.Add([]byte{0x32, 0x03, 0xc2, 0x0c, 0x00})
	f.Add([]byte{0x32, 0x04, 0xc2, 0x0c, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.Response{}
		wantErr := proto.Unmarshal(data, want)
		env, got, err := decodePullResponse(data)
		require.Equal(t, wantErr == nil, err == nil, "decodePullResponse error %v, proto.Unmarshal error %v", err, wantErr)
		if err != nil {
			return
		}
		// What the pull pipeline reads ahead agrees with the full decode.
		_, pages, err := splitPullResponse(data)
		require.NoError(t, err, "splitPullResponse")
		var peek inboxPage
		for _, p := range pages {
			require.NoError(t, peek.decode(p, false), "peek")
		}
		require.Equal(t, got.nextCursor, peek.nextCursor, "peek: cursor")
		require.Equal(t, got.hasMore, peek.hasMore, "peek: more")
		body := want.GetBody().GetMessagesPerUserBody()
		require.Equal(t, body.GetNextCursor(), got.nextCursor, "page: cursor")
		require.Equal(t, body.GetHasMore(), got.hasMore, "page: more")
		require.Len(t, got.messages, len(body.GetMessages()), "page: messages")
		for i, m := range body.GetMessages() {
			require.Equal(t, messageFromProto(m), got.messages[i], "message %d", i)
		}
		want.Body = nil
		require.True(t, proto.Equal(env, want), "envelope %v, want %v", env, want)
	})
}

// FuzzDecodePush holds decodePushResponse to proto.Unmarshal of the
// Response: the same acceptance, and for message pushes the same cursors
// and message as the generic path reads from the notify.
func FuzzDecodePush(f *testing.F) {
	seeds := wireSeeds(f)
	msg := &improto.MessageBody{}
	require.NoError(f, proto.Unmarshal(seeds[0], msg))
	for _, cmd := range []improto.IMCMD{improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY, improto.IMCMD_MARK_READ_NOTIFY} {
		b, err := proto.Marshal(&improto.Response{Cmd: proto.Int32(int32(cmd)), SequenceId: proto.Int64(0), InboxType: proto.Int32(0),
			Body: &improto.ResponseBody{HasNewMessageNotify: &improto.NewMessageNotify{ConversationId: proto.String("0:1:1:2"),
				Message: msg, PreviousCursor: proto.Int64(4), NextCursor: proto.Int64(5), BadgeCount: proto.Int32(1)},
				MarkConversationReadNotify: &improto.MarkConversationReadNotify{ConversationId: proto.String("x")}}})
		require.NoError(f, err)
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), b...))
	}
	f.Add([]byte{0x08, 0xf4, 0x03, 0x32, 0x04, 0xa2, 0x1f, 0x01, 0x28})
	// Two occurrences of the message: the first is broken (a 3-byte
	// content with 1 byte), though joined with the second it would parse.
	f.Add([]byte{0x08, 0xf4, 0x03, 0x32, 0x0c, 0xa2, 0x1f, 0x09, 0x2a, 0x03, 0x42, 0x03, 'x', 0x2a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.Response{}
		wantErr := proto.Unmarshal(data, want)
		got, err := decodePushResponse(data)
		require.Equal(t, wantErr == nil, err == nil, "decodePushResponse error %v, proto.Unmarshal error %v", err, wantErr)
		if err != nil {
			return
		}
		switch improto.IMCMD(want.GetCmd()) {
		case improto.IMCMD_NEW_MSG_NOTIFY, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY:
			n := want.GetBody().GetHasNewMessageNotify()
			require.NotNil(t, got.notify, "notify")
			require.Equal(t, n.GetPreviousCursor(), got.notify.previousCursor, "notify %+v: previous cursor", got.notify)
			require.Equal(t, n.GetNextCursor(), got.notify.nextCursor, "notify %+v: next cursor", got.notify)
			require.Equal(t, messageFromProto(n.GetMessage()), got.notify.message, "message")
			want.Body = nil
		default:
			require.Nil(t, got.notify, "a %v push decoded as a message push", improto.IMCMD(want.GetCmd()))
		}
		require.True(t, proto.Equal(got.resp, want), "envelope %v, want %v", got.resp, want)
	})
}

// FuzzDecodeResponse holds decodeResponse to proto.Unmarshal of the
// Response and Command.ResponseBodyMessage, for 100's body field.
func FuzzDecodeResponse(f *testing.F) {
	send, _ := improto.LookupCommand(improto.IMCMD_SEND_MESSAGE)
	ok, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(100), SequenceId: proto.Int64(9), StatusCode: proto.Int32(0), LogId: proto.String("7"),
		Body: &improto.ResponseBody{SendMessageBody: &improto.SendMessageResponseBody{ServerMessageId: proto.Int64(5), ClientMessageId: proto.String("c")}}})
	other, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(100), Body: &improto.ResponseBody{
		SendMessageBody:     &improto.SendMessageResponseBody{},
		MessagesPerUserBody: &improto.MessagesPerUserResponseBody{NextCursor: proto.Int64(1)}}})
	failed, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(100), StatusCode: proto.Int32(429), ErrorDesc: proto.String("slow down"),
		Headers: map[string]string{improto.HeaderRetryAfterMs: "250"}})
	for _, b := range [][]byte{ok, other, failed, append(append([]byte(nil), ok...), ok...), {0x32, 0x02, 0xa2, 0x06}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := &improto.Response{}
		wantErr := proto.Unmarshal(data, want)
		env, body, err := decodeResponse(data, send.BodyField)
		require.Equal(t, wantErr == nil, err == nil, "decodeResponse error %v, proto.Unmarshal error %v", err, wantErr)
		if err != nil {
			return
		}
		wantBody := send.ResponseBodyMessage(want.GetBody())
		require.Equal(t, wantBody == nil, body == nil, "body %v, want %v", body, wantBody)
		if body != nil {
			require.True(t, proto.Equal(body, wantBody), "body %v, want %v", body, wantBody)
		}
		want.Body = nil
		require.True(t, proto.Equal(env, want), "envelope %v, want %v", env, want)
	})
}
