package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if ev := w.next(t, bot.EventMessage); ev.Message.ServerID != m.ServerID {
		t.Fatalf("first message event is of message %v, want %v", ev.Message.ServerID, m.ServerID)
	}

	if err := bob.Client.React(testCtx(t), group, m.ServerID, "like", "yes"); err != nil {
		t.Fatal(err)
	}
	ev := w.next(t, bot.EventPropertyChanged)
	if ev.ConversationRef != group || ev.Message == nil || ev.Message.ServerID != m.ServerID {
		t.Fatalf("property changed: conversation %+v, message %+v; want message %v of %+v", ev.ConversationRef, ev.Message, m.ServerID, group)
	}
	likes := ev.Message.Properties["like"]
	if len(likes) != 1 || likes[0].UserID != bob.ID() || likes[0].Value != "yes" {
		t.Errorf("property changed: like items %+v, want one from %v with value yes", likes, bob.ID())
	}
	if ev.Previous == nil || ev.Previous.ServerID != m.ServerID || len(ev.Previous.Properties["like"]) != 0 || ev.Previous.Version >= ev.Message.Version {
		t.Errorf("property changed: Previous %+v, want message %v without the like, at an older version than %d", ev.Previous, m.ServerID, ev.Message.Version)
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
	if _, err := alice.Client.SetCoreInfo(testCtx(t), group, im.CoreInfoChange{Name: &name}); err != nil {
		t.Fatal(err)
	}
	ev := w.next(t, bot.EventConversationUpdated)
	if ev.ConversationRef != group || ev.Conversation == nil || ev.Conversation.ID != group.ID {
		t.Fatalf("conversation updated: ref %+v, conversation %+v; want %+v", ev.ConversationRef, ev.Conversation, group)
	}
	if ev.Conversation.CoreInfo == nil || ev.Conversation.CoreInfo.Name != name || ev.Conversation.Status != im.ConversationStatusNormal {
		t.Errorf("conversation updated: core info %+v, status %v; want name %q, normal", ev.Conversation.CoreInfo, ev.Conversation.Status, name)
	}
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

	if err := alice.Client.DissolveConversation(testCtx(t), group); err != nil {
		t.Fatal(err)
	}
	ev := w.next(t, bot.EventConversationDissolved)
	if ev.ConversationRef != group || ev.Conversation == nil || ev.Conversation.Status != im.ConversationStatusDissolved {
		t.Fatalf("conversation dissolved: ref %+v, conversation %+v; want %+v, dissolved", ev.ConversationRef, ev.Conversation, group)
	}
	for _, e := range w.seen {
		if e.Kind == bot.EventConversationUpdated && e.Conversation.Status == im.ConversationStatusDissolved {
			t.Errorf("the dissolution also came as a conversation updated event")
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

	if _, err := alice.Client.RemoveParticipants(testCtx(t), group, 3); err != nil {
		t.Fatal(err)
	}
	ev := w.next(t, bot.EventParticipantsRemoved)
	if ev.ConversationRef != group || !slices.Equal(ev.Participants, []im.UserID{3}) {
		t.Fatalf("participants removed: conversation %+v, participants %v; want %+v, [3]", ev.ConversationRef, ev.Participants, group)
	}
	if ev.Conversation == nil {
		t.Fatal("participants removed: no conversation")
	}
	for _, p := range ev.Conversation.FirstPageParticipants {
		if p.UserID == 3 {
			t.Errorf("participants removed: the conversation still lists user 3 among %d participants", len(ev.Conversation.FirstPageParticipants))
		}
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

	if _, err := alice.Client.RemoveParticipants(testCtx(t), group, botID); err != nil {
		t.Fatal(err)
	}
	ev := w.next(t, bot.EventParticipantsRemoved)
	if ev.ConversationRef.ID != group.ID || !slices.Equal(ev.Participants, []im.UserID{botID}) || ev.Conversation == nil {
		t.Fatalf("bot removed: conversation %+v, participants %v; want %v, [%d]", ev.ConversationRef, ev.Participants, group.ID, botID)
	}
}

// A user who accepts the bot's friend apply reaches the bot as
// EventFriendAdded, with the friend as the event's sender.
func TestFriendAddedEvent(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	w := watchEvents(t, s)
	alice := s.NewUser(t, 1)
	ctx := testCtx(t)

	if _, err := w.bot.Client().SendFriendApply(ctx, alice.ID(), nil); err != nil {
		t.Fatal(err)
	}
	if _, failed, err := alice.Client.ReplyFriendApply(ctx, im.ReplyFriendAttitudeAccept, botID); err != nil || len(failed) > 0 {
		t.Fatalf("accepting the bot's apply: failed %v, %v", failed, err)
	}
	ev := w.next(t, bot.EventFriendAdded)
	if ev.Friend == nil || ev.Friend.UserID != alice.ID() || ev.Friend.CreateTime.IsZero() || ev.Sender() != alice.ID() {
		t.Fatalf("friend added: %+v (sender %v), want friend %v", ev.Friend, ev.Sender(), alice.ID())
	}
	if ev.ConversationRef != (im.ConversationRef{}) || ev.Message != nil {
		t.Errorf("friend added: conversation %+v, message %+v; want none", ev.ConversationRef, ev.Message)
	}
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
	if len(reports) != 1 {
		got := make([]string, len(reports))
		for i, r := range reports {
			got[i] = fmt.Sprintf("%s: %v", r.text, r.err)
		}
		t.Fatalf("OnError got %q; want one error, for %q", got, "broken")
	}
	if r := reports[0]; r.text != "broken" || !errors.Is(r.err, errBroken) || r.err.Error() != fmt.Sprintf("run %d: broken", attempts) || r.runs != attempts {
		t.Errorf("OnError got %q for %q after %d runs; want the error of run %d for %q, after %d runs", r.err, r.text, r.runs, attempts, "broken", attempts)
	}
	if flakyRuns.Load() != 3 || brokenRuns.Load() != attempts {
		t.Errorf("the handlers ran %d and %d times, want 3 and %d", flakyRuns.Load(), brokenRuns.Load(), attempts)
	}
	// Two retried runs of "flaky", attempts-1 of "broken"; the last run
	// of "broken" went to OnError, not to the log.
	wantWarnings := 2 + attempts - 1
	if got := logs.warnings(); len(got) != wantWarnings || slices.ContainsFunc(got, func(m string) bool { return !strings.Contains(m, "retrying") }) {
		t.Errorf("warnings logged: %q; want %d about retrying", got, wantWarnings)
	}
}
