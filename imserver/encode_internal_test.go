package imserver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// TestAttachEncoded holds attachEncoded to setBody: a body encoded by hand
// into newEncodedBody's buffer makes the same Response, for bodies whose
// lengths take one to three varint bytes.
func TestAttachEncoded(t *testing.T) {
	for _, n := range []int{0, 1, 100, 20000} {
		msg := &improto.MessageBody{Content: proto.String(string(make([]byte, n)))}
		enc, err := proto.Marshal(msg)
		require.NoError(t, err)
		want := &improto.MessagesPerUserResponseBody{NextCursor: proto.Int64(7), HasMore: proto.Bool(true), Messages: []*improto.MessageBody{msg}}
		body := newEncodedBody(0)
		body = protowire.AppendTag(body, 2, protowire.VarintType)
		body = protowire.AppendVarint(body, 7)
		body = protowire.AppendTag(body, 3, protowire.VarintType)
		body = protowire.AppendVarint(body, 1)
		body = protowire.AppendBytes(protowire.AppendTag(body, 1, protowire.BytesType), enc)
		resp := &improto.Response{Cmd: proto.Int32(200)}
		attachEncoded(resp, 200, body)
		b, err := proto.Marshal(resp)
		require.NoError(t, err)
		var got improto.Response
		require.NoError(t, proto.Unmarshal(b, &got), "%d bytes", n)
		assert.True(t, proto.Equal(got.GetBody().GetMessagesPerUserBody(), want), "%d bytes: body %v", n, got.GetBody().GetMessagesPerUserBody())
	}
}
