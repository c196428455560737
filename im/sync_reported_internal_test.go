package im

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReportedVersionsBounded checks the record of reported versions that
// keeps a change from being reported twice: version 1 is never recorded,
// a version only moves forward, and like the cache it keeps the latest
// Options.MaxMessageCount messages of a conversation.
func TestReportedVersionsBounded(t *testing.T) {
	c, err := New(Options{AppID: 1, UserID: 1, APIURL: "http://127.0.0.1:1", WebSocketLevel: WebSocketLevelDisable,
		MaxMessageCount: MinMaxMessageCount, Token: func(context.Context) (string, error) { return "t", nil }})
	require.NoError(t, err)
	defer c.Close()
	s := c.sync
	msg := func(conv ConversationID, index, version int64) *Message {
		return &Message{ConversationID: conv, Index: index, Version: version}
	}

	s.report(msg("a", 5, 1))
	require.Empty(t, s.reported["a"], "entries after version 1 was reported")
	s.report(msg("a", 5, 3))
	s.report(msg("a", 5, 2)) // an older version does not move it back
	require.EqualValues(t, 3, s.reportedAt(msg("a", 5, 0)), "index 5 reported at")
	require.Zero(t, s.reportedAt(msg("b", 5, 0)), "another conversation's index 5 reported at")

	for i := range int64(MinMaxMessageCount) {
		s.report(msg("b", 1000+2*i, 2)) // even indexes, in order
	}
	s.report(msg("b", 1001, 2)) // in the middle: the oldest goes
	require.Len(t, s.reported["b"], MinMaxMessageCount, "entries kept")
	require.Zero(t, s.reportedAt(msg("b", 1000, 0)), "the oldest reported at, want 0 (dropped)")
	require.EqualValues(t, 2, s.reportedAt(msg("b", 1001, 0)), "the inserted one reported at")
	s.report(msg("b", 999, 2)) // older than every kept one
	require.Zero(t, s.reportedAt(msg("b", 999, 0)), "a message older than the kept ones recorded at")
	require.Len(t, s.reported["b"], MinMaxMessageCount, "entries after a message older than the kept ones")
	require.EqualValues(t, 3, s.reportedAt(msg("a", 5, 0)), "conversation a changed by b's: index 5 reported at")
}
