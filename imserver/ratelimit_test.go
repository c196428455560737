package imserver_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// TestSendRateIsPerUser exhausts a user's send burst (2 per second, burst
// 2) on HTTP and a socket together: the next send is TOO_MANY_REQUESTS
// with the exact wait in retry-after-ms, other commands and other users go
// on, and once the clock has moved by the hint the send passes.
func TestSendRateIsPerUser(t *testing.T) {
	clk := newClock()
	e := newEnv(t, withClock(clk), func(c *imserver.Config) { c.SendRate, c.SendBurst = 2, 2 })
	alice, sock := e.user(1), e.socket(1, "phone")
	conv := createGroup(t, alice, 2)
	send := &improto.SendMessageRequestBody{ConversationId: conv.ConversationId, ConversationShortId: conv.ConversationShortId,
		ConversationType: conv.ConversationType, MessageType: proto.Int32(10001), Content: proto.String("hi")}
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, send)
	call[*improto.SendMessageResponseBody](t, sock, improto.IMCMD_SEND_MESSAGE, send)
	for _, c := range []caller{alice, sock} {
		resp := wantStatus(t, c, improto.IMCMD_SEND_MESSAGE, send, improto.StatusCode_TOO_MANY_REQUESTS)
		assert.Equal(t, "500", resp.GetHeaders()[improto.HeaderRetryAfterMs], "%s (one token at 2/s, clock frozen)", improto.HeaderRetryAfterMs)
		assert.Contains(t, resp.GetErrorDesc(), "user 1", "error_desc does not name the user")
	}
	// Only sends count, and only the sender's.
	call[*improto.MessagesPerUserResponseBody](t, alice, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	call[*improto.SendMessageResponseBody](t, e.user(2), improto.IMCMD_SEND_MESSAGE, send)

	clk.Advance(499 * time.Millisecond)
	resp := wantStatus(t, alice, improto.IMCMD_SEND_MESSAGE, send, improto.StatusCode_TOO_MANY_REQUESTS)
	assert.Equal(t, "1", resp.GetHeaders()[improto.HeaderRetryAfterMs], "1ms before the token: %s", improto.HeaderRetryAfterMs)
	clk.Advance(time.Millisecond)
	call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, send)
}

// TestSendRateIsOffByDefault sends well past any small burst with the
// default Config.
func TestSendRateIsOffByDefault(t *testing.T) {
	e := newEnv(t)
	alice := e.user(1)
	conv := createGroup(t, alice, 2)
	send := &improto.SendMessageRequestBody{ConversationId: conv.ConversationId, ConversationShortId: conv.ConversationShortId,
		ConversationType: conv.ConversationType, MessageType: proto.Int32(10001), Content: proto.String("hi")}
	for range 50 {
		call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, send)
	}
}

// TestSendRateConfig checks the SendRate options: bad values are errors
// that name the field, and SendBurst defaults to a second's worth.
func TestSendRateConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    float64
		burst   int
		wantErr string
	}{
		{"negative rate", -1, 0, "Config.SendRate"},
		{"NaN rate", math.NaN(), 0, "Config.SendRate"},
		{"infinite rate", math.Inf(1), 0, "Config.SendRate"},
		{"negative burst", 1, -1, "Config.SendBurst"},
		{"off", 0, 0, ""},
		{"fraction", 0.5, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			defer st.Close()
			_, err := imserver.New(imserver.Config{AppID: 1, AppSecret: "s", Store: st, SendRate: tc.rate, SendBurst: tc.burst})
			if tc.wantErr == "" {
				require.NoError(t, err, "New")
			} else {
				require.ErrorContains(t, err, tc.wantErr, "New: want an error naming the field")
			}
		})
	}
}

// TestSendBurstDefault checks the default burst through its effect: at 3
// sends per second, three pass at once and the fourth waits a third of a
// second.
func TestSendBurstDefault(t *testing.T) {
	e := newEnv(t, withClock(newClock()), func(c *imserver.Config) { c.SendRate = 3 })
	alice := e.user(1)
	conv := createGroup(t, alice, 2)
	send := &improto.SendMessageRequestBody{ConversationId: conv.ConversationId, ConversationShortId: conv.ConversationShortId,
		ConversationType: conv.ConversationType, MessageType: proto.Int32(10001), Content: proto.String("hi")}
	for range 3 {
		call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, send)
	}
	resp := wantStatus(t, alice, improto.IMCMD_SEND_MESSAGE, send, improto.StatusCode_TOO_MANY_REQUESTS)
	assert.Equal(t, "334", resp.GetHeaders()[improto.HeaderRetryAfterMs], "%s (a third of a second, rounded up)", improto.HeaderRetryAfterMs)
}
