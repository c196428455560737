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
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
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
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", tc.path, resp.Status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.wantType) {
				t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.wantType)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s: body lacks %q", tc.path, tc.wantBody)
			}
		})
	}
	resp, _ := get(t, hs.Client(), hs.URL+imserver.ConsolePath+"missing.js")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing console file: %s, want 404", resp.Status)
	}
}

func TestConfigJSON(t *testing.T) {
	_, hs := newServer(t, imserver.Config{FPID: 7, AppKey: "k"})
	_, body := get(t, hs.Client(), hs.URL+imserver.ConsolePath+"config.json")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("config.json: %v\n%s", err, body)
	}
	want := map[string]any{
		"app_id": float64(testAppID), "fpid": float64(7), "app_key": "k",
		"frontier_service": float64(imserver.DefaultFrontierService), "frontier_method": float64(imserver.DefaultFrontierMethod),
		"frontier_path": imserver.FrontierPath, "api_path": "/", "dev_login": false,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("config.json %s = %v, want %v", k, got[k], v)
		}
	}
	if strings.Contains(body, testSecret) {
		t.Errorf("config.json reveals the app secret: %s", body)
	}
}

func TestDevLoginIsOffByDefault(t *testing.T) {
	_, hs := newServer(t, imserver.Config{})
	resp, err := hs.Client().PostForm(hs.URL+imserver.ConsolePath+"token", url.Values{"user": {"1001"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), "imbot1.") {
		t.Errorf("dev login with the default Config: %s %q, want 404 and no token", resp.Status, b)
	}
}

func TestDevLogin(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, hs := newServer(t, imserver.Config{DevLogin: true, Now: func() time.Time { return now }})
	tokenURL := hs.URL + imserver.ConsolePath + "token"

	resp, err := hs.Client().PostForm(tokenURL, url.Values{"user": {"1001"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Token     string `json:"token"`
		UserID    int64  `json:"user_id"`
		ExpiresAt int64  `json:"expires_at"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dev login: %s, %v", resp.Status, err)
	}
	if user, err := imserver.VerifyToken(got.Token, testAppID, testSecret, now); err != nil || user != 1001 {
		t.Errorf("the dev login token verifies as user %d, %v; want 1001", user, err)
	}
	if want := now.Add(imserver.DevLoginTTL).Unix(); got.UserID != 1001 || got.ExpiresAt != want {
		t.Errorf("dev login answered user %d, expiry %d; want 1001, %d", got.UserID, got.ExpiresAt, want)
	}
	if _, err := imserver.VerifyToken(got.Token, testAppID, testSecret, now.Add(imserver.DevLoginTTL)); err == nil {
		t.Errorf("the dev login token is still valid after DevLoginTTL (%v)", imserver.DevLoginTTL)
	}

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
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("%s %q, want %d and a body naming %s", resp.Status, b, tc.want, tc.wantBody)
			}
		})
	}
}

func TestDisableConsole(t *testing.T) {
	_, hs := newServer(t, imserver.Config{DisableConsole: true, DevLogin: true})
	for _, p := range []string{imserver.ConsolePath, imserver.ConsolePath + "console.js", imserver.ConsolePath + "token"} {
		resp, body := get(t, hs.Client(), hs.URL+p)
		// The path falls through to the API, which refuses it.
		if resp.StatusCode == http.StatusOK || resp.Header.Get("Content-Type") != "application/x-protobuf" || strings.Contains(body, "<script") {
			t.Errorf("GET %s with DisableConsole: %s (%s), want the API's protobuf refusal", p, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
}

// sha256File reads a hex sum from static/.
func sha256File(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("static", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

const rebuild = "rebuild it: cd imserver/console/web && npm ci && npm run build"

// TestBundleIsFresh fails when the .proto files or the page's sources
// changed after the bundle was built.
func TestBundleIsFresh(t *testing.T) {
	h := sha256.New()
	for _, f := range []string{"frame.proto", "im.proto"} { // build.mjs's order
		b, err := os.ReadFile(filepath.Join("..", "..", "improto", f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), sha256File(t, "proto.sha256"); got != want {
		t.Errorf("improto's .proto files changed since the console was built (sha256 %s, built from %s): %s", got, want, rebuild)
	}

	entries, err := os.ReadDir(filepath.Join("web", "src"))
	if err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(n + "\x00"))
		h.Write(b)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), sha256File(t, "src.sha256"); got != want {
		t.Errorf("web/src changed since the console was built: %s", rebuild)
	}
}

// TestRoutesMatchImproto checks the page's command table against
// improto's: every route it calls is the route of the command it names.
func TestRoutesMatchImproto(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("web", "src", "commands.js"))
	if err != nil {
		t.Fatal(err)
	}
	entries := regexp.MustCompile(`(?m)^\s+([A-Z0-9_]+): '([^']+)',$`).FindAllStringSubmatch(string(src), -1)
	if len(entries) < 10 {
		t.Fatalf("found %d routes in commands.js; has its format changed?", len(entries))
	}
	for _, e := range entries {
		name, route := e[1], e[2]
		cmd, ok := improto.CommandForRoute(route)
		switch {
		case !ok:
			t.Errorf("commands.js: %s calls %q, which is no route of improto", name, route)
		case cmd.Cmd.String() != name:
			t.Errorf("commands.js: %s calls %q, which is the route of %v", name, route, cmd.Cmd)
		case cmd.BodyField == 0:
			t.Errorf("commands.js: %s has no body field in improto", name)
		}
	}
}
