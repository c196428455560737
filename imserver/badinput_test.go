package imserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// Users of the bystander, who never take part in a bad input.
const (
	bystanderHTTP   = 9001
	bystanderSocket = 9002
)

// bystander checks, after each bad input, that the server still serves
// everyone else: a user on HTTP (a fresh connection per request) and a user
// on a socket of their own, in a group of their own.
type bystander struct {
	http *rawclient.Client
	sock *rawclient.Socket
	conv *improto.ConversationInfoV2
}

// newBystander sets up the bystanders' group and socket on e.
func newBystander(t *testing.T, e *env) *bystander {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := e.user(bystanderHTTP)
	hc.HTTP = &http.Client{Transport: tr}
	b := &bystander{http: hc, sock: e.socket(bystanderSocket, "bystander")}
	b.conv = createGroup(t, hc, bystanderSocket)
	return b
}

// check sends a message over HTTP, waits for its push on the bystander
// socket, and sends one back over that socket: all must succeed.
func (b *bystander) check(t *testing.T) {
	t.Helper()
	sent := sendText(t, b.http, b.conv, "still there?")
	got := waitPush(t, b.sock, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, sent.GetServerMessageId(), got.GetServerMessageId(), "bystander's message")
	yes := sendText(t, b.sock, b.conv, "yes")
	// The sending socket gets its own message's push too.
	own := waitPush(t, b.sock, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
	require.Equal(t, yes.GetServerMessageId(), own.GetServerMessageId(), "bystander's own push's message")
}

// requestBytes encodes a Request envelope; body may be nil.
func requestBytes(t *testing.T, cmd improto.IMCMD, token string, inbox int32, body proto.Message) []byte {
	t.Helper()
	req, err := rawclient.Request(cmd, 1, token, inbox, body)
	require.NoError(t, err)
	b, err := proto.Marshal(req)
	require.NoError(t, err)
	return b
}

// httpAnswer is what the server answered to one raw HTTP request.
type httpAnswer struct {
	status      int
	contentType string
	allow       string
	resp        *improto.Response
}

// doHTTP sends method to path with body and requires the answer to be a
// protobuf Response.
func doHTTP(t *testing.T, e *env, method, path string, body []byte) httpAnswer {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx(t), method, e.hs.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	hr, err := http.DefaultClient.Do(r)
	require.NoError(t, err, "%s %s", method, path)
	defer hr.Body.Close()
	return decodeAnswer(t, hr)
}

// decodeAnswer reads an HTTP answer whose body must be a protobuf Response.
func decodeAnswer(t *testing.T, hr *http.Response) httpAnswer {
	t.Helper()
	data, err := io.ReadAll(hr.Body)
	require.NoError(t, err)
	a := httpAnswer{status: hr.StatusCode, contentType: hr.Header.Get("Content-Type"), allow: hr.Header.Get("Allow"), resp: &improto.Response{}}
	require.Equal(t, "application/x-protobuf", a.contentType, "HTTP %d Content-Type (body %q)", a.status, data)
	require.NoError(t, proto.Unmarshal(data, a.resp), "HTTP %d body is not a Response", a.status)
	return a
}

// checkFailure requires a Response with status want and a description, and
// that the description does not give away the token.
func checkFailure(t *testing.T, resp *improto.Response, want improto.StatusCode, token string) {
	t.Helper()
	got := improto.StatusCode(resp.GetStatusCode())
	require.Equal(t, want, got, "status %v (%q), want %v", got, resp.GetErrorDesc(), want)
	require.NotEmpty(t, resp.GetErrorDesc(), "status %v without error_desc", want)
	if token != "" {
		require.NotContains(t, resp.GetErrorDesc(), token, "error_desc contains the token")
	}
}

// forgeToken changes the character at len(tok)+at of a token (at < 0, so
// inside its signature) to another base64 character.
func forgeToken(tok string, at int) string {
	b := []byte(tok)
	i := len(b) + at
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestHTTPBadInputIsAnsweredAndServerKeepsServing posts one bad request
// per case: each gets a protobuf Response with the right HTTP status,
// status code and a description that never shows the token, and the
// bystanders are served right after.
func TestHTTPBadInputIsAnsweredAndServerKeepsServing(t *testing.T) {
	e := newEnv(t)
	by := newBystander(t, e)
	const member, stranger = 1, 3
	tok := e.token(member)
	group := createGroup(t, e.user(member), 2)
	id, short, typ := convRef(group)
	send := func(id *string, short *int64) *improto.SendMessageRequestBody {
		return &improto.SendMessageRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			MessageType: proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)), Content: proto.String(`{"text":"x"}`)}
	}
	read := &improto.MessagesInConversationRequestBody{ConversationId: id, ConversationShortId: short,
		ConversationType: typ, Direction: improto.MessageDirection_OLDER.Enum()}
	sendRoute := "/v1/message/send"
	// A token whose signature differs from a valid one only in the unused
	// low bits of its last base64 character: the same bytes under a lax
	// decoder, and still a forgery.
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	lowBit := []byte(tok)
	lowBit[len(lowBit)-1] = b64url[strings.IndexByte(b64url, tok[len(tok)-1])^1]
	for _, tc := range []struct {
		name     string
		path     string
		body     []byte
		token    string // the token in body, which error_desc must not show
		wantHTTP int
		want     improto.StatusCode
	}{
		{"malformed protobuf", sendRoute, []byte{0xff, 0xff, 0xff, 0xff}, "", 400, improto.StatusCode_INVALID_REQUEST},
		{"cmd does not match route", sendRoute, requestBytes(t, improto.IMCMD_GET_MESSAGES_BY_USER, tok, 0, nil), tok, 400, improto.StatusCode_INVALID_CMD},
		{"unknown route", "/v1/no_such/route", requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, send(id, short)), tok, 404, improto.StatusCode_INVALID_CMD},
		{"command not served", "/v1/voip/create", requestBytes(t, improto.IMCMD_CREATE_VOIP, tok, 0, nil), tok, 200, improto.StatusCode_INVALID_CMD},
		{"missing body", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, nil), tok, 200, improto.StatusCode_INVALID_REQUEST},
		{"no conversation id", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, send(nil, proto.Int64(0))), tok, 200, improto.StatusCode_INVALID_REQUEST},
		{"negative participant", "/v2/conversation/create", requestBytes(t, improto.IMCMD_CREATE_CONVERSATION_V2, tok, 0,
			&improto.CreateConversationV2RequestBody{ConversationType: proto.Int32(int32(improto.ConversationType_GROUP_CHAT)), Participants: []int64{2, -5}}),
			tok, 200, improto.StatusCode_INVALID_REQUEST},
		{"unknown conversation short id", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, send(nil, proto.Int64(424242))), tok, 200, improto.StatusCode_CONVERSATION_NOT_FOUND},
		{"unknown conversation id", "/v1/message/get_by_conversation", requestBytes(t, improto.IMCMD_GET_MESSAGES_BY_CONVERSATION, tok, 0,
			&improto.MessagesInConversationRequestBody{ConversationId: proto.String("no-such")}), tok, 200, improto.StatusCode_CONVERSATION_NOT_FOUND},
		{"non-member read", "/v1/message/get_by_conversation", requestBytes(t, improto.IMCMD_GET_MESSAGES_BY_CONVERSATION, e.token(stranger), 0, read),
			"", 200, improto.StatusCode_USER_NOT_IN_GROUP},
		{"non-member write", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, e.token(stranger), 0, send(id, short)), "", 200, improto.StatusCode_USER_NOT_IN_GROUP},
		{"other inbox by id", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 1, send(id, nil)), tok, 200, improto.StatusCode_CONVERSATION_NOT_FOUND},
		{"other inbox by short id", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 1, send(nil, short)), tok, 200, improto.StatusCode_CONVERSATION_NOT_FOUND},
		{"negative inbox", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, -1, send(id, short)), tok, 200, improto.StatusCode_INVALID_REQUEST},
		{"forged token", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, forgeToken(tok, -10), 0, send(id, short)), forgeToken(tok, -10), 200, improto.StatusCode_INVALID_TOKEN},
		{"forged token, padding bits", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, string(lowBit), 0, send(id, short)), string(lowBit), 200, improto.StatusCode_INVALID_TOKEN},
		{"token of another app", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, imserver.MintToken(testAppID+1, member, testSecret, time.Now().Add(time.Hour)), 0, send(id, short)),
			imserver.MintToken(testAppID+1, member, testSecret, time.Now().Add(time.Hour)), 200, improto.StatusCode_INVALID_TOKEN},
		{"token of another secret", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, imserver.MintToken(testAppID, member, "other", time.Now().Add(time.Hour)), 0, send(id, short)),
			imserver.MintToken(testAppID, member, "other", time.Now().Add(time.Hour)), 200, improto.StatusCode_INVALID_TOKEN},
		{"expired token", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, imserver.MintToken(testAppID, member, testSecret, time.Now().Add(-time.Minute)), 0, send(id, short)),
			imserver.MintToken(testAppID, member, testSecret, time.Now().Add(-time.Minute)), 200, improto.StatusCode_EXPIRED_TOKEN},
		{"absent token", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, "", 0, send(id, short)), "", 200, improto.StatusCode_INVALID_TOKEN},
		{"not a token", sendRoute, requestBytes(t, improto.IMCMD_SEND_MESSAGE, "Bearer xyz", 0, send(id, short)), "Bearer xyz", 200, improto.StatusCode_INVALID_TOKEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := doHTTP(t, e, http.MethodPost, tc.path, tc.body)
			assert.Equal(t, tc.wantHTTP, a.status, "HTTP status")
			checkFailure(t, a.resp, tc.want, tc.token)
			by.check(t)
		})
	}
	// None of the refused requests stored anything.
	assert.Empty(t, pull(t, e.user(2), 0).GetMessages(), "member 2's messages after refused sends")
}

// TestHTTPWrongMethod: the API takes POST only, and says so.
func TestHTTPWrongMethod(t *testing.T) {
	e := newEnv(t)
	by := newBystander(t, e)
	a := doHTTP(t, e, http.MethodGet, "/v1/message/send", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, a.status, "HTTP status")
	assert.Equal(t, http.MethodPost, a.allow, "Allow")
	checkFailure(t, a.resp, improto.StatusCode_INVALID_REQUEST, "")
	by.check(t)
}

// TestFrontierPathWithoutUpgrade sends plain HTTP, with valid credentials,
// to the socket path: the refusal is a protobuf Response like every other.
func TestFrontierPathWithoutUpgrade(t *testing.T) {
	e := newEnv(t)
	by := newBystander(t, e)
	u := strings.Replace(e.socketURL(e.token(1), "plain"), "ws", "http", 1)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			a := doHTTP(t, e, method, strings.TrimPrefix(u, e.hs.URL), nil)
			assert.GreaterOrEqual(t, a.status, 400, "HTTP %d, want a 4xx", a.status)
			assert.Less(t, a.status, 500, "HTTP %d, want a 4xx", a.status)
			checkFailure(t, a.resp, improto.StatusCode_INVALID_REQUEST, e.token(1))
			by.check(t)
		})
	}
}

// TestRequestSizeLimit sends a body and a frame over MaxRequestBytes: 413
// over HTTP, close 1009 on a socket, nothing stored.
func TestRequestSizeLimit(t *testing.T) {
	const limit = 2048
	e := newEnv(t, func(c *imserver.Config) { c.MaxRequestBytes = limit })
	by := newBystander(t, e)
	tok := e.token(1)
	conv := createGroup(t, e.user(1), 2)
	big := textBody(conv, strings.Repeat("x", 2*limit))

	t.Run("HTTP", func(t *testing.T) {
		a := doHTTP(t, e, http.MethodPost, "/v1/message/send", requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, big))
		assert.Equal(t, http.StatusRequestEntityTooLarge, a.status, "HTTP status")
		checkFailure(t, a.resp, improto.StatusCode_INVALID_REQUEST, tok)
		by.check(t)
	})
	t.Run("Frontier", func(t *testing.T) {
		data := frameBytes(t, 1, "", requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, big))
		// The server stops reading in the middle of the frame; the close
		// code must still reach the client every time, not a reset.
		for i := range 20 {
			s := e.socket(1, fmt.Sprint("big", i))
			// The write may fail when the close overtakes it; the
			// close is what the client must see.
			_ = s.WriteMessage(websocket.BinaryMessage, data)
			wantClose(t, s, websocket.CloseMessageTooBig, false)
			s.Close()
		}
		by.check(t)
	})
	assert.Empty(t, pull(t, e.user(2), 0).GetMessages(), "an oversize send was stored")
}

// frameBytes encodes a Frame as the web SDK sends it.
func frameBytes(t *testing.T, seq uint64, encoding string, payload []byte) []byte {
	t.Helper()
	f := &improto.Frame{Seqid: proto.Uint64(seq), Logid: proto.Uint64(1), Service: proto.Int32(2), Method: proto.Int32(1),
		PayloadType: proto.String("pb"), Payload: payload}
	if encoding != "" {
		f.PayloadEncoding = proto.String(encoding)
	}
	b, err := proto.Marshal(f)
	require.NoError(t, err)
	return b
}

// wantClose waits for the server to close s with code; withText also
// requires a reason.
func wantClose(t *testing.T, s *rawclient.Socket, code int, withText bool) *websocket.CloseError {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(waitFor):
		require.FailNowf(t, "socket still open", "after %v, want close %d", waitFor, code)
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, s.Err(), &ce, "socket ended, want a close frame %d", code)
	require.Equal(t, code, ce.Code, "close %d %q", ce.Code, ce.Text)
	if withText {
		require.NotEmpty(t, ce.Text, "close %d, want a reason", ce.Code)
	}
	return ce
}

// TestFrontierRefusesBadHandshake dials with one bad parameter per case:
// the refusal is HTTP 401 with a protobuf Response telling a bad token
// from an expired one from bad socket parameters.
func TestFrontierRefusesBadHandshake(t *testing.T) {
	e := newEnv(t)
	by := newBystander(t, e)
	good := e.token(1)
	expired := imserver.MintToken(testAppID, 1, testSecret, time.Now().Add(-time.Minute))
	forged := forgeToken(good, -10)
	for _, tc := range []struct {
		name string
		edit func(q url.Values)
		want improto.StatusCode
	}{
		{"forged token", func(q url.Values) { q.Set("token", forged) }, improto.StatusCode_INVALID_TOKEN},
		{"expired token", func(q url.Values) { q.Set("token", expired) }, improto.StatusCode_EXPIRED_TOKEN},
		{"absent token", func(q url.Values) { q.Del("token") }, improto.StatusCode_INVALID_TOKEN},
		{"wrong aid", func(q url.Values) { q.Set("aid", "2") }, improto.StatusCode_INVALID_REQUEST},
		{"wrong fpid", func(q url.Values) { q.Set("fpid", "90") }, improto.StatusCode_INVALID_REQUEST},
		{"missing device_id", func(q url.Values) { q.Del("device_id") }, improto.StatusCode_INVALID_REQUEST},
		{"wrong access_key", func(q url.Values) {
			q.Set("access_key", imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, "another-device"))
		}, improto.StatusCode_INVALID_REQUEST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(e.socketURL(good, "dev"))
			require.NoError(t, err)
			q := u.Query()
			tc.edit(q)
			u.RawQuery = q.Encode()
			s, hr, err := rawclient.Dial(ctx(t), u.String(), good, 0)
			if err == nil {
				s.Close()
			}
			require.Error(t, err, "dial succeeded")
			require.NotNil(t, hr, "dial failed without an HTTP answer: %v", err)
			a := decodeAnswer(t, hr)
			assert.Equal(t, http.StatusUnauthorized, a.status, "HTTP status")
			for _, tok := range []string{good, expired, forged} {
				checkFailure(t, a.resp, tc.want, tok)
			}
			by.check(t)
		})
	}
}

// TestFrontierBadFrames sends bad messages on sockets: what cannot be read
// as a Frame closes the socket with a code saying why; a readable Frame
// with a bad request is answered under its seqid and the socket goes on.
func TestFrontierBadFrames(t *testing.T) {
	e := newEnv(t)
	by := newBystander(t, e)
	tok := e.token(1)
	pullBody := &improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0)}
	goodPayload := requestBytes(t, improto.IMCMD_GET_MESSAGES_BY_USER, tok, 0, pullBody)

	// Messages the server cannot read at all close the socket.
	for _, tc := range []struct {
		name string
		typ  int
		data []byte
		code int
	}{
		{"binary that is not a Frame", websocket.BinaryMessage, []byte{0xff, 0xff, 0xff}, websocket.CloseInvalidFramePayloadData},
		{"Frame without its required fields", websocket.BinaryMessage, []byte{}, websocket.CloseInvalidFramePayloadData},
		{"text other than hi", websocket.TextMessage, []byte("hello"), websocket.CloseUnsupportedData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.socket(1, "closing")
			require.NoError(t, s.WriteMessage(tc.typ, tc.data))
			wantClose(t, s, tc.code, true)
			by.check(t)
		})
	}

	// Readable frames with a bad request get a failed Response for their
	// seqid, and the socket goes on serving.
	for _, tc := range []struct {
		name     string
		encoding string
		payload  []byte
		want     improto.StatusCode
	}{
		{"payload that is not a Request", "", []byte{0xff, 0xff, 0xff}, improto.StatusCode_INVALID_REQUEST},
		{"unknown cmd", "", mustMarshal(t, &improto.Request{Cmd: proto.Int32(4242), SequenceId: proto.Int64(1)}), improto.StatusCode_INVALID_CMD},
		{"push cmd", "", mustMarshal(t, &improto.Request{Cmd: proto.Int32(int32(improto.IMCMD_NEW_MSG_NOTIFY))}), improto.StatusCode_INVALID_CMD},
		{"lz4 payload", "__lz4", goodPayload, improto.StatusCode_INVALID_REQUEST},
		{"missing body", "", requestBytes(t, improto.IMCMD_SEND_MESSAGE, tok, 0, nil), improto.StatusCode_INVALID_REQUEST},
		{"negative inbox", "", requestBytes(t, improto.IMCMD_GET_MESSAGES_BY_USER, tok, -2, pullBody), improto.StatusCode_INVALID_REQUEST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.socket(1, "staying")
			const seq = 77
			f := &improto.Frame{Seqid: proto.Uint64(seq), Payload: tc.payload}
			if tc.encoding != "" {
				f.PayloadEncoding = proto.String(tc.encoding)
			}
			resp, err := s.CallFrame(ctx(t), f)
			require.NoError(t, err)
			assert.Equal(t, int64(seq), resp.GetSequenceId(), "sequence_id, want the frame's seqid")
			checkFailure(t, resp, tc.want, tok)
			call[*improto.MessagesPerUserResponseBody](t, s, improto.IMCMD_GET_MESSAGES_BY_USER, pullBody)
			by.check(t)
		})
	}

	t.Run("hi", func(t *testing.T) {
		s := e.socket(1, "heartbeat")
		require.NoError(t, s.WriteMessage(websocket.TextMessage, []byte("hi")))
		select {
		case got := <-s.Texts():
			require.Equal(t, "hi", got, "heartbeat answered")
		case <-s.Done():
			require.FailNowf(t, "socket closed after hi", "%v", s.Err())
		case <-time.After(waitFor):
			require.FailNow(t, "no answer to hi")
		}
	})
}

// mustMarshal encodes m.
func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestFrontierIdleTimeout leaves a socket silent past IdleTimeout: the
// server closes it with 1001 (going away) and a reason.
func TestFrontierIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	e := newEnv(t, func(c *imserver.Config) { c.IdleTimeout = idle })
	start := time.Now()
	s := e.socket(1, "idle")
	ce := wantClose(t, s, websocket.CloseGoingAway, true)
	assert.GreaterOrEqual(t, time.Since(start), idle, "closed before the idle timeout")
	t.Logf("idle close: %d %q", ce.Code, ce.Text)
	newBystander(t, e).check(t)
}

// TestFrontierRequestRate sends past the socket's burst: the excess is
// answered TOO_MANY_REQUESTS and the socket stays open.
func TestFrontierRequestRate(t *testing.T) {
	e := newEnv(t, func(c *imserver.Config) { c.RequestRate, c.RequestBurst = 1, 2 })
	by := newBystander(t, e)
	s := e.socket(1, "eager")
	body := &improto.MessagesPerUserRequestBody{}
	for range 2 {
		call[*improto.MessagesPerUserResponseBody](t, s, improto.IMCMD_GET_MESSAGES_BY_USER, body)
	}
	resp := wantStatus(t, s, improto.IMCMD_GET_MESSAGES_BY_USER, body, improto.StatusCode_TOO_MANY_REQUESTS)
	// A token comes every second: the hint is at most that, and not zero.
	hint := resp.GetHeaders()[improto.HeaderRetryAfterMs]
	if ms, err := strconv.Atoi(hint); assert.NoError(t, err, "%s = %q, want 1..1000", improto.HeaderRetryAfterMs, hint) {
		assert.Positive(t, ms, "%s, want 1..1000", improto.HeaderRetryAfterMs)
		assert.LessOrEqual(t, ms, 1000, "%s, want 1..1000", improto.HeaderRetryAfterMs)
	}
	select {
	case <-s.Done():
		require.FailNowf(t, "a limited socket was closed", "%v", s.Err())
	default:
	}
	// The limit is per socket: the same user on HTTP and others are served.
	call[*improto.MessagesPerUserResponseBody](t, e.user(1), improto.IMCMD_GET_MESSAGES_BY_USER, body)
	by.check(t)
}

// TestSlowConsumerIsDisconnected has a socket that never reads: once its
// send queue overflows the server drops it, and the other member of the
// group still gets every push.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	const (
		slowUser, fastUser, sender = 1, 2, 3
		// Enough that the kernel's socket buffers (about 4 MiB on
		// loopback) cannot absorb them.
		messages = 64
		size     = 128 << 10
	)
	e := newEnv(t, func(c *imserver.Config) { c.SendQueue = 4 })
	slow, _, err := websocket.DefaultDialer.DialContext(ctx(t), e.socketURL(e.token(slowUser), "slow"), nil)
	require.NoError(t, err)
	defer slow.Close()
	fast := e.socket(fastUser, "fast")
	from := e.user(sender)
	conv := createGroup(t, from, slowUser, fastUser)
	text := strings.Repeat("z", size)
	want := make([]int64, messages)
	for i := range want {
		want[i] = sendText(t, from, conv, text).GetServerMessageId()
	}
	for i, id := range want {
		got := waitPush(t, fast, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
		require.Equal(t, id, got.GetServerMessageId(), "push %d: message", i)
	}
	// The slow socket gets what the server had written before dropping it,
	// then the close.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(waitFor)))
	var got int
	for {
		_, _, err = slow.ReadMessage()
		if err != nil {
			break
		}
		got++
	}
	var ne net.Error
	if errors.As(err, &ne) {
		require.False(t, ne.Timeout(), "the slow socket was never closed (read %d frames)", got)
	}
	if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
		assert.Equal(t, websocket.ClosePolicyViolation, ce.Code, "slow socket closed with %d %q", ce.Code, ce.Text)
	}
	assert.Less(t, got, messages+1, "the slow socket got all %d frames", got) // the 502 of the creation and every 500
	t.Logf("slow socket: %d frames, then %v", got, err)
}

// TestShutdownClosesSocketsGoingAway: Shutdown closes sockets with 1001
// and refuses new ones with 503 SERVER_ERR.
func TestShutdownClosesSocketsGoingAway(t *testing.T) {
	e := newEnv(t)
	s := e.socket(1, "a")
	call[*improto.MessagesPerUserResponseBody](t, s, improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))
	wantClose(t, s, websocket.CloseGoingAway, true)
	again, hr, err := rawclient.Dial(ctx, e.socketURL(e.token(1), "b"), e.token(1), 0)
	if err == nil {
		again.Close()
	}
	require.Error(t, err, "a socket opened after Shutdown")
	require.NotNil(t, hr, "dial after Shutdown: %v", err)
	a := decodeAnswer(t, hr)
	assert.Equal(t, http.StatusServiceUnavailable, a.status, "dial after Shutdown: HTTP status")
	checkFailure(t, a.resp, improto.StatusCode_SERVER_ERR, "")
}

// TestPushRightAfterDial sends a message the moment a member's dial
// returns: the socket must get its push, since the client has no other
// way to learn of it until its next pull.
func TestPushRightAfterDial(t *testing.T) {
	e := newEnv(t)
	from := e.user(1)
	conv := createGroup(t, from, 2)
	for i := range 50 {
		s := e.socket(2, fmt.Sprint("d", i))
		sent := sendText(t, from, conv, "now")
		got := waitPush(t, s, improto.IMCMD_NEW_MSG_NOTIFY).GetBody().GetHasNewMessageNotify().GetMessage()
		require.Equal(t, sent.GetServerMessageId(), got.GetServerMessageId(), "dial %d: push of message", i)
		s.Close()
	}
}
