package im_test

import (
	"slices"
	"testing"
	"time"

	"github.com/imbot-go/imbot/im"
)

// TestFlightStatus follows sends through OnFlightStatus: a send that
// succeeds goes Created, Inflight, Succeeded; one the server refuses ends
// Rejected; one refused before it is sent goes from Created to Failed. A
// live-chat send flies as any other.
func TestFlightStatus(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	stranger := s.client(3, opsNoSocket)
	group := opsGroup(t, a, 2)
	live := opsMust(a.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeMassChat, Name: "show"}))(t)

	flights := make(chan im.MessageEvent, 64)
	for _, c := range []*im.Client{a, stranger} {
		sub := c.OnFlightStatus(func(e im.MessageEvent) { flights <- e })
		t.Cleanup(sub.Unsubscribe)
	}
	// follow returns the statuses of the send with client id, up to its
	// final one, and the snapshots.
	follow := func(id string) ([]im.FlightStatus, []*im.Message) {
		t.Helper()
		var statuses []im.FlightStatus
		var snaps []*im.Message
		deadline := time.After(waitFor)
		for {
			select {
			case e := <-flights:
				if e.Message.ClientID != id {
					t.Fatalf("a flight event of %q while following %q", e.Message.ClientID, id)
				}
				statuses = append(statuses, e.Message.FlightStatus)
				snaps = append(snaps, e.Message)
				switch e.Message.FlightStatus {
				case im.FlightStatusCreated, im.FlightStatusInflight:
				default:
					return statuses, snaps
				}
			case <-deadline:
				t.Fatalf("send %q: statuses %v, and no final one within %v", id, statuses, waitFor)
			}
		}
	}
	priority := im.MessagePriorityHigh
	for _, tc := range []struct {
		name string
		from *im.Client
		to   im.ConversationRef
		out  im.OutgoingMessage
		want []im.FlightStatus
	}{
		{"sent", a, group.Ref(), im.OutgoingMessage{ClientID: "sent"},
			[]im.FlightStatus{im.FlightStatusCreated, im.FlightStatusInflight, im.FlightStatusSucceeded}},
		{"not a member", stranger, group.Ref(), im.OutgoingMessage{ClientID: "stranger"},
			[]im.FlightStatus{im.FlightStatusCreated, im.FlightStatusInflight, im.FlightStatusRejected}},
		{"refused before sending", a, group.Ref(), im.OutgoingMessage{ClientID: "refused", Priority: &priority},
			[]im.FlightStatus{im.FlightStatusCreated, im.FlightStatusFailed}},
		{"live chat", a, live.Ref(), im.OutgoingMessage{ClientID: "live"},
			[]im.FlightStatus{im.FlightStatusCreated, im.FlightStatusInflight, im.FlightStatusSucceeded}},
	} {
		tc.out.Content = im.TextContent(tc.name)
		m, err := tc.from.SendMessage(ctx(t), tc.to, tc.out)
		if (err == nil) != (tc.want[len(tc.want)-1] == im.FlightStatusSucceeded) {
			t.Fatalf("%s: SendMessage: %v", tc.name, err)
		}
		got, snaps := follow(tc.out.ClientID)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: flight %v, want %v", tc.name, got, tc.want)
		}
		first, last := snaps[0], snaps[len(snaps)-1]
		if !first.IsOffline || first.ServerID != 0 {
			t.Errorf("%s: created as offline %v with server id %d, want offline and 0", tc.name, first.IsOffline, first.ServerID)
		}
		if last.FlightStatus != m.FlightStatus || last.IsOffline != m.IsOffline || last.ServerID != m.ServerID {
			t.Errorf("%s: the last flight event (%v, offline %v, id %d) is not the message returned (%v, offline %v, id %d)",
				tc.name, last.FlightStatus, last.IsOffline, last.ServerID, m.FlightStatus, m.IsOffline, m.ServerID)
		}
	}
}
