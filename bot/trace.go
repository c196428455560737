package bot

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/im"
)

// tracerName names the bot's tracer: its import path, as OpenTelemetry
// asks of instrumentation.
const tracerName = "github.com/imbot-go/imbot/bot"

// Span attributes the bot sets.
const (
	attrEventKind    = attribute.Key("imbot.event.kind")
	attrConvID       = attribute.Key("imbot.conversation.id")
	attrConvType     = attribute.Key("imbot.conversation.type")
	attrMessageID    = attribute.Key("imbot.message.id")
	attrRoute        = attribute.Key("imbot.route")
	attrOutcome      = attribute.Key("imbot.outcome")
	attrSkipReason   = attribute.Key("imbot.skip.reason")
	attrAttempts     = attribute.Key("imbot.attempts")
	attrSendPriority = attribute.Key("imbot.send.priority")
)

// startEventSpan starts the span of ev's handling, a child of whatever
// span ctx carries; with tracing off it returns ctx and a nil span.
func (b *Bot) startEventSpan(ctx context.Context, ev *Event) (context.Context, trace.Span) {
	if b.tracer == nil {
		return ctx, nil
	}
	kind := eventKindLabel(ev.Kind)
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, attrEventKind.String(kind))
	if ev.ConversationRef.ID != "" {
		attrs = append(attrs, attrConvID.String(string(ev.ConversationRef.ID)), attrConvType.String(ev.ConversationRef.Type.String()))
	}
	if ev.Message != nil {
		attrs = append(attrs, attrMessageID.Int64(int64(ev.Message.ServerID)))
	}
	return b.tracer.Start(ctx, "bot.handle "+kind, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// endEventSpan ends an event's span with how its handling went.
func endEventSpan(span trace.Span, c *Context, outcome string, attempts int, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attrRoute.String(c.Route()), attrOutcome.String(outcome), attrAttempts.Int(attempts))
	if r := c.Skipped(); r != "" {
		span.SetAttributes(attrSkipReason.String(r))
	}
	endSpan(span, err)
}

// endSpan records err, if any, on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startSendSpan starts the span of one send through the outbound queue,
// waits and retries included; the client's request spans are its
// children. With tracing off it returns ctx and a nil span.
func (o *outbox) startSendSpan(ctx context.Context, prio Priority, to im.ConversationRef) (context.Context, trace.Span) {
	if o.tracer == nil {
		return ctx, nil
	}
	return o.tracer.Start(ctx, "bot.send", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attrConvID.String(string(to.ID)), attrConvType.String(to.Type.String()), attrSendPriority.String(prio.String())))
}
