package im

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Sentinels for the common failures. An *Error matches them with
// errors.Is by its status code (or type), so callers write
//
//	if errors.Is(err, im.ErrNotMember) { … }
var (
	ErrClosed       = errors.New("im: client closed")
	ErrNotMember    = errors.New("im: not a member of the conversation")
	ErrNotFound     = errors.New("im: not found")
	ErrExpiredToken = errors.New("im: token expired")
	ErrInvalidToken = errors.New("im: invalid token")
	ErrSameToken    = errors.New("im: token provider returned the expired token again")
	ErrRateLimited  = errors.New("im: rate limited")
	ErrMuted        = errors.New("im: muted")
	ErrForbidden    = errors.New("im: not allowed")
	// ErrMalformedResponse matches an OK answer that lacks what the
	// command's answer must carry (its body, or the body's payload).
	ErrMalformedResponse = errors.New("im: malformed response")
	// SendFriendApply's refusals, which the server reports in the response
	// body rather than its status; the *Error wraps them.
	ErrAlreadyFriends = errors.New("im: already friends")
	ErrDuplicateApply = errors.New("im: a friend apply to the user is already waiting")
	// ErrNoValidToken matches the error a client stops with when it has
	// had no token the server takes for Options.TokenTimeout.
	ErrNoValidToken = errors.New("im: no valid token")
	// ErrTokenProvider matches a failure of the Options.Token provider.
	ErrTokenProvider = errors.New("im: token provider failed")
	// ErrFrontierRefused matches the error a client stops with when the
	// Frontier URL answers, for good, with something other than a
	// WebSocket handshake (a wrong path, a plain web server).
	ErrFrontierRefused = errors.New("im: the Frontier URL refused the WebSocket")
	// ErrWrongUser matches an *IdentityError: the server logged the token
	// in as another user or app than the Options name.
	ErrWrongUser = errors.New("im: the token is another user's")
)

// IdentityError reports that the server logged the client in as another
// user (or app) than Options.UserID (AppID): the token is someone else's.
// The client stops rather than act as that user. It matches ErrWrongUser.
type IdentityError struct {
	WantUser, GotUser UserID // Options.UserID, and the token's user
	WantApp, GotApp   int64  // Options.AppID, and the token's app
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("im: the token logged in as user %d of app %d, but Options.UserID and AppID are user %d of app %d",
		e.GotUser, e.GotApp, e.WantUser, e.WantApp)
}

// Is reports target == ErrWrongUser.
func (e *IdentityError) Is(target error) bool { return target == ErrWrongUser }

// checkIdentity compares the user and app a server says the token logged
// in as (decimal strings, empty when the server does not say) with the
// Options; it returns an *IdentityError on a mismatch.
func (c *Client) checkIdentity(user, app string) error {
	if user == "" && app == "" {
		return nil // a server that does not say: nothing to check
	}
	got := &IdentityError{WantUser: c.opts.UserID, GotUser: c.opts.UserID, WantApp: c.opts.AppID, GotApp: c.opts.AppID}
	if user != "" {
		id, err := strconv.ParseInt(user, 10, 64)
		if err != nil {
			return &Error{Type: ErrorTypeServer, ReachServer: true, Msg: fmt.Sprintf("the server names the user %q, not a user id", user), Inner: ErrMalformedResponse}
		}
		got.GotUser = UserID(id)
	}
	if app != "" {
		id, err := strconv.ParseInt(app, 10, 64)
		if err != nil {
			return &Error{Type: ErrorTypeServer, ReachServer: true, Msg: fmt.Sprintf("the server names the app %q, not an app id", app), Inner: ErrMalformedResponse}
		}
		got.GotApp = id
	}
	if got.GotUser != got.WantUser || got.GotApp != got.WantApp {
		return got
	}
	return nil
}

// statusSentinels maps server status codes to the sentinel they match.
var statusSentinels = map[improto.StatusCode]error{
	improto.StatusCode_USER_NOT_IN_GROUP:                     ErrNotMember,
	improto.StatusCode_CONVERSATION_NOT_FOUND:                ErrNotFound,
	improto.StatusCode_MESSAGE_TARGET_CONVERSATION_NOT_EXIST: ErrNotFound,
	improto.StatusCode_CONV_NOT_FOUND:                        ErrNotFound,
	improto.StatusCode_EXPIRED_TOKEN:                         ErrExpiredToken,
	improto.StatusCode_INVALID_TOKEN:                         ErrInvalidToken,
	improto.StatusCode_TOO_MANY_REQUESTS:                     ErrRateLimited,
	improto.StatusCode_USER_BANNED_TO_POST:                   ErrMuted,
	improto.StatusCode_USER_SILENCE:                          ErrMuted,
	improto.StatusCode_USER_FORBIDDEN:                        ErrForbidden,
}

// Error is the seed's BaseError: what failed, whether the request reached
// the server, and the server's answer when it did.
type Error struct {
	Type ErrorType
	// Msg describes the failure.
	Msg string
	// Inner is the underlying error (network, decoding), if any.
	Inner error
	// ReachServer reports whether the server answered: a logical error
	// rather than a network one.
	ReachServer bool
	// StatusCode and CheckCode are the server's codes, when it answered.
	StatusCode improto.StatusCode
	CheckCode  int64
	CheckMsg   string
	// LogID is the server's log id of the request, for support.
	LogID string
	// Cmd is the command that failed.
	Cmd improto.IMCMD
	// Args holds extra facts about the failure.
	Args map[string]any
	// RetryAfter is how long the server asked the client to wait before
	// trying again (the response header improto.HeaderRetryAfterMs, sent
	// with status 429); zero when it gave no hint.
	RetryAfter time.Duration
}

// retryAfterOf reads improto.HeaderRetryAfterMs from a response's headers.
func retryAfterOf(headers map[string]string) time.Duration {
	ms, err := strconv.ParseInt(headers[improto.HeaderRetryAfterMs], 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return min(time.Duration(ms)*time.Millisecond, maxRetryAfter)
}

// maxRetryAfter bounds a server's retry hint, so that a bad header cannot
// park a send for hours.
const maxRetryAfter = time.Minute

// RetryAfter returns the wait the server asked for before a retry of the
// request that failed with err, and whether it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

func (e *Error) Error() string {
	s := "im: " + e.Msg
	if e.Cmd != 0 {
		s = fmt.Sprintf("im: %v: %s", e.Cmd, e.Msg)
	}
	if e.ReachServer && e.StatusCode != 0 {
		s += fmt.Sprintf(" (status %v", e.StatusCode)
		if e.LogID != "" {
			s += ", logid " + e.LogID
		}
		s += ")"
	}
	if e.Inner != nil {
		s += ": " + e.Inner.Error()
	}
	return s
}

// Unwrap returns the inner error.
func (e *Error) Unwrap() error { return e.Inner }

// Is matches the sentinels: by status code for server answers, and
// ErrClosed for a closed client.
func (e *Error) Is(target error) bool {
	if e.ReachServer {
		if s, ok := statusSentinels[e.StatusCode]; ok && s == target {
			return true
		}
	}
	return target == ErrClosed && e.Type == ErrorTypeClosed
}

// temporary reports whether retrying the same request may succeed: a
// network failure, a timeout, or a server that asked to slow down or failed
// internally.
func (e *Error) temporary() bool {
	switch {
	case !e.ReachServer:
		return e.Type == ErrorTypeNetwork || e.Type == ErrorTypeTimeout
	default:
		switch e.StatusCode {
		case improto.StatusCode_TOO_MANY_REQUESTS, improto.StatusCode_SERVER_ERR, improto.StatusCode_INTERNAL_ERROR,
			improto.StatusCode_DEGRADATION_ERROR:
			return true
		}
	}
	return false
}

// refused reports whether the server refused the request on its merits
// (a status that no retry changes): what the seed's FlightStatus calls
// Rejected, as opposed to a network or internal failure.
func (e *Error) refused() bool {
	return e.ReachServer && !e.temporary() && !errors.Is(e.Inner, ErrMalformedResponse)
}

// StatusCodeOf returns the server status code of err, or OK (0) when err
// is not a server answer.
func StatusCodeOf(err error) improto.StatusCode {
	var e *Error
	if errors.As(err, &e) && e.ReachServer {
		return e.StatusCode
	}
	return improto.StatusCode_OK
}

// Result is the seed's ICheckCodeResult: the outcome of one request with
// everything the server said about it.
type Result[T any] struct {
	Success bool
	// Payload is what the operation produced.
	Payload T
	// CheckCode and CheckMsg are the content check's verdict, when the
	// server ran one.
	CheckCode int64
	CheckMsg  string
	// Body is the raw response body.
	Body proto.Message
	// StatusCode and StatusMsg are the server's status.
	StatusCode improto.StatusCode
	StatusMsg  string
	// InnerError is the failure, nil on success.
	InnerError *Error
	// LogID is the server's log id of the request.
	LogID string
}

// Err returns the failure as an error, nil on success.
func (r *Result[T]) Err() error {
	if r.InnerError == nil {
		return nil
	}
	return r.InnerError
}

// malformedAnswer is the error of an OK answer to cmd that lacks what the
// command's answer must carry: its body, or a payload of the body.
func malformedAnswer(cmd improto.IMCMD, missing, logID string) *Error {
	return &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true, LogID: logID, Inner: ErrMalformedResponse,
		Msg: "the OK answer carries no " + missing}
}

// transportError wraps a failure to reach the server.
func transportError(cmd improto.IMCMD, err error) *Error {
	typ := ErrorTypeNetwork
	if errors.Is(err, context.DeadlineExceeded) {
		typ = ErrorTypeTimeout
	}
	if errors.Is(err, ErrClosed) {
		typ = ErrorTypeClosed
	}
	return &Error{Type: typ, Msg: "request failed", Inner: err, Cmd: cmd}
}
