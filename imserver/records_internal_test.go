package imserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

func TestRecordsRoundTrip(t *testing.T) {
	conv := convRecord{ID: "0:1:1:2", ShortID: 7, Type: typeSingle, Inbox: 3, LastIndex: 42, LastOrder: 1 << 50,
		Members: 2, CreateTime: 1700000000000, Dissolved: true}
	var got convRecord
	require.NoError(t, got.unmarshal(conv.marshal()), "conv record")
	require.Equal(t, conv, got, "conv record")
	uc := userConvRecord{JoinTime: 5, DeletedAt: 9, Deleted: true, Left: true}
	var gotUC userConvRecord
	require.NoError(t, gotUC.unmarshal(uc.marshal()), "user conv record")
	require.Equal(t, uc, gotUC, "user conv record")
	for _, bad := range [][]byte{nil, {}, {9}, conv.marshal()[:5], {recordVersion, 0x7f}} {
		assert.Error(t, got.unmarshal(bad), "unmarshal(% x) accepted a corrupt record", bad)
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
		require.NoError(t, err, "message %d", i)
		var got improto.MessageBody
		require.NoError(t, proto.Unmarshal(b, &got), "message %d: decoding", i)
		assert.True(t, proto.Equal(&got, m), "message %d: decoded %v, want %v", i, &got, m)
		assert.Equal(t, proto.Size(m), len(b), "message %d: bytes, as proto writes", i)
	}
}
