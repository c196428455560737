package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/internal/rawclient"
)

// mainEnv, set to 1 in a child process's environment, makes the test
// binary behave as the imserver command: the crash test re-executes
// itself this way instead of building a separate binary.
const mainEnv = "IMSERVER_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

const (
	testAppID  = 1
	testSecret = "test-secret"
	waitFor    = 10 * time.Second // deadline of every wait on an event
)

// syncBuffer is an io.Writer that tests can read while run writes to it;
// wrote signals that something was written since the last wait.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits until b holds a line starting with prefix and returns the
// rest of it, trimmed. It fails the test if exited closes (run returned)
// or the deadline passes first.
func waitLine(t *testing.T, b *syncBuffer, prefix string, exited <-chan struct{}, stderr *syncBuffer) string {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		for line := range strings.Lines(b.String()) {
			if rest, ok := strings.CutPrefix(line, prefix); ok && strings.HasSuffix(rest, "\n") {
				return strings.TrimSpace(rest)
			}
		}
		select {
		case <-b.wrote:
		case <-exited:
			require.FailNowf(t, "run returned", "run returned before printing %q; stdout:\n%s\nstderr:\n%s", prefix, b, stderr)
		case <-deadline:
			require.FailNowf(t, "no line", "no %q line within %v; stdout:\n%s\nstderr:\n%s", prefix, waitFor, b, stderr)
		}
	}
}

// caller is a rawclient.Client or Socket.
type caller interface {
	Call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*improto.Response, error)
}

// callRaw sends a command and returns the Response whatever its status.
func callRaw(t *testing.T, c caller, cmd improto.IMCMD, body proto.Message) *improto.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := c.Call(ctx, cmd, body)
	require.NoError(t, err, "%v", cmd)
	return resp
}

// call sends a command, requires status OK and returns the response body
// as T.
func call[T proto.Message](t *testing.T, c caller, cmd improto.IMCMD, body proto.Message) T {
	t.Helper()
	resp := callRaw(t, c, cmd, body)
	require.Zero(t, resp.GetStatusCode(), "%v: status %v: %s", cmd, improto.StatusCode(resp.GetStatusCode()), resp.GetErrorDesc())
	var zero T
	command, _ := improto.LookupCommand(cmd)
	out, ok := command.ResponseBodyMessage(resp.GetBody()).(T)
	require.True(t, ok, "%v: body %v is not a %T", cmd, resp.GetBody(), zero)
	return out
}

// newHTTPClient returns an HTTP client of the test's own, whose idle
// connections are closed at cleanup so that no transport goroutine
// outlives the test.
func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitFor}
}

// userClient is an HTTP API client for user of the test app on api.
func userClient(api string, hc *http.Client, user int64) *rawclient.Client {
	return &rawclient.Client{BaseURL: api, HTTP: hc, Token: imserver.MintToken(testAppID, user, testSecret, time.Now().Add(time.Hour))}
}

// createGroup creates a group owned by owner with members.
func createGroup(t *testing.T, owner caller, members ...int64) *improto.ConversationInfoV2 {
	t.Helper()
	return call[*improto.CreateConversationV2ResponseBody](t, owner, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(int32(improto.ConversationType_GROUP_CHAT)),
			Participants:     members,
			Name:             proto.String("group"),
		}).GetConversation()
}

// textBody is the request to send text to conv.
func textBody(conv *improto.ConversationInfoV2, text string) *improto.SendMessageRequestBody {
	return &improto.SendMessageRequestBody{
		ConversationId:      proto.String(conv.GetConversationId()),
		ConversationShortId: proto.Int64(conv.GetConversationShortId()),
		ConversationType:    proto.Int32(conv.GetConversationType()),
		MessageType:         proto.Int32(int32(improto.MessageType_MESSAGE_TYPE_TEXT)),
		Content:             proto.String(textContent(text)),
	}
}

// textContent is the content of a text message.
func textContent(text string) string { return fmt.Sprintf(`{"text":%q}`, text) }

func TestTokenCommand(t *testing.T) {
	t.Setenv(secretEnv, "") // the cases below control the secret
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"token", "-app-id", "7", "-app-secret", "s3", "-user", "1001", "-ttl", "1h"}, &stdout, &stderr)
	require.Zero(t, code, "exit code; stderr %q", stderr.String())
	require.Empty(t, stderr.String(), "stderr")
	tok, ok := strings.CutSuffix(stdout.String(), "\n")
	require.True(t, ok && !strings.ContainsAny(tok, "\n \t") && tok != "", "stdout %q is not exactly one line holding a token", stdout.String())
	user, err := imserver.VerifyToken(tok, 7, "s3", time.Now())
	require.NoError(t, err, "VerifyToken")
	require.Equal(t, int64(1001), user, "VerifyToken's user")
	for _, bad := range []struct {
		name   string
		app    int64
		secret string
	}{{"other app", 8, "s3"}, {"other secret", 7, "s4"}} {
		_, err := imserver.VerifyToken(tok, bad.app, bad.secret, time.Now())
		assert.ErrorIs(t, err, imserver.ErrTokenInvalid, "%s: VerifyToken", bad.name)
	}
	_, err = imserver.VerifyToken(tok, 7, "s3", time.Now().Add(time.Hour+time.Minute))
	assert.ErrorIs(t, err, imserver.ErrTokenExpired, "after the 1h ttl: VerifyToken")
}

func TestTokenCommandSecretFromEnv(t *testing.T) {
	t.Setenv(secretEnv, "from-env")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"token", "-user", "42"}, &stdout, &stderr)
	require.Zero(t, code, "exit code; stderr %q", stderr.String())
	user, err := imserver.VerifyToken(strings.TrimSuffix(stdout.String(), "\n"), 1, "from-env", time.Now().Add(23*time.Hour))
	require.NoError(t, err, "token for app 1 signed with the env secret, valid for 24h: VerifyToken")
	require.Equal(t, int64(42), user, "token for app 1 signed with the env secret, valid for 24h: VerifyToken's user")
}

func TestBadArguments(t *testing.T) {
	t.Setenv(secretEnv, "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // substring of stderr
	}{
		{"token without user", []string{"token", "-app-secret", "s"}, 2, "-user is required"},
		{"token user zero", []string{"token", "-app-secret", "s", "-user", "0"}, 2, `-user "0" is not a positive user id`},
		{"token user negative", []string{"token", "-app-secret", "s", "-user", "-5"}, 2, `-user "-5" is not a positive user id`},
		{"token user not a number", []string{"token", "-app-secret", "s", "-user", "bob"}, 2, `-user "bob" is not a positive user id`},
		{"token ttl zero", []string{"token", "-app-secret", "s", "-user", "1", "-ttl", "0s"}, 2, "-ttl 0s must be positive"},
		{"token ttl negative", []string{"token", "-app-secret", "s", "-user", "1", "-ttl", "-1h"}, 2, "-ttl -1h0m0s must be positive"},
		{"token ttl unparsable", []string{"token", "-app-secret", "s", "-user", "1", "-ttl", "soon"}, 2, `invalid value "soon" for flag -ttl`},
		{"token without secret", []string{"token", "-user", "1"}, 2, "an app secret is required"},
		{"token app id zero", []string{"token", "-app-secret", "s", "-user", "1", "-app-id", "0"}, 2, "-app-id 0 must be positive"},
		{"token stray argument", []string{"token", "-app-secret", "s", "-user", "1", "extra"}, 2, `unexpected argument "extra"`},
		{"token unknown flag", []string{"token", "-nope"}, 2, "flag provided but not defined: -nope"},
		{"server without secret", []string{"-addr", "127.0.0.1:0"}, 2, "an app secret is required: pass -app-secret or set IMBOT_APP_SECRET"},
		{"server app id negative", []string{"-app-secret", "s", "-app-id", "-1"}, 2, "-app-id -1 must be positive"},
		{"server bad log level", []string{"-app-secret", "s", "-log-level", "loud"}, 2, `invalid value "loud" for flag -log-level`},
		{"server stray argument", []string{"-app-secret", "s", "serve"}, 2, `unexpected argument "serve"`},
		{"server max upload zero", []string{"-app-secret", "s", "-max-upload", "0"}, 2, "-max-upload 0 must be positive"},
		{"server max upload negative", []string{"-app-secret", "s", "-max-upload", "-1"}, 2, "-max-upload -1 must be positive"},
		{"server max upload unparsable", []string{"-app-secret", "s", "-max-upload", "20MB"}, 2, `invalid value "20MB" for flag -max-upload`},
		{"server unsent file ttl zero", []string{"-app-secret", "s", "-unsent-file-ttl", "0s"}, 2, "-unsent-file-ttl 0s must be positive, or negative"},
		{"server unsent file ttl unparsable", []string{"-app-secret", "s", "-unsent-file-ttl", "a day"}, 2, `invalid value "a day" for flag -unsent-file-ttl`},
		{"server max stored per user zero", []string{"-app-secret", "s", "-max-stored-per-user", "0"}, 2, "-max-stored-per-user 0 must be positive, or negative"},
		{"server max stored unparsable", []string{"-app-secret", "s", "-max-stored", "lots"}, 2, `invalid value "lots" for flag -max-stored`},
		{"server bad address", []string{"-app-secret", "s", "-addr", "127.0.0.1:notaport"}, 1, "notaport"},
		{"server data in a missing directory", []string{"-app-secret", "s", "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "missing", "im.db")}, 1, "bolt: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, "exit code")
			assert.Contains(t, stderr.String(), tt.wantErr, "stderr")
			assert.Empty(t, stdout.String(), "stdout")
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args  []string
		flags []string
	}{
		{[]string{"-h"}, []string{"-addr", "-app-id", "-app-secret", "-data", "-dev-login", "-log-level", "-max-upload", "-unsent-file-ttl", "-max-stored-per-user", "-max-stored", secretEnv, "imserver token", "/console/", "/healthz", "/readyz", "/metrics"}},
		{[]string{"token", "-h"}, []string{"-app-id", "-app-secret", "-user", "-ttl", secretEnv}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			assert.Zero(t, code, "exit code")
			for _, f := range tt.flags {
				assert.Contains(t, stderr.String(), f, "usage does not mention %s", f)
			}
			assert.Empty(t, stdout.String(), "stdout")
		})
	}
}

// TestDevLogin runs the server with -dev-login: the console line says so
// and the console's token endpoint answers.
func TestDevLogin(t *testing.T) {
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		run(ctx, []string{"-addr", "127.0.0.1:0", "-app-secret", testSecret, "-dev-login", "-log-level", "warn"}, stdout, stderr)
	}()
	t.Cleanup(func() { cancel(); <-exited })
	api := waitLine(t, stdout, "api:", exited, stderr)
	assert.Equal(t, api+imserver.ConsolePath+" (log in as any user id: -dev-login is on)", waitLine(t, stdout, "console:", exited, stderr),
		"console line: the console URL and that dev login is on")
	resp, err := http.PostForm(api+imserver.ConsolePath+"token", url.Values{"user": {"1001"}})
	require.NoError(t, err, "dev login")
	var got struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	require.NoError(t, err, "dev login: %s: decode the body", resp.Status)
	require.Equal(t, http.StatusOK, resp.StatusCode, "dev login: status %s", resp.Status)
	user, err := imserver.VerifyToken(got.Token, testAppID, testSecret, time.Now())
	assert.NoError(t, err, "dev login token")
	assert.Equal(t, int64(1001), user, "dev login token's user")
}

// inProcess is the command run on a goroutine of the test by
// serveInProcess. code is its exit code once exited is closed.
type inProcess struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	exited         chan struct{}
	code           int
}

// serveInProcess runs the command with args until the test cancels it or
// ends.
func serveInProcess(t *testing.T, args ...string) *inProcess {
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		p.code = run(ctx, args, p.stdout, p.stderr)
	}()
	t.Cleanup(func() { cancel(); <-p.exited })
	return p
}

// TestServeAndShutdown runs the server in-process on a free port, uses the
// HTTP API and a Frontier socket, then cancels its context: run must
// return 0 and the socket must get a "going away" close frame.
func TestServeAndShutdown(t *testing.T) {
	srv := serveInProcess(t, "-addr", "127.0.0.1:0", "-app-secret", testSecret, "-log-level", "debug")
	stdout, stderr, cancel, exited := srv.stdout, srv.stderr, srv.cancel, srv.exited

	api := waitLine(t, stdout, "api:", exited, stderr)
	frontier := waitLine(t, stdout, "frontier:", exited, stderr)
	require.True(t, strings.HasPrefix(api, "http://127.0.0.1:") && !strings.HasSuffix(api, ":0"), "api URL %q, want http://127.0.0.1 with the bound port", api)
	assert.Equal(t, "ws"+strings.TrimPrefix(api, "http")+imserver.FrontierPath, frontier, "frontier URL")
	store := waitLine(t, stdout, "store:", exited, stderr)
	assert.Contains(t, store, "memory", "store line: the state is in memory")
	assert.Contains(t, store, "lost on exit", "store line: the state is lost on exit")
	files := waitLine(t, stdout, "files:", exited, stderr)
	assert.Contains(t, files, "memory", "files line: uploads are in memory")
	token := waitLine(t, stdout, "token:", exited, stderr)
	assert.Contains(t, token, "token -app-id 1", "token line: how to get a token")
	assert.Contains(t, token, "-user", "token line: how to get a token")
	console := waitLine(t, stdout, "console:", exited, stderr)
	assert.True(t, strings.HasPrefix(console, api+imserver.ConsolePath+"#token=<token> "), "console line %q does not say how to open the console with a token", console)
	assert.Contains(t, console, "-dev-login", "console line: how to log in without a token")
	page, err := http.Get(api + imserver.ConsolePath)
	require.NoError(t, err, "GET the console")
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode, "GET the console: status")
	assert.True(t, strings.HasPrefix(page.Header.Get("Content-Type"), "text/html"), "GET the console: Content-Type %q, want text/html", page.Header.Get("Content-Type"))
	devLogin, err := http.PostForm(api+imserver.ConsolePath+"token", url.Values{"user": {"1001"}})
	require.NoError(t, err, "dev login")
	devLogin.Body.Close()
	assert.Equal(t, http.StatusNotFound, devLogin.StatusCode, "dev login without -dev-login")

	hc := newHTTPClient(t)
	alice := userClient(api, hc, 1001)
	conv := createGroup(t, alice, 1002)
	sent := call[*improto.SendMessageResponseBody](t, alice, improto.IMCMD_SEND_MESSAGE, textBody(conv, "hello"))
	metrics, err := http.Get(api + imserver.DefaultMetricsPath)
	require.NoError(t, err, "GET /metrics")
	text, err := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	require.NoError(t, err, "GET /metrics")
	assert.Equal(t, http.StatusOK, metrics.StatusCode, "GET /metrics: status")
	for _, name := range []string{"imbot_server_requests_total", "imbot_server_sockets_open", "go_goroutines"} {
		assert.Contains(t, string(text), "# TYPE "+name+" ", "GET /metrics")
	}

	device := "bob-web"
	bobToken := imserver.MintToken(testAppID, 1002, testSecret, time.Now().Add(time.Hour))
	dctx, dcancel := context.WithTimeout(context.Background(), waitFor)
	defer dcancel()
	sock, _, err := rawclient.Dial(dctx, rawclient.FrontierURL(api, bobToken, testAppID, imserver.DefaultFPID,
		imserver.DefaultAppKey, device, imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, device)), bobToken, 0)
	require.NoError(t, err, "dial Frontier")
	defer sock.Close()
	inbox := call[*improto.MessagesPerUserResponseBody](t, sock, improto.IMCMD_GET_MESSAGES_BY_USER,
		&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(0), Limit: proto.Int32(10)})
	require.Len(t, inbox.GetMessages(), 1, "bob's inbox over the socket")
	require.Equal(t, sent.GetServerMessageId(), inbox.GetMessages()[0].GetServerMessageId(), "bob's inbox over the socket: the message sent")

	cancel()
	select {
	case <-sock.Done():
	case <-time.After(waitFor):
		require.FailNowf(t, "socket still open", "%v after the shutdown began", waitFor)
	}
	var ce *websocket.CloseError
	if assert.ErrorAs(t, sock.Err(), &ce, "socket end: want a close frame") {
		assert.Equal(t, websocket.CloseGoingAway, ce.Code, "socket close code, want going away")
	}
	select {
	case <-exited:
	case <-time.After(waitFor):
		require.FailNowf(t, "run did not return", "within %v of the cancel", waitFor)
	}
	assert.Zero(t, srv.code, "run's exit code after a graceful shutdown; stderr:\n%s", stderr)
	_, err = alice.Call(t.Context(), improto.IMCMD_GET_MESSAGES_BY_USER, &improto.MessagesPerUserRequestBody{})
	assert.Error(t, err, "the API still answers after run returned")
	for _, log := range []string{"shutting down", "stopped"} {
		assert.Contains(t, stderr.String(), log, "stderr logs")
	}
	out := stdout.String() + stderr.String()
	assert.NotContains(t, out, "imbot1.", "a token was printed or logged")
	assert.NotContains(t, out, testSecret, "the secret was printed or logged")
}

// TestReadyFile starts the server with -ready-file over a stale file: the
// file is replaced, once the server serves, by one JSON line whose URLs
// work, and it is removed when the server exits.
func TestReadyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"api":"http://stale"}`), 0o644))
	srv := serveInProcess(t, "-addr", "127.0.0.1:0", "-app-secret", testSecret, "-ready-file", path)
	stdout, stderr, cancel, exited := srv.stdout, srv.stderr, srv.cancel, srv.exited

	var ready readiness
	deadline := time.Now().Add(waitFor)
	for {
		// The file appears whole (it is renamed into place), and the stale
		// one is gone before the server listens: any file with this
		// process's pid is the new one.
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &ready) == nil && ready.PID == os.Getpid() {
			require.True(t, bytes.HasSuffix(b, []byte("}\n")), "one JSON line: %q", b)
			break
		}
		select {
		case <-exited:
			require.FailNowf(t, "run exited", "code %d; stderr:\n%s", srv.code, stderr)
		case <-time.After(10 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no ready file within %v", waitFor)
	}
	api := waitLine(t, stdout, "api:", exited, stderr)
	assert.Equal(t, api, ready.API)
	assert.Equal(t, "http://"+ready.Addr, ready.API)
	assert.Equal(t, waitLine(t, stdout, "frontier:", exited, stderr), ready.Frontier)
	assert.Equal(t, api+imserver.ConsolePath, ready.Console)
	assert.Equal(t, int64(testAppID), ready.AppID)
	page, err := http.Get(ready.Console)
	require.NoError(t, err)
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode, "GET the console at the ready file's URL")
	alice := userClient(ready.API, newHTTPClient(t), 1001)
	createGroup(t, alice, 1002)

	cancel()
	select {
	case <-exited:
	case <-time.After(waitFor):
		require.FailNowf(t, "run did not return", "within %v of the cancel", waitFor)
	}
	assert.Zero(t, srv.code, "exit code; stderr:\n%s", stderr)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "the ready file outlives the server")
}

// TestReadyFileUnwritable names a -ready-file in a missing directory: the
// server says so and exits 1 instead of serving with no readiness signal.
func TestReadyFileUnwritable(t *testing.T) {
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	code := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-app-secret", testSecret,
		"-ready-file", filepath.Join(t.TempDir(), "missing", "ready.json")}, stdout, stderr)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr.String(), "ready-file")
}

// child is the imserver command running in a child process: the test
// binary re-executed with mainEnv set.
type child struct {
	cmd    *exec.Cmd
	api    string
	stderr string // path of the file that receives its stderr

	waitOnce sync.Once
	waitErr  error
}

// startChild starts the command with args and waits for its api line. The
// child is killed at cleanup if it still runs.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stderrPath := filepath.Join(t.TempDir(), "stderr")
	errFile, err := os.Create(stderrPath)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1", secretEnv+"=")
	cmd.Stdout, cmd.Stderr = w, errFile
	err = cmd.Start()
	w.Close() // the child has its own copies; ours would hide its exit from the reader
	errFile.Close()
	require.NoError(t, err, "start the child")
	c := &child{cmd: cmd, stderr: stderrPath}
	t.Cleanup(func() {
		c.kill()
		r.Close() // only now: a Go program writing to a pipe without a reader dies of SIGPIPE
		if t.Failed() {
			b, _ := os.ReadFile(stderrPath)
			t.Logf("child %d stderr:\n%s", cmd.Process.Pid, b)
		}
	})
	require.NoError(t, r.SetReadDeadline(time.Now().Add(waitFor)))
	br := bufio.NewReader(r)
	for c.api == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			b, _ := os.ReadFile(stderrPath)
			require.NoError(t, err, "child printed no api line; stderr:\n%s", b)
		}
		if rest, ok := strings.CutPrefix(line, "api:"); ok {
			c.api = strings.TrimSpace(rest)
		}
	}
	// The rest of the banner is a few short lines that the pipe's buffer
	// takes without anyone reading them.
	return c
}

// wait waits for the child to exit, once; later calls return the same.
func (c *child) wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// kill kills the child with SIGKILL, the way a crash or power cut ends
// it: no deferred function, no graceful shutdown, no store Close.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.wait()
}

// stop sends SIGTERM and waits for the child to exit, killing it if it
// takes longer than waitFor; it returns the exit code.
func (c *child) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM), "SIGTERM the child")
	exited := make(chan struct{})
	go func() { // ends when the child does; kill below guarantees it
		defer close(exited)
		_ = c.wait()
	}()
	select {
	case <-exited:
	case <-time.After(waitFor):
		c.kill()
		<-exited
		require.FailNowf(t, "child did not exit", "within %v of SIGTERM", waitFor)
	}
	return c.cmd.ProcessState.ExitCode()
}

// TestCrashKeepsAcknowledgedState kills a server on a bbolt file with
// SIGKILL, while messages are still being sent, and restarts it on the
// same file: every message the server acknowledged must be there, with
// gap-free indexes, the same in the user's inbox and in the conversation,
// and the read index of a member must be intact.
func TestCrashKeepsAcknowledgedState(t *testing.T) {
	data := filepath.Join(t.TempDir(), "im.db")
	args := []string{"-data", data, "-addr", "127.0.0.1:0", "-app-secret", testSecret, "-log-level", "warn"}
	hc := newHTTPClient(t)
	first := startChild(t, args...)
	users := map[int64]*rawclient.Client{}
	for u := int64(1); u <= 3; u++ {
		users[u] = userClient(first.api, hc, u)
	}
	conv := createGroup(t, users[1], 2, 3)

	// Phase 1: 200 messages, sent by three users at once.
	const n = 200
	var mu sync.Mutex
	acked := map[int64]string{} // server message id → content
	ack := func(id int64, content string) {
		mu.Lock()
		defer mu.Unlock()
		acked[id] = content
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for u, c := range users {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			for i := int(u) - 1; i < n; i += len(users) {
				text := fmt.Sprintf("m%d from %d", i, u)
				resp, err := c.Call(ctx, improto.IMCMD_SEND_MESSAGE, textBody(conv, text))
				if err == nil && resp.GetStatusCode() != 0 {
					err = fmt.Errorf("status %v: %s", improto.StatusCode(resp.GetStatusCode()), resp.GetErrorDesc())
				}
				if err != nil {
					errs <- fmt.Errorf("user %d sending %q: %w", u, text, err)
					return
				}
				ack(resp.GetBody().GetSendMessageBody().GetServerMessageId(), textContent(text))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, n, len(acked), "distinct server message ids acknowledged")

	const readIndex = 120
	markRead := callRaw(t, users[2], improto.IMCMD_MARK_CONVERSATION_READ, &improto.MarkConversationReadRequestBody{
		ConversationId:      proto.String(conv.GetConversationId()),
		ConversationShortId: proto.Int64(conv.GetConversationShortId()),
		ConversationType:    proto.Int32(conv.GetConversationType()),
		ReadMessageIndex:    proto.Int64(readIndex),
	})
	readServed := true
	switch code := improto.StatusCode(markRead.GetStatusCode()); code {
	case 0:
	case improto.StatusCode_INVALID_CMD:
		readServed = false
		t.Logf("604 MARK_CONVERSATION_READ is not served (%s): the read index is not checked", markRead.GetErrorDesc())
	default:
		require.FailNowf(t, "604 MARK_CONVERSATION_READ failed", "status %v: %s", code, markRead.GetErrorDesc())
	}

	// Phase 2: user 3 keeps sending; the server is killed once a few more
	// sends have been acknowledged, so the kill lands mid-stream.
	const inFlightAcks = 5
	someAcked := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		for i := 0; i < 10_000; i++ { // bounded in case the kill never lands
			text := fmt.Sprintf("in flight %d", i)
			resp, err := users[3].Call(context.Background(), improto.IMCMD_SEND_MESSAGE, textBody(conv, text))
			if err != nil || resp.GetStatusCode() != 0 {
				return // the server is gone
			}
			ack(resp.GetBody().GetSendMessageBody().GetServerMessageId(), textContent(text))
			if i == inFlightAcks-1 {
				close(someAcked)
			}
		}
	}()
	select {
	case <-someAcked:
	case <-senderDone:
		require.FailNow(t, "the in-flight sender stopped before the kill")
	case <-time.After(waitFor):
		require.FailNowf(t, "too few in-flight sends", "fewer than %d in-flight sends acknowledged within %v", inFlightAcks, waitFor)
	}
	first.kill()
	select {
	case <-senderDone:
	case <-time.After(waitFor):
		require.FailNow(t, "the in-flight sender still runs after the kill")
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	t.Logf("%d messages acknowledged before the SIGKILL", total)

	second := startChild(t, args...)
	for u := range users {
		users[u] = userClient(second.api, hc, u)
	}

	// Everything in the conversation, oldest first, as user 3 pages it.
	var inConv []*improto.MessageBody
	for anchor := int64(0); ; {
		page := call[*improto.MessagesInConversationResponseBody](t, users[3], improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
			&improto.MessagesInConversationRequestBody{
				ConversationId:      proto.String(conv.GetConversationId()),
				ConversationShortId: proto.Int64(conv.GetConversationShortId()),
				ConversationType:    proto.Int32(conv.GetConversationType()),
				Direction:           improto.MessageDirection_NEWER.Enum(),
				AnchorIndex:         proto.Int64(anchor),
				Limit:               proto.Int32(50),
			})
		inConv = append(inConv, page.GetMessages()...)
		if !page.GetHasMore() {
			break
		}
		require.Greater(t, page.GetNextCursor(), anchor, "301 paging advances: next cursor after anchor")
		anchor = page.GetNextCursor()
	}
	require.GreaterOrEqual(t, len(inConv), total, "messages in the conversation after the restart, want at least the acknowledged")
	convIDs := map[int64]bool{}
	for i, m := range inConv {
		require.Equal(t, int64(i+1), m.GetIndexInConversation(), "index of message %d of %d: indexes must be 1..%d gap-free", i+1, len(inConv), len(inConv))
		convIDs[m.GetServerMessageId()] = true
		if want, ok := acked[m.GetServerMessageId()]; ok {
			assert.Equal(t, want, m.GetContent(), "content of message %d", m.GetServerMessageId())
		}
	}
	for id := range acked {
		assert.True(t, convIDs[id], "acknowledged message %d is missing from the conversation after the restart", id)
	}

	// The same messages in user 3's inbox.
	inboxIDs := map[int64]bool{}
	for cursor := int64(0); ; {
		page := call[*improto.MessagesPerUserResponseBody](t, users[3], improto.IMCMD_GET_MESSAGES_BY_USER,
			&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(cursor), Limit: proto.Int32(50)})
		for _, m := range page.GetMessages() {
			if m.GetConversationShortId() == conv.GetConversationShortId() {
				inboxIDs[m.GetServerMessageId()] = true
			}
		}
		if !page.GetHasMore() {
			break
		}
		require.Greater(t, page.GetNextCursor(), cursor, "200 paging advances: next cursor after cursor")
		cursor = page.GetNextCursor()
	}
	assert.Equal(t, len(convIDs), len(inboxIDs), "the conversation's messages in user 3's inbox, against those in the conversation")
	for id := range convIDs {
		assert.True(t, inboxIDs[id], "message %d is in the conversation but not in user 3's inbox", id)
	}

	// User 2's read index.
	info := callRaw(t, users[2], improto.IMCMD_GET_CONVERSATION_INFO_V2, &improto.GetConversationInfoV2RequestBody{
		ConversationId:      proto.String(conv.GetConversationId()),
		ConversationShortId: proto.Int64(conv.GetConversationShortId()),
		ConversationType:    proto.Int32(conv.GetConversationType()),
	})
	switch code := improto.StatusCode(info.GetStatusCode()); {
	case code == improto.StatusCode_INVALID_CMD:
		t.Logf("608 GET_CONVERSATION_INFO_V2 is not served (%s): the read index is not checked", info.GetErrorDesc())
	case code != 0:
		assert.Failf(t, "608 GET_CONVERSATION_INFO_V2 failed", "status %v: %s", code, info.GetErrorDesc())
	case !readServed:
	default:
		got := info.GetBody().GetGetConversationInfoV2Body().GetConversationInfo().GetConversationSettingInfo().GetReadIndex()
		assert.Equal(t, int64(readIndex), got, "user 2's read index after the restart")
	}

	// The next message continues the sequence: no index or id is reused.
	next := call[*improto.SendMessageResponseBody](t, users[1], improto.IMCMD_SEND_MESSAGE, textBody(conv, "after the restart"))
	assert.False(t, convIDs[next.GetServerMessageId()], "the first message after the restart reuses server message id %d", next.GetServerMessageId())
	latest := call[*improto.MessagesInConversationResponseBody](t, users[1], improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
		&improto.MessagesInConversationRequestBody{
			ConversationId:      proto.String(conv.GetConversationId()),
			ConversationShortId: proto.Int64(conv.GetConversationShortId()),
			ConversationType:    proto.Int32(conv.GetConversationType()),
			Direction:           improto.MessageDirection_FROM_LATEST.Enum(),
			Limit:               proto.Int32(1),
		}).GetMessages()
	if assert.Len(t, latest, 1, "latest message after the restart") {
		assert.Equal(t, next.GetServerMessageId(), latest[0].GetServerMessageId(), "latest message after the restart: id")
		assert.Equal(t, int64(len(inConv)+1), latest[0].GetIndexInConversation(), "latest message after the restart: index")
	}

	// A graceful stop of the real process exits 0.
	assert.Zero(t, second.stop(t), "SIGTERM: exit code")
}

// With -data FILE the uploaded files go to the directory FILE.files,
// which the server creates.
func TestServeFilesBesideData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "im.db")
	srv := serveInProcess(t, "-addr", "127.0.0.1:0", "-app-secret", testSecret, "-data", data, "-log-level", "warn")
	files := waitLine(t, srv.stdout, "files:", srv.exited, srv.stderr)
	assert.Equal(t, "directory "+data+".files", files, "files line")
	info, err := os.Stat(data + ".files")
	require.NoError(t, err, "the files directory")
	assert.True(t, info.IsDir(), "the files directory is a directory")
}

// TestFileFlags serves with the file flags set and sees them in effect:
// the upload cap in GET_MEDIA_UPLOAD_CONFIG, and tokens refused past
// -max-stored-per-user and -max-stored.
func TestFileFlags(t *testing.T) {
	tokenFor := func(size int64) *improto.GetUploadTokenRequestBody {
		return &improto.GetUploadTokenRequestBody{FileSize: proto.Int64(size), MimeType: proto.String("text/plain")}
	}
	tests := []struct {
		name      string
		args      []string
		maxUpload int64
		refused   int64  // a token size refused with TOUCH_LIMIT
		quota     string // the quota the refusal names
	}{
		{"per user", []string{"-max-upload", "1000", "-max-stored-per-user", "500", "-unsent-file-ttl", "1h"}, 1000, 501, "MaxStoredBytesPerUser"},
		{"in all", []string{"-max-upload", "2000", "-max-stored-per-user", "-1", "-max-stored", "700", "-unsent-file-ttl", "-1s"}, 2000, 701, "MaxStoredBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveInProcess(t, append([]string{"-addr", "127.0.0.1:0", "-app-secret", testSecret, "-log-level", "warn"}, tt.args...)...)
			api := waitLine(t, srv.stdout, "api:", srv.exited, srv.stderr)
			user := userClient(api, newHTTPClient(t), 1001)
			cfg := call[*improto.GetMediaUploadConfigResponseBody](t, user, improto.IMCMD_GET_MEDIA_UPLOAD_CONFIG, &improto.GetMediaUploadConfigRequestBody{})
			assert.Equal(t, tt.maxUpload, cfg.GetMaxSize(), "-max-upload")
			call[*improto.GetUploadTokenResponseBody](t, user, improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, tokenFor(tt.refused-1))
			resp := callRaw(t, user, improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, tokenFor(tt.refused))
			assert.EqualValues(t, improto.StatusCode_TOUCH_LIMIT, resp.GetStatusCode(), "a token past the quota")
			assert.Contains(t, resp.GetErrorDesc(), "of "+tt.quota, "the refusal names the quota")
		})
	}
}
