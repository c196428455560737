package imserver

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store"
)

// Frontier defaults of the web SDK (IM_PROTOCOL.md section 3.2), used when
// the Config leaves them zero.
const (
	DefaultFrontierService = 2
	DefaultFrontierMethod  = 1
	DefaultFPID            = 89
	DefaultAppKey          = "e0f82475ab9dbf5717d18b4a9c0d7fd0"
)

// DefaultMetricsPath is where the metrics are served when
// Config.MetricsPath is empty.
const DefaultMetricsPath = "/metrics"

// Config configures a Server. The zero value of every field but AppID,
// AppSecret and Store means its default. New copies the Config; changing it
// afterwards has no effect.
type Config struct {
	// AppID is the IM Cloud app id (the `aid`) clients log in to. Required.
	AppID int64
	// AppSecret signs and verifies tokens. Required.
	AppSecret string
	// Store holds the server's state. Required: store.NewMemory() for
	// tests, bolt.Open for a server that must survive restarts. The server
	// does not close it, and must be its only writer: it keeps the records
	// every send reads decoded in memory, in step with its own writes.
	Store store.Store

	// FrontierService, FrontierMethod, FPID and AppKey are the Frontier
	// socket parameters: the Frame service and method the server answers
	// with, and the fpid and appKey from which a client's access_key is
	// derived. Defaults: the web SDK's 2, 1, 89 and its appKey.
	FrontierService int32
	FrontierMethod  int32
	FPID            int64
	AppKey          string

	// MaxRequestBytes bounds an HTTP request body and a Frontier frame.
	// Default 1 MiB.
	MaxRequestBytes int64
	// IdleTimeout closes a socket from which nothing (not even a "hi"
	// heartbeat) arrived for this long. Default 45s: three of the SDK's
	// 15s heartbeats.
	IdleTimeout time.Duration
	// WriteTimeout bounds one socket write; a client that cannot take a
	// frame in this time is disconnected. Default 10s.
	WriteTimeout time.Duration
	// SendQueue is how many frames may wait for one socket's writer. A
	// client that falls this far behind is disconnected so that it never
	// stalls a fan-out; it catches up from its inbox cursor when it
	// reconnects. Default 1024.
	SendQueue int
	// RequestRate and RequestBurst limit requests per socket (token
	// bucket); beyond them the server answers TOO_MANY_REQUESTS.
	// Defaults 500/s and 1000.
	RequestRate  float64
	RequestBurst int
	// SendRate and SendBurst limit the messages each user sends (100 and
	// 2007, over HTTP and sockets together; token bucket): a send beyond
	// them is answered TOO_MANY_REQUESTS with the improto.HeaderRetryAfterMs
	// header, the milliseconds until it would pass. SendRate is in
	// messages per second; zero (the default) turns the limit off.
	// SendBurst defaults to one second's worth of SendRate, at least 1.
	SendRate  float64
	SendBurst int
	// Deadlines of an HTTP connection's phases, so that a client that
	// trickles a request, or never reads its answer, is let go. ServeHTTP
	// enforces RequestBodyTimeout, ResponseWriteTimeout and
	// HandshakeTimeout itself, through http.ResponseController, under any
	// http.Server; ReadHeaderTimeout and KeepAliveTimeout belong to the
	// http.Server, and [Server.HTTPServer] sets them. Negative means no
	// deadline.
	//
	// ReadHeaderTimeout bounds the wait for a request's headers, from the
	// connection's first byte (or its opening, for its first request).
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// RequestBodyTimeout bounds the time a request's whole body may take
	// to arrive once its headers have: at the default 30s and the default
	// MaxRequestBytes, a client must send faster than 35 KB/s. A request
	// past it is answered 408 and its connection closed.
	RequestBodyTimeout time.Duration
	// ResponseWriteTimeout bounds the writing of a response, from when it
	// is ready until the client has taken it. Default 30s.
	ResponseWriteTimeout time.Duration
	// KeepAliveTimeout closes a kept-alive HTTP connection on which no new
	// request starts for this long (http.Server.IdleTimeout). Default 60s.
	KeepAliveTimeout time.Duration
	// HandshakeTimeout bounds a WebSocket handshake: the server's checks
	// and its 101 answer. Once the socket is up, IdleTimeout and
	// WriteTimeout apply instead. Default 10s.
	HandshakeTimeout time.Duration

	// Limits per remote address (the IP of the request's RemoteAddr: put
	// the server behind a proxy that hands the real addresses on, or raise
	// them there) and in total, so that one client cannot take what the
	// others need. Each refusal is an HTTP 429 or 503 with Retry-After and
	// a protobuf Response saying which limit was hit, and a log line
	// naming the address (at most a few a second). Negative means no
	// limit.
	//
	// MaxConns and MaxConnsPerAddr bound open TCP connections, sockets
	// included; [Server.LimitListener] enforces them, and a connection
	// beyond them is answered 503 and closed. Defaults 10000 and 512.
	MaxConns        int
	MaxConnsPerAddr int
	// MaxSockets and MaxSocketsPerAddr bound open Frontier WebSockets;
	// ServeHTTP enforces them (503 and 429). Defaults 10000 and 256.
	MaxSockets        int
	MaxSocketsPerAddr int
	// MaxRequestsInFlight bounds the HTTP API requests being served at
	// once, bodies in memory included; one more is answered 503. Default
	// 512.
	MaxRequestsInFlight int
	// UnauthRate and UnauthBurst limit, per remote address, the requests
	// that fail before a valid token is seen: HTTP API requests and
	// WebSocket handshakes that cannot be read, name no route, or carry a
	// missing, forged or expired token (token bucket; each failure takes a
	// token). An address whose bucket is empty is refused 429 before its
	// requests are read, until the bucket refills, so that garbage and
	// token guessing cost the server little; a client with a valid token
	// never spends from it. Defaults 50/s and 500; a negative UnauthRate
	// means no limit.
	UnauthRate  float64
	UnauthBurst int

	// RecallWindow is how long after sending a sender may recall a
	// message; owners and managers of a group may recall at any time.
	// Default 24h. Negative means no limit.
	RecallWindow time.Duration
	// InitMessages is how many of each conversation's latest messages a
	// 203 init page carries. Default 20.
	InitMessages int

	// Files (media.go, the package doc's "Files").

	// Blobs holds uploaded files. Default: a blob.NewMemory of the
	// server's own, lost with the process; give a blob.NewDir beside a
	// durable Store. The server does not close it.
	Blobs blob.Store
	// MaxUploadBytes caps one uploaded file. Default
	// DefaultMaxUploadBytes, 20 MiB.
	MaxUploadBytes int64
	// AllowedMediaTypes, when not empty, are the only media types (e.g.
	// "image/png") an upload may declare. Default: any, as long as the
	// content sniffs as what it declares.
	AllowedMediaTypes []string
	// UploadTokenTTL is how long an upload token from
	// GET_MEDIA_UPLOAD_TOKEN is accepted. Default 10 minutes.
	UploadTokenTTL time.Duration
	// MediaURLTTL is how long a download URL from GET_MEDIA_URLS works.
	// Default 1 hour.
	MediaURLTTL time.Duration
	// MaxUploadsInFlight bounds the uploads being received at once; one
	// more is answered 503 with Retry-After. Each holds a copy buffer and
	// an open temporary file. Default 64; negative means no limit.
	MaxUploadsInFlight int
	// MediaTimeout bounds the arrival of one upload's body and the
	// writing of one download, in place of RequestBodyTimeout and
	// ResponseWriteTimeout. Default 10 minutes.
	MediaTimeout time.Duration
	// UnsentFileTTL is how long an upload may stay unsent: an upload
	// record older than this whose file no message grants is deleted,
	// and the file with it once no record and no grant holds it. Default
	// DefaultUnsentFileTTL, 24h; negative means files are never
	// collected. Collect only where the server is the Blobs' only user:
	// files another server recorded are not known here.
	UnsentFileTTL time.Duration
	// MediaSweepInterval is how often the janitor looks for unsent files,
	// from the server's first request on. Default
	// DefaultMediaSweepInterval, 10 minutes.
	MediaSweepInterval time.Duration
	// MaxStoredBytesPerUser bounds the bytes a user's upload records add
	// up to (the same file uploaded twice counts once); an upload token
	// or an upload beyond it is refused. Default
	// DefaultMaxStoredBytesPerUser, 1 GiB; negative means no limit.
	MaxStoredBytesPerUser int64
	// MaxStoredBytes bounds the bytes of the distinct files the server
	// keeps, everyone's together. Default zero: no limit (negative too).
	MaxStoredBytes int64

	// The dev console (console.go), a chat client in the browser.

	// DisableConsole stops serving the console at ConsolePath. Default
	// false: served. The console holds no secret: it logs in with a token,
	// as any client does.
	DisableConsole bool
	// DevLogin lets the console log in as any user id: ConsolePath+"token"
	// then mints a token for whichever user it is asked for, with no
	// credential. It is for development servers only; never turn it on
	// where someone else can reach the server. Default false.
	DevLogin bool

	// Metrics is where the server's Prometheus metrics (imbot_server_*)
	// are registered. Default nil: a registry of the server's own, with
	// the Go runtime and process collectors besides. The registry (the
	// default one, or a Metrics that is also a prometheus.Gatherer, such
	// as a *prometheus.Registry) is served at MetricsPath; any other
	// Registerer (prometheus.WrapRegistererWith's) is not, and whoever
	// made it serves what it feeds. New fails when Metrics holds the
	// server's metrics already: two servers in one registry need a label
	// each (prometheus.WrapRegistererWith).
	Metrics prometheus.Registerer
	// MetricsPath is where GET answers the metrics in the Prometheus text
	// format, outside the HTTP API as HealthPath is. It must start with
	// "/" and not be another of the server's paths. Default
	// DefaultMetricsPath, "/metrics".
	MetricsPath string
	// DisableMetrics turns the metrics off: nothing is measured, Metrics
	// is ignored and MetricsPath answers 404. Default false: on.
	DisableMetrics bool

	// Logger receives the server's log lines; tokens never appear in them.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.AppID <= 0 {
		errs = append(errs, errors.New("imserver: Config.AppID must be positive"))
	}
	if c.AppSecret == "" {
		errs = append(errs, errors.New("imserver: Config.AppSecret is required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("imserver: Config.Store is required"))
	}
	for name, v := range map[string]int64{
		"MaxRequestBytes": c.MaxRequestBytes, "IdleTimeout": int64(c.IdleTimeout),
		"WriteTimeout": int64(c.WriteTimeout), "SendQueue": int64(c.SendQueue),
		"RequestBurst": int64(c.RequestBurst), "InitMessages": int64(c.InitMessages),
		"SendBurst": int64(c.SendBurst), "UnauthBurst": int64(c.UnauthBurst),
		"MaxUploadBytes": c.MaxUploadBytes, "UploadTokenTTL": int64(c.UploadTokenTTL),
		"MediaURLTTL": int64(c.MediaURLTTL), "MediaTimeout": int64(c.MediaTimeout),
		"MediaSweepInterval": int64(c.MediaSweepInterval),
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("imserver: Config.%s must not be negative", name))
		}
	}
	if math.IsNaN(c.UnauthRate) || math.IsInf(c.UnauthRate, 0) {
		errs = append(errs, fmt.Errorf("imserver: Config.UnauthRate must be a finite number, got %v", c.UnauthRate))
	}
	if c.RequestRate < 0 {
		errs = append(errs, errors.New("imserver: Config.RequestRate must not be negative"))
	}
	if c.SendRate < 0 || math.IsNaN(c.SendRate) || math.IsInf(c.SendRate, 0) {
		errs = append(errs, fmt.Errorf("imserver: Config.SendRate must be a finite number, not negative, got %v", c.SendRate))
	}
	if c.MetricsPath == "" {
		c.MetricsPath = DefaultMetricsPath
	}
	if err := c.checkMetricsPath(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.FPID, DefaultFPID)
	def(&c.MaxUploadBytes, DefaultMaxUploadBytes)
	def(&c.MaxStoredBytesPerUser, DefaultMaxStoredBytesPerUser)
	if c.Blobs == nil {
		c.Blobs = blob.NewMemory()
	}
	c.AllowedMediaTypes = slices.Clone(c.AllowedMediaTypes)
	if c.MaxUploadsInFlight == 0 {
		c.MaxUploadsInFlight = DefaultMaxUploadsInFlight
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&c.UploadTokenTTL, DefaultUploadTokenTTL}, {&c.MediaURLTTL, DefaultMediaURLTTL}, {&c.MediaTimeout, DefaultMediaTimeout},
		{&c.UnsentFileTTL, DefaultUnsentFileTTL}, {&c.MediaSweepInterval, DefaultMediaSweepInterval},
	} {
		if *d.v == 0 {
			*d.v = d.d
		}
	}
	def(&c.MaxRequestBytes, 1<<20)
	if c.FrontierService == 0 {
		c.FrontierService = DefaultFrontierService
	}
	if c.FrontierMethod == 0 {
		c.FrontierMethod = DefaultFrontierMethod
	}
	if c.AppKey == "" {
		c.AppKey = DefaultAppKey
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 45 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SendQueue == 0 {
		c.SendQueue = 1024
	}
	if c.RequestRate == 0 {
		c.RequestRate = 500
	}
	if c.RequestBurst == 0 {
		c.RequestBurst = 1000
	}
	if c.SendRate > 0 && c.SendBurst == 0 {
		c.SendBurst = int(max(1, math.Ceil(c.SendRate)))
	}
	for _, d := range []*time.Duration{&c.RequestBodyTimeout, &c.ResponseWriteTimeout} {
		if *d == 0 {
			*d = 30 * time.Second
		}
	}
	for _, d := range []*time.Duration{&c.ReadHeaderTimeout, &c.HandshakeTimeout} {
		if *d == 0 {
			*d = 10 * time.Second
		}
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = time.Minute
	}
	for _, l := range []struct {
		v *int
		d int
	}{
		{&c.MaxConns, 10000}, {&c.MaxConnsPerAddr, 512},
		{&c.MaxSockets, 10000}, {&c.MaxSocketsPerAddr, 256},
		{&c.MaxRequestsInFlight, 512}, {&c.UnauthBurst, 500},
	} {
		if *l.v == 0 {
			*l.v = l.d
		}
	}
	if c.UnauthRate == 0 {
		c.UnauthRate = 50
	}
	if c.RecallWindow == 0 {
		c.RecallWindow = 24 * time.Hour
	}
	if c.InitMessages == 0 {
		c.InitMessages = 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// checkMetricsPath says why MetricsPath cannot be served, if it cannot:
// ServeHTTP would send its requests elsewhere, or other requests to it.
func (c Config) checkMetricsPath() error {
	p := c.MetricsPath
	var clash string
	switch _, route := improto.CommandForRoute(p); {
	case !strings.HasPrefix(p, "/"):
		clash = "it must start with /"
	case p == FrontierPath || p == HealthPath || p == ReadyPath:
		clash = "the server serves something else there"
	case !c.DisableConsole && (p+"/" == ConsolePath || strings.HasPrefix(p, ConsolePath)):
		clash = "it is the dev console's (ConsolePath)"
	case route:
		clash = "it is an HTTP API route"
	default:
		return nil
	}
	return fmt.Errorf("imserver: Config.MetricsPath %q: %s", p, clash)
}
