package im

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"

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
		b, ok := cmd.NewRequestBody(body)
		if !ok {
			return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: cmd.Cmd, Msg: fmt.Sprintf("%T is not the body of %v", body, cmd.Cmd)}
		}
		req.Body = b
	}
	return req, nil
}

// sdkVersion identifies this client in Request.sdk_version.
const sdkVersion = "imbot-go/1"

// postHTTP sends req to the command's route and decodes the Response.
func (c *Client) postHTTP(ctx context.Context, cmd improto.Command, req *improto.Request) (*improto.Response, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	url := strings.TrimRight(c.opts.APIURL, "/") + "/" + cmd.Route()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for k, v := range c.opts.HTTPHeaders {
		hr.Header.Set(k, v)
	}
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Accept", "application/x-protobuf")
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("response exceeds %d bytes", maxResponseBytes)
	}
	out := &improto.Response{}
	if err := proto.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("HTTP %d with a body that is not a Response: %w", resp.StatusCode, err)
	}
	return out, nil
}

// call sends one command and returns its response body, or an *Error. It
// goes over the socket or HTTP as Options.WebSocketLevel says, bounds the
// request by Options.Timeout, and refreshes an expired token once.
func (c *Client) call(ctx context.Context, cmd improto.IMCMD, body proto.Message) (*Result[proto.Message], error) {
	command, ok := improto.LookupCommand(cmd)
	if !ok {
		return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: cmd, Msg: "unknown command"}
	}
	if c.closed() {
		return nil, &Error{Type: ErrorTypeClosed, Cmd: cmd, Msg: "client closed", Inner: ErrClosed}
	}
	refreshed := false
	for {
		token, err := c.tokens.current(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.roundTrip(ctx, command, token, body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode == improto.StatusCode_EXPIRED_TOKEN && !refreshed {
			if err := c.tokens.refresh(ctx, token); err != nil {
				return nil, err
			}
			refreshed = true
			continue
		}
		if res.InnerError != nil {
			return res, res.InnerError
		}
		return res, nil
	}
}

// roundTrip sends one request over the transport the options choose and
// wraps the answer in a Result.
func (c *Client) roundTrip(ctx context.Context, cmd improto.Command, token string, body proto.Message) (*Result[proto.Message], error) {
	req, err := c.request(ctx, cmd, token, body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var resp *improto.Response
	if s := c.socketFor(); s != nil {
		resp, err = s.call(ctx, req)
		if errors.Is(err, errSocketDown) && c.opts.WebSocketLevel != WebSocketLevelAll {
			resp, err = c.postHTTP(ctx, cmd, req) // the SDK falls back to HTTP
		}
	} else if cmd.Route() == "" {
		return nil, &Error{Type: ErrorTypeNetwork, Cmd: cmd.Cmd, Msg: "this command has no HTTP route and the socket is not up"}
	} else {
		resp, err = c.postHTTP(ctx, cmd, req)
	}
	if err != nil {
		return nil, transportError(cmd.Cmd, err)
	}
	if !c.opts.AcceptIncorrectInboxType && resp.GetInboxType() != c.opts.InboxType && resp.GetStatusCode() == 0 {
		return nil, &Error{Type: ErrorTypeServer, Cmd: cmd.Cmd, ReachServer: true,
			Msg: fmt.Sprintf("response for inbox type %d, want %d", resp.GetInboxType(), c.opts.InboxType)}
	}
	res := &Result[proto.Message]{
		Success:    resp.GetStatusCode() == 0,
		StatusCode: improto.StatusCode(resp.GetStatusCode()),
		StatusMsg:  resp.GetErrorDesc(),
		LogID:      resp.GetLogId(),
		Body:       cmd.ResponseBodyMessage(resp.GetBody()),
	}
	res.Payload = res.Body
	if !res.Success {
		res.InnerError = &Error{Type: ErrorTypeServer, Cmd: cmd.Cmd, ReachServer: true, StatusCode: res.StatusCode,
			Msg: resp.GetErrorDesc(), LogID: resp.GetLogId(), RetryAfter: retryAfterOf(resp.GetHeaders())}
	}
	return res, nil
}

// callBody is call for commands whose response body has type T.
func callBody[T proto.Message](ctx context.Context, c *Client, cmd improto.IMCMD, body proto.Message) (T, error) {
	var zero T
	res, err := c.call(ctx, cmd, body)
	if err != nil {
		return zero, err
	}
	if res.Body == nil {
		return zero, nil
	}
	out, ok := res.Body.(T)
	if !ok {
		return zero, &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true, Msg: fmt.Sprintf("response body is %T, want %T", res.Body, zero)}
	}
	return out, nil
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
