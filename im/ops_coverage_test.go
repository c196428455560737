package im_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
)

// The message operations of ops_message.go (delete, recall, properties,
// ext, history) and the events that report their changes to the other
// members, against the real server.
//
// Each event test checks the exact sequence of events an observer gets:
// it takes them one by one (covNext) and ends with a marker change whose
// event must come next, so an event fired twice, or fired when it must
// not be, breaks the sequence. Callbacks run one at a time in the order
// of the events, so once the marker is seen every earlier event has
// reached every subscription.

// covNext returns the next event on ch.
func covNext[E any](t *testing.T, ch <-chan E, what string) E {
	t.Helper()
	return opsWait(t, ch, what, nil)
}

// covNone fails if an event is waiting on ch. Call it after a later
// event (a marker) was seen: then every earlier event would be there.
func covNone[E any](t *testing.T, ch <-chan E, what string) {
	t.Helper()
	select {
	case e := <-ch:
		require.FailNow(t, "unexpected "+what, "unexpected %s: %+v", what, e)
	default:
	}
}

// covCount subscribes a counter with subscribe.
func covCount[E any](subscribe func(func(E)) im.Subscription) (*atomic.Int32, im.Subscription) {
	n := new(atomic.Int32)
	return n, subscribe(func(E) { n.Add(1) })
}

// covReceived waits until the observer's OnMessageReceived channel
// delivered id, so that the observer has the message in its cache.
func covReceived(t *testing.T, received <-chan im.MessageEvent, id im.MessageID) {
	t.Helper()
	opsWait(t, received, fmt.Sprintf("message %d received", id), func(e im.MessageEvent) bool { return e.Message.ServerID == id })
}

// covIndexes lists the indexes of messages.
func covIndexes(list []*im.Message) []int64 {
	out := make([]int64, len(list))
	for i, m := range list {
		out[i] = m.Index
	}
	return out
}

// covItems lists a property's items as "user:value/idempotent id".
func covItems(m *im.Message, key string) []string {
	var out []string
	for _, p := range m.Properties[key] {
		out = append(out, fmt.Sprintf("%d:%s/%s", p.UserID, p.Value, p.IdempotentID))
	}
	return out
}

func TestOpsCoverageLoadMessages(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b, stranger := s.client(1, opsNoSocket), s.client(2, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	var sent []*im.Message
	for i := range 7 {
		sent = append(sent, opsSend(t, a, group.Ref(), fmt.Sprint("m", i+1)))
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7}, covIndexes(sent), "sent indexes")

	cases := []struct {
		name     string
		dir      im.MessageDirection
		anchor   int64
		limit    int
		want     []int64
		wantMore bool
		wantNext int64
	}{
		{"older from the latest", im.MessageDirectionOlder, 0, 3, []int64{5, 6, 7}, true, 5},
		{"older from an anchor", im.MessageDirectionOlder, 5, 3, []int64{2, 3, 4}, true, 2},
		{"older to the start", im.MessageDirectionOlder, 2, 3, []int64{1}, false, 1},
		{"older before the first", im.MessageDirectionOlder, 1, 3, []int64{}, false, 1},
		{"newer from the start", im.MessageDirectionNewer, 0, 3, []int64{1, 2, 3}, true, 3},
		{"newer from an anchor", im.MessageDirectionNewer, 3, 3, []int64{4, 5, 6}, true, 6},
		{"newer exactly to the end", im.MessageDirectionNewer, 4, 3, []int64{5, 6, 7}, false, 7},
		{"newer past the end", im.MessageDirectionNewer, 7, 3, []int64{}, false, 7},
		{"limit 0 is the server's default (100)", im.MessageDirectionNewer, 0, 0, []int64{1, 2, 3, 4, 5, 6, 7}, false, 7},
		{"older, limit 0", im.MessageDirectionOlder, 0, 0, []int64{1, 2, 3, 4, 5, 6, 7}, false, 1},
	}
	for _, tc := range cases {
		page := opsMust(b.LoadMessages(cx, group.Ref(), tc.dir, tc.anchor, tc.limit))(t)
		assert.Equal(t, tc.want, covIndexes(page.Messages), "%s: indexes", tc.name)
		assert.Equal(t, tc.wantMore, page.HasMore, "%s: more", tc.name)
		assert.Equal(t, tc.wantNext, page.Next, "%s: next", tc.name)
	}

	// Paging by Next walks the whole history once, in both directions.
	walk := func(dir im.MessageDirection) []int64 {
		t.Helper()
		var got []int64
		anchor := int64(0)
		for range 10 {
			page := opsMust(b.LoadMessages(cx, group.Ref(), dir, anchor, 2))(t)
			idx := covIndexes(page.Messages)
			if dir == im.MessageDirectionOlder {
				got = append(idx, got...)
			} else {
				got = append(got, idx...)
			}
			if !page.HasMore {
				return got
			}
			anchor = page.Next
		}
		require.FailNow(t, "paging did not end", "%v: paging did not end", dir)
		return nil
	}
	for _, dir := range []im.MessageDirection{im.MessageDirectionOlder, im.MessageDirectionNewer} {
		assert.Equal(t, covIndexes(sent), walk(dir), "paging %v", dir)
	}

	// Loaded messages join the cache, as they are on the server.
	cached := b.CachedMessages(group.ID)
	require.Equal(t, covIndexes(sent), covIndexes(cached), "cached after loading")
	m := cached[2]
	require.Equal(t, sent[2].ServerID, m.ServerID, "cached message 3 = %+v: server id", m)
	require.Equal(t, "m3", m.Text(), "cached message 3 = %+v: text", m)
	require.EqualValues(t, 1, m.Sender, "cached message 3 = %+v: sender", m)

	_, err := stranger.LoadMessages(cx, group.Ref(), im.MessageDirectionOlder, 0, 0)
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger loads the history")
	_, err = b.LoadMessages(cx, group.Ref(), im.MessageDirection(9), 0, 0)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an unknown direction")
}

func TestOpsCoverageDeleteMessage(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b, stranger := s.client(1, opsNoSocket), s.client(2, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	var sent []*im.Message
	for _, text := range []string{"one", "two", "three"} {
		sent = append(sent, opsSend(t, a, group.Ref(), text))
	}
	gone := sent[1]

	require.NoError(t, b.DeleteMessage(cx, group.Ref(), gone.ServerID))
	require.NoError(t, b.DeleteMessage(cx, group.Ref(), gone.ServerID)) // deleting twice is no error
	page := opsMust(b.LoadMessages(cx, group.Ref(), im.MessageDirectionNewer, 0, 0))(t)
	require.Equal(t, []int64{1, 3}, covIndexes(page.Messages), "b's history after deleting index 2")
	require.Nil(t, opsMust(b.GetMessage(cx, group.Ref(), gone.ServerID))(t), "b still gets the deleted message")
	// For this user only: the sender still has it.
	page = opsMust(a.LoadMessages(cx, group.Ref(), im.MessageDirectionNewer, 0, 0))(t)
	require.Equal(t, []int64{1, 2, 3}, covIndexes(page.Messages), "a's history")
	m := opsMust(a.GetMessage(cx, group.Ref(), gone.ServerID))(t)
	require.NotNil(t, m, "a's copy of the message b deleted")
	require.Equal(t, "two", m.Text(), "a's copy of the message b deleted: %+v", m)
	// Nor does b's inbox stream deliver it again: a client replaying the
	// whole inbox skips it.
	replay := s.unstarted(2, func(o *im.Options) { o.Resume, o.Cursor = true, 0 })
	r := newReceiver(replay)
	start(t, replay)
	r.waitFor(t, 2, waitFor, nil)
	opsSend(t, a, group.Ref(), "four") // a marker: the replay has passed index 2 once it has index 4
	r.waitFor(t, 3, waitFor, nil)
	r.mu.Lock()
	got := r.order[group.ID]
	r.mu.Unlock()
	require.Equal(t, []int64{1, 3, 4}, got, "replayed inbox delivered")

	require.ErrorIs(t, stranger.DeleteMessage(cx, group.Ref(), sent[0].ServerID), im.ErrNotMember, "a stranger deletes")
	opsStatus(t, b.DeleteMessage(cx, group.Ref(), 424242), improto.StatusCode_INVALID_REQUEST, "deleting an unknown message")
	opsStatus(t, b.DeleteMessage(cx, group.Ref(), 0), improto.StatusCode_INVALID_REQUEST, "deleting message 0")
}

func TestOpsCoverageRecall(t *testing.T) {
	t.Parallel()
	// A sender may recall within the window, which this server makes too
	// short to meet; the owner may recall at any time.
	s := newServer(t, func(c *imserver.Config) { c.RecallWindow = time.Nanosecond })
	a := s.client(1, opsNoSocket) // the owner
	b2 := s.client(2, opsNoSocket)
	b := s.unstarted(2) // user 2's other device, which watches
	received := opsEvents(b.OnMessageReceived)
	recalls, updates, props := opsEvents(b.OnMessageRecalled), opsEvents(b.OnMessageUpdated), opsEvents(b.OnPropertyChanged)
	cancelledN, cancelled := covCount(b.OnMessageRecalled)
	opsOnline(t, b)
	cx := ctx(t)
	group := opsGroup(t, a, 2)

	mine := opsSend(t, b2, group.Ref(), "b's own")
	owners := opsSend(t, a, group.Ref(), "the owner's")
	marker := opsSend(t, a, group.Ref(), "marker")
	covReceived(t, received, marker.ServerID)

	opsStatus(t, b2.RecallMessage(cx, group.Ref(), mine.ServerID), improto.StatusCode_RECALL_TIMEOUT, "a sender recalls after the window")
	require.ErrorIs(t, b2.RecallMessage(cx, group.Ref(), owners.ServerID), im.ErrForbidden, "an ordinary member recalls another's message")
	opsStatus(t, b2.RecallMessage(cx, group.Ref(), 424242), improto.StatusCode_INVALID_REQUEST, "recalling an unknown message")
	stranger := s.client(3, opsNoSocket)
	require.ErrorIs(t, stranger.RecallMessage(cx, group.Ref(), owners.ServerID), im.ErrNotMember, "a stranger recalls")

	require.NoError(t, a.RecallMessage(cx, group.Ref(), mine.ServerID)) // the owner, past the window
	ev := covNext(t, recalls, "the recall of b's message")
	cancelled.Unsubscribe()
	require.Equal(t, mine.ServerID, ev.Message.ServerID, "recalled = %+v", ev.Message)
	require.True(t, ev.Message.IsRecalled(), "recalled = %+v, want it recalled", ev.Message)
	require.Empty(t, ev.Message.Content, "recalled = %+v, want no content", ev.Message)
	require.Equal(t, mine.Version+1, ev.Message.Version, "recalled = %+v: version", ev.Message)
	require.NotNil(t, ev.Previous, "previous, want the message as it was")
	require.False(t, ev.Previous.IsRecalled(), "previous = %+v, want the message as it was", ev.Previous)
	require.Equal(t, "b's own", ev.Previous.Text(), "previous = %+v, want the message as it was", ev.Previous)
	up := covNext(t, updates, "the recall as an update")
	require.Equal(t, mine.ServerID, up.Message.ServerID, "update = %+v", up.Message)
	require.True(t, up.Message.IsRecalled(), "update = %+v, want it recalled", up.Message)
	m := opsMust(b2.GetMessage(cx, group.Ref(), mine.ServerID))(t)
	require.NotNil(t, m, "GetMessage after the recall")
	require.True(t, m.IsRecalled(), "GetMessage after the recall = %+v", m)
	require.Empty(t, m.Content, "GetMessage after the recall = %+v: content", m)
	c := b.CachedMessages(group.ID)
	require.NotEmpty(t, c, "b's cached copy")
	require.True(t, c[0].IsRecalled(), "b's cached copy is not recalled: %+v", c)

	require.NoError(t, a.RecallMessage(cx, group.Ref(), mine.ServerID)) // again: no error, no change
	_, err := a.ModifyProperties(cx, group.Ref(), mine.ServerID, im.PropertyChange{Key: "like", Value: "1"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a property on a recalled message")
	_, err = a.ModifyMessageExt(cx, group.Ref(), mine.ServerID, map[string]string{"k": "v"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "ext on a recalled message")

	require.NoError(t, a.RecallMessage(cx, group.Ref(), marker.ServerID))
	ev = covNext(t, recalls, "the marker's recall")
	require.Equal(t, marker.ServerID, ev.Message.ServerID, "after the first recall came a recall of another message, want only the marker's")
	up = covNext(t, updates, "the marker's update")
	require.Equal(t, marker.ServerID, up.Message.ServerID, "after the first recall came an update of another message, want only the marker's")
	covNone(t, props, "property event for a recall")
	require.EqualValues(t, 1, cancelledN.Load(), "events the cancelled OnMessageRecalled got")
}

func TestOpsCoverageProperties(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b2 := s.client(2, opsNoSocket)
	b := s.unstarted(2) // user 2's other device, which watches
	received := opsEvents(b.OnMessageReceived)
	props, updates, recalls := opsEvents(b.OnPropertyChanged), opsEvents(b.OnMessageUpdated), opsEvents(b.OnMessageRecalled)
	cancelledN, cancelled := covCount(b.OnPropertyChanged)
	opsOnline(t, b)
	stranger := s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	m := opsSend(t, a, group.Ref(), "react to me")
	marker := opsSend(t, a, group.Ref(), "marker")
	covReceived(t, received, marker.ServerID)

	// next takes b's next property event, which must be m's at version.
	next := func(step string, version int64) im.MessageEvent {
		t.Helper()
		ev := covNext(t, props, step)
		require.Equal(t, m.ServerID, ev.Message.ServerID, "%s: the message of the property event", step)
		require.Equal(t, version, ev.Message.Version, "%s: the version of the property event", step)
		up := covNext(t, updates, step+" as an update")
		require.Equal(t, m.ServerID, up.Message.ServerID, "%s: the message of the update", step)
		require.Equal(t, version, up.Message.Version, "%s: the version of the update", step)
		return ev
	}

	require.NoError(t, a.React(cx, group.Ref(), m.ServerID, "like", "👍"))
	ev := next("a's reaction", m.Version+1)
	cancelled.Unsubscribe()
	require.NotNil(t, ev.Previous, "previous")
	require.Empty(t, ev.Previous.Properties, "previous properties, want none")
	likes := ev.Message.Properties["like"]
	require.Len(t, likes, 1, "like, want one item")
	want := im.MessageProperty{MessageID: m.ServerID, ConversationID: group.ID, Key: "like", UserID: 1,
		IdempotentID: "1:like:👍", Value: "👍", Status: im.PropertyStatusSuccess, CreateTime: likes[0].CreateTime}
	require.Equal(t, want, likes[0], "like item")
	require.False(t, likes[0].CreateTime.IsZero(), "like item = %+v: create time", likes[0])

	// React is once per (user, key, value): repeating it changes nothing.
	require.NoError(t, a.React(cx, group.Ref(), m.ServerID, "like", "👍"))
	v := opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeAddPropertyItem, Key: "like", Value: "👍", IdempotentID: "1:like:👍"}))(t)
	require.Equal(t, m.Version+1, v, "the version a repeated add answered, want it unchanged")

	// Several changes in one request make one version.
	v = opsMust(b2.ModifyProperties(cx, group.Ref(), m.ServerID,
		im.PropertyChange{Operation: im.OperationTypeAddPropertyItem, Key: "like", Value: "❤", IdempotentID: "b-heart"},
		im.PropertyChange{Operation: im.OperationTypeSetProperty, Key: "pin", Value: "yes", IdempotentID: "pin-1"},
	))(t)
	require.Equal(t, m.Version+2, v, "two changes in one request: version")
	ev = next("b's heart and pin", v)
	require.Equal(t, []string{"1:👍/1:like:👍", "2:❤/b-heart"}, covItems(ev.Message, "like"), "like")
	require.Equal(t, []string{"2:yes/pin-1"}, covItems(ev.Message, "pin"), "pin")
	require.Len(t, covItems(ev.Previous, "like"), 1, "previous like, want a's item alone")

	// One removes only one's own items.
	_, err := b2.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeRemovePropertyItem, Key: "like", IdempotentID: "1:like:👍"})
	require.ErrorIs(t, err, im.ErrForbidden, "removing another user's item")
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeRemovePropertyItem, Key: "like", IdempotentID: "1:like:👍"}))(t)
	ev = next("a's reaction removed", v)
	require.Equal(t, []string{"2:❤/b-heart"}, covItems(ev.Message, "like"), "like after the removal")

	// SET replaces a key's items with one; DEL removes the key.
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeSetProperty, Key: "pin", Value: "no", IdempotentID: "pin-2"}))(t)
	ev = next("pin set again", v)
	require.Equal(t, []string{"1:no/pin-2"}, covItems(ev.Message, "pin"), "pin after SET")
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationTypeDelProperty, Key: "pin"}))(t)
	ev = next("pin deleted", v)
	require.NotContains(t, ev.Message.Properties, "pin", "properties after DEL")
	require.Len(t, ev.Message.Properties["like"], 1, "like after DEL")
	// Removing what is not there changes nothing.
	require.Equal(t, v, opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationTypeDelProperty, Key: "pin"}))(t),
		"the version after deleting a missing key")

	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "no changes")
	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Key: ""})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an empty key")
	require.ErrorContains(t, err, "INVALID_LENGTH", "an empty key: want the MODIFY_PROPERTY_INVALID_LENGTH status named")
	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationType(7), Key: "k"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an unknown operation")
	_, err = a.ModifyProperties(cx, group.Ref(), 424242, im.PropertyChange{Key: "k"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an unknown message")
	require.ErrorIs(t, stranger.React(cx, group.Ref(), m.ServerID, "like", "x"), im.ErrNotMember, "a stranger reacts")

	// The marker's change is the next event: none of the refusals or
	// repeats above made one.
	require.NoError(t, a.React(cx, group.Ref(), marker.ServerID, "like", "👍"))
	ev = covNext(t, props, "the marker's reaction")
	require.Equal(t, marker.ServerID, ev.Message.ServerID, "an extra property event: version %d", ev.Message.Version)
	covNone(t, recalls, "recall event for a property change")
	require.EqualValues(t, 1, cancelledN.Load(), "events the cancelled OnPropertyChanged got")
}

func TestOpsCoverageModifyMessageExt(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b2 := s.client(2, opsNoSocket)
	b := s.unstarted(2) // user 2's other device, which watches
	received := opsEvents(b.OnMessageReceived)
	updates, props, recalls := opsEvents(b.OnMessageUpdated), opsEvents(b.OnPropertyChanged), opsEvents(b.OnMessageRecalled)
	cancelledN, cancelled := covCount(b.OnMessageUpdated)
	opsOnline(t, b)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	m := opsSend(t, a, group.Ref(), "annotate me")
	marker := opsSend(t, a, group.Ref(), "marker")
	covReceived(t, received, marker.ServerID)

	got := opsMust(a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"k": "v", "n": "1"}))(t)
	require.Equal(t, "v", got.Ext["k"], "ModifyMessageExt: ext %v", got.Ext)
	require.Equal(t, "1", got.Ext["n"], "ModifyMessageExt: ext %v", got.Ext)
	require.Equal(t, m.Version+1, got.Version, "ModifyMessageExt = %+v: version", got)
	require.Equal(t, m.ServerID, got.ServerID, "ModifyMessageExt = %+v: server id", got)
	ev := covNext(t, updates, "the ext change")
	cancelled.Unsubscribe()
	require.Equal(t, m.ServerID, ev.Message.ServerID, "update = %+v", ev.Message)
	require.Equal(t, "v", ev.Message.Ext["k"], "update: ext %v", ev.Message.Ext)
	require.Equal(t, m.Version+1, ev.Message.Version, "update = %+v: version", ev.Message)
	require.NotNil(t, ev.Previous, "previous, want the message before the change")
	require.Empty(t, ev.Previous.Ext["k"], "previous = %+v, want the message before the change", ev.Previous)
	require.Equal(t, m.Version, ev.Previous.Version, "previous = %+v, want the message before the change", ev.Previous)
	require.Equal(t, "v", b.CachedMessages(group.ID)[0].Ext["k"], "b's cached ext")

	// Merging: an empty value deletes a key, the others stay.
	got = opsMust(a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"k": ""}))(t)
	require.NotContains(t, got.Ext, "k", "after deleting k: ext")
	require.Equal(t, "1", got.Ext["n"], "after deleting k: ext %v", got.Ext)
	require.Equal(t, m.Version+2, got.Version, "after deleting k: version")
	ev = covNext(t, updates, "the key's deletion")
	require.NotContains(t, ev.Message.Ext, "k", "update: ext")
	require.Equal(t, m.Version+2, ev.Message.Version, "update: version")
	require.Equal(t, "v", ev.Previous.Ext["k"], "update: previous ext %v", ev.Previous.Ext)
	// A merge that changes nothing keeps the version and tells nobody.
	require.Equal(t, m.Version+2, opsMust(a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"n": "1"}))(t).Version,
		"the version after a merge without change")

	_, err := a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{string(im.InfoKeyIsRecalled): "true"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "setting a system key")
	require.ErrorContains(t, err, string(im.InfoKeyIsRecalled), "the refusal does not name the key")
	_, err = a.ModifyMessageExt(cx, group.Ref(), m.ServerID, nil)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an empty ext")
	_, err = b2.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"x": "y"})
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member changes another's message")

	opsMust(a.ModifyMessageExt(cx, group.Ref(), marker.ServerID, map[string]string{"k": "marker"}))(t)
	ev = covNext(t, updates, "the marker's change")
	require.Equal(t, marker.ServerID, ev.Message.ServerID, "an extra update: version %d", ev.Message.Version)
	covNone(t, props, "property event for an ext change")
	covNone(t, recalls, "recall event for an ext change")
	require.EqualValues(t, 1, cancelledN.Load(), "events the cancelled OnMessageUpdated got")
}

func TestOpsCoverageConversationRemoved(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket) // the owner
	b2 := s.client(2, opsNoSocket)
	b := s.unstarted(2) // user 2's other device, which watches
	added, removed, updates := opsEvents(b.OnConversationAdded), opsEvents(b.OnConversationRemoved), opsEvents(b.OnConversationUpdated)
	cancelledN, cancelled := covCount(b.OnConversationRemoved)
	opsOnline(t, b)
	cx := ctx(t)

	groups := make([]*im.Conversation, 4)
	for i := range groups {
		groups[i] = opsGroup(t, a, 2, 3)
		opsWaitAdded(t, added, groups[i])
	}
	check := func(what string, conv *im.Conversation) {
		t.Helper()
		ev := covNext(t, removed, what)
		require.Equal(t, conv.ID, ev.Conversation.ID, "%s: the conversation removed", what)
		require.False(t, ev.Conversation.IsMember, "%s: removed, still a member", what)
		require.NotNil(t, ev.Previous, "%s: previous", what)
		require.True(t, ev.Previous.IsMember, "%s: previous = %+v, want a member", what, ev.Previous)
		c := b.CachedConversation(conv.ID)
		require.NotNil(t, c, "%s: cached", what)
		require.False(t, c.IsMember, "%s: cached %+v", what, c)
	}

	// Removed by the owner.
	opsMust(a.RemoveParticipants(cx, groups[0].Ref(), 2))(t)
	check("removed by the owner", groups[0])
	cancelled.Unsubscribe()
	// Left from another device of the same user.
	require.NoError(t, b2.LeaveConversation(cx, groups[1].Ref()))
	check("left on another device", groups[1])
	// Dissolved: the members stay members of a dissolved group, so this
	// is an update, not a removal.
	require.NoError(t, a.DissolveConversation(cx, groups[2].Ref()))
	opsWait(t, updates, "the dissolution", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == groups[2].ID && e.Conversation.Status == im.ConversationStatusDissolved
	})
	// Another member's removal changes the group, it does not remove it.
	opsMust(a.RemoveParticipants(cx, groups[3].Ref(), 3))(t)
	opsWait(t, updates, "user 3's removal", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == groups[3].ID && e.Conversation.ParticipantCount == 2
	})
	// The marker: the next removal event is this one.
	opsMust(a.RemoveParticipants(cx, groups[3].Ref(), 2))(t)
	check("the marker's removal", groups[3])
	require.EqualValues(t, 1, cancelledN.Load(), "events the cancelled OnConversationRemoved got")
}
