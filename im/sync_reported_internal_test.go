package im

import (
	"context"
	"testing"
)

// TestReportedVersionsBounded checks the record of reported versions that
// keeps a change from being reported twice: version 1 is never recorded,
// a version only moves forward, and like the cache it keeps the latest
// Options.MaxMessageCount messages of a conversation.
func TestReportedVersionsBounded(t *testing.T) {
	c, err := New(Options{AppID: 1, UserID: 1, APIURL: "http://127.0.0.1:1", WebSocketLevel: WebSocketLevelDisable,
		MaxMessageCount: MinMaxMessageCount, Token: func(context.Context) (string, error) { return "t", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.sync
	msg := func(conv ConversationID, index, version int64) *Message {
		return &Message{ConversationID: conv, Index: index, Version: version}
	}

	s.report(msg("a", 5, 1))
	if got := len(s.reported["a"]); got != 0 {
		t.Fatalf("version 1 recorded: %d entries", got)
	}
	s.report(msg("a", 5, 3))
	s.report(msg("a", 5, 2)) // an older version does not move it back
	if got := s.reportedAt(msg("a", 5, 0)); got != 3 {
		t.Fatalf("index 5 reported at %d, want 3", got)
	}
	if got := s.reportedAt(msg("b", 5, 0)); got != 0 {
		t.Fatalf("another conversation's index 5 reported at %d, want 0", got)
	}

	for i := range int64(MinMaxMessageCount) {
		s.report(msg("b", 1000+2*i, 2)) // even indexes, in order
	}
	s.report(msg("b", 1001, 2)) // in the middle: the oldest goes
	if got := len(s.reported["b"]); got != MinMaxMessageCount {
		t.Fatalf("%d entries kept, want %d", got, MinMaxMessageCount)
	}
	if got, kept := s.reportedAt(msg("b", 1000, 0)), s.reportedAt(msg("b", 1001, 0)); got != 0 || kept != 2 {
		t.Fatalf("oldest reported at %d, the inserted one at %d; want 0 (dropped), 2", got, kept)
	}
	s.report(msg("b", 999, 2)) // older than every kept one
	if got := s.reportedAt(msg("b", 999, 0)); got != 0 || len(s.reported["b"]) != MinMaxMessageCount {
		t.Fatalf("a message older than the kept ones recorded at %d (%d entries)", got, len(s.reported["b"]))
	}
	if got := s.reportedAt(msg("a", 5, 0)); got != 3 {
		t.Fatalf("conversation a changed by b's: index 5 reported at %d, want 3", got)
	}
}
