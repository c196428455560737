package imserver

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

func TestRecordsRoundTrip(t *testing.T) {
	conv := convRecord{ID: "0:1:1:2", ShortID: 7, Type: typeSingle, Inbox: 3, LastIndex: 42, LastOrder: 1 << 50,
		Members: 2, CreateTime: 1700000000000, Dissolved: true}
	var got convRecord
	if err := got.unmarshal(conv.marshal()); err != nil || got != conv {
		t.Fatalf("conv record: %+v, %v", got, err)
	}
	uc := userConvRecord{JoinTime: 5, DeletedAt: 9, Deleted: true, Left: true}
	var gotUC userConvRecord
	if err := gotUC.unmarshal(uc.marshal()); err != nil || gotUC != uc {
		t.Fatalf("user conv record: %+v, %v", gotUC, err)
	}
	for _, bad := range [][]byte{nil, {}, {9}, conv.marshal()[:5], {recordVersion, 0x7f}} {
		if err := got.unmarshal(bad); err == nil {
			t.Errorf("unmarshal(% x) accepted a corrupt record", bad)
		}
	}
}

// TestMarshalMessage holds marshalMessage to proto.Marshal: the bytes
// decode to the same message, with or without ext and nested fields.
func TestMarshalMessage(t *testing.T) {
	msgs := []*improto.MessageBody{
		{},
		{ConversationId: proto.String("0:1:1:2"), ServerMessageId: proto.Int64(9), Content: proto.String("hi")},
		{
			ConversationId: proto.String("7"), ConversationShortId: proto.Int64(7), Sender: proto.Int64(3),
			Ext:           map[string]string{"s:client_message_id": "c1", "": "", "k": strings.Repeat("v", 300)},
			ReferenceInfo: &improto.ReferenceInfo{ReferencedMessageId: proto.Int64(4), Hint: proto.String("h")},
			PropertyList:  map[string]*improto.PropertyItemList{"like": {Items: []*improto.PropertyItem{{Uid: proto.Int64(3), Value: proto.String("1")}}}},
			ContentPb:     []byte{1, 2, 3},
		},
	}
	for i, m := range msgs {
		b, err := marshalMessage(m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var got improto.MessageBody
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatalf("message %d: decoding: %v", i, err)
		}
		if !proto.Equal(&got, m) {
			t.Errorf("message %d: decoded %v, want %v", i, &got, m)
		}
		if want := proto.Size(m); len(b) != want {
			t.Errorf("message %d: %d bytes, proto writes %d", i, len(b), want)
		}
	}
}
