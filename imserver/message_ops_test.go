package imserver_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// recallWindow sets the server's Config.RecallWindow.
func recallWindow(d time.Duration) func(*imserver.Config) {
	return func(cfg *imserver.Config) { cfg.RecallWindow = d }
}

// sendWithExt sends a text message carrying ext.
func sendWithExt(t *testing.T, c caller, conv *improto.ConversationInfoV2, text string, ext map[string]string) int64 {
	t.Helper()
	body := textBody(conv, text)
	body.Ext = ext
	return call[*improto.SendMessageResponseBody](t, c, improto.IMCMD_SEND_MESSAGE, body).GetServerMessageId()
}

func getByIDBody(conv *improto.ConversationInfoV2, id int64) *improto.GetMessageByIdRequestBody {
	cid, short, typ := convRef(conv)
	return &improto.GetMessageByIdRequestBody{ConversationId: cid, ConversationShortId: short, ConversationType: typ, ServerMessageId: proto.Int64(id)}
}

// getByID asks for one message with 211.
func getByID(t *testing.T, c caller, conv *improto.ConversationInfoV2, id int64) *improto.MessageInfo {
	t.Helper()
	return call[*improto.GetMessageByIdResponseBody](t, c, improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, getByIDBody(conv, id)).GetMsgInfo()
}

func recallBody(conv *improto.ConversationInfoV2, id int64) *improto.RecallMessageRequestBody {
	cid, short, typ := convRef(conv)
	return &improto.RecallMessageRequestBody{ConversationId: cid, ConversationShortId: short, ConversationType: typ, ServerMessageId: proto.Int64(id)}
}

func deleteBody(conv *improto.ConversationInfoV2, id int64) *improto.DeleteMessageRequestBody {
	cid, short, typ := convRef(conv)
	return &improto.DeleteMessageRequestBody{ConversationId: cid, ConversationShortId: short, ConversationType: typ, MessageId: proto.Int64(id)}
}

func propertyBody(conv *improto.ConversationInfoV2, id int64, ops ...*improto.ModifyPropertyContent) *improto.ModifyMessagePropertyRequestBody {
	cid, short, typ := convRef(conv)
	return &improto.ModifyMessagePropertyRequestBody{PropertyList: &improto.ModifyPropertyBody{
		ConversationId: cid, ConversationShortId: short, ConversationType: typ,
		ServerMessageId: proto.Int64(id), ModifyPropertyContent: ops,
	}}
}

func propertyOp(op improto.OPERATION_TYPE, k, value, idem string) *improto.ModifyPropertyContent {
	return &improto.ModifyPropertyContent{Operation: op.Enum(), Key: proto.String(k), Value: proto.String(value), IdempotentId: proto.String(idem)}
}

// setProperty sends 705 and requires status OK.
func setProperty(t *testing.T, c caller, conv *improto.ConversationInfoV2, id int64, ops ...*improto.ModifyPropertyContent) *improto.ModifyMessagePropertyResponseBody {
	t.Helper()
	return call[*improto.ModifyMessagePropertyResponseBody](t, c, improto.IMCMD_SET_MESSAGE_PROPERTY, propertyBody(conv, id, ops...))
}

func extBody(conv *improto.ConversationInfoV2, id int64, ext map[string]string) *improto.ModifyMessageExtRequestBody {
	cid, short, typ := convRef(conv)
	return &improto.ModifyMessageExtRequestBody{ConversationId: cid, ConversationShortId: short, ConversationType: typ, ServerMessageId: proto.Int64(id), Ext: ext}
}

// nextMessagePush requires the next push on s to be a 500 for message id
// and returns its notify.
func nextMessagePush(t *testing.T, s *rawclient.Socket, id int64) *improto.NewMessageNotify {
	t.Helper()
	p := waitPush(t, s)
	n := p.GetBody().GetHasNewMessageNotify()
	require.Equal(t, int32(improto.IMCMD_NEW_MSG_NOTIFY), p.GetCmd(), "next push's cmd, want %v", improto.IMCMD_NEW_MSG_NOTIFY)
	require.Equal(t, id, n.GetMessage().GetServerMessageId(), "next push's message")
	return n
}

// wantRedelivered requires a change of message id to reach a member both
// ways: as the next 500 push on their socket and as a new entry in their
// inbox, each with version want. It returns the pushed message.
func wantRedelivered(t *testing.T, s *rawclient.Socket, member caller, id, want int64) *improto.MessageBody {
	t.Helper()
	n := nextMessagePush(t, s, id)
	require.Equal(t, want, n.GetMessage().GetVersion(), "pushed message %d's version", id)
	page := pull(t, member, n.GetPreviousCursor())
	require.Len(t, page.GetMessages(), 1, "inbox after cursor %d, want the one entry the push announced", n.GetPreviousCursor())
	require.Equal(t, n.GetNextCursor(), page.GetNextCursor(), "inbox after cursor %d: next cursor, as the push announced", n.GetPreviousCursor())
	m := page.GetMessages()[0]
	require.Equal(t, id, m.GetServerMessageId(), "inbox entry's message")
	require.Equal(t, want, m.GetVersion(), "inbox entry's version")
	return n.GetMessage()
}

func TestGetMessageByID(t *testing.T) {
	e := newEnv(t)
	owner, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, owner, 2, 3)
	plain := sendText(t, owner, conv, "hello").GetServerMessageId()
	onlyBob := sendWithExt(t, owner, conv, "for bob", map[string]string{"s:visible": "2"})
	notCarol := sendWithExt(t, owner, conv, "not for carol", map[string]string{"s:invisible": "3"})
	deleted := sendText(t, owner, conv, "bob deletes this").GetServerMessageId()
	recalled := sendText(t, owner, conv, "recalled").GetServerMessageId()
	call[*improto.RecallMessageResponseBody](t, owner, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, recalled))
	call[proto.Message](t, bob, improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, deleted))
	other := createGroup(t, owner, 2)
	elsewhere := sendText(t, owner, other, "other group").GetServerMessageId()

	for _, tc := range []struct {
		name string
		as   caller
		id   int64
		want improto.MessageStatus
	}{
		{"available", bob, plain, improto.MessageStatus_AVAILABLE},
		{"visible to bob", bob, onlyBob, improto.MessageStatus_AVAILABLE},
		{"s:visible leaves carol out", carol, onlyBob, improto.MessageStatus_INVISIBLE},
		{"the sender sees their own", owner, onlyBob, improto.MessageStatus_AVAILABLE},
		{"s:invisible names carol", carol, notCarol, improto.MessageStatus_INVISIBLE},
		{"s:invisible spares bob", bob, notCarol, improto.MessageStatus_AVAILABLE},
		{"deleted for bob", bob, deleted, improto.MessageStatus_INVISIBLE},
		{"not deleted for carol", carol, deleted, improto.MessageStatus_AVAILABLE},
		{"recalled", carol, recalled, improto.MessageStatus_RECALLED},
		{"unknown id", bob, 99999, improto.MessageStatus_NOT_EXIST},
		{"id of another conversation", bob, elsewhere, improto.MessageStatus_NOT_EXIST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := getByID(t, tc.as, conv, tc.id)
			require.NotNil(t, info.Status, "status is unset")
			require.Equal(t, tc.want, info.GetStatus(), "status")
			switch tc.want {
			case improto.MessageStatus_AVAILABLE, improto.MessageStatus_RECALLED:
				require.Equal(t, tc.id, info.GetBody().GetServerMessageId(), "body %v", info.GetBody())
				require.Equal(t, conv.GetConversationId(), info.GetBody().GetConversationId(), "body %v", info.GetBody())
			default:
				require.Nil(t, info.Body, "%v carries a body", tc.want)
			}
		})
	}
	body := getByID(t, carol, conv, recalled).GetBody()
	assert.Empty(t, body.GetContent(), "recalled message content")
	assert.Equal(t, "true", body.GetExt()["s:is_recalled"], "recalled message ext %v", body.GetExt())

	t.Run("refusals", func(t *testing.T) {
		wantStatus(t, e.user(4), improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, getByIDBody(conv, plain), improto.StatusCode_USER_NOT_IN_GROUP)
		wantStatus(t, bob, improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, getByIDBody(conv, 0), improto.StatusCode_INVALID_REQUEST)
		missing := getByIDBody(conv, plain)
		missing.ConversationId, missing.ConversationShortId = proto.String("no-such"), nil
		wantStatus(t, bob, improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, missing, improto.StatusCode_CONVERSATION_NOT_FOUND)
	})

	// Both routes of 211 reach the same command.
	for _, route := range []string{"v1/message/get_by_id", "v1/message/get_message_by_server_id"} {
		t.Run(route, func(t *testing.T) {
			req, err := rawclient.Request(improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID, 7, bob.Token, 0, getByIDBody(conv, plain))
			require.NoError(t, err)
			resp, err := bob.Post(ctx(t), route, req)
			require.NoError(t, err)
			require.Zero(t, resp.GetStatusCode(), "status: %s", resp.GetErrorDesc())
			info := resp.GetBody().GetGetMessageByIdBody().GetMsgInfo()
			require.Equal(t, improto.MessageStatus_AVAILABLE, info.GetStatus(), "info %v", info)
			require.Equal(t, plain, info.GetBody().GetServerMessageId(), "info %v", info)
			require.Equal(t, int64(7), resp.GetSequenceId(), "seq")
		})
	}
}

func TestDeleteMessageForSelf(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user(1), e.user(2)
	conv := createGroup(t, alice, 2)
	bobSock := e.socket(2, "bob-web") // after creating: its pushes are all messages
	first := sendText(t, alice, conv, "first").GetServerMessageId()
	second := sendText(t, alice, conv, "second").GetServerMessageId()
	nextMessagePush(t, bobSock, first)
	nextMessagePush(t, bobSock, second)

	call[proto.Message](t, bob, improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, first))
	call[proto.Message](t, bob, improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, first)) // again: still OK
	// Deleting pushes nothing, not even to the caller's other devices: the
	// next push bob gets is the next message.
	third := sendText(t, alice, conv, "third").GetServerMessageId()
	nextMessagePush(t, bobSock, third)

	ids := func(ms []*improto.MessageBody) (out []int64) {
		for _, m := range ms {
			out = append(out, m.GetServerMessageId())
		}
		return out
	}
	byConv := func(c caller) []*improto.MessageBody {
		return convMessages(t, c, conv, improto.MessageDirection_OLDER, 0, 50).GetMessages()
	}
	for _, tc := range []struct {
		name string
		got  []int64
		want []int64
	}{
		{"bob's inbox (200)", ids(pull(t, bob, 0).GetMessages()), []int64{second, third}},
		{"bob's history (301)", ids(byConv(bob)), []int64{second, third}},
		{"alice's inbox (200)", ids(pull(t, alice, 0).GetMessages()), []int64{first, second, third}},
		{"alice's history (301)", ids(byConv(alice)), []int64{first, second, third}},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}

	t.Run("refusals", func(t *testing.T) {
		wantStatus(t, bob, improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, 99999), improto.StatusCode_INVALID_REQUEST)
		wantStatus(t, bob, improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, 0), improto.StatusCode_INVALID_REQUEST)
		wantStatus(t, e.user(3), improto.IMCMD_DELETE_MESSAGE, deleteBody(conv, second), improto.StatusCode_USER_NOT_IN_GROUP)
		assert.Equal(t, improto.MessageStatus_AVAILABLE, getByID(t, alice, conv, second).GetStatus(), "after an outsider's delete, alice sees")
	})
}

func TestRecallMessage(t *testing.T) {
	clk := newClock()
	e := newEnv(t, withClock(clk), recallWindow(2*time.Minute))
	owner, bob := e.user(1), e.user(2)
	conv := createGroup(t, owner, 2, 3)
	carolSock := e.socket(3, "carol-web") // after creating: its pushes are all messages
	id := sendWithExt(t, bob, conv, "oops", map[string]string{"keep": "me"})
	nextMessagePush(t, carolSock, id)

	call[*improto.RecallMessageResponseBody](t, bob, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, id))
	m := wantRedelivered(t, carolSock, e.user(3), id, 2)
	require.Empty(t, m.GetContent(), "recalled message content")
	require.Equal(t, "true", m.GetExt()["s:is_recalled"], "recalled message ext %v", m.GetExt())
	require.Equal(t, "me", m.GetExt()["keep"], "recalled message ext %v", m.GetExt())
	require.Equal(t, int64(2), m.GetSender(), "recalled message sender")

	// A second recall is OK and changes nothing: no new version, no push.
	call[*improto.RecallMessageResponseBody](t, bob, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, id))
	require.Equal(t, int64(2), getByID(t, bob, conv, id).GetBody().GetVersion(), "version after recalling twice")
	marker := sendText(t, owner, conv, "marker").GetServerMessageId()
	nextMessagePush(t, carolSock, marker)

	t.Run("refusals", func(t *testing.T) {
		fresh := sendText(t, bob, conv, "fresh").GetServerMessageId()
		for _, tc := range []struct {
			name string
			as   caller
			id   int64
			want improto.StatusCode
		}{
			{"another member", e.user(3), fresh, improto.StatusCode_USER_FORBIDDEN},
			{"non-member", e.user(4), fresh, improto.StatusCode_USER_NOT_IN_GROUP},
			{"unknown id", bob, 99999, improto.StatusCode_INVALID_REQUEST},
			{"no id", bob, 0, improto.StatusCode_INVALID_REQUEST},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, tc.as, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, tc.id), tc.want)
			})
		}
		require.Equal(t, improto.MessageStatus_AVAILABLE, getByID(t, bob, conv, fresh).GetStatus(), "after refused recalls the message")
	})

	t.Run("window", func(t *testing.T) {
		late := sendText(t, bob, conv, "late").GetServerMessageId()
		clk.Advance(2 * time.Minute) // exactly at the limit: still allowed
		edge := sendText(t, bob, conv, "edge").GetServerMessageId()
		clk.Advance(2*time.Minute + time.Millisecond)
		// Tokens are checked against the same clock: log in again.
		bob, owner := e.user(2), e.user(1)
		wantStatus(t, bob, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, late), improto.StatusCode_RECALL_TIMEOUT)
		call[*improto.RecallMessageResponseBody](t, owner, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, late))
		require.Equal(t, improto.MessageStatus_RECALLED, getByID(t, bob, conv, late).GetStatus(), "the owner's recall left the message")
		clk.Advance(-time.Millisecond)
		call[*improto.RecallMessageResponseBody](t, e.user(2), improto.IMCMD_RECALL_MESSAGE, recallBody(conv, edge))
	})

	t.Run("manager", func(t *testing.T) {
		setMemberRole(t, e.user(1), conv, 3, memberManager)
		old := sendText(t, e.user(2), conv, "old").GetServerMessageId()
		clk.Advance(time.Hour)
		call[*improto.RecallMessageResponseBody](t, e.user(3), improto.IMCMD_RECALL_MESSAGE, recallBody(conv, old))
		require.Equal(t, improto.MessageStatus_RECALLED, getByID(t, e.user(2), conv, old).GetStatus(), "the manager's recall left the message")
	})

	t.Run("dissolved", func(t *testing.T) {
		g := createGroup(t, e.user(1), 2)
		msg := sendText(t, e.user(2), g, "before").GetServerMessageId()
		call[proto.Message](t, e.user(1), improto.IMCMD_DISSOLVE_CONVERSATION, dissolveConvBody(g))
		wantStatus(t, e.user(2), improto.IMCMD_RECALL_MESSAGE, recallBody(g, msg), improto.StatusCode_CONVERSATION_NOT_FOUND)
	})
}

func TestRecallWindowNegativeMeansNoLimit(t *testing.T) {
	clk := newClock()
	e := newEnv(t, withClock(clk), recallWindow(-1))
	conv := createSingle(t, e.user(1), 2)
	id := sendText(t, e.user(1), conv, "old").GetServerMessageId()
	clk.Advance(365 * 24 * time.Hour)
	call[*improto.RecallMessageResponseBody](t, e.user(1), improto.IMCMD_RECALL_MESSAGE, recallBody(conv, id))
	wantStatus(t, e.user(2), improto.IMCMD_RECALL_MESSAGE, recallBody(conv, id), improto.StatusCode_USER_FORBIDDEN)
	require.Equal(t, improto.MessageStatus_RECALLED, getByID(t, e.user(2), conv, id).GetStatus(), "message after a year-late recall")
}

// items lists a property's items as "uid:value:idempotent id".
func items(m *improto.MessageBody, k string) []string {
	var out []string
	for _, it := range m.GetPropertyList()[k].GetItems() {
		out = append(out, strings.Join([]string{strconv.FormatInt(it.GetUid(), 10), it.GetValue(), it.GetIdempotentId()}, ":"))
	}
	return out
}

func TestSetMessageProperty(t *testing.T) {
	clk := newClock()
	e := newEnv(t, withClock(clk), recallWindow(time.Hour))
	owner, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, owner, 2, 3)
	carolSock := e.socket(3, "carol-web") // after creating: its pushes are all messages
	id := sendText(t, owner, conv, "react to me").GetServerMessageId()
	nextMessagePush(t, carolSock, id)
	add, remove, set, del := improto.OPERATION_TYPE_ADD_PROPERTY_ITEM, improto.OPERATION_TYPE_REMOVE_PROPERTY_ITEM,
		improto.OPERATION_TYPE_SET_PROPERTY, improto.OPERATION_TYPE_DEL_PROPERTY
	success, repeat := improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_SUCCESS, improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_REPEAT_REQUEST

	// Each step is one request by one member; version is what the response
	// and the redelivered message must carry; like and pin what the
	// message's properties hold afterwards. A step that changes nothing is
	// not redelivered.
	steps := []struct {
		name    string
		as      caller
		ops     []*improto.ModifyPropertyContent
		status  improto.ModifyMessagePropertyStatus
		version int64
		like    string
		pin     string
	}{
		{"bob likes", bob, []*improto.ModifyPropertyContent{propertyOp(add, "like", "👍", "b1")}, success, 2, "[2:👍:b1]", "[]"},
		{"bob again", bob, []*improto.ModifyPropertyContent{propertyOp(add, "like", "👍", "b1")}, repeat, 2, "[2:👍:b1]", "[]"},
		{"carol likes", carol, []*improto.ModifyPropertyContent{propertyOp(add, "like", "❤", "c1")}, success, 3, "[2:👍:b1 3:❤:c1]", "[]"},
		{"two ops, one version", carol, []*improto.ModifyPropertyContent{
			propertyOp(add, "like", "😀", ""), propertyOp(set, "pin", "yes", "p1"),
		}, success, 4, "[2:👍:b1 3:❤:c1 3:😀:]", "[3:yes:p1]"},
		{"remove by idempotent id", bob, []*improto.ModifyPropertyContent{propertyOp(remove, "like", "", "b1")}, success, 5, "[3:❤:c1 3:😀:]", "[3:yes:p1]"},
		{"remove by value", carol, []*improto.ModifyPropertyContent{propertyOp(remove, "like", "😀", "")}, success, 6, "[3:❤:c1]", "[3:yes:p1]"},
		{"remove what is gone", carol, []*improto.ModifyPropertyContent{propertyOp(remove, "like", "😀", "")}, success, 6, "[3:❤:c1]", "[3:yes:p1]"},
		{"set replaces", bob, []*improto.ModifyPropertyContent{propertyOp(set, "pin", "no", "p2")}, success, 7, "[3:❤:c1]", "[2:no:p2]"},
		{"set again", bob, []*improto.ModifyPropertyContent{propertyOp(set, "pin", "no", "p2")}, repeat, 7, "[3:❤:c1]", "[2:no:p2]"},
		{"delete key", owner, []*improto.ModifyPropertyContent{propertyOp(del, "pin", "", "")}, success, 8, "[3:❤:c1]", "[]"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := getByID(t, owner, conv, id).GetBody().GetVersion()
			resp := setProperty(t, st.as, conv, id, st.ops...)
			require.Equal(t, st.status, resp.GetStatus(), "status")
			require.Equal(t, st.version, resp.GetVersion(), "version")
			m := getByID(t, owner, conv, id).GetBody()
			if st.version > before {
				m = wantRedelivered(t, carolSock, carol, id, st.version)
			}
			require.Equal(t, st.like, fmtList(items(m, "like")), "like")
			require.Equal(t, st.pin, fmtList(items(m, "pin")), "pin")
		})
	}
	it := getByID(t, owner, conv, id).GetBody().GetPropertyList()["like"].GetItems()[0]
	assert.Equal(t, clk.Now().UnixMilli(), it.GetCreateTime(), "item create time, want the clock's %v", clk.Now())
	assert.Equal(t, clk.Now().UnixMicro(), it.GetCreateTimeMicro(), "item create time (µs), want the clock's %v", clk.Now())

	t.Run("refusals", func(t *testing.T) {
		long := strings.Repeat("k", 129)
		for _, tc := range []struct {
			name     string
			as       caller
			id       int64
			ops      []*improto.ModifyPropertyContent
			want     improto.StatusCode
			wantDesc string
		}{
			{"another's item", bob, id, []*improto.ModifyPropertyContent{propertyOp(remove, "like", "", "c1")}, improto.StatusCode_USER_FORBIDDEN, "own items"},
			{"unserved operation", bob, id, []*improto.ModifyPropertyContent{propertyOp(improto.OPERATION_TYPE_XSET_PROPERTY, "like", "x", "")}, improto.StatusCode_INVALID_REQUEST, "MODIFY_PROPERTY_INVALID_REQUEST"},
			{"empty key", bob, id, []*improto.ModifyPropertyContent{propertyOp(add, "", "x", "e")}, improto.StatusCode_INVALID_REQUEST, "MODIFY_PROPERTY_INVALID_LENGTH"},
			{"long key", bob, id, []*improto.ModifyPropertyContent{propertyOp(add, long, "x", "e")}, improto.StatusCode_INVALID_REQUEST, "MODIFY_PROPERTY_INVALID_LENGTH"},
			{"long value", bob, id, []*improto.ModifyPropertyContent{propertyOp(add, "like", strings.Repeat("v", 4097), "e")}, improto.StatusCode_INVALID_REQUEST, "MODIFY_PROPERTY_INVALID_LENGTH"},
			{"valid op before an invalid one", bob, id, []*improto.ModifyPropertyContent{
				propertyOp(add, "like", "x", "atomic"), propertyOp(add, "", "x", "e"),
			}, improto.StatusCode_INVALID_REQUEST, "MODIFY_PROPERTY_INVALID_LENGTH"},
			{"no operations", bob, id, nil, improto.StatusCode_INVALID_REQUEST, "empty"},
			{"non-member", e.user(4), id, []*improto.ModifyPropertyContent{propertyOp(add, "like", "x", "o")}, improto.StatusCode_USER_NOT_IN_GROUP, "not a member"},
			{"unknown message", bob, 99999, []*improto.ModifyPropertyContent{propertyOp(add, "like", "x", "u")}, improto.StatusCode_INVALID_REQUEST, "not found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := wantStatus(t, tc.as, improto.IMCMD_SET_MESSAGE_PROPERTY, propertyBody(conv, tc.id, tc.ops...), tc.want)
				require.Contains(t, resp.GetErrorDesc(), tc.wantDesc, "error_desc")
			})
		}
		m := getByID(t, owner, conv, id).GetBody()
		require.Equal(t, int64(8), m.GetVersion(), "refused requests changed the message: version")
		require.Equal(t, "[3:❤:c1]", fmtList(items(m, "like")), "refused requests changed the message: like")
	})

	t.Run("invisible or recalled message", func(t *testing.T) {
		hidden := sendWithExt(t, owner, conv, "not for carol", map[string]string{"s:invisible": "3"})
		wantStatus(t, carol, improto.IMCMD_SET_MESSAGE_PROPERTY, propertyBody(conv, hidden, propertyOp(add, "like", "x", "h")), improto.StatusCode_INVALID_REQUEST)
		call[*improto.RecallMessageResponseBody](t, owner, improto.IMCMD_RECALL_MESSAGE, recallBody(conv, hidden))
		wantStatus(t, bob, improto.IMCMD_SET_MESSAGE_PROPERTY, propertyBody(conv, hidden, propertyOp(add, "like", "x", "h")), improto.StatusCode_INVALID_REQUEST)
	})
}

func fmtList(s []string) string { return "[" + strings.Join(s, " ") + "]" }

func TestModifyMessageExt(t *testing.T) {
	e := newEnv(t)
	owner, bob, carol := e.user(1), e.user(2), e.user(3)
	conv := createGroup(t, owner, 2, 3)
	carolSock := e.socket(3, "carol-web") // after creating: its pushes are all messages
	id := sendWithExt(t, bob, conv, "with ext", map[string]string{"a": "1", "b": "2"})
	nextMessagePush(t, carolSock, id)
	modify := func(as caller, ext map[string]string) *improto.MessageBody {
		t.Helper()
		return call[*improto.ModifyMessageExtResponseBody](t, as, improto.IMCMD_MODIFY_MESSAGE_EXT, extBody(conv, id, ext)).GetMessage()
	}

	got := modify(bob, map[string]string{"a": "one", "c": "3"})
	require.Equal(t, int64(2), got.GetVersion(), "sender's change: version")
	require.Equal(t, "one", got.GetExt()["a"], "sender's change: ext %v", got.GetExt())
	require.Equal(t, "2", got.GetExt()["b"], "sender's change: ext %v", got.GetExt())
	require.Equal(t, "3", got.GetExt()["c"], "sender's change: ext %v", got.GetExt())
	pushed := wantRedelivered(t, carolSock, carol, id, 2)
	require.Equal(t, "3", pushed.GetExt()["c"], "pushed ext %v", pushed.GetExt())
	require.NotEmpty(t, pushed.GetExt()["s:server_message_id"], "pushed ext %v", pushed.GetExt())

	got = modify(owner, map[string]string{"b": ""}) // the owner may, and "" deletes
	require.NotContains(t, got.GetExt(), "b", "owner's delete: ext")
	require.Equal(t, int64(3), got.GetVersion(), "owner's delete: version")
	wantRedelivered(t, carolSock, carol, id, 3)

	// A change that changes nothing keeps the version and pushes nothing.
	got = modify(bob, map[string]string{"b": "", "a": "one"})
	require.Equal(t, int64(3), got.GetVersion(), "no-op change bumped the version")
	marker := sendText(t, owner, conv, "marker").GetServerMessageId()
	nextMessagePush(t, carolSock, marker)

	t.Run("manager", func(t *testing.T) {
		setMemberRole(t, owner, conv, 3, memberManager)
		got := modify(carol, map[string]string{"d": "4"})
		require.Equal(t, "4", got.GetExt()["d"], "manager's change: ext %v", got.GetExt())
	})

	t.Run("refusals", func(t *testing.T) {
		other := sendText(t, owner, conv, "owner's").GetServerMessageId()
		for _, tc := range []struct {
			name     string
			as       caller
			id       int64
			ext      map[string]string
			want     improto.StatusCode
			wantDesc string
		}{
			{"ordinary member, not the sender", bob, other, map[string]string{"x": "1"}, improto.StatusCode_USER_FORBIDDEN, "only its sender"},
			{"system key", bob, id, map[string]string{"ok": "1", "s:is_recalled": "true"}, improto.StatusCode_INVALID_REQUEST, `"s:is_recalled"`},
			{"empty key", bob, id, map[string]string{"": "1"}, improto.StatusCode_INVALID_REQUEST, "ext key"},
			{"long value", bob, id, map[string]string{"x": strings.Repeat("v", 4097)}, improto.StatusCode_INVALID_REQUEST, "4097"},
			{"empty ext", bob, id, nil, improto.StatusCode_INVALID_REQUEST, "empty"},
			{"non-member", e.user(4), id, map[string]string{"x": "1"}, improto.StatusCode_USER_NOT_IN_GROUP, "not a member"},
			{"unknown message", bob, 99999, map[string]string{"x": "1"}, improto.StatusCode_INVALID_REQUEST, "not found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := wantStatus(t, tc.as, improto.IMCMD_MODIFY_MESSAGE_EXT, extBody(conv, tc.id, tc.ext), tc.want)
				require.Contains(t, resp.GetErrorDesc(), tc.wantDesc, "error_desc")
			})
		}
		m := getByID(t, owner, conv, other).GetBody()
		require.Equal(t, int64(1), m.GetVersion(), "refused change altered the message: version")
		require.Empty(t, m.GetExt()["x"], "refused change altered the message: ext %v", m.GetExt())
		m = getByID(t, owner, conv, id).GetBody()
		require.Empty(t, m.GetExt()["ok"], "a request with a system key was partly applied: %v", m.GetExt())
		require.Empty(t, m.GetExt()["s:is_recalled"], "a request with a system key was partly applied: %v", m.GetExt())
	})
}
