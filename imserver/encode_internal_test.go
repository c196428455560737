package imserver

import (
	"testing"

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
		if err != nil {
			t.Fatal(err)
		}
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
		if err != nil {
			t.Fatal(err)
		}
		var got improto.Response
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !proto.Equal(got.GetBody().GetMessagesPerUserBody(), want) {
			t.Errorf("%d bytes: body %v", n, got.GetBody().GetMessagesPerUserBody())
		}
	}
}
