package im

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// maxResponseBytes bounds an HTTP response the client reads.
const maxResponseBytes = 16 << 20

// request builds the Request envelope for cmd: identity, device fields and
// the body at the command's field.
func (c *Client) request(ctx context.Context, cmd improto.Command, token string, body proto.Message) (*improto.Request, error) {
	o := &c.opts
	headers := o.Headers
	if extra, _ := ctx.Value(requestHeadersKey{}).(map[string]string); len(extra) > 0 {
		headers = maps.Clone(headers)
		if headers == nil {
			headers = map[string]string{}
		}
		maps.Copy(headers, extra)
	}
	req := &improto.Request{
		Cmd:            proto.Int32(int32(cmd.Cmd)),
		SequenceId:     proto.Int64(c.seq.Add(1)),
		SdkVersion:     proto.String(sdkVersion),
		Token:          proto.String(token),
		InboxType:      proto.Int32(o.InboxType),
		DeviceId:       proto.String(o.DeviceID),
		DevicePlatform: proto.String(o.DevicePlatform),
		Channel:        proto.String(o.Channel),
		DeviceType:     proto.String(o.DeviceType),
		OsVersion:      proto.String(o.OSVersion),
		VersionCode:    proto.String(o.VersionCode),
		AuthType:       improto.AuthType(o.AuthType).Enum(),
		Headers:        headers,
	}
	if body != nil {
		if err := setRequestBody(req, cmd.BodyField, body); err != nil {
			return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: cmd.Cmd, Msg: fmt.Sprintf("%T is not the body of %v", body, cmd.Cmd)}
		}
	}
	return req, nil
}

// sdkVersion identifies this client in Request.sdk_version.
const sdkVersion = "imbot-go/1"

// responseBuffers recycles the buffers HTTP responses are read into: a
// catch-up reads pages of a megabyte, and the decoders copy what they keep.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// postHTTP sends req to the command's route and hands the Response bytes
// to read; they are valid only during the call.
func (c *Client) postHTTP(ctx context.Context, cmd improto.Command, req *improto.Request, read func([]byte) error) error {
	data, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	url := c.apiURL(cmd.Route())
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	for k, v := range c.opts.HTTPHeaders {
		hr.Header.Set(k, v)
	}
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Accept", "application/x-protobuf")
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer responseBuffers.Put(buf)
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength <= maxResponseBytes {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes+1)); err != nil {
		return err
	}
	if buf.Len() > maxResponseBytes {
		return fmt.Errorf("response exceeds %d bytes", maxResponseBytes)
	}
	if err := read(buf.Bytes()); err != nil {
		return fmt.Errorf("HTTP %d with a body that is not a Response: %w", resp.StatusCode, err)
	}
	return nil
}

// responseDecoder reads the bytes of a Response: its envelope (with or
// without the body) and what the caller wants of it.
type responseDecoder[T any] func(data []byte) (*improto.Response, T, error)

// call sends one command and returns its response body, or an *Error. It
// goes over the socket or HTTP as Options.WebSocketLevel says, bounds the
// request by Options.Timeout, and refreshes an expired token once.
func (c *Client) call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*Result[proto.Message], error) {
	command, _ := improto.LookupCommand(cmd)
	resp, out, err := callDecoded(ctx, c, cmd, body, func(data []byte) (*improto.Response, proto.Message, error) {
		return decodeResponse(data, command.BodyField)
	})
	if resp == nil {
		return nil, err
	}
	res := &Result[proto.Message]{
		Success:    resp.GetStatusCode() == 0,
		StatusCode: improto.StatusCode(resp.GetStatusCode()),
		StatusMsg:  resp.GetErrorDesc(),
		LogID:      resp.GetLogId(),
		Body:       out,
	}
	res.Payload = res.Body
	if e, ok := err.(*Error); ok {
		res.InnerError = e // a server answer with a non-zero status
		return res, err
	}
	return res, nil
}

// callDecoded is call with the response read by decode. It returns the
// envelope and decode's result; a non-zero status comes back as an *Error
// with the envelope, a failure to get an answer as an error alone.
func callDecoded[T any](ctx context.Context, c *Client, cmd improto.IMCMD, body proto.Message, decode responseDecoder[T]) (*improto.Response, T, error) {
	var zero T
	command, ok := improto.LookupCommand(cmd)
	if !ok {
		return nil, zero, &Error{Type: ErrorTypeInvalidArgument, Cmd: cmd, Msg: "unknown command"}
	}
	if c.closed() {
		return nil, zero, &Error{Type: ErrorTypeClosed, Cmd: cmd, Msg: "client closed", Inner: ErrClosed}
	}
	refreshed := false
	for {
		token, err := c.tokens.current(ctx)
		if err != nil {
			c.tokenFailed(err)
			return nil, zero, err
		}
		resp, out, err := exchange(ctx, c, command, token, body, decode)
		if err != nil {
			return nil, zero, err
		}
		status := improto.StatusCode(resp.GetStatusCode())
		if status == improto.StatusCode_EXPIRED_TOKEN && !refreshed {
			if err := c.tokens.refresh(ctx, token); err != nil {
				c.tokenFailed(err)
				return nil, zero, err
			}
			refreshed = true
			continue
		}
		if status != improto.StatusCode_OK {
			err := statusError(cmd, resp)
			if isTokenFailure(err) {
				c.tokenFailed(err)
			}
			return resp, out, err
		}
		c.tokens.worked()
		return resp, out, nil
	}
}

// statusError is the error of a server answer with a non-OK status.
func statusError(cmd improto.IMCMD, resp *improto.Response) *Error {
	return &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true, StatusCode: improto.StatusCode(resp.GetStatusCode()),
		Msg: resp.GetErrorDesc(), LogID: resp.GetLogId(), RetryAfter: retryAfterOf(resp.GetHeaders())}
}

// exchange sends one request over the transport the options choose and
// decodes the answer. It is the request that metrics count and a span
// traces (Options.Metrics, Options.TracerProvider).
func exchange[T any](ctx context.Context, c *Client, cmd improto.Command, token string, body proto.Message, decode responseDecoder[T]) (*improto.Response, T, error) {
	var (
		resp      *improto.Response
		out       T
		malformed bool // the answer did not decode
	)
	req, err := c.request(ctx, cmd, token, body)
	if err != nil {
		return nil, out, err
	}
	ctx, o := c.startRequest(ctx, cmd.Cmd)
	tctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	read := func(data []byte) (err error) {
		resp, out, err = decode(data)
		malformed = err != nil
		return err
	}
	tr, err := c.roundTrip(tctx, cmd, req, read)
	if err != nil {
		e, ok := err.(*Error) // roundTrip's own: already says what failed
		if !ok {
			e = transportError(cmd.Cmd, err)
		}
		c.endRequest(o, cmd.Cmd, tr, failureOutcome(e, malformed), nil, e)
		return nil, out, e
	}
	if !c.opts.AcceptIncorrectInboxType && resp.GetInboxType() != c.opts.InboxType && resp.GetStatusCode() == 0 {
		e := &Error{Type: ErrorTypeServer, Cmd: cmd.Cmd, ReachServer: true,
			Msg: fmt.Sprintf("response for inbox type %d, want %d", resp.GetInboxType(), c.opts.InboxType)}
		c.endRequest(o, cmd.Cmd, tr, outcomeMalformed, resp, e)
		return nil, out, e
	}
	c.endRequest(o, cmd.Cmd, tr, statusOutcome(resp.GetStatusCode()), resp, nil)
	return resp, out, nil
}

// roundTrip sends req over the socket or HTTP, as Options.WebSocketLevel
// says, hands the answer's bytes to read, and says which it used (for
// a request that fell back to HTTP, HTTP; for one that found no way, the
// socket it waited for).
func (c *Client) roundTrip(ctx context.Context, cmd improto.Command, req *improto.Request, read func([]byte) error) (transport, error) {
	all := c.opts.WebSocketLevel == WebSocketLevelAll
	for {
		s := c.socketFor(ctx)
		if s == nil {
			switch {
			case all && c.closed():
				return transportWebSocket, errClientClosed()
			case all:
				return transportWebSocket, &Error{Type: ErrorTypeTimeout, Cmd: cmd.Cmd, Inner: ctx.Err(),
					Msg: "the socket did not come up within the request's timeout (WebSocketLevelAll sends no request over HTTP)"}
			case cmd.Route() == "":
				return transportWebSocket, &Error{Type: ErrorTypeNetwork, Cmd: cmd.Cmd, Msg: "this command has no HTTP route and the socket is not up"}
			}
			return transportHTTP, c.postHTTP(ctx, cmd, req, read)
		}
		err := s.call(ctx, req, read)
		switch {
		case !errors.Is(err, errSocketDown):
			return transportWebSocket, err
		case !all:
			return transportHTTP, c.postHTTP(ctx, cmd, req, read) // the SDK falls back to HTTP
		case !errors.Is(err, errNotSent):
			return transportWebSocket, err // it may have reached the server: the caller decides
		}
		// The socket closed before the request left: the next one takes it.
	}
}

// callBody is call for commands whose response body has type T. The
// caller reads its answer from that body, so an OK answer without one (or
// with another) is no success: it fails with ErrMalformedResponse rather
// than leave the caller with nothing to return.
func callBody[T proto.Message](ctx context.Context, c *Client, cmd improto.IMCMD, body proto.Message) (T, error) {
	out, _, err := callBodyEnvelope[T](ctx, c, cmd, body)
	return out, err
}

// callBodyEnvelope is callBody that also returns the Response envelope,
// for the headers.
func callBodyEnvelope[T proto.Message](ctx context.Context, c *Client, cmd improto.IMCMD, body proto.Message) (T, *improto.Response, error) {
	var zero T
	command, _ := improto.LookupCommand(cmd)
	resp, got, err := callDecoded(ctx, c, cmd, body, func(data []byte) (*improto.Response, proto.Message, error) {
		return decodeResponse(data, command.BodyField)
	})
	if err != nil {
		return zero, nil, err
	}
	if got == nil {
		return zero, nil, malformedAnswer(cmd, fmt.Sprintf("%T", zero), resp.GetLogId())
	}
	out, ok := got.(T)
	if !ok {
		return zero, nil, malformedAnswer(cmd, fmt.Sprintf("%T (got %T)", zero, got), resp.GetLogId())
	}
	return out, resp, nil
}

// callBodyWithHeaders is callBody with extra Request.headers for this call
// (2007 carries the live-chat priority there).
func callBodyWithHeaders[T proto.Message](ctx context.Context, c *Client, cmd improto.IMCMD, body proto.Message, headers map[string]string) (T, error) {
	return callBody[T](withRequestHeaders(ctx, headers), c, cmd, body)
}

type requestHeadersKey struct{}

// withRequestHeaders attaches headers that request adds to the envelope.
func withRequestHeaders(ctx context.Context, h map[string]string) context.Context {
	return context.WithValue(ctx, requestHeadersKey{}, h)
}
