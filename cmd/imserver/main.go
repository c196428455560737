// Command imserver runs the embedded IM Cloud-compatible server of package
// imserver as a standalone program, and mints tokens for it.
//
// # Serving
//
//	imserver [-addr 127.0.0.1:8080] [-app-id 1] -app-secret SECRET [-data FILE] [-dev-login] [-log-level info] [-ready-file FILE]
//	         [-max-upload 20971520] [-unsent-file-ttl 24h] [-max-stored-per-user 1073741824] [-max-stored 0]
//
// serves the HTTP API at / (one protobuf POST per route), the Frontier
// WebSocket at /ws/v2, the dev console (a chat client in the browser) at
// /console/, the probes at /healthz and /readyz, and the Prometheus
// metrics at /metrics (imbot_server_*, with the Go runtime's and the
// process's) on one address, and prints the URLs on stdout, with the
// real port when -addr ends in :0. Without -data the state lives in
// memory and is lost on exit; with -data it is kept in a bbolt file,
// created if missing, in which every acknowledged change is already on
// disk, and uploaded files in the directory FILE.files beside it. The app
// secret may come from the IMBOT_APP_SECRET environment variable instead
// of the flag.
//
// Files: -max-upload caps one upload (20 MiB); a file no message has
// carried is deleted -unsent-file-ttl after its upload (24h; negative:
// never); one user's uploads may keep -max-stored-per-user bytes (1 GiB;
// negative: no limit) and the server -max-stored bytes in all (0: no
// limit). These are imserver.Config's MaxUploadBytes, UnsentFileTTL,
// MaxStoredBytesPerUser and MaxStoredBytes. Logs go to stderr; no token ever appears in
// them.
//
// With -ready-file FILE, once the server accepts connections it writes
// FILE, atomically, as one line of JSON for scripts and orchestrators:
//
//	{"addr":"127.0.0.1:41735","api":"http://127.0.0.1:41735","frontier":"ws://127.0.0.1:41735/ws/v2","console":"http://127.0.0.1:41735/console/","app_id":1,"pid":4242}
//
// A FILE left by an earlier run is removed at start, and FILE is removed
// at exit.
//
// The server holds against slow and hostile clients with imserver.Config's
// defaults: each phase of a connection has a deadline (headers 10s, a
// request body 30s, writing a response 30s, an idle keep-alive 60s, a
// WebSocket handshake 10s), and a client's share is bounded (512
// connections and 256 sockets per address, 10000 of each in all, 512 API
// requests in flight, 50 failed requests a second per address). Refusals
// are answered 429 or 503 with Retry-After and logged with the address.
//
// SIGINT or SIGTERM shuts the server down gracefully: HTTP requests in
// flight finish, every WebSocket gets a "going away" close frame, and the
// store is closed, all within 10 seconds. A second signal kills the
// process at once.
//
// # The dev console
//
// Open the console line's URL with #token=TOKEN appended, TOKEN from
// 'imserver token' below, to chat as that token's user. With -dev-login
// the console's login form logs in as any user id instead: the server then
// hands a token for any user to anyone who asks, so use it only on a
// server no one else can reach.
//
// # Tokens
//
//	imserver token [-app-id 1] -app-secret SECRET -user ID [-ttl 24h]
//
// prints a token for user ID, and nothing else, on stdout, so that scripts
// can capture it:
//
//	TOKEN=$(go run ./cmd/imserver token -app-secret S -user 1001)
//
// # Exit codes
//
// 0 on success (and after a graceful shutdown), 1 when the server fails
// (the store cannot be opened, the address cannot be bound, shutdown
// overran its deadline), 2 for a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store"
	"github.com/imbot-go/imbot/imserver/store/bolt"
)

// Process-wide settings of the command.
const (
	// secretEnv is the environment variable read when -app-secret is not
	// given, so that the secret need not appear in a process listing.
	secretEnv = "IMBOT_APP_SECRET"
	// shutdownTimeout bounds a graceful shutdown.
	shutdownTimeout = 10 * time.Second
)

// Exit codes of run.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// main runs the command with a context that ends at the first SIGINT or
// SIGTERM; after that signal the default handling is restored, so a second
// one kills the process even if the shutdown hangs.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args (without the program name) and
// returns the exit code. The server runs until ctx is done; stdout gets the
// URLs (or the token), stderr the usage text, errors and logs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], stdout, stderr)
	}
	return runServer(ctx, args, stdout, stderr)
}

// usageError reports a bad command line on stderr, pointing at -h, and
// returns the usage exit code.
func usageError(stderr io.Writer, cmd string, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "Run '%s -h' for usage.\n", cmd)
	return exitUsage
}

// parseFlags parses args into fs and turns its outcome into an exit code:
// -1 to go on, 0 after -h, 2 for a bad flag (the flag package has already
// said why) or a stray argument.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) int {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage
	case fs.NArg() > 0:
		return usageError(stderr, fs.Name(), "unexpected argument %q", fs.Arg(0))
	}
	return -1
}

// appSecret returns the -app-secret value, or the environment's when the
// flag is empty.
func appSecret(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(secretEnv)
}

// serverFlags are the server's command-line settings.
type serverFlags struct {
	addr      string
	appID     int64
	appSecret string
	data      string
	devLogin  bool
	logLevel  slog.Level
	readyFile string

	// Files: imserver.Config's MaxUploadBytes, UnsentFileTTL,
	// MaxStoredBytesPerUser and MaxStoredBytes.
	maxUpload        int64
	unsentFileTTL    time.Duration
	maxStoredPerUser int64
	maxStored        int64
}

// newServerFlagSet declares the server's flags into f. The secret's flag
// has no default, so that -h never prints a secret taken from the
// environment.
func newServerFlagSet(f *serverFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on; port 0 picks a free port (the real one is printed)")
	fs.Int64Var(&f.appID, "app-id", 1, "IM Cloud app `id` (aid) clients log in to; must be positive")
	fs.StringVar(&f.appSecret, "app-secret", "", "app `secret` that signs tokens; required, or set "+secretEnv)
	fs.StringVar(&f.data, "data", "", "bbolt `file` to keep state in, created if missing; empty keeps state in memory, lost on exit")
	fs.BoolVar(&f.devLogin, "dev-login", false, "let the dev console log in as any user id, with no credential; for development only")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log `level` on stderr: debug, info, warn or error")
	fs.StringVar(&f.readyFile, "ready-file", "", "once serving, write the address and URLs as JSON to `file` (removed at exit), for scripts and orchestrators")
	fs.Int64Var(&f.maxUpload, "max-upload", imserver.DefaultMaxUploadBytes, "largest file, in `bytes`, a client may upload; positive")
	fs.DurationVar(&f.unsentFileTTL, "unsent-file-ttl", imserver.DefaultUnsentFileTTL, "delete an uploaded file no message has carried after this long; negative never deletes")
	fs.Int64Var(&f.maxStoredPerUser, "max-stored-per-user", imserver.DefaultMaxStoredBytesPerUser, "`bytes` of files one user's uploads may keep stored; negative for no limit")
	fs.Int64Var(&f.maxStored, "max-stored", 0, "`bytes` of distinct files the server keeps, everyone's together; 0 for no limit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: imserver [flags]
       imserver token [flags]   (see 'imserver token -h')

imserver serves the IM Cloud HTTP API at /, the Frontier WebSocket at
%s and the dev console at %s on one address, with the
probes at %s and %s and the Prometheus metrics at %s, and
prints the URLs. Stop it with SIGINT or SIGTERM.

Flags:
`, imserver.FrontierPath, imserver.ConsolePath, imserver.HealthPath, imserver.ReadyPath, imserver.DefaultMetricsPath)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment:\n  %s\n    \tthe app secret, when -app-secret is not given\n", secretEnv)
	}
	return fs
}

// runServer parses the server's flags, serves until ctx is done, and shuts
// down gracefully.
func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f serverFlags
	fs := newServerFlagSet(&f, stderr)
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	f.appSecret = appSecret(f.appSecret)
	if f.appSecret == "" {
		return usageError(stderr, "imserver", "an app secret is required: pass -app-secret or set %s", secretEnv)
	}
	if f.appID <= 0 {
		return usageError(stderr, "imserver", "-app-id %d must be positive", f.appID)
	}
	// Zero means "the default" to imserver.Config; on the command line
	// the default is spelled out, so a zero is refused rather than taken
	// for a limit of nothing.
	if f.maxUpload <= 0 {
		return usageError(stderr, "imserver", "-max-upload %d must be positive", f.maxUpload)
	}
	if f.unsentFileTTL == 0 {
		return usageError(stderr, "imserver", "-unsent-file-ttl 0s must be positive, or negative never to delete unsent files")
	}
	if f.maxStoredPerUser == 0 {
		return usageError(stderr, "imserver", "-max-stored-per-user 0 must be positive, or negative for no limit")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.logLevel}))
	if err := serve(ctx, f, log, stdout); err != nil {
		log.Error("imserver failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// serve opens the store, listens, prints the URLs, serves until ctx is
// done and shuts down. The store is closed on every path once it has been
// opened.
func serve(ctx context.Context, f serverFlags, log *slog.Logger, stdout io.Writer) (err error) {
	if f.readyFile != "" {
		// One left by a killed run must not pass for this one's.
		if err := os.Remove(f.readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the old -ready-file: %w", err)
		}
	}
	st, storeDesc, err := openStore(f.data)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the store: %w", cerr))
		}
	}()

	blobs, blobsDesc, err := openBlobs(f.data)
	if err != nil {
		return err
	}
	ims, err := imserver.New(imserver.Config{
		AppID: f.appID, AppSecret: f.appSecret, Store: st, Blobs: blobs, DevLogin: f.devLogin, Logger: log,
		MaxUploadBytes: f.maxUpload, UnsentFileTTL: f.unsentFileTTL,
		MaxStoredBytesPerUser: f.maxStoredPerUser, MaxStoredBytes: f.maxStored,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		ims.Close() // no socket yet: this only marks the server closed
		return err
	}
	// The header and keep-alive deadlines, and the connection limits, of
	// imserver.Config's defaults; ServeHTTP enforces the rest.
	hs := ims.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ims.LimitListener(ln)) }() // joined below on every path

	api := baseURL(f.addr, ln.Addr())
	frontier := "ws" + api[len("http"):] + imserver.FrontierPath
	fmt.Fprintf(stdout, "api:      %s\n", api)
	fmt.Fprintf(stdout, "frontier: %s\n", frontier)
	fmt.Fprintf(stdout, "store:    %s\n", storeDesc)
	fmt.Fprintf(stdout, "files:    %s\n", blobsDesc)
	fmt.Fprintf(stdout, "token:    go run ./cmd/imserver token -app-id %d -app-secret <secret> -user 1001\n", f.appID)
	if f.devLogin {
		fmt.Fprintf(stdout, "console:  %s%s (log in as any user id: -dev-login is on)\n", api, imserver.ConsolePath)
	} else {
		fmt.Fprintf(stdout, "console:  %s%s#token=<token> (a token from the line above; -dev-login logs in as any user id)\n", api, imserver.ConsolePath)
	}
	if f.readyFile != "" {
		defer os.Remove(f.readyFile)
		if err := writeReadyFile(f.readyFile, readiness{
			Addr: ln.Addr().String(), API: api, Frontier: frontier, Console: api + imserver.ConsolePath,
			AppID: f.appID, PID: os.Getpid(),
		}); err != nil {
			hs.Close()
			<-served
			ims.Close()
			return err
		}
	}
	log.Info("serving", "addr", ln.Addr().String(), "app_id", f.appID, "store", storeDesc)

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout)
	case err := <-served:
		// Serve only returns early on a listener failure.
		ims.Close()
		return fmt.Errorf("serving HTTP: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// http.Server.Shutdown closes the listener and waits for the HTTP
	// requests in flight; it does not track the hijacked WebSockets, which
	// imserver.Server.Shutdown closes with a close frame each.
	herr := hs.Shutdown(sctx)
	werr := ims.Shutdown(sctx)
	if herr != nil {
		hs.Close() // deadline passed: drop the remaining connections
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		herr = errors.Join(herr, serr)
	}
	if err := errors.Join(herr, werr); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// readiness is what -ready-file holds once the server serves.
type readiness struct {
	Addr     string `json:"addr"`     // the bound address, with the real port
	API      string `json:"api"`      // the HTTP API's base URL
	Frontier string `json:"frontier"` // the Frontier WebSocket's URL
	Console  string `json:"console"`  // the dev console's URL
	AppID    int64  `json:"app_id"`
	PID      int    `json:"pid"`
}

// writeReadyFile writes r as one JSON line to path, atomically (a
// temporary file renamed over it), so that a script that sees the file
// sees all of it.
func writeReadyFile(path string, r readiness) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing -ready-file: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing -ready-file: %w", err)
	}
	return nil
}

// openStore opens the bbolt file at path, or a memory store when path is
// empty, and describes it for the banner.
func openStore(path string) (store.Store, string, error) {
	if path == "" {
		return store.NewMemory(), "memory (state is lost on exit; use -data FILE to keep it)", nil
	}
	st, err := bolt.Open(path, nil)
	if err != nil {
		return nil, "", err
	}
	return st, "bbolt file " + path, nil
}

// openBlobs opens the directory of uploaded files beside the bbolt file
// at path (path + ".files"), or a memory store when path is empty, and
// describes it for the banner.
func openBlobs(path string) (blob.Store, string, error) {
	if path == "" {
		return blob.NewMemory(), "memory (uploads are lost on exit)", nil
	}
	dir := path + ".files"
	b, err := blob.NewDir(dir)
	if err != nil {
		return nil, "", err
	}
	return b, "directory " + dir, nil
}

// baseURL is the http:// URL at which clients reach a listener that was
// asked for requested (the -addr value) and bound to bound: the host as
// requested, so that a name such as localhost stays a name, and the port
// as bound, so that :0 shows the real one. An empty or unspecified host
// (0.0.0.0, ::) is printed as loopback, an address a client on this machine
// can actually use.
func baseURL(requested string, bound net.Addr) string {
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "http://" + bound.String()
	}
	host, _, err := net.SplitHostPort(requested)
	switch ip := net.ParseIP(host); {
	case err != nil || host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() == nil:
		host = "::1"
	case ip != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// tokenFlags are the token subcommand's command-line settings.
type tokenFlags struct {
	appID     int64
	appSecret string
	user      string
	ttl       time.Duration
}

// newTokenFlagSet declares the token subcommand's flags into f.
func newTokenFlagSet(f *tokenFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imserver token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&f.appID, "app-id", 1, "IM Cloud app `id` the token is for; must match the server's")
	fs.StringVar(&f.appSecret, "app-secret", "", "app `secret` to sign with; must match the server's; required, or set "+secretEnv)
	fs.StringVar(&f.user, "user", "", "user `id` to mint the token for; required, positive")
	fs.DurationVar(&f.ttl, "ttl", 24*time.Hour, "how long the token is valid; positive")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: imserver token [flags]

token prints a token for a user of an imserver, and nothing else, on
stdout:

  TOKEN=$(go run ./cmd/imserver token -app-secret S -user 1001)

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment:\n  %s\n    \tthe app secret, when -app-secret is not given\n", secretEnv)
	}
	return fs
}

// runToken mints a token and prints it alone on a line of stdout.
func runToken(args []string, stdout, stderr io.Writer) int {
	const cmd = "imserver token"
	var f tokenFlags
	fs := newTokenFlagSet(&f, stderr)
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	f.appSecret = appSecret(f.appSecret)
	if f.appSecret == "" {
		return usageError(stderr, cmd, "an app secret is required: pass -app-secret or set %s", secretEnv)
	}
	if f.appID <= 0 {
		return usageError(stderr, cmd, "-app-id %d must be positive", f.appID)
	}
	if f.user == "" {
		return usageError(stderr, cmd, "-user is required")
	}
	user, err := strconv.ParseInt(f.user, 10, 64)
	if err != nil || user <= 0 {
		return usageError(stderr, cmd, "-user %q is not a positive user id", f.user)
	}
	if f.ttl <= 0 {
		return usageError(stderr, cmd, "-ttl %v must be positive", f.ttl)
	}
	tok := imserver.MintToken(f.appID, user, f.appSecret, time.Now().Add(f.ttl))
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		fmt.Fprintf(stderr, "%s: writing the token: %v\n", cmd, err)
		return exitFailure
	}
	return exitOK
}
