package bot_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.Len(t, stars, 1, "the stars alice sees on her message")
	require.Equal(t, botID, stars[0].UserID, "who gave the stars alice sees")
	require.Equal(t, "5", stars[0].Value, "the value of the stars alice sees")
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
	_, err := alice.Client.UpdateParticipant(testCtx(t), managed, botID, im.ParticipantChange{Role: &manager})
	require.NoError(t, err)
	recalled := observe(t, alice.Client.OnMessageRecalled)
	errs := make(chan error, 1)
	b := s.NewBot(t, botID)
	b.Handle(onUserText("spam", (*bot.Context).Recall, errs))
	s.RunBot(t, b)

	m := alice.Send(t, managed, "spam")
	require.NoError(t, wait(t, errs, "Recall in the managed group"), "Recall as a manager")
	ev := waitMatch(t, recalled, "recall of alice's message", func(e im.MessageEvent) bool {
		return e.Message.ServerID == m.ServerID
	})
	require.True(t, ev.Message.IsRecalled(), "alice's message after the bot's recall: ext %v, want recalled", ev.Message.Ext)

	alice.Send(t, ordinary, "spam")
	require.ErrorIs(t, wait(t, errs, "Recall in the group the bot does not manage"), im.ErrForbidden, "Recall as an ordinary member")
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
	require.NoError(t, wait(t, errs, "MarkRead"))
	m, err := alice.Client.GetMessage(testCtx(t), conv, sent.ServerID) // with its index
	require.NoError(t, err)
	ev := waitMatch(t, receipts, "the bot's read receipt", func(e im.ReadIndexEvent) bool { return e.UserID == botID })
	assert.Equal(t, conv.ID, ev.ConversationID, "the conversation of the bot's read receipt alice got")
	assert.Equal(t, m.Index, ev.ReadIndex, "the index of the bot's read receipt alice got")
	idx, err := alice.Client.GetReadIndexes(testCtx(t), conv)
	require.NoError(t, err)
	assert.Equal(t, m.Index, idx.ByUser[botID], "the bot's read index on the server")
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
	require.Equal(t, "alice says hi", m.Text(), "what bob got")
	require.Equal(t, botID, m.Sender, "who sent what bob got")
	require.Equal(t, team.ID, m.ConversationID, "where bob got it")
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
		require.Equal(t, tt.text, m.Text(), "what bob got")
		require.Equal(t, botID, m.Sender, "who sent %q", m.Text())
		assert.Equal(t, tt.ext, m.Ext[string(im.InfoKeyMentionedUsers)], "%s: %s", tt.text, im.InfoKeyMentionedUsers)
		assert.Equal(t, tt.users, m.MentionedUsers(), "%s: mentioned users", tt.text)
		assert.Equal(t, tt.all, m.MentionsAll(), "%s: mentions all", tt.text)
		assert.True(t, m.IsMentioned(bob.ID()), "%s: bob mentioned", tt.text)
		assert.Equal(t, tt.aliceToo, m.IsMentioned(alice.ID()), "%s: alice mentioned", tt.text)
	}
}
