package im

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// BenchmarkDecodePage decodes one pull page of 1000 short text messages
// (as the server stores them: ext s:server_message_id) with the client's
// decoder, against proto.Unmarshal and messageFromProto of the same bytes.
func BenchmarkDecodePage(b *testing.B) {
	var msgs []*improto.MessageBody
	for i := range int64(1000) {
		msgs = append(msgs, &improto.MessageBody{ConversationId: proto.String("7"), ConversationType: proto.Int32(2),
			ServerMessageId: proto.Int64(i), IndexInConversation: proto.Int64(i), IndexInConversationV2: proto.Int64(i),
			ConversationShortId: proto.Int64(7), MessageType: proto.Int32(10001), Sender: proto.Int64(2),
			Content: proto.String(fmt.Sprintf(`{"text":"missed message %d"}`, i)), Ext: map[string]string{"s:server_message_id": fmt.Sprint(i)},
			CreateTime: proto.Int64(1700000000000), Version: proto.Int64(1), Status: proto.Int32(0), OrderInConversation: proto.Int64(1700000000000000)})
	}
	data, err := proto.Marshal(&improto.Response{Cmd: proto.Int32(200), Body: &improto.ResponseBody{
		MessagesPerUserBody: &improto.MessagesPerUserResponseBody{Messages: msgs}}})
	require.NoError(b, err)
	b.Run("protowire", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _, err := decodePullResponse(data)
			require.NoError(b, err)
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			r := &improto.Response{}
			require.NoError(b, proto.Unmarshal(data, r))
			for _, m := range r.GetBody().GetMessagesPerUserBody().GetMessages() {
				messageFromProto(m)
			}
		}
	})
}
