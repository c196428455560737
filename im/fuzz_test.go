package im

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// FuzzDecodeFrame feeds arbitrary bytes to the decoder of server frames:
// it must return a Response or an error, never panic, and whatever it
// accepts must be safe for the push handler to read.
func FuzzDecodeFrame(f *testing.F) {
	push, _ := proto.Marshal(&improto.Response{Cmd: proto.Int32(500), SequenceId: proto.Int64(0), Body: &improto.ResponseBody{
		HasNewMessageNotify: &improto.NewMessageNotify{Message: &improto.MessageBody{ConversationId: proto.String("0:1:1:2"), IndexInConversation: proto.Int64(1)}}}})
	for _, payload := range [][]byte{push, nil, {0xff}, []byte("not protobuf")} {
		frame, _ := proto.Marshal(&improto.Frame{Seqid: proto.Uint64(0), Logid: proto.Uint64(1), Service: proto.Int32(2), Method: proto.Int32(1), Payload: payload})
		f.Add(frame)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	o, _ := Options{AppID: 1, UserID: 1, APIURL: "http://x", FrontierURL: "ws://x", Token: StaticToken("t")}.withDefaults()
	c := &Client{opts: o, log: o.Logger}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, payload, err := c.readFrame(data)
		if err != nil || seq != 0 {
			return
		}
		p, err := c.decodePush(payload)
		if err != nil {
			return
		}
		// What the sync engine reads from a push must be readable.
		b := p.resp.GetBody()
		if a := b.GetNewFriendMessageNotify(); a != nil {
			_ = friendApplyFromProto(a.GetApply())
			_ = friendFromProto(a.GetFriend())
		}
	})
}
