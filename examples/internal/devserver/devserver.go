// Package devserver runs the embedded IM server inside an example program,
// so that every example works with one command and nothing else.
//
// It is a development server: its dev console lets anyone on the machine
// log in as any user (imserver.Config.DevLogin). The examples listen on
// 127.0.0.1 unless their -addr flag says otherwise.
//
// An example's main is [Main]. Its run hands its flags to [Run], which
// parses them and starts the server, and builds its bot with bot.New and
// [Server.BotOptions]; [Server.RunBot] runs the bot, plays the example's
// demo user if it has one, and prints how to chat with the bot.
package devserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
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
	srv    *imserver.Server
	hs     *http.Server
	st     store.Store
	url    string
	secret string
	done   chan error
	token  func(int64) (string, error)
}

// Main is an example's main: it calls run with the command line and a
// ctx that Ctrl-C (or SIGTERM) ends, and exits 1 when run fails, printing
// the error after name.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Run is the body of an example's run. It adds the -addr flag to fs, a
// flag.ContinueOnError set with the example's own flags, and parses args
// with the usage and errors on stderr; then it starts a server on -addr,
// calls serve with it, and closes the server once serve returns. With -h
// it prints the usage and returns nil, starting nothing.
func Run(fs *flag.FlagSet, args []string, stderr io.Writer, serve func(*Server) error) error {
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to serve on (port 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	s, err := start(*addr)
	if err != nil {
		return err
	}
	defer s.Close()
	return serve(s)
}

// start serves on addr (port 0 picks a free one) until Close.
func start(addr string) (*Server, error) {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	st := store.NewMemory()
	srv, err := imserver.New(imserver.Config{AppID: AppID, AppSecret: hex.EncodeToString(secret), Store: st,
		Logger: slog.New(slog.DiscardHandler), DevLogin: true})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{srv: srv, st: st, url: "http://" + ln.Addr().String(), secret: hex.EncodeToString(secret), done: make(chan error, 1),
		hs: srv.HTTPServer()}
	s.token = func(user int64) (string, error) { return srv.Token(user, 24*time.Hour) }
	go func() { s.done <- s.hs.Serve(srv.LimitListener(ln)) }() // ends at Close
	return s, nil
}

// URL is the HTTP API's base URL.
func (s *Server) URL() string { return s.url }

// FrontierURL is the WebSocket URL.
func (s *Server) FrontierURL() string {
	return strings.Replace(s.url, "http", "ws", 1) + imserver.FrontierPath
}

// AppSecret is the app's secret, random for each server: a process of
// its own mints its tokens with it (imserver.TokenSource).
func (s *Server) AppSecret() string { return s.secret }

// Token mints a day-long token for user.
func (s *Server) Token(user im.UserID) (string, error) { return s.token(int64(user)) }

// ClientOptions returns client options for user on this server.
func (s *Server) ClientOptions(user im.UserID) im.Options {
	return im.Options{
		AppID: AppID, UserID: user, APIURL: s.URL(), FrontierURL: s.FrontierURL(),
		Token:       func(context.Context) (string, error) { return s.Token(user) },
		TokenExpiry: imserver.TokenExpiry, // renewed before it expires: a demo runs past a day
		Logger:      slog.New(slog.DiscardHandler),
	}
}

// BotOptions returns bot options for a bot logged in as user.
func (s *Server) BotOptions(user im.UserID) bot.Options {
	return bot.Options{Client: s.ClientOptions(user), Logger: slog.New(slog.DiscardHandler)}
}

// RunOptions says what [Server.RunBot] does once the bot is ready.
type RunOptions struct {
	// Out gets how to chat with the bot.
	Out io.Writer
	// User is the user the dev console link and the connect info log in
	// as.
	User im.UserID
	// Intro, if not empty, is the line printed before the connect info.
	Intro string
	// Script, if not nil, runs once the bot is ready and before the
	// connect info is printed: a demo user's conversation with the bot,
	// say. Its ctx ends when the bot stops.
	Script func(ctx context.Context) error
	// ExitAfterScript makes RunBot stop the bot once Script returns,
	// printing no connect info.
	ExitAfterScript bool
}

// RunBot runs b.Run on the server until ctx ends or the bot cannot go
// on. Once b is ready it runs opts.Script, then prints on opts.Out the
// intro, a dev console link logged in as opts.User, the URLs, the app id
// and a token for other clients, and "Press Ctrl-C to stop.". It returns
// Run's error if there is one (nil once ctx ended), or else the
// script's, which stops the bot.
func (s *Server) RunBot(ctx context.Context, b *bot.Bot, opts RunOptions) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx)
		cancel() // the script and the wait below end with the bot
	}()
	defer func() {
		cancel()
		if runErr := <-done; runErr != nil {
			err = runErr
		}
	}()
	select {
	case <-b.Ready():
	case <-ctx.Done():
		return nil
	}
	if opts.Script != nil {
		if err := opts.Script(ctx); err != nil {
			return err
		}
	}
	if opts.ExitAfterScript || ctx.Err() != nil {
		return nil
	}
	if err := s.writeConnectInfo(opts); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// writeConnectInfo prints opts.Intro and how to chat with the bot as
// opts.User, on opts.Out.
func (s *Server) writeConnectInfo(opts RunOptions) error {
	tok, err := s.Token(opts.User)
	if err != nil {
		return err
	}
	if opts.Intro != "" {
		if _, err := fmt.Fprintln(opts.Out, opts.Intro); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(opts.Out, "Chat with the bot as user %d in your browser (the console link)\nor from another client:\n"+
		"  console:  %s\n  api:      %s\n  frontier: %s\n  app id:   %d\n  token:    %s\n"+
		"Press Ctrl-C to stop.\n",
		opts.User, s.URL()+imserver.ConsolePath+"#token="+tok, s.URL(), s.FrontierURL(), AppID, tok)
	return err
}

// Close shuts the server down, sockets included. Requests in flight get
// five seconds; then it closes the connections left, such as one that a
// client opened and sent nothing on, which Shutdown waits for.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		_ = s.hs.Close()
	}
	sockets, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(sockets)
	<-s.done
	return s.st.Close()
}
