package bot_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// Tests of the Context's actions, each checked by what another user's
// client observes.

// observe subscribes to one kind of event of a user's client (on is, say,
// u.Client.OnPropertyChanged) until the end of the test, and returns the
// events. The callback never blocks the client: past the buffer, events
// are dropped, and the test waiting for them fails.
func observe[E any](t *testing.T, on func(func(E)) im.Subscription) <-chan E {
	ch := make(chan E, 64)
	sub := on(func(e E) {
		select {
		case ch <- e:
		default:
		}
	})
	t.Cleanup(sub.Unsubscribe)
	return ch
}

// waitMatch returns the first event from ch for which match holds,
// failing the test if none comes within waitFor of the last event.
func waitMatch[E any](t *testing.T, ch <-chan E, what string, match func(E) bool) E {
	t.Helper()
	for {
		if e := wait(t, ch, what); match(e) {
			return e
		}
	}
}

// onUserText returns a handler that runs act for user messages with the
// given text, passing its error to errs when errs is not nil (and to the
// bot's OnError otherwise), and ignores every other event.
func onUserText(text string, act func(c *bot.Context) error, errs chan<- error) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() || c.Event.Message.Text() != text {
			return nil
		}
		err := act(c)
		if errs == nil {
			return err
		}
		errs <- err
		return nil
	})
}

// Context.React adds the bot's item to the message's properties, which the
// other members see.
func TestContextReact(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice := s.NewUser(t, 1)
	group := alice.CreateGroup(t, botID)
	changed := observe(t, alice.Client.OnPropertyChanged)
	b := s.NewBot(t, botID)
	b.Handle(onUserText("rate me", func(c *bot.Context) error { return c.React("stars", "5") }, nil))
	s.RunBot(t, b)

	m := alice.Send(t, group, "rate me")
	ev := waitMatch(t, changed, "property change of alice's message", func(e im.MessageEvent) bool {
		return e.Message.ServerID == m.ServerID
	})
	stars := ev.Message.Properties["stars"]
	if len(stars) != 1 || stars[0].UserID != botID || stars[0].Value != "5" {
		t.Fatalf("alice sees stars %+v on her message, want one item of the bot's with value 5", stars)
	}
}

// Context.Recall recalls the event's message for everyone when the bot
// may (a manager may recall any message), and fails with im.ErrForbidden
// when it may not.
func TestContextRecall(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice := s.NewUser(t, 1)
	managed, ordinary := alice.CreateGroup(t, botID), alice.CreateGroup(t, botID)
	manager := im.GroupRoleManager
	if _, err := alice.Client.UpdateParticipant(testCtx(t), managed, botID, im.ParticipantChange{Role: &manager}); err != nil {
		t.Fatal(err)
	}
	recalled := observe(t, alice.Client.OnMessageRecalled)
	errs := make(chan error, 1)
	b := s.NewBot(t, botID)
	b.Handle(onUserText("spam", (*bot.Context).Recall, errs))
	s.RunBot(t, b)

	m := alice.Send(t, managed, "spam")
	if err := wait(t, errs, "Recall in the managed group"); err != nil {
		t.Fatalf("Recall as a manager: %v", err)
	}
	ev := waitMatch(t, recalled, "recall of alice's message", func(e im.MessageEvent) bool {
		return e.Message.ServerID == m.ServerID
	})
	if !ev.Message.IsRecalled() {
		t.Fatalf("alice's message after the bot's recall: ext %v, want recalled", ev.Message.Ext)
	}

	alice.Send(t, ordinary, "spam")
	if err := wait(t, errs, "Recall in the group the bot does not manage"); !errors.Is(err, im.ErrForbidden) {
		t.Fatalf("Recall as an ordinary member: %v, want im.ErrForbidden", err)
	}
}

// Context.MarkRead moves the bot's read index to the event's message: the
// other member gets the read receipt, and the server reports the index.
func TestContextMarkRead(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)
	receipts := observe(t, alice.Client.OnReadIndexChanged)
	errs := make(chan error, 1)
	b := s.NewBot(t, botID)
	b.Handle(onUserText("read me", (*bot.Context).MarkRead, errs))
	s.RunBot(t, b)

	alice.Send(t, conv, "not marked")
	sent := alice.Send(t, conv, "read me")
	if err := wait(t, errs, "MarkRead"); err != nil {
		t.Fatal(err)
	}
	m, err := alice.Client.GetMessage(testCtx(t), conv, sent.ServerID) // with its index
	if err != nil {
		t.Fatal(err)
	}
	ev := waitMatch(t, receipts, "the bot's read receipt", func(e im.ReadIndexEvent) bool { return e.UserID == botID })
	if ev.ConversationID != conv.ID || ev.ReadIndex != m.Index {
		t.Errorf("alice got a read receipt of the bot for %v at index %d, want %v at %d", ev.ConversationID, ev.ReadIndex, conv.ID, m.Index)
	}
	idx, err := alice.Client.GetReadIndexes(testCtx(t), conv)
	if err != nil {
		t.Fatal(err)
	}
	if got := idx.ByUser[botID]; got != m.Index {
		t.Errorf("the server has the bot's read index at %d, want %d", got, m.Index)
	}
}

// Context.Send sends to any conversation, not only the event's.
func TestContextSendToAnotherConversation(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	direct, team := alice.CreateSingle(t, botID), bob.CreateGroup(t, botID)
	b := s.NewBot(t, botID)
	b.Handle(onUserText("tell the team", func(c *bot.Context) error {
		_, err := c.Send(team, im.OutgoingMessage{Content: im.TextContent("alice says hi")})
		return err
	}, nil))
	s.RunBot(t, b)

	alice.Send(t, direct, "tell the team")
	m := bob.WaitReply(t, team)
	if m.Text() != "alice says hi" || m.Sender != botID || m.ConversationID != team.ID {
		t.Fatalf("bob got %q from %v in %v, want %q from the bot in %v", m.Text(), m.Sender, m.ConversationID, "alice says hi", team.ID)
	}
}

// Sends with Mentions and MentionAll carry s:mentioned_users as the seed
// defines it (comma-separated user ids, 0 for everyone), which the members
// read through im.Message.
func TestContextSendMentions(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	group := alice.CreateGroup(t, botID, bob.ID())
	b := s.NewBot(t, botID)
	b.Handle(onUserText("/call", func(c *bot.Context) error {
		for _, out := range []im.OutgoingMessage{
			{Content: im.TextContent("bob!"), Mentions: []im.UserID{bob.ID()}},
			{Content: im.TextContent("everyone!"), MentionAll: true},
		} {
			if _, err := c.Send(c.Event.ConversationRef, out); err != nil {
				return err
			}
		}
		return nil
	}, nil))
	s.RunBot(t, b)

	bob.Send(t, group, "/call") // so that bob's next messages from others are the bot's
	for _, tt := range []struct {
		text     string
		ext      string
		users    []im.UserID
		all      bool
		aliceToo bool // alice is mentioned
	}{
		{"bob!", "2", []im.UserID{bob.ID()}, false, false},
		{"everyone!", "0", []im.UserID{0}, true, true},
	} {
		m := bob.WaitReply(t, group)
		if m.Text() != tt.text || m.Sender != botID {
			t.Fatalf("bob got %q from %v, want %q from the bot", m.Text(), m.Sender, tt.text)
		}
		if got := m.Ext[string(im.InfoKeyMentionedUsers)]; got != tt.ext {
			t.Errorf("%s: %s is %q, want %q", tt.text, im.InfoKeyMentionedUsers, got, tt.ext)
		}
		if !slices.Equal(m.MentionedUsers(), tt.users) || m.MentionsAll() != tt.all ||
			!m.IsMentioned(bob.ID()) || m.IsMentioned(alice.ID()) != tt.aliceToo {
			t.Errorf("%s: mentioned users %v, all %v, bob mentioned %v, alice mentioned %v; want %v, %v, true, %v",
				tt.text, m.MentionedUsers(), m.MentionsAll(), m.IsMentioned(bob.ID()), m.IsMentioned(alice.ID()), tt.users, tt.all, tt.aliceToo)
		}
	}
}
