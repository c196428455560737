package barebot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// push returns a Frame pushing msg with cmd, encoded by proto.
func push(t testing.TB, cmd improto.IMCMD, msg *improto.MessageBody) []byte {
	payload, err := proto.Marshal(&improto.Response{Cmd: proto.Int32(int32(cmd)), StatusCode: proto.Int32(0),
		Body: &improto.ResponseBody{HasNewMessageNotify: &improto.NewMessageNotify{
			ConversationId: msg.ConversationId, Message: msg, NextCursor: proto.Int64(9)}}})
	require.NoError(t, err)
	frame, err := proto.Marshal(&improto.Frame{Seqid: proto.Uint64(0), Logid: proto.Uint64(1), Service: proto.Int32(2),
		Method: proto.Int32(1), PayloadType: proto.String("pb"), Payload: payload})
	require.NoError(t, err)
	return frame
}

func pushed() *improto.MessageBody {
	return &improto.MessageBody{ConversationId: proto.String("0:1:1:100"), ConversationType: proto.Int32(1),
		ServerMessageId: proto.Int64(7301), IndexInConversation: proto.Int64(4), ConversationShortId: proto.Int64(42),
		MessageType: proto.Int32(7), Sender: proto.Int64(1), Content: proto.String(`{"text":"hi"}`),
		Ext: map[string]string{"s:client_message_id": "c1"}, CreateTime: proto.Int64(1700000000000)}
}

// The fields a bot needs are read from a push as proto encodes it, the
// others skipped; the bot's own messages and other pushes are not handed
// on.
func TestHandleReadsThePush(t *testing.T) {
	var got []Message
	b := &Bot{opts: Options{UserID: 100, OnMessage: func(m *Message) { got = append(got, *m) }}}
	require.NoError(t, b.handle(push(t, improto.IMCMD_NEW_MSG_NOTIFY, pushed())))
	require.NoError(t, b.handle(push(t, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY, pushed())))
	own := pushed()
	own.Sender = proto.Int64(100)
	require.NoError(t, b.handle(push(t, improto.IMCMD_NEW_MSG_NOTIFY, own)))
	require.NoError(t, b.handle(push(t, improto.IMCMD_MARK_READ_NOTIFY, pushed())))
	require.Len(t, got, 2)
	want := Message{ConversationID: []byte("0:1:1:100"), ConversationShortID: 42, ConversationType: 1, Type: 7,
		Sender: 1, ServerID: 7301, Content: []byte(`{"text":"hi"}`)}
	assert.Equal(t, want, got[0])
	want.Live = true
	assert.Equal(t, want, got[1])
}

// A refused reply ends Run with the server's status.
func TestHandleRefusedReply(t *testing.T) {
	payload, err := proto.Marshal(&improto.Response{Cmd: proto.Int32(100), SequenceId: proto.Int64(3),
		StatusCode: proto.Int32(int32(improto.StatusCode_TOO_MANY_REQUESTS)), ErrorDesc: proto.String("slow down")})
	require.NoError(t, err)
	frame, err := proto.Marshal(&improto.Frame{Seqid: proto.Uint64(3), Logid: proto.Uint64(1), Service: proto.Int32(2),
		Method: proto.Int32(1), Payload: payload})
	require.NoError(t, err)
	err = (&Bot{}).handle(frame)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slow down")
}

// Wire data never makes the bot panic.
func FuzzHandle(f *testing.F) {
	f.Add(push(f, improto.IMCMD_NEW_MSG_NOTIFY, pushed()))
	f.Add(push(f, improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY, pushed()))
	f.Add([]byte{0x42, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &Bot{opts: Options{UserID: 100, OnMessage: func(*Message) {}}}
		_ = b.handle(data)
	})
}
