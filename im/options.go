package im

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// TokenProvider returns the IM token to log in with. The client calls it
// once at start and once more whenever the server answers EXPIRED_TOKEN; a
// provider that then returns the same token again is an error, as the seed
// says. A static token is TokenProvider(StaticToken("...")).
type TokenProvider func(ctx context.Context) (string, error)

// StaticToken returns a provider of one fixed token.
func StaticToken(token string) TokenProvider {
	return func(context.Context) (string, error) { return token, nil }
}

// Option bounds and defaults, as the seed (IMOption) and the web SDK give
// them.
const (
	DefaultTimeout                 = 2000 * time.Millisecond
	DefaultHeartbeatInterval       = 15 * time.Second
	DefaultMaxHeartbeatEmptyWindow = 30 * time.Second
	DefaultPullInterval            = 30 * time.Second
	MinPullInterval                = 5 * time.Second
	DefaultMaxMessageCount         = 1000
	MinMaxMessageCount             = 200
	MaxMaxMessageCount             = 2000
	DefaultMaxSendMsgRetryTimes    = 3
	DefaultTokenTimeout            = time.Minute
	DefaultDevicePlatform          = "web"
	DefaultFrontierService         = 2
	DefaultFrontierMethod          = 1
	DefaultFPID                    = 89
	DefaultAppKey                  = "e0f82475ab9dbf5717d18b4a9c0d7fd0"
)

// PullOff, as Options.PullInterval, turns compensating pulls off (the
// seed's pullInterval: false).
const PullOff time.Duration = -1

// Options configures a Client: the seed's IMOption fields that mean
// something in Go, plus Go-side knobs (HTTP client, logger, reconnect
// policy). The zero value of a field means its default; New copies the
// Options and validates them, naming the first bad field.
type Options struct {
	// AppID is the IM Cloud app id. Required.
	AppID int64
	// UserID is the user to log in as. Required.
	UserID UserID
	// DeviceID identifies this device. Default: the user id, as the seed
	// recommends where there is no device.
	DeviceID string
	// Token provides the IM token. Required for TOKEN_AUTH.
	Token TokenProvider
	// TokenExpiry tells when a token from Token expires (the zero time
	// when it cannot tell), for tokens that say it, such as imserver's
	// (imserver.TokenExpiry). With it the client asks Token for a new
	// token before the current one expires: at the first request after
	// four fifths of its life, and again at half the time left each time
	// the provider still returns the same one. Without it, the client
	// asks when the server answers EXPIRED_TOKEN. Default nil.
	TokenExpiry func(token string) time.Time
	// TokenTimeout bounds how long the client goes on without a token
	// the server takes: from the first failure (the provider failing or
	// returning the expired token again, the server refusing the token)
	// until one works again. Past it the client stops by itself, as
	// Stopped reports, with an error that matches ErrNoValidToken, so
	// that a bot whose token cannot be renewed ends instead of running
	// deaf. Default DefaultTokenTimeout; negative: never stop.
	TokenTimeout time.Duration
	// AuthType selects how the server reads the token: AuthTypeSession,
	// AuthTypeToken or AuthTypeCert. Default AuthTypeToken.
	AuthType AuthType
	// APIURL is the HTTP API base, an http or https URL with a host (e.g.
	// https://imapi.volcvideo.com). Required.
	APIURL string
	// FrontierURL is the WebSocket URL, ws or wss with a host (e.g.
	// wss://…/ws/v2). Required unless WebSocketLevel is
	// WebSocketLevelDisable.
	FrontierURL string
	// InboxType selects the isolated mailbox of the app. Default 0.
	InboxType int32
	// WebSocketLevel says what goes over the socket (the seed's
	// WebSocketLevel). Default WebSocketLevelDefault. WebSocketLevelDisable
	// needs compensating pulls: with PullInterval PullOff as well, the
	// client would never hear of a message after Init, so New refuses it.
	WebSocketLevel WebSocketLevel
	// Timeout bounds one request. Default 2000 ms.
	Timeout time.Duration
	// HeartbeatInterval is how long the socket may stay idle before the
	// client sends the "hi" heartbeat. Default 15s.
	HeartbeatInterval time.Duration
	// MaxHeartbeatEmptyWindow is how long the socket may receive nothing
	// before the client reconnects. Default 30s; must exceed
	// HeartbeatInterval.
	MaxHeartbeatEmptyWindow time.Duration
	// MaxSendMsgRetryTimes bounds the retries of a message send after a
	// transient failure. Default 3; negative means none.
	MaxSendMsgRetryTimes int
	// PullInterval is the period of compensating pulls. Default 30s; at
	// least 5s; PullOff turns them off.
	PullInterval time.Duration
	// MaxMessageCount bounds the local messages kept per conversation.
	// Default 1000, from 200 to 2000.
	MaxMessageCount int
	// AutoReadIndex moves the read index as messages are received. Off by
	// default: a bot that replies must not mark read what it has not
	// handled (the seed warns about auto-replies).
	AutoReadIndex bool
	// DisableInitPull skips pulling conversations and recent messages at
	// Init; the sync position still starts at the server's current one.
	DisableInitPull bool
	// AcceptIncorrectFrame accepts Frontier frames of another service;
	// AcceptIncorrectInboxType accepts responses of another inbox type.
	AcceptIncorrectFrame     bool
	AcceptIncorrectInboxType bool

	// Pass-through device fields, sent in every Request.
	DevicePlatform string // default "web"
	Channel        string
	DeviceType     string
	OSVersion      string
	VersionCode    string
	// Headers go into Request.headers; HTTPHeaders onto HTTP requests;
	// Extended into the Frontier URL's query.
	Headers     map[string]string
	HTTPHeaders map[string]string
	Extended    map[string]string

	// Frontier parameters: the Frame service and method, and the fpid and
	// appKey from which access_key is derived. Defaults: the web SDK's;
	// none may be negative.
	FrontierService int32
	FrontierMethod  int32
	FPID            int64
	AppKey          string

	// Resume starts the sync from Cursor instead of the server's current
	// position: every message after Cursor is delivered, as OnMessageReceived
	// reports them with MessageEvent.Cursor. A caller that saved the cursor
	// of its oldest unhandled message resumes with it after a restart; a
	// Cursor of 0 delivers the user's whole inbox.
	Resume bool
	Cursor int64

	// ReconnectWait decides how long to wait before reconnect attempt n
	// (1-based). Default: exponential from 100ms to 5s with jitter.
	ReconnectWait func(attempt int) time.Duration

	// HTTPClient sends the HTTP requests. Default: a client of its own.
	HTTPClient *http.Client
	// Dialer opens the WebSocket. Default: websocket.DefaultDialer.
	Dialer *websocket.Dialer
	// Logger receives the client's log lines; tokens never appear in them.
	// Default slog.Default().
	Logger *slog.Logger
	// Metrics is the Prometheus registry New registers the client's
	// metrics with (imbot_client_…: requests by command and outcome,
	// their durations, rate limiting, the socket's state and losses, the
	// sync lag, catch-up messages, token failures; docs/OPERATIONS.md
	// lists them). New fails when they are registered already: two
	// clients in one registry need a label each
	// (prometheus.WrapRegistererWith). Default nil: no metrics, at no
	// cost. A bot passes its own registry unless this is set.
	Metrics prometheus.Registerer
	// TracerProvider, when set, makes the client trace with
	// OpenTelemetry: a span of kind Client for each request to the server,
	// named "im.request <COMMAND>" (e.g. im.request SEND_MESSAGE), a
	// child of the span in the request's ctx, with the attributes
	// imbot.command, imbot.transport (http or websocket), imbot.outcome,
	// imbot.status and imbot.log_id, and an error status when it failed.
	// A request refreshed after EXPIRED_TOKEN is two spans. Default nil:
	// no tracing, at no cost. A bot passes its own provider unless this
	// is set.
	TracerProvider trace.TracerProvider
}

func (o Options) withDefaults() (Options, error) {
	fail := func(field, format string, args ...any) (Options, error) {
		// Error adds the package prefix.
		return o, &Error{Type: ErrorTypeInvalidArgument, Msg: fmt.Sprintf("Options.%s %s", field, fmt.Sprintf(format, args...))}
	}
	switch {
	case o.AppID <= 0:
		return fail("AppID", "must be positive, got %d", o.AppID)
	case o.UserID <= 0:
		return fail("UserID", "must be positive, got %d", o.UserID)
	case o.APIURL == "":
		return fail("APIURL", "is required")
	case badURL(o.APIURL, "http", "https") != "":
		return fail("APIURL", "%s", badURL(o.APIURL, "http", "https"))
	case o.FrontierURL == "" && o.WebSocketLevel != WebSocketLevelDisable:
		return fail("FrontierURL", "is required unless WebSocketLevel is Disable")
	case o.FrontierURL != "" && badURL(o.FrontierURL, "ws", "wss") != "":
		return fail("FrontierURL", "%s", badURL(o.FrontierURL, "ws", "wss"))
	case o.AuthType != 0 && (o.AuthType < AuthTypeSession || o.AuthType > AuthTypeCert):
		return fail("AuthType", "must be Session, Token or Cert, got %d", o.AuthType)
	case o.Token == nil && o.AuthType != AuthTypeSession:
		return fail("Token", "is required for token auth")
	case o.InboxType < 0:
		return fail("InboxType", "must not be negative, got %d", o.InboxType)
	case o.WebSocketLevel < WebSocketLevelDefault || o.WebSocketLevel > WebSocketLevelDisable:
		return fail("WebSocketLevel", "must be Default, PushOnly, All or Disable, got %d", o.WebSocketLevel)
	case o.Timeout < 0:
		return fail("Timeout", "must not be negative, got %v", o.Timeout)
	case o.HeartbeatInterval < 0:
		return fail("HeartbeatInterval", "must not be negative, got %v", o.HeartbeatInterval)
	case o.MaxHeartbeatEmptyWindow < 0:
		return fail("MaxHeartbeatEmptyWindow", "must not be negative, got %v", o.MaxHeartbeatEmptyWindow)
	case o.PullInterval != PullOff && o.PullInterval != 0 && o.PullInterval < MinPullInterval:
		return fail("PullInterval", "must be at least %v or PullOff, got %v", MinPullInterval, o.PullInterval)
	case o.PullInterval == PullOff && o.WebSocketLevel == WebSocketLevelDisable:
		return fail("PullInterval", "must not be PullOff when WebSocketLevel is Disable: with neither pushes nor pulls the client never syncs after Init")
	case o.MaxMessageCount != 0 && (o.MaxMessageCount < MinMaxMessageCount || o.MaxMessageCount > MaxMaxMessageCount):
		return fail("MaxMessageCount", "must be from %d to %d, got %d", MinMaxMessageCount, MaxMaxMessageCount, o.MaxMessageCount)
	case o.Cursor < 0:
		return fail("Cursor", "must not be negative, got %d", o.Cursor)
	case o.FrontierService < 0:
		return fail("FrontierService", "must not be negative, got %d", o.FrontierService)
	case o.FrontierMethod < 0:
		return fail("FrontierMethod", "must not be negative, got %d", o.FrontierMethod)
	case o.FPID < 0:
		return fail("FPID", "must not be negative, got %d", o.FPID)
	}
	if o.DeviceID == "" {
		o.DeviceID = o.UserID.String()
	}
	if o.AuthType == 0 {
		o.AuthType = AuthTypeToken
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.MaxHeartbeatEmptyWindow == 0 {
		o.MaxHeartbeatEmptyWindow = DefaultMaxHeartbeatEmptyWindow
	}
	if o.MaxHeartbeatEmptyWindow <= o.HeartbeatInterval {
		return fail("MaxHeartbeatEmptyWindow", "(%v) must exceed HeartbeatInterval (%v)", o.MaxHeartbeatEmptyWindow, o.HeartbeatInterval)
	}
	if o.MaxSendMsgRetryTimes == 0 {
		o.MaxSendMsgRetryTimes = DefaultMaxSendMsgRetryTimes
	} else if o.MaxSendMsgRetryTimes < 0 {
		o.MaxSendMsgRetryTimes = 0
	}
	if o.PullInterval == 0 {
		o.PullInterval = DefaultPullInterval
	}
	if o.MaxMessageCount == 0 {
		o.MaxMessageCount = DefaultMaxMessageCount
	}
	if o.DevicePlatform == "" {
		o.DevicePlatform = DefaultDevicePlatform
	}
	if o.FrontierService == 0 {
		o.FrontierService = DefaultFrontierService
	}
	if o.FrontierMethod == 0 {
		o.FrontierMethod = DefaultFrontierMethod
	}
	if o.FPID == 0 {
		o.FPID = DefaultFPID
	}
	if o.AppKey == "" {
		o.AppKey = DefaultAppKey
	}
	if o.ReconnectWait == nil {
		o.ReconnectWait = defaultReconnectWait
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Dialer == nil {
		o.Dialer = websocket.DefaultDialer
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Token == nil {
		o.Token = StaticToken("")
	}
	if o.TokenTimeout == 0 {
		o.TokenTimeout = DefaultTokenTimeout
	}
	return o, nil
}

// badURL says what is wrong with raw as a URL of one of schemes, or ""
// when nothing is.
func badURL(raw string, schemes ...string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL: %v", raw, err)
	case !slices.Contains(schemes, u.Scheme):
		return fmt.Sprintf("%q must be a %s URL", raw, strings.Join(schemes, " or "))
	case u.Host == "":
		return fmt.Sprintf("%q has no host", raw)
	}
	return ""
}
