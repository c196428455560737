// Package devserver runs the embedded IM server inside an example program,
// so that every example works with one command and nothing else.
package devserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/store"
)

// AppID is the app id of the development server.
const AppID = 1

// Server is an embedded IM server on a loopback port, with a memory store.
type Server struct {
	srv   *imserver.Server
	hs    *http.Server
	st    store.Store
	url   string
	done  chan error
	token func(int64) (string, error)
}

// Start serves on addr (port 0 picks a free one) until Close.
func Start(addr string) (*Server, error) {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	st := store.NewMemory()
	srv, err := imserver.New(imserver.Config{AppID: AppID, AppSecret: hex.EncodeToString(secret), Store: st,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{srv: srv, st: st, url: "http://" + ln.Addr().String(), done: make(chan error, 1),
		hs: &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}}
	s.token = func(user int64) (string, error) { return srv.Token(user, 24*time.Hour) }
	go func() { s.done <- s.hs.Serve(ln) }() // ends at Close
	return s, nil
}

// URL is the HTTP API's base URL.
func (s *Server) URL() string { return s.url }

// FrontierURL is the WebSocket URL.
func (s *Server) FrontierURL() string {
	return strings.Replace(s.url, "http", "ws", 1) + imserver.FrontierPath
}

// Token mints a day-long token for user.
func (s *Server) Token(user im.UserID) (string, error) { return s.token(int64(user)) }

// ClientOptions returns client options for user on this server.
func (s *Server) ClientOptions(user im.UserID) im.Options {
	return im.Options{
		AppID: AppID, UserID: user, APIURL: s.URL(), FrontierURL: s.FrontierURL(),
		Token:  func(context.Context) (string, error) { return s.Token(user) },
		Logger: slog.New(slog.DiscardHandler),
	}
}

// BotOptions returns bot options for a bot logged in as user.
func (s *Server) BotOptions(user im.UserID) bot.Options {
	return bot.Options{Client: s.ClientOptions(user), Logger: slog.New(slog.DiscardHandler)}
}

// Close shuts the server down, sockets included.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.hs.Shutdown(ctx)
	_ = s.srv.Shutdown(ctx)
	<-s.done
	return s.st.Close()
}
