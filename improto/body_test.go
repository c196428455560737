package improto_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// A body appended by hand is the bytes proto.Marshal writes for the same
// envelope with the body in its container, and reads back as it.
func TestAppendBody(t *testing.T) {
	body := &improto.SendMessageRequestBody{ConversationId: proto.String("0:1:1:2"), Content: proto.String(`{"text":"hi"}`)}
	want, err := proto.Marshal(&improto.Request{Body: &improto.RequestBody{SendMessageBody: body}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := improto.AppendRequestBody(nil, 100, body)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendRequestBody = %x, %v; want %x", got, err, want)
	}
	resp := &improto.SendMessageResponseBody{ServerMessageId: proto.Int64(7)}
	want, err = proto.Marshal(&improto.Response{Body: &improto.ResponseBody{SendMessageBody: resp}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = improto.AppendResponseBody([]byte{}, 100, resp)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendResponseBody = %x, %v; want %x", got, err, want)
	}
	var back improto.Response
	if err := proto.Unmarshal(got, &back); err != nil || back.GetBody().GetSendMessageBody().GetServerMessageId() != 7 {
		t.Fatalf("read back: %v, %v", &back, err)
	}
	// A body at a field of another type is refused.
	if _, err := improto.AppendRequestBody(nil, 101, body); err == nil {
		t.Fatal("AppendRequestBody accepted a SendMessageRequestBody at field 101")
	}
	if _, err := improto.AppendResponseBody(nil, 99999, resp); err == nil {
		t.Fatal("AppendResponseBody accepted an unknown field")
	}
}
