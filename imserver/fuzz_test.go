package imserver_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// fuzzToken is user 1's token on every fuzzServer.
var fuzzToken = imserver.MintToken(testAppID, 1, testSecret, time.Now().Add(24*time.Hour))

// fuzzServer is a new Server on a memory store for one fuzz input, with a
// group (short id 1, members 1, 2, 3), a single chat of 1 and 2 (short id
// 2) and one message in each, so that fuzzed requests reach real state
// and every input sees the same state (a crasher replays alone).
func fuzzServer(t *testing.T) *imserver.Server {
	t.Helper()
	st := store.NewMemory()
	srv, err := imserver.New(imserver.Config{
		AppID: testAppID, AppSecret: testSecret, Store: st,
		Logger:          slog.New(slog.DiscardHandler),
		MaxRequestBytes: 64 << 10,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	post := func(cmd improto.IMCMD, body proto.Message) {
		t.Helper()
		req, err := rawRequest(cmd, fuzzToken, body)
		require.NoError(t, err)
		command, _ := improto.LookupCommand(cmd)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+command.Route(), bytes.NewReader(req)))
		resp := &improto.Response{}
		require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), resp), "setting up with %v: HTTP %d", cmd, rec.Code)
		require.Zero(t, resp.GetStatusCode(), "setting up with %v: HTTP %d, %q", cmd, rec.Code, resp.GetErrorDesc())
	}
	for _, typ := range []improto.ConversationType{improto.ConversationType_GROUP_CHAT, improto.ConversationType_ONE_TO_ONE_CHAT} {
		members := []int64{2, 3}
		if typ == improto.ConversationType_ONE_TO_ONE_CHAT {
			members = members[:1]
		}
		post(improto.IMCMD_CREATE_CONVERSATION_V2, &improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(int32(typ)), Participants: members})
	}
	for short := range int64(2) {
		post(improto.IMCMD_SEND_MESSAGE, &improto.SendMessageRequestBody{
			ConversationShortId: proto.Int64(short + 1),
			MessageType:         proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
			Content:             proto.String(`{"text":"seed"}`),
		})
	}
	return srv
}

// rawRequest encodes a Request for cmd as user with body.
func rawRequest(cmd improto.IMCMD, token string, body proto.Message) ([]byte, error) {
	req := &improto.Request{Cmd: proto.Int32(int32(cmd)), SequenceId: proto.Int64(1), Token: proto.String(token)}
	if body != nil {
		command, _ := improto.LookupCommand(cmd)
		b, _ := command.NewRequestBody(body)
		req.Body = b
	}
	return proto.Marshal(req)
}

// FuzzHTTPRequest posts arbitrary bytes to a route. With auth, the bytes
// follow a valid Request envelope (the route's cmd and user 1's token), so
// they can set the body, the inbox, or override the envelope's fields, and
// reach the handlers; without, they are the whole body.
//
// Whatever the input, the answer is a protobuf Response with a status the
// client can act on: never a panic, never INTERNAL_ERROR (which also
// covers a handler that panicked), never a failure without a description
// or one that shows the token. The file endpoints (MediaUploadPath,
// MediaFilePath) are not the protobuf API and answer plain text: they are
// left to FuzzMediaRequest.
func FuzzHTTPRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, route string, auth bool, data []byte) {
		if isMediaPath("/" + route) {
			t.Skip("a file endpoint, not the API")
		}
		srv := fuzzServer(t)
		tok := fuzzToken
		body := data
		if auth {
			cmd, _ := improto.CommandForRoute(route)
			prefix, err := rawRequest(cmd.Cmd, tok, nil)
			require.NoError(t, err)
			body = append(prefix, data...)
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.URL.Path = "/" + route // any bytes, without URL parsing in the way
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)

		require.Equal(t, "application/x-protobuf", rec.Header().Get("Content-Type"), "HTTP %d Content-Type", rec.Code)
		resp := &improto.Response{}
		require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), resp), "HTTP %d body is not a Response", rec.Code)
		status := improto.StatusCode(resp.GetStatusCode())
		t.Logf("answer: HTTP %d, %v %q", rec.Code, status, resp.GetErrorDesc())
		require.NotEqual(t, improto.StatusCode_INTERNAL_ERROR, status, "INTERNAL_ERROR: %s", resp.GetErrorDesc())
		if status != 0 {
			require.NotEmpty(t, resp.GetErrorDesc(), "status %v without error_desc", status)
		}
		require.NotContains(t, resp.GetErrorDesc(), tok, "error_desc shows the token")
		if status == 0 {
			require.Equal(t, http.StatusOK, rec.Code, "HTTP code with status OK")
		}
	})
}

func isMediaPath(p string) bool {
	return p == imserver.MediaUploadPath || strings.HasPrefix(p, imserver.MediaFilePath)
}

// FuzzMediaRequest sends arbitrary queries and bodies to the file
// endpoints: the upload (query = the token and more) and the download
// (path after MediaFilePath, and query). Without a good signature nothing
// is stored and nothing is served; the answer is never a 5xx.
func FuzzMediaRequest(f *testing.F) {
	tok := imserver.MintToken(testAppID, 1, testSecret, time.Now().Add(time.Hour))
	f.Add(true, "token=imbotup1.MToxOjU6OTk5OTk5OTk5OTphYjp0ZXh0L3BsYWlu.AAAA", []byte("hello"))
	f.Add(true, "token="+tok, []byte("hello"))
	f.Add(false, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08?type=text%2Fplain&exp=99999999999&sig=x", []byte(nil))
	f.Add(false, "../../etc/passwd?exp=1", []byte(nil))
	f.Fuzz(func(t *testing.T, upload bool, query string, data []byte) {
		srv := fuzzServer(t)
		target := imserver.MediaFilePath
		method := http.MethodGet
		if upload {
			target, method = imserver.MediaUploadPath+"?", http.MethodPost
		}
		r := httptest.NewRequest(method, "/", bytes.NewReader(data))
		u, err := url.Parse(target + query)
		if err != nil {
			t.Skip("not a URL")
		}
		r.URL = u
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		require.Less(t, rec.Code, 500, "HTTP %d: %s", rec.Code, rec.Body.String())
		require.NotEqual(t, http.StatusOK, rec.Code, "accepted without a signed token or URL: %s", rec.Body.String())
	})
}
