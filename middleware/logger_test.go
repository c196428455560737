package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/syncio"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/router"
)

// newMWLogger returns a JSON logger writing to a buffer at level.
func newMWLogger(level slog.Level) (*slog.Logger, *syncio.Buffer) {
	buf := new(syncio.Buffer)
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// mwLogLines parses the JSON lines of a log, as testing/slogtest's
// examples do, one map per record.
func mwLogLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line %q", line)
		recs = append(recs, m)
	}
	return recs
}

// mwCheckRecord checks a record's level, message and attributes: want
// holds the attributes with their JSON values ("latency" is checked to
// be present, whatever its value), and the record must have no others.
func mwCheckRecord(t *testing.T, rec map[string]any, level string, want map[string]any) {
	t.Helper()
	assert.Equal(t, level, rec[slog.LevelKey], "record %v: level", rec)
	assert.Equal(t, "event", rec[slog.MessageKey], "record %v: message", rec)
	assert.IsType(t, float64(0), rec["latency"], "record %v: no latency", rec)
	got := maps.Clone(rec)
	for _, k := range []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, "latency"} {
		delete(got, k)
	}
	assert.Equal(t, want, got, "record attributes")
}

func TestLoggerRecords(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad input")
	msg := &im.Message{ServerID: 7301, Sender: 1, ConversationID: "0:1:1:100"}
	msgEvent := bot.Event{Kind: bot.EventMessage, Message: msg, ConversationRef: im.ConversationRef{ID: "0:1:1:100"}}
	tests := []struct {
		name  string
		ev    bot.Event
		err   error
		skip  string
		level string
		want  map[string]any
	}{
		{
			name: "message handled", ev: msgEvent, level: "INFO",
			want: map[string]any{"event": "message", "conversation": "0:1:1:100", "message": 7301.0, "sender": 1.0, "outcome": "ok"},
		},
		{
			name: "message failed", ev: msgEvent, err: errBad, level: "ERROR",
			want: map[string]any{"event": "message", "conversation": "0:1:1:100", "message": 7301.0, "sender": 1.0, "outcome": "error", "err": "bad input"},
		},
		{
			name: "timed out", ev: msgEvent, err: fmt.Errorf("slow: %w", context.DeadlineExceeded), level: "ERROR",
			want: map[string]any{"event": "message", "conversation": "0:1:1:100", "message": 7301.0, "sender": 1.0, "outcome": "timeout", "err": "slow: context deadline exceeded"},
		},
		{
			name: "skipped by a middleware", ev: msgEvent, skip: middleware.SkipDuplicate, level: "INFO",
			want: map[string]any{"event": "message", "conversation": "0:1:1:100", "message": 7301.0, "sender": 1.0, "outcome": "skipped", "skipped": "duplicate"},
		},
		{
			name: "friend added: no conversation, no message", ev: bot.Event{Kind: bot.EventFriendAdded, Friend: &im.Friend{UserID: 3}}, level: "INFO",
			want: map[string]any{"event": "friend added", "sender": 3.0, "outcome": "ok"},
		},
		{
			name: "conversation event: no sender", ev: bot.Event{Kind: bot.EventConversationUpdated, ConversationRef: im.ConversationRef{ID: "42"}}, level: "INFO",
			want: map[string]any{"event": "conversation updated", "conversation": "42", "outcome": "ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, buf := newMWLogger(slog.LevelInfo)
			h := middleware.Logger(l)(bot.HandlerFunc(func(c *bot.Context) error {
				if tt.skip != "" {
					c.Skip(tt.skip)
				}
				return tt.err
			}))
			err := h.Handle(bot.NewContext(context.Background(), tt.ev))
			require.True(t, err == tt.err, "Logger returned %v, want the handler's %v", err, tt.err)
			recs := mwLogLines(t, buf.String())
			require.Len(t, recs, 1, "records:\n%s", buf)
			mwCheckRecord(t, recs[0], tt.level, tt.want)
		})
	}
}

// A panic is logged as such and goes on unwinding, unrecovered.
func TestLoggerPanic(t *testing.T) {
	t.Parallel()
	l, buf := newMWLogger(slog.LevelInfo)
	h := middleware.Logger(l)(bot.HandlerFunc(func(*bot.Context) error { panic("boom") }))
	p := func() (p any) {
		defer func() { p = recover() }()
		h.Handle(bot.NewContext(context.Background(), bot.Event{Kind: bot.EventFriendApplyReceived}))
		return nil
	}()
	require.Equal(t, "boom", p, "recovered after Logger, want the panic boom")
	recs := mwLogLines(t, buf.String())
	require.Len(t, recs, 1, "records:\n%s", buf)
	mwCheckRecord(t, recs[0], "ERROR", map[string]any{"event": "friend apply received", "outcome": "panic"})
}

func TestLoggerLevels(t *testing.T) {
	t.Parallel()
	l, buf := newMWLogger(slog.LevelError)
	ok := middleware.Logger(l)(bot.HandlerFunc(func(*bot.Context) error { return nil }))
	fail := middleware.Logger(l)(bot.HandlerFunc(func(*bot.Context) error { return errors.New("x") }))
	c := bot.NewContext(context.Background(), bot.Event{Kind: bot.EventFriendAdded})
	_ = ok.Handle(c)
	_ = fail.Handle(c)
	recs := mwLogLines(t, buf.String())
	require.Len(t, recs, 1, "at level Error, records %v; want only the failure's", recs)
	require.Equal(t, "error", recs[0]["outcome"], "at level Error, records %v; want only the failure's", recs)

	assert.Panics(t, func() { middleware.Logger(nil) }, "Logger(nil) did not panic")
}

// The order of a chain is the order listed, the first outermost, as the
// package documentation says: with Recover first, Logger sees the panic
// itself; with Logger first, it sees Recover's error.
func TestChainOrderRecoverLogger(t *testing.T) {
	t.Parallel()
	panicky := bot.HandlerFunc(func(*bot.Context) error { panic("boom") })
	c := bot.NewContext(context.Background(), bot.Event{Kind: bot.EventFriendAdded})

	l, buf := newMWLogger(slog.LevelInfo)
	err := bot.Chain{middleware.Recover(), middleware.Logger(l)}.Then(panicky).Handle(c)
	var pe *bot.PanicError
	require.ErrorAs(t, err, &pe, "Chain{Recover, Logger}: want the *bot.PanicError of boom")
	require.Equal(t, "boom", pe.Value, "Chain{Recover, Logger}: the *bot.PanicError's value")
	recs := mwLogLines(t, buf.String())
	require.Len(t, recs, 1, "Chain{Recover, Logger} logged %v, want one record of outcome panic", recs)
	require.Equal(t, middleware.OutcomePanic, recs[0]["outcome"], "Chain{Recover, Logger} logged %v, want one record of outcome panic", recs)

	l, buf = newMWLogger(slog.LevelInfo)
	err = bot.Chain{middleware.Logger(l), middleware.Recover()}.Then(panicky).Handle(c)
	require.ErrorAs(t, err, &pe, "Chain{Logger, Recover}: want a *bot.PanicError")
	recs = mwLogLines(t, buf.String())
	require.Len(t, recs, 1, "Chain{Logger, Recover} logged %v, want one record of outcome error with the panic's error", recs)
	require.Equal(t, middleware.OutcomeError, recs[0]["outcome"], "Chain{Logger, Recover} logged %v, want one record of outcome error with the panic's error", recs)
	require.Contains(t, fmt.Sprint(recs[0]["err"]), "panicked: boom", "Chain{Logger, Recover} logged %v, want one record of outcome error with the panic's error", recs)
}

// Through a bot: one record per event, naming the conversation and the
// message, and never a token of the bot's.
func TestLoggerThroughBot(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	opts := s.BotOptions(mwBotID)
	var mu sync.Mutex
	var tokens []string // every token the bot's client got
	token := opts.Client.Token
	opts.Client.Token = func(ctx context.Context) (string, error) {
		tok, err := token(ctx)
		mu.Lock()
		defer mu.Unlock()
		tokens = append(tokens, tok)
		return tok, err
	}
	b := s.NewBot(t, mwBotID, func(o *bot.Options) { *o = opts })
	l, buf := newMWLogger(slog.LevelDebug)
	tap := newMWTap()
	b.Use(tap.Middleware, middleware.Logger(l))
	r := router.New()
	r.OnMessage(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		_, err := c.Reply("echo: " + c.Event.Message.Text())
		return err
	}, router.Name("echo"))
	b.Handle(r)
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, mwBotID)
	m := alice.Send(t, conv, "hi")
	mwWantReply(t, alice, conv, "echo: hi")
	tap.waitText(t, "hi")

	log := buf.String()
	var found bool
	for _, rec := range mwLogLines(t, log) {
		if rec["message"] == float64(m.ServerID) {
			found = true
			mwCheckRecord(t, rec, "INFO", map[string]any{
				"event": "message", "conversation": string(conv.ID), "message": float64(m.ServerID), "sender": 1.0, "outcome": "ok",
				"route": "echo",
			})
		}
	}
	require.True(t, found, "no record of message %v in\n%s", m.ServerID, log)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, tokens, "the bot's client asked for no token")
	for _, tok := range append(tokens, s.Token(mwBotID)) {
		require.NotEmpty(t, tok, "the bot's token is empty")
		require.NotContains(t, log, tok, "the log holds the bot's token")
	}
	assert.NotContains(t, strings.ToLower(log), "token", "the log mentions a token")
}

// Through a bot and a router: Logger's line names the route, with or
// without the middleware that hand the router a copy of the Context
// (Timeout, AutoRead) between them, in the recommended order, for a
// route that panics as for one that replies.
func TestLoggerRouteThroughChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		chain func(b *bot.Bot, logger bot.Middleware)
	}{
		{name: "logger alone", chain: func(b *bot.Bot, logger bot.Middleware) {
			b.Use(middleware.Recover(), logger)
		}},
		{name: "with timeout", chain: func(b *bot.Bot, logger bot.Middleware) {
			b.Use(middleware.Recover(), logger, middleware.Timeout(time.Minute))
		}},
		{name: "recommended", chain: func(b *bot.Bot, logger bot.Middleware) {
			b.Use(middleware.Recover(), logger, middleware.IgnoreSelf(), middleware.Dedup(nil, 10*time.Minute))
			require.NoError(t, b.Plug(middleware.NewAutoRead(middleware.AutoReadOptions{})))
			b.Use(middleware.Timeout(30 * time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			errs := make(chan error, 4)
			b := mwNewBot(t, s, func(_ *bot.Context, err error) { errs <- err })
			l, buf := newMWLogger(slog.LevelInfo)
			tap := newMWTap()
			b.Use(tap.Middleware)
			tt.chain(b, middleware.Logger(l))
			r := router.New()
			r.OnCommand("/echo <text:rest>", func(c *bot.Context) error {
				_, err := c.Reply(c.Param("text"))
				return err
			}, router.Name("echo"))
			r.OnCommand("/boom", func(*bot.Context) error { panic("boom") }, router.Name("boom"))
			b.Handle(r)
			s.RunBot(t, b)
			alice := s.NewUser(t, 1)
			conv := alice.CreateSingle(t, mwBotID)

			echo := alice.Send(t, conv, "/echo hi")
			mwWantReply(t, alice, conv, "hi")
			tap.waitText(t, "/echo hi")
			boom := alice.Send(t, conv, "/boom")
			tap.waitText(t, "/boom")
			var pe *bot.PanicError
			require.ErrorAs(t, mwWaitValue(t, errs, "error of /boom"), &pe, "OnError got, want /boom's panic")

			log := buf.String()
			routes := map[float64]any{} // message id → the route its line names
			outcomes := map[float64]any{}
			for _, rec := range mwLogLines(t, log) {
				if id, ok := rec["message"].(float64); ok {
					routes[id], outcomes[id] = rec["route"], rec["outcome"]
				}
			}
			assert.Equal(t, "echo", routes[float64(echo.ServerID)], "route of /echo's line in\n%s", log)
			assert.Equal(t, middleware.OutcomeOK, outcomes[float64(echo.ServerID)], "outcome of /echo's line in\n%s", log)
			assert.Equal(t, "boom", routes[float64(boom.ServerID)], "route of /boom's line in\n%s", log)
			assert.Equal(t, middleware.OutcomePanic, outcomes[float64(boom.ServerID)], "outcome of /boom's line in\n%s", log)
		})
	}
}
