package bot_test

import (
	"context"
	"strconv"
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

// TestContextRelease: a released Context comes back clean, with nothing
// of the event before it; Release on a copy or twice does nothing.
func TestContextRelease(t *testing.T) {
	ev := bot.Event{Kind: bot.EventMessage}
	c := bot.NewContext(t.Context(), ev)
	c.SetParam("city", "paris")
	c.SetRoute("weather")
	c.Skip("duplicate")
	copied := c.WithContext(t.Context())
	copied.Release()
	assert.Equal(t, "paris", c.Param("city"), "Release on a copy released the original")
	c.Release()
	c.Release() // a second time: nothing

	for range 100 { // some of these come from the pool
		d := bot.NewContext(t.Context(), ev)
		_, ok := d.LookupParam("city")
		assert.False(t, ok, "a parameter of the released Context")
		assert.Empty(t, d.Route())
		assert.Empty(t, d.Skipped())
		assert.Empty(t, d.Params())
		for i := range 6 { // past the inline array
			d.SetParam(strconv.Itoa(i), "v")
		}
		d.Release()
	}
}
