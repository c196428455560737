package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// eventWatch is a running bot whose handler hands every event to the
// test, which takes them with next.
type eventWatch struct {
	bot    *bot.Bot
	events chan bot.Event
	seen   []bot.Event // every event next took, skipped ones included
}

// watchEvents runs a bot as botID on s whose handler passes each event to
// the returned eventWatch.
func watchEvents(t *testing.T, s *imtest.Server) *eventWatch {
	t.Helper()
	w := &eventWatch{bot: s.NewBot(t, botID), events: make(chan bot.Event, 256)}
	w.bot.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		select {
		case w.events <- c.Event:
			return nil
		case <-c.Context().Done():
			return c.Context().Err()
		}
	}))
	s.RunBot(t, w.bot)
	return w
}

// next returns the next event of kind, skipping the others, and fails the
// test if none comes within waitFor.
func (w *eventWatch) next(t *testing.T, kind bot.EventKind) bot.Event {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case ev := <-w.events:
			w.seen = append(w.seen, ev)
			if ev.Kind == kind {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s event within %v; saw %v", kind, waitFor, kinds(w.seen))
		}
	}
}

func kinds(evs []bot.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind.String()
	}
	return out
}

// testCtx returns a context that ends after waitFor or with the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// A member's reaction to a message reaches the bot as EventPropertyChanged
// carrying the message with the reaction, and before it.
func TestPropertyChangedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	group := alice.CreateGroup(t, botID, bob.ID())
	m := alice.Send(t, group, "lunch?")
	require.Equal(t, m.ServerID, w.next(t, bot.EventMessage).Message.ServerID, "the message of the first message event")

	require.NoError(t, bob.Client.React(testCtx(t), group, m.ServerID, "like", "yes"))
	ev := w.next(t, bot.EventPropertyChanged)
	require.Equal(t, group, ev.ConversationRef, "property changed: conversation")
	require.NotNil(t, ev.Message, "property changed: message")
	require.Equal(t, m.ServerID, ev.Message.ServerID, "property changed: message")
	likes := ev.Message.Properties["like"]
	if assert.Len(t, likes, 1, "property changed: like items") {
		assert.Equal(t, bob.ID(), likes[0].UserID, "property changed: who liked")
		assert.Equal(t, "yes", likes[0].Value, "property changed: the like's value")
	}
	if assert.NotNil(t, ev.Previous, "property changed: Previous") {
		assert.Equal(t, m.ServerID, ev.Previous.ServerID, "property changed: Previous's message")
		assert.Empty(t, ev.Previous.Properties["like"], "property changed: Previous must be without the like")
		assert.Less(t, ev.Previous.Version, ev.Message.Version, "property changed: Previous must be at an older version")
	}
}

// A change of a group's core info reaches the bot as
// EventConversationUpdated with the conversation as it is now.
func TestConversationUpdatedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	group := alice.CreateGroup(t, botID)
	w.next(t, bot.EventConversationCreated)

	name := "lunch club"
	_, err := alice.Client.SetCoreInfo(testCtx(t), group, im.CoreInfoChange{Name: &name})
	require.NoError(t, err)
	ev := w.next(t, bot.EventConversationUpdated)
	require.Equal(t, group, ev.ConversationRef, "conversation updated: ref")
	require.NotNil(t, ev.Conversation, "conversation updated: conversation")
	require.Equal(t, group.ID, ev.Conversation.ID, "conversation updated: conversation")
	if assert.NotNil(t, ev.Conversation.CoreInfo, "conversation updated: core info") {
		assert.Equal(t, name, ev.Conversation.CoreInfo.Name, "conversation updated: name")
	}
	assert.Equal(t, im.ConversationStatusNormal, ev.Conversation.Status, "conversation updated: status")
}

// The dissolution of a group reaches the bot as EventConversationDissolved,
// not as an update: the client reports it as an update whose status turned
// dissolved, which the bot tells apart.
func TestConversationDissolvedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	group := alice.CreateGroup(t, botID)
	w.next(t, bot.EventConversationCreated)

	require.NoError(t, alice.Client.DissolveConversation(testCtx(t), group))
	ev := w.next(t, bot.EventConversationDissolved)
	require.Equal(t, group, ev.ConversationRef, "conversation dissolved: ref")
	require.NotNil(t, ev.Conversation, "conversation dissolved: conversation")
	require.Equal(t, im.ConversationStatusDissolved, ev.Conversation.Status, "conversation dissolved: status")
	for _, e := range w.seen {
		if e.Kind == bot.EventConversationUpdated {
			assert.NotEqual(t, im.ConversationStatusDissolved, e.Conversation.Status, "the dissolution also came as a conversation updated event")
		}
	}
}

// A member removed from a group reaches the bot as
// EventParticipantsRemoved listing them.
func TestParticipantsRemovedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	group := alice.CreateGroup(t, botID, 2, 3)
	w.next(t, bot.EventConversationCreated)

	_, err := alice.Client.RemoveParticipants(testCtx(t), group, 3)
	require.NoError(t, err)
	ev := w.next(t, bot.EventParticipantsRemoved)
	require.Equal(t, group, ev.ConversationRef, "participants removed: conversation")
	require.Equal(t, []im.UserID{3}, ev.Participants, "participants removed: participants")
	require.NotNil(t, ev.Conversation, "participants removed: no conversation")
	for _, p := range ev.Conversation.FirstPageParticipants {
		assert.NotEqual(t, im.UserID(3), p.UserID, "participants removed: the conversation still lists user 3 among %d participants", len(ev.Conversation.FirstPageParticipants))
	}
}

// The bot removed from a group gets EventParticipantsRemoved listing
// itself.
func TestBotRemovedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	group := alice.CreateGroup(t, botID, 2)
	w.next(t, bot.EventConversationCreated)

	_, err := alice.Client.RemoveParticipants(testCtx(t), group, botID)
	require.NoError(t, err)
	ev := w.next(t, bot.EventParticipantsRemoved)
	require.Equal(t, group.ID, ev.ConversationRef.ID, "bot removed: conversation")
	require.Equal(t, []im.UserID{botID}, ev.Participants, "bot removed: participants")
	require.NotNil(t, ev.Conversation, "bot removed: conversation")
}

// A user who accepts the bot's friend apply reaches the bot as
// EventFriendAdded, with the friend as the event's sender.
func TestFriendAddedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	ctx := testCtx(t)

	_, err := w.bot.Client().SendFriendApply(ctx, alice.ID(), nil)
	require.NoError(t, err)
	_, failed, err := alice.Client.ReplyFriendApply(ctx, im.ReplyFriendAttitudeAccept, botID)
	require.NoError(t, err, "accepting the bot's apply")
	require.Empty(t, failed, "accepting the bot's apply: failed")
	ev := w.next(t, bot.EventFriendAdded)
	require.NotNil(t, ev.Friend, "friend added: friend")
	require.Equal(t, alice.ID(), ev.Friend.UserID, "friend added: friend")
	require.False(t, ev.Friend.CreateTime.IsZero(), "friend added: the friend's create time")
	require.Equal(t, alice.ID(), ev.Sender(), "friend added: sender")
	assert.Zero(t, ev.ConversationRef, "friend added: conversation")
	assert.Nil(t, ev.Message, "friend added: message")
}

// logRecords is a slog.Handler that keeps the records at or above Warn.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecords) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *logRecords) WithGroup(string) slog.Handler                { return h }

func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// warnings returns the messages of the Warn records, in order.
func (h *logRecords) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level == slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

// OnError gets the final error of a failed event only: a handler that
// fails and then succeeds never reaches it, one that always fails reaches
// it once, with the error of its last run, after Attempts runs. The runs
// that are retried are logged at Warn instead.
func TestOnErrorGetsOnlyTheFinalError(t *testing.T) {
	t.Parallel()
	const attempts = 4
	errBroken := errors.New("broken")
	type report struct {
		text string
		err  error
		runs int64 // of the event's handler when OnError was called
	}
	s := imtest.NewServer(t)
	logs := &logRecords{}
	var mu sync.Mutex
	var reports []report
	var flakyRuns, brokenRuns atomic.Int64
	b := s.NewBot(t, botID, func(o *bot.Options) {
		o.Retry = bot.RetryPolicy{Attempts: attempts, Backoff: time.Millisecond}
		o.Logger = slog.New(logs)
		o.OnError = func(c *bot.Context, err error) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, report{c.Event.Message.Text(), err, brokenRuns.Load()})
		}
	})
	done := make(chan struct{})
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		switch c.Event.Message.Text() {
		case "flaky": // fails twice, then succeeds
			if n := flakyRuns.Add(1); n <= 2 {
				return fmt.Errorf("flaky run %d", n)
			}
		case "broken":
			return fmt.Errorf("run %d: %w", brokenRuns.Add(1), errBroken)
		case "done": // handled once the others are finished
			close(done)
		}
		return nil
	}))
	s.RunBot(t, b)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)
	alice.Send(t, conv, "flaky")
	alice.Send(t, conv, "broken")
	alice.Send(t, conv, "done")
	wait(t, done, "the last message handled")

	// "done" is handled after the others are finished, reports included.
	mu.Lock()
	defer mu.Unlock()
	got := make([]string, len(reports))
	for i, r := range reports {
		got[i] = fmt.Sprintf("%s: %v", r.text, r.err)
	}
	require.Len(t, reports, 1, "OnError got %q; want one error, for %q", got, "broken")
	r := reports[0]
	assert.Equal(t, "broken", r.text, "the message OnError got the error of")
	assert.ErrorIs(t, r.err, errBroken, "the error OnError got")
	assert.EqualError(t, r.err, fmt.Sprintf("run %d: broken", attempts), "the error OnError got: want the last run's")
	assert.Equal(t, int64(attempts), r.runs, "the handler's runs when OnError got the error")
	assert.Equal(t, int64(3), flakyRuns.Load(), "runs of the flaky handler")
	assert.Equal(t, int64(attempts), brokenRuns.Load(), "runs of the broken handler")
	// Two retried runs of "flaky", attempts-1 of "broken"; the last run
	// of "broken" went to OnError, not to the log.
	warnings := logs.warnings()
	assert.Len(t, warnings, 2+attempts-1, "warnings logged")
	for _, m := range warnings {
		assert.Contains(t, m, "retrying", "warning logged")
	}
}
