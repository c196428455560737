package im_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
				require.Equal(t, id, e.Message.ClientID, "the client id of a flight event while following %q", id)
				statuses = append(statuses, e.Message.FlightStatus)
				snaps = append(snaps, e.Message)
				switch e.Message.FlightStatus {
				case im.FlightStatusCreated, im.FlightStatusInflight:
				default:
					return statuses, snaps
				}
			case <-deadline:
				require.FailNow(t, "no final flight status", "send %q: statuses %v, and no final one within %v", id, statuses, waitFor)
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
		require.Equal(t, tc.want[len(tc.want)-1] == im.FlightStatusSucceeded, err == nil, "%s: SendMessage succeeded: %v", tc.name, err)
		got, snaps := follow(tc.out.ClientID)
		assert.Equal(t, tc.want, got, "%s: flight", tc.name)
		first, last := snaps[0], snaps[len(snaps)-1]
		assert.True(t, first.IsOffline, "%s: created as offline", tc.name)
		assert.Zero(t, first.ServerID, "%s: server id when created", tc.name)
		assert.Equal(t, m.FlightStatus, last.FlightStatus, "%s: the last flight event's status, against the message returned", tc.name)
		assert.Equal(t, m.IsOffline, last.IsOffline, "%s: the last flight event's offline, against the message returned", tc.name)
		assert.Equal(t, m.ServerID, last.ServerID, "%s: the last flight event's server id, against the message returned", tc.name)
	}
}
