package imserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imbot-go/imbot/imserver/console"
)

// ConsolePath is where the dev console is served (package console): a
// chat client in the browser that logs in as any user with a token. Open
// ConsolePath + "#token=TOKEN" to log in with one.
const ConsolePath = "/console/"

// DevLoginTTL is how long a token from the dev login endpoint is valid.
const DevLoginTTL = 24 * time.Hour

// consoleConfig is what the page needs to reach this server, served as
// ConsolePath + "config.json". None of it is secret: the app key is the
// web SDK's public constant (or what the Config says).
type consoleConfig struct {
	AppID           int64  `json:"app_id"`
	FPID            int64  `json:"fpid"`
	AppKey          string `json:"app_key"`
	FrontierService int32  `json:"frontier_service"`
	FrontierMethod  int32  `json:"frontier_method"`
	FrontierPath    string `json:"frontier_path"`
	APIPath         string `json:"api_path"`
	DevLogin        bool   `json:"dev_login"`
}

// servesConsole reports whether path belongs to the console.
func (s *Server) servesConsole(path string) bool {
	return !s.cfg.DisableConsole && (path == strings.TrimSuffix(ConsolePath, "/") || strings.HasPrefix(path, ConsolePath))
}

// serveConsole serves the console's page and files, its config.json and,
// with Config.DevLogin, its token endpoint. The chat itself goes through
// the HTTP API and the Frontier socket, as every client's does.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path+"/" == ConsolePath {
		// The page's links are relative to the directory.
		http.Redirect(w, r, ConsolePath, http.StatusMovedPermanently)
		return
	}
	switch strings.TrimPrefix(r.URL.Path, ConsolePath) {
	case "config.json":
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, consoleConfig{
			AppID: s.cfg.AppID, FPID: s.cfg.FPID, AppKey: s.cfg.AppKey,
			FrontierService: s.cfg.FrontierService, FrontierMethod: s.cfg.FrontierMethod,
			FrontierPath: FrontierPath, APIPath: "/", DevLogin: s.cfg.DevLogin,
		})
	case "token":
		s.serveDevLogin(w, r)
	default:
		http.StripPrefix(strings.TrimSuffix(ConsolePath, "/"), http.FileServerFS(console.Assets())).ServeHTTP(w, r)
	}
}

// serveDevLogin answers POST ConsolePath+"token" (form field user) with
// {"token": ..., "user_id": ..., "expires_at": unix seconds}: a token for
// any user, with no credential asked. It is off (404) unless
// Config.DevLogin.
func (s *Server) serveDevLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.cfg.DevLogin {
		http.Error(w, "dev login is off on this server (imserver.Config.DevLogin): log in with a token", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "dev login takes POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	raw := r.PostFormValue("user")
	user, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || user <= 0 {
		http.Error(w, "user "+strconv.Quote(raw)+" is not a positive user id", http.StatusBadRequest)
		return
	}
	expiry := s.cfg.Now().Add(DevLoginTTL)
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      MintToken(s.cfg.AppID, user, s.cfg.AppSecret, expiry),
		"user_id":    user,
		"expires_at": expiry.Unix(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
