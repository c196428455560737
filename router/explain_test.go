package router

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		notFound   bool
		ev         bot.Event
		want       string
		wantParams map[string]string
	}{
		{
			name: "matching, bad arguments",
			ev:   msgEvent(`{"text":"/weather paris x"}`, group),
			want: `event: message in Group, Text "/weather paris x"
routes: 5 of 12 considered
#3 group weather (p=10): command(/weather <city> [days:int]) && conversation(Group): matched, bad arguments, the usage handler runs: days: "x" is not an int [handles]
#11 images (p=5): type(Image): rejected by type(Image): the message is Text
#1 weather: command(/weather <city> [days:int]): matched, bad arguments, the usage handler runs: days: "x" is not an int
#8 expr: expr(Kind == "friend added" || Text == "ping"): rejected by expr(Kind == "friend added" || Text == "ping"): false
#2 all messages (p=-1): kind(message): matched
handled by #3
`,
		},
		{
			name: "matching",
			ev:   withExt(msgEvent(`{"text":"/weather paris 3"}`, single), map[string]string{"s:mentioned_users": "42"}),
			want: `event: message in OneToOne, Text "/weather paris 3"
routes: 6 of 12 considered
#12 single weather (p=10): command(/weather <city> [days:int]) && conversation(OneToOne): matched [handles]
#11 images (p=5): type(Image): rejected by type(Image): the message is Text
#1 weather: command(/weather <city> [days:int]): matched
#5 mention: mentions(bot) && conversation(OneToOne, Group): matched
#8 expr: expr(Kind == "friend added" || Text == "ping"): rejected by expr(Kind == "friend added" || Text == "ping"): false
#2 all messages (p=-1): kind(message): matched
handled by #12
`,
			wantParams: map[string]string{"city": "paris", "days": "3"},
		},
		{
			name: "non-matching",
			ev:   bot.Event{Kind: bot.EventMessageRecalled, ConversationRef: im.ConversationRef{Type: group}},
			want: `event: message recalled in Group
routes: 1 of 12 considered
#8 expr: expr(Kind == "friend added" || Text == "ping"): rejected by expr(Kind == "friend added" || Text == "ping"): false
no route matches: nothing runs
`,
		},
		{
			name:     "non-matching, NotFound",
			notFound: true,
			ev:       bot.Event{Kind: bot.EventFriendApplyReceived + 100},
			want: `event: EventKind(109)
routes: 1 of 12 considered
#8 expr: expr(Kind == "friend added" || Text == "ping"): rejected by expr(Kind == "friend added" || Text == "ping"): false
no route matches: the NotFound handler runs
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := goldenRouter()
			if tt.notFound {
				r.NotFound(func(*bot.Context) error { return nil })
			}
			c := newCtx(tt.ev)
			assert.Equal(t, tt.want, r.Explain(c).String(), "explanation")
			if tt.wantParams != nil {
				assert.Equal(t, tt.wantParams, c.Params(), "params")
			}
		})
	}
}

func TestExplainSteps(t *testing.T) {
	t.Parallel()
	r := goldenRouter()
	ex := r.Explain(newCtx(msgEvent(`{"text":"/weather paris x"}`, group)))
	require.Equal(t, 3, ex.Handler, "Handler")
	require.Equal(t, 12, ex.Total, "Total")
	require.Len(t, ex.Steps, 5, "Steps")
	require.False(t, ex.NotFound, "NotFound")
	first, second := ex.Steps[0], ex.Steps[1]
	assert.True(t, first.Matched, "first step %+v: Matched", first)
	assert.True(t, first.Handles, "first step %+v: Handles", first)
	if assert.NotNil(t, first.Usage, "first step %+v: Usage", first) {
		assert.Equal(t, "days", first.Usage.Arg, "first step %+v: Usage.Arg", first)
	}
	assert.Equal(t, "group weather", first.Name, "first step %+v: Name", first)
	assert.False(t, second.Matched, "second step %+v: Matched", second)
	assert.Equal(t, "type(Image)", second.Rejected, "second step %+v: Rejected", second)
	assert.Equal(t, "the message is Text", second.Reason, "second step %+v: Reason", second)
	// Explain does not freeze the router.
	r.OnCommand("/after", func(*bot.Context) error { return nil })
}
