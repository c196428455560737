package improto_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// A body appended by hand is the bytes proto.Marshal writes for the same
// envelope with the body in its container, and reads back as it.
func TestAppendBody(t *testing.T) {
	body := &improto.SendMessageRequestBody{ConversationId: proto.String("0:1:1:2"), Content: proto.String(`{"text":"hi"}`)}
	want, err := proto.Marshal(&improto.Request{Body: &improto.RequestBody{SendMessageBody: body}})
	require.NoError(t, err)
	got, err := improto.AppendRequestBody(nil, 100, body)
	require.NoError(t, err, "AppendRequestBody")
	require.Equal(t, want, got, "AppendRequestBody")
	resp := &improto.SendMessageResponseBody{ServerMessageId: proto.Int64(7)}
	want, err = proto.Marshal(&improto.Response{Body: &improto.ResponseBody{SendMessageBody: resp}})
	require.NoError(t, err)
	got, err = improto.AppendResponseBody([]byte{}, 100, resp)
	require.NoError(t, err, "AppendResponseBody")
	require.Equal(t, want, got, "AppendResponseBody")
	var back improto.Response
	require.NoError(t, proto.Unmarshal(got, &back), "read back")
	require.Equal(t, int64(7), back.GetBody().GetSendMessageBody().GetServerMessageId(), "read back: %v", &back)
	// A body at a field of another type is refused.
	_, err = improto.AppendRequestBody(nil, 101, body)
	require.Error(t, err, "AppendRequestBody accepted a SendMessageRequestBody at field 101")
	_, err = improto.AppendResponseBody(nil, 99999, resp)
	require.Error(t, err, "AppendResponseBody accepted an unknown field")
}
