package im

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/improto"
)

// tracerName names the client's tracer: its import path, as OpenTelemetry
// asks of instrumentation.
const tracerName = "github.com/imbot-go/imbot/im"

// Span attributes of a request.
const (
	attrCommand   = attribute.Key("imbot.command")   // the improto command name, e.g. SEND_MESSAGE
	attrTransport = attribute.Key("imbot.transport") // http or websocket
	attrOutcome   = attribute.Key("imbot.outcome")   // as requests_total's outcome label
	attrStatus    = attribute.Key("imbot.status")    // the server's status name, when it answered
	attrLogID     = attribute.Key("imbot.log_id")    // the server's log id, for support
)

// requestObservation is what observing one request needs when it ends:
// its span (nil without tracing) and when it started (zero when neither
// metrics nor tracing is on).
type requestObservation struct {
	span  trace.Span
	start time.Time
}

// startRequest begins observing a request of cmd: it starts its span, a
// child of the span in ctx, and returns the span's context. With metrics
// and tracing off it does nothing and returns ctx.
func (c *Client) startRequest(ctx context.Context, cmd improto.IMCMD) (context.Context, requestObservation) {
	var o requestObservation
	if c.metrics == nil && c.tracer == nil {
		return ctx, o
	}
	o.start = time.Now()
	if c.tracer != nil {
		name := cmd.String()
		ctx, o.span = c.tracer.Start(ctx, "im.request "+name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attrCommand.String(name)))
	}
	return ctx, o
}

// endRequest ends observing a request of cmd that went over tr with
// outcome: resp is the server's answer (nil when there was none), err the
// failure to get one.
func (c *Client) endRequest(o requestObservation, cmd improto.IMCMD, tr transport, outcome string, resp *improto.Response, err error) {
	if o.start.IsZero() {
		return
	}
	c.metrics.request(cmd, tr, outcome, time.Since(o.start).Seconds())
	if o.span == nil {
		return
	}
	o.span.SetAttributes(attrTransport.String(tr.String()), attrOutcome.String(outcome))
	if resp != nil {
		o.span.SetAttributes(attrStatus.String(improto.StatusCode(resp.GetStatusCode()).String()))
		if id := resp.GetLogId(); id != "" {
			o.span.SetAttributes(attrLogID.String(id))
		}
		if err == nil && resp.GetStatusCode() != 0 {
			err = statusError(cmd, resp)
		}
	}
	if err != nil {
		o.span.RecordError(err)
		o.span.SetStatus(codes.Error, outcome)
	}
	o.span.End()
}
