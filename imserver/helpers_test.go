package imserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/internal/rawclient"
)

func TestMain(m *testing.M) {
	if os.Getenv(mediaChildEnv) != "" {
		os.Exit(mediaChild())
	}
	goleak.VerifyTestMain(m)
}

const (
	testAppID  = 1
	testSecret = "test-secret"
	waitFor    = 5 * time.Second // deadline of every wait on an event
)

// Roles, as GroupRole numbers them.
const (
	memberOrdinary = int32(improto.GroupRole_ORDINARY)
	memberOwner    = int32(improto.GroupRole_OWNER)
	memberManager  = int32(improto.GroupRole_MANAGER)
	memberVisitor  = int32(improto.GroupRole_VISITOR)
)

// testClock is a Config.Now the test moves by hand, for tests that cross
// time limits; the server reads it from its own goroutines.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock { return &testClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock makes the server read time from clk. Tokens are checked
// against the same clock, so a test that moves it far logs in again.
func withClock(clk *testClock) func(*imserver.Config) {
	return func(cfg *imserver.Config) { cfg.Now = clk.Now }
}

// env is a real server on loopback with its store, for one test.
type env struct {
	t     testing.TB
	srv   *imserver.Server
	hs    *httptest.Server
	store store.Store
}

// newEnv starts a server on a memory store; tweak adjusts its Config.
func newEnv(t testing.TB, tweak ...func(*imserver.Config)) *env {
	t.Helper()
	st := store.NewMemory()
	cfg := imserver.Config{
		AppID: testAppID, AppSecret: testSecret, Store: st,
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	srv, err := imserver.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &env{t: t, srv: srv, hs: hs, store: st}
}

func (e *env) token(user int64) string {
	e.t.Helper()
	tok, err := e.srv.Token(user, time.Hour)
	require.NoError(e.t, err)
	return tok
}

// user returns an HTTP client logged in as user.
func (e *env) user(user int64) *rawclient.Client {
	return &rawclient.Client{BaseURL: e.hs.URL, Token: e.token(user)}
}

// socketURL is the Frontier URL for user on device.
func (e *env) socketURL(token, device string) string {
	return rawclient.FrontierURL(e.hs.URL, token, testAppID, imserver.DefaultFPID, imserver.DefaultAppKey,
		device, imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, device))
}

// socket opens a Frontier socket for user; it is closed by t.Cleanup.
func (e *env) socket(user int64, device string) *rawclient.Socket {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, _, err := rawclient.Dial(ctx, e.socketURL(e.token(user), device), e.token(user), 0)
	require.NoError(e.t, err, "dial as %d", user)
	e.t.Cleanup(func() { s.Close() })
	return s
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return c
}

// caller is a rawclient.Client or Socket.
type caller interface {
	Call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*improto.Response, error)
}

// callRaw sends a command and returns the Response whatever its status.
func callRaw(t testing.TB, c caller, cmd improto.IMCMD, body proto.Message) *improto.Response {
	t.Helper()
	resp, err := c.Call(ctx(t), cmd, body)
	require.NoError(t, err, "%v", cmd)
	return resp
}

// call sends a command, requires status OK and returns the response body
// as T (the zero T for commands without one).
func call[T proto.Message](t testing.TB, c caller, cmd improto.IMCMD, body proto.Message) T {
	t.Helper()
	resp := callRaw(t, c, cmd, body)
	require.Zero(t, resp.GetStatusCode(), "%v: status %v: %s", cmd, improto.StatusCode(resp.GetStatusCode()), resp.GetErrorDesc())
	var zero T
	command, _ := improto.LookupCommand(cmd)
	m := command.ResponseBodyMessage(resp.GetBody())
	if m == nil {
		return zero
	}
	out, ok := m.(T)
	require.True(t, ok, "%v: body is %T, want %T", cmd, m, zero)
	return out
}

// wantStatus sends a command and requires the given status code.
func wantStatus(t testing.TB, c caller, cmd improto.IMCMD, body proto.Message, want improto.StatusCode) *improto.Response {
	t.Helper()
	resp := callRaw(t, c, cmd, body)
	got := improto.StatusCode(resp.GetStatusCode())
	require.Equal(t, want, got, "%v: status %v (%s), want %v", cmd, got, resp.GetErrorDesc(), want)
	if want != 0 {
		require.NotEmpty(t, resp.GetErrorDesc(), "%v: status %v without error_desc", cmd, want)
	}
	return resp
}

// waitPush waits for the next push on s whose cmd is one of cmds, skipping
// other pushes; with no cmds it returns the next push, whatever it is.
// Pushes leave in commit order, so an expected push arriving first proves
// that nothing of those kinds was pushed before it.
func waitPush(t testing.TB, s *rawclient.Socket, cmds ...improto.IMCMD) *improto.Response {
	t.Helper()
	what := "a push"
	if len(cmds) > 0 {
		what = fmt.Sprint(cmds)
	}
	deadline := time.After(waitFor)
	for {
		select {
		case p := <-s.Pushes():
			if len(cmds) == 0 || slices.Contains(cmds, improto.IMCMD(p.GetCmd())) {
				return p
			}
		case <-s.Done():
			require.FailNowf(t, "socket closed", "waiting for %s: %v", what, s.Err())
		case <-deadline:
			require.FailNowf(t, "no push", "no %s within %v", what, waitFor)
		}
	}
}

// pushesBefore returns every push s receives before a barrier: user
// creates a group of their own over HTTP, and its 502 reaches all of
// user's sockets after every push queued earlier, as pushes leave in
// commit order. It is how a test shows that a push did not come.
func pushesBefore(t testing.TB, e *env, s *rawclient.Socket, user int64) []*improto.Response {
	t.Helper()
	barrier := createGroup(t, e.user(user))
	var before []*improto.Response
	for {
		p := waitPush(t, s)
		if p.GetCmd() == int32(improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY) &&
			p.GetBody().GetConversationInfoUpdatedNotify().GetConversation().GetConversationShortId() == barrier.GetConversationShortId() {
			return before
		}
		before = append(before, p)
	}
}

// createGroup creates a group owned by owner with members.
func createGroup(t testing.TB, owner caller, members ...int64) *improto.ConversationInfoV2 {
	t.Helper()
	return call[*improto.CreateConversationV2ResponseBody](t, owner, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(int32(improto.ConversationType_GROUP_CHAT)),
			Participants:     members,
			Name:             proto.String("group"),
		}).GetConversation()
}

// createSingle creates (or finds) the single chat of a and other.
func createSingle(t testing.TB, a caller, other int64) *improto.ConversationInfoV2 {
	t.Helper()
	return call[*improto.CreateConversationV2ResponseBody](t, a, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(int32(improto.ConversationType_ONE_TO_ONE_CHAT)),
			Participants:     []int64{other},
		}).GetConversation()
}

// sendText sends a text message to conv.
func sendText(t testing.TB, c caller, conv *improto.ConversationInfoV2, text string) *improto.SendMessageResponseBody {
	t.Helper()
	return call[*improto.SendMessageResponseBody](t, c, improto.IMCMD_SEND_MESSAGE, textBody(conv, text))
}

func textBody(conv *improto.ConversationInfoV2, text string) *improto.SendMessageRequestBody {
	return &improto.SendMessageRequestBody{
		ConversationId:      proto.String(conv.GetConversationId()),
		ConversationShortId: proto.Int64(conv.GetConversationShortId()),
		ConversationType:    proto.Int32(conv.GetConversationType()),
		MessageType:         proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
		Content:             proto.String(fmt.Sprintf(`{"text":%q}`, text)),
	}
}

// convRef returns the conversation identity fields most bodies start with.
func convRef(conv *improto.ConversationInfoV2) (*string, *int64, *int32) {
	return proto.String(conv.GetConversationId()), proto.Int64(conv.GetConversationShortId()), proto.Int32(conv.GetConversationType())
}

// convMessages pages conv's history as c sees it (301).
func convMessages(t testing.TB, c caller, conv *improto.ConversationInfoV2, dir improto.MessageDirection, anchor int64, limit int32) *improto.MessagesInConversationResponseBody {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.MessagesInConversationResponseBody](t, c, improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
		&improto.MessagesInConversationRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			Direction: dir.Enum(), AnchorIndex: proto.Int64(anchor), Limit: proto.Int32(limit)})
}

// indexesOf returns the index in conversation of each message.
func indexesOf(ms []*improto.MessageBody) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.GetIndexInConversation())
	}
	return out
}

// userIDsOf returns the user_id of each record (participants, live
// members, friends, applies).
func userIDsOf[T interface{ GetUserId() int64 }](records []T) []int64 {
	var out []int64
	for _, r := range records {
		out = append(out, r.GetUserId())
	}
	return out
}

// setMemberRole has by (the owner) give user role in conv (655).
func setMemberRole(t testing.TB, by caller, conv *improto.ConversationInfoV2, user int64, role int32) *improto.Participant {
	t.Helper()
	id, short, typ := convRef(conv)
	return call[*improto.UpdateConversationParticipantResponseBody](t, by, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT,
		&improto.UpdateConversationParticipantRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ,
			UserId: proto.Int64(user), Role: proto.Int32(role)}).GetParticipant()
}

func leaveConvBody(conv *improto.ConversationInfoV2) *improto.ConversationLeaveRequestBody {
	id, short, typ := convRef(conv)
	return &improto.ConversationLeaveRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

func dissolveConvBody(conv *improto.ConversationInfoV2) *improto.DissolveConversationRequestBody {
	id, short, typ := convRef(conv)
	return &improto.DissolveConversationRequestBody{ConversationId: id, ConversationShortId: short, ConversationType: typ}
}

func blockMembersBody(conv *improto.ConversationInfoV2, status improto.BlockStatus, seconds map[int64]int64) *improto.BlockMembersRequestBody {
	id, short, typ := convRef(conv)
	return &improto.BlockMembersRequestBody{ConversationId: id, ConvShortId: short, ConversationType: typ,
		BlockStatus: status.Enum(), BlockTime: seconds}
}

func blockConvBody(conv *improto.ConversationInfoV2, status improto.BlockStatus, normalOnly bool) *improto.BlockConversationRequestBody {
	id, short, typ := convRef(conv)
	return &improto.BlockConversationRequestBody{ConversationId: id, ConvShortId: short, ConversationType: typ,
		BlockStatus: status.Enum(), BlockNormalOnly: proto.Bool(normalOnly)}
}

// pull returns everything in c's inbox after cursor.
func pull(t testing.TB, c caller, cursor int64) *improto.MessagesPerUserResponseBody {
	t.Helper()
	return call[*improto.MessagesPerUserResponseBody](t, c, improto.IMCMD_GET_MESSAGES_BY_USER,
		&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int32(1000)})
}
