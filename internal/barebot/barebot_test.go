package barebot_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/barebot"
	"github.com/imbot-go/imbot/internal/rawclient"
)

const botID im.UserID = 100

// run dials a bare bot for botID on s with opts and runs it until the
// test ends, failing the test if Run returns an error.
func run(t *testing.T, s *imtest.Server, opts barebot.Options) {
	token := s.Token(botID)
	opts.Token, opts.UserID = token, int64(botID)
	opts.URL = rawclient.FrontierURL(s.URL(), token, s.AppID(), imserver.DefaultFPID, imserver.DefaultAppKey, "bare",
		imserver.AccessKey(imserver.DefaultFPID, imserver.DefaultAppKey, "bare"))
	b, err := barebot.Dial(t.Context(), opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }() // joined by the cleanup
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "Run")
	})
}

// The bare bot answers each message of a user with its text, and sees
// live-chat messages without answering them.
func TestEcho(t *testing.T) {
	s := imtest.NewServer(t)
	seen := make(chan barebot.Message, 3)
	run(t, s, barebot.Options{Echo: true, OnMessage: func(m *barebot.Message) {
		c := *m // its slices are the bot's until OnMessage returns
		c.ConversationID, c.Content = bytes.Clone(m.ConversationID), bytes.Clone(m.Content)
		seen <- c
	}})
	next := func() barebot.Message {
		t.Helper()
		timer := time.NewTimer(imtest.DefaultTimeout)
		defer timer.Stop()
		select {
		case m := <-seen:
			return m
		case <-timer.C:
			t.Fatalf("the bot saw no message within %v", imtest.DefaultTimeout)
			return barebot.Message{}
		}
	}
	u := s.NewUser(t, 1)
	conv := u.CreateSingle(t, botID)
	for _, text := range []string{"hello", "again"} {
		sent := u.Send(t, conv, text)
		reply := u.WaitReply(t, conv)
		assert.Equal(t, text, reply.Text())
		assert.Equal(t, botID, reply.Sender)
		assert.Equal(t, "bare-"+sent.ServerID.String(), reply.ClientID, "client id derived from the message")
		m := next()
		assert.False(t, m.Live)
		assert.Equal(t, int64(sent.ServerID), m.ServerID)
	}

	live := u.CreateLive(t)
	bt := s.NewUser(t, botID)
	bt.JoinLive(t, live)
	bt.Client.Close() // the bare bot's socket is the bot's own
	sent := u.Send(t, live, "to the crowd")
	m := next()
	assert.True(t, m.Live)
	assert.Equal(t, string(live.ID), string(m.ConversationID))
	assert.Equal(t, int64(live.ShortID), m.ConversationShortID)
	assert.Equal(t, int32(im.ConversationTypeMassChat), m.ConversationType)
	assert.Equal(t, int64(1), m.Sender)
	assert.Equal(t, int64(sent.ServerID), m.ServerID)
	assert.Equal(t, im.TextContent("to the crowd"), string(m.Content))
	assert.Equal(t, int32(im.MessageTypeText), m.Type)
}
