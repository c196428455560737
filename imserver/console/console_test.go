package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/console"
	"github.com/imbot-go/imbot/imserver/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testAppID  = 1
	testSecret = "test-secret"
)

// newServer serves an imserver for cfg (AppID, AppSecret and Store filled
// in) on loopback until the test ends.
func newServer(t *testing.T, cfg imserver.Config) (*imserver.Server, *httptest.Server) {
	t.Helper()
	st := store.NewMemory()
	cfg.AppID, cfg.AppSecret, cfg.Store = testAppID, testSecret, st
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := imserver.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return srv, hs
}

func get(t *testing.T, hc *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func ExampleAssets() {
	names, _ := fs.Glob(console.Assets(), "*")
	fmt.Println(names)
	// Output: [console.css console.js index.html proto.sha256 src.sha256]
}

func TestServesEmbeddedAssets(t *testing.T) {
	_, hs := newServer(t, imserver.Config{})
	for _, tc := range []struct {
		path, wantType, wantBody string
	}{
		{imserver.ConsolePath, "text/html", `<script src="console.js">`},
		{imserver.ConsolePath + "index.html", "text/html", `<script src="console.js">`}, // redirected to the directory
		{imserver.ConsolePath + "console.js", "javascript", "im_proto"},
		{imserver.ConsolePath + "console.css", "text/css", ".shell"},
		{imserver.ConsolePath + "config.json", "application/json", `"frontier_path":"/ws/v2"`},
		{strings.TrimSuffix(imserver.ConsolePath, "/"), "text/html", `<script src="console.js">`}, // redirected to ConsolePath
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, hs.Client(), hs.URL+tc.path)
			require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", tc.path, resp.Status)
			assert.Contains(t, resp.Header.Get("Content-Type"), tc.wantType, "GET %s: Content-Type", tc.path)
			// Not assert.Contains: it would print the whole bundle.
			assert.True(t, strings.Contains(body, tc.wantBody), "GET %s: body lacks %q", tc.path, tc.wantBody)
		})
	}
	resp, _ := get(t, hs.Client(), hs.URL+imserver.ConsolePath+"missing.js")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET a missing console file: %s", resp.Status)
}

func TestConfigJSON(t *testing.T) {
	_, hs := newServer(t, imserver.Config{FPID: 7, AppKey: "k"})
	_, body := get(t, hs.Client(), hs.URL+imserver.ConsolePath+"config.json")
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &got), "config.json:\n%s", body)
	want := map[string]any{
		"app_id": float64(testAppID), "fpid": float64(7), "app_key": "k",
		"frontier_service": float64(imserver.DefaultFrontierService), "frontier_method": float64(imserver.DefaultFrontierMethod),
		"frontier_path": imserver.FrontierPath, "api_path": "/", "dev_login": false,
	}
	for k, v := range want {
		assert.Equal(t, v, got[k], "config.json %s", k)
	}
	assert.NotContains(t, body, testSecret, "config.json reveals the app secret")
}

func TestDevLoginIsOffByDefault(t *testing.T) {
	_, hs := newServer(t, imserver.Config{})
	resp, err := hs.Client().PostForm(hs.URL+imserver.ConsolePath+"token", url.Values{"user": {"1001"}})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "dev login with the default Config: %s %q", resp.Status, b)
	assert.NotContains(t, string(b), "imbot1.", "dev login with the default Config must give no token")
}

func TestDevLogin(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, hs := newServer(t, imserver.Config{DevLogin: true, Now: func() time.Time { return now }})
	tokenURL := hs.URL + imserver.ConsolePath + "token"

	resp, err := hs.Client().PostForm(tokenURL, url.Values{"user": {"1001"}})
	require.NoError(t, err)
	var got struct {
		Token     string `json:"token"`
		UserID    int64  `json:"user_id"`
		ExpiresAt int64  `json:"expires_at"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	require.NoError(t, err, "dev login: %s", resp.Status)
	require.Equal(t, http.StatusOK, resp.StatusCode, "dev login: %s", resp.Status)
	user, err := imserver.VerifyToken(got.Token, testAppID, testSecret, now)
	assert.NoError(t, err, "the dev login token verifies")
	assert.Equal(t, int64(1001), user, "the dev login token's user")
	assert.Equal(t, int64(1001), got.UserID, "dev login answered user")
	assert.Equal(t, now.Add(imserver.DevLoginTTL).Unix(), got.ExpiresAt, "dev login answered expiry")
	_, err = imserver.VerifyToken(got.Token, testAppID, testSecret, now.Add(imserver.DevLoginTTL))
	assert.Error(t, err, "the dev login token is still valid after DevLoginTTL (%v)", imserver.DevLoginTTL)

	for _, tc := range []struct {
		name     string
		do       func() (*http.Response, error)
		want     int
		wantBody string
	}{
		{"no user", func() (*http.Response, error) { return hs.Client().PostForm(tokenURL, nil) }, http.StatusBadRequest, "not a positive user id"},
		{"user 0", func() (*http.Response, error) { return hs.Client().PostForm(tokenURL, url.Values{"user": {"0"}}) }, http.StatusBadRequest, `"0"`},
		{"user x", func() (*http.Response, error) { return hs.Client().PostForm(tokenURL, url.Values{"user": {"x"}}) }, http.StatusBadRequest, `"x"`},
		{"GET", func() (*http.Response, error) { return hs.Client().Get(tokenURL + "?user=1") }, http.StatusMethodNotAllowed, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.do()
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode, "%s %q", resp.Status, b)
			assert.Contains(t, string(b), tc.wantBody, "a body naming %s", tc.wantBody)
		})
	}
}

func TestDisableConsole(t *testing.T) {
	_, hs := newServer(t, imserver.Config{DisableConsole: true, DevLogin: true})
	for _, p := range []string{imserver.ConsolePath, imserver.ConsolePath + "console.js", imserver.ConsolePath + "token"} {
		resp, body := get(t, hs.Client(), hs.URL+p)
		// The path falls through to the API, which refuses it.
		assert.NotEqual(t, http.StatusOK, resp.StatusCode, "GET %s with DisableConsole: %s, want the API's refusal", p, resp.Status)
		assert.Equal(t, "application/x-protobuf", resp.Header.Get("Content-Type"), "GET %s with DisableConsole, want the API's protobuf refusal", p)
		assert.False(t, strings.Contains(body, "<script"), "GET %s with DisableConsole served the page", p)
	}
}

// sha256File reads a hex sum from static/.
func sha256File(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("static", name))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

const rebuild = "rebuild it: cd imserver/console/web && npm ci && npm run build"

// TestBundleIsFresh fails when the .proto files or the page's sources
// changed after the bundle was built.
func TestBundleIsFresh(t *testing.T) {
	h := sha256.New()
	for _, f := range []string{"frame.proto", "im.proto"} { // build.mjs's order
		b, err := os.ReadFile(filepath.Join("..", "..", "improto", f))
		require.NoError(t, err)
		h.Write(b)
	}
	assert.Equal(t, sha256File(t, "proto.sha256"), hex.EncodeToString(h.Sum(nil)),
		"improto's .proto files changed since the console was built (sha256 of the files, of the build's): %s", rebuild)

	entries, err := os.ReadDir(filepath.Join("web", "src"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.Name() != "schema.json" { // generated by the build
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	h = sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("web", "src", n))
		require.NoError(t, err)
		h.Write([]byte(n + "\x00"))
		h.Write(b)
	}
	assert.Equal(t, sha256File(t, "src.sha256"), hex.EncodeToString(h.Sum(nil)), "web/src changed since the console was built: %s", rebuild)
}

// TestRoutesMatchImproto checks the page's command table against
// improto's: every route it calls is the route of the command it names.
func TestRoutesMatchImproto(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("web", "src", "commands.js"))
	require.NoError(t, err)
	entries := regexp.MustCompile(`(?m)^\s+([A-Z0-9_]+): '([^']+)',$`).FindAllStringSubmatch(string(src), -1)
	require.GreaterOrEqual(t, len(entries), 10, "routes found in commands.js; has its format changed?")
	for _, e := range entries {
		name, route := e[1], e[2]
		cmd, ok := improto.CommandForRoute(route)
		if !assert.True(t, ok, "commands.js: %s calls %q, which is no route of improto", name, route) {
			continue
		}
		if !assert.Equal(t, name, cmd.Cmd.String(), "commands.js: %s calls %q, which is the route of another command", name, route) {
			continue
		}
		assert.NotZero(t, cmd.BodyField, "commands.js: %s has no body field in improto", name)
	}
}
