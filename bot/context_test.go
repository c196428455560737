package bot_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

func TestFromUser(t *testing.T) {
	msg := &im.Message{Sender: 7}
	for _, tc := range []struct {
		name string
		ev   bot.Event
		want bool
	}{
		{"message", bot.Event{Kind: bot.EventMessage, Message: msg}, true},
		{"recall", bot.Event{Kind: bot.EventMessageRecalled, Message: msg}, false},
		{"no message", bot.Event{Kind: bot.EventMessage}, false},
		{"conversation event", bot.Event{Kind: bot.EventConversationCreated}, false},
	} {
		assert.Equal(t, tc.want, bot.NewContext(context.Background(), tc.ev).FromUser(), "%s: FromUser", tc.name)
	}
}
