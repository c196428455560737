package im_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/im"
)

// childSpans returns the ended spans of sr whose parent is parent.
func childSpans(sr *tracetest.SpanRecorder, parent trace.Span) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// spanAttributes returns a span's attributes as strings, by key.
func spanAttributes(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// TestRequestSpans sends a message, and asks for a conversation that does
// not exist, under a span of the test's, over each transport: each
// request is one span of kind Client, a child of the test's, named for
// its command, with the command, transport, outcome and status as
// attributes, and an error status when the server refused it.
func TestRequestSpans(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	missing := im.ConversationRef{ID: "no-such-conversation", ShortID: 999999, Type: im.ConversationTypeGroup}
	for _, tt := range []struct {
		level     im.WebSocketLevel
		transport string
	}{
		{im.WebSocketLevelPushOnly, "http"},
		{im.WebSocketLevelAll, "websocket"},
	} {
		t.Run(tt.transport, func(t *testing.T) {
			sr := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
			t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
			c := s.unstarted(1, func(o *im.Options) {
				o.TracerProvider, o.WebSocketLevel, o.MaxSendMsgRetryTimes = tp, tt.level, -1
			})
			if tt.level == im.WebSocketLevelAll {
				start(t, c)
			}

			hctx, handler := tp.Tracer("test").Start(ctx(t), "bot.handle message")
			_, err := c.SendMessage(hctx, conv, im.OutgoingMessage{Content: im.TextContent("traced")})
			require.NoError(t, err)
			handler.End()
			spans := childSpans(sr, handler)
			require.Len(t, spans, 1, "request spans under the handler's")
			sp := spans[0]
			assert.Equal(t, "im.request SEND_MESSAGE", sp.Name())
			assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
			assert.Equal(t, handler.SpanContext().TraceID(), sp.SpanContext().TraceID(), "trace id")
			assert.Equal(t, map[string]string{"imbot.command": "SEND_MESSAGE", "imbot.transport": tt.transport,
				"imbot.outcome": "ok", "imbot.status": "OK"}, withoutLogID(t, spanAttributes(sp)))
			assert.Equal(t, codes.Unset, sp.Status().Code, "status of a request that succeeded")

			hctx, handler = tp.Tracer("test").Start(ctx(t), "bot.handle message")
			_, err = c.GetConversation(hctx, missing)
			require.Error(t, err)
			handler.End()
			spans = childSpans(sr, handler)
			require.Len(t, spans, 1, "request spans under the second handler's")
			sp = spans[0]
			status := im.StatusCodeOf(err).String()
			assert.Equal(t, "im.request GET_CONVERSATION_INFO_V2", sp.Name())
			assert.Equal(t, map[string]string{"imbot.command": "GET_CONVERSATION_INFO_V2", "imbot.transport": tt.transport,
				"imbot.outcome": status, "imbot.status": status}, withoutLogID(t, spanAttributes(sp)))
			assert.Equal(t, codes.Error, sp.Status().Code, "status of a refused request")
			assert.Equal(t, status, sp.Status().Description)
			require.Len(t, sp.Events(), 1, "the recorded error")
			assert.Equal(t, "exception", sp.Events()[0].Name)
		})
	}
}

// withoutLogID checks that attrs has the server's log id, when it has
// one, and returns them without it: it differs per request.
func withoutLogID(t *testing.T, attrs map[string]string) map[string]string {
	t.Helper()
	if id, ok := attrs["imbot.log_id"]; ok {
		assert.NotEmpty(t, id, "imbot.log_id")
		delete(attrs, "imbot.log_id")
	}
	return attrs
}

// TestNoSpansWithoutTracerProvider checks that a client without a
// TracerProvider leaves the caller's context alone: a request under a
// span of the caller's starts none of its own.
func TestNoSpansWithoutTracerProvider(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	c := s.unstarted(1, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelPushOnly })
	hctx, handler := tp.Tracer("test").Start(ctx(t), "bot.handle message")
	_, err := c.SendMessage(hctx, conv, im.OutgoingMessage{Content: im.TextContent("untraced")})
	require.NoError(t, err)
	handler.End()
	assert.Len(t, sr.Ended(), 1, "spans: the test's alone")
}
