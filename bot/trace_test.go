package bot_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
)

// spanNamed returns the first ended span called name whose attribute
// key is value, waiting for it.
func spanNamed(t *testing.T, exp *tracetest.InMemoryExporter, name string, key attribute.Key, value string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() == name && attr(s, key) == value {
				found = s
				return true
			}
		}
		return false
	}, imtest.DefaultTimeout, time.Millisecond, "no span %s with %s=%s", name, key, value)
	return found
}

// attr returns a span's attribute key as a string, or "".
func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestTracingSpansPerEventSendAndRequest: with a TracerProvider, each
// handled event has a span with its route, conversation type and outcome;
// each send is its child, and the client's request its grandchild; a
// failing handler's span says so.
func TestTracingSpansPerEventSendAndRequest(t *testing.T) {
	rec := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	s := imtest.NewServer(t)
	failed := make(chan error, 1)
	b := s.NewBot(t, 100, func(o *bot.Options) {
		o.TracerProvider = tp
		o.Retry.Attempts = 1
		o.OnError = func(_ *bot.Context, err error) { failed <- err }
	})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		if c.Event.Message.Text() == "fail" {
			c.SetRoute("fail")
			return errors.New("it fails")
		}
		c.SetRoute("echo")
		_, err := c.Reply(c.Event.Message.Text())
		return err
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1001)
	chat := alice.CreateSingle(t, 100)
	alice.Send(t, chat, "hello")
	alice.WaitReply(t, chat)

	handle := spanNamed(t, rec, "bot.handle message", "imbot.route", "echo")
	assert.Equal(t, "ok", attr(handle, "imbot.outcome"))
	assert.Equal(t, "OneToOne", attr(handle, "imbot.conversation.type"))
	assert.Equal(t, string(chat.ID), attr(handle, "imbot.conversation.id"))
	assert.Equal(t, "1", attr(handle, "imbot.attempts"))
	assert.Equal(t, trace.SpanKindConsumer, handle.SpanKind())
	assert.Equal(t, codes.Unset, handle.Status().Code)

	send := spanNamed(t, rec, "bot.send", "imbot.conversation.id", string(chat.ID))
	assert.Equal(t, handle.SpanContext().SpanID(), send.Parent().SpanID(), "the send is a child of the event's span")
	assert.Equal(t, "Reply", attr(send, "imbot.send.priority"))
	request := spanNamed(t, rec, "im.request SEND_MESSAGE", "imbot.outcome", "ok")
	assert.Equal(t, send.SpanContext().SpanID(), request.Parent().SpanID(), "the server request is a child of the send")
	assert.Equal(t, handle.SpanContext().TraceID(), request.SpanContext().TraceID())

	alice.Send(t, chat, "fail")
	require.ErrorContains(t, <-failed, "it fails")
	fail := spanNamed(t, rec, "bot.handle message", "imbot.route", "fail")
	assert.Equal(t, "error", attr(fail, "imbot.outcome"))
	assert.Equal(t, codes.Error, fail.Status().Code)
	require.NotEmpty(t, fail.Events(), "the error is recorded")
	assert.Equal(t, "exception", fail.Events()[0].Name)
}
