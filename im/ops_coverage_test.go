package im_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		t.Fatalf("unexpected %s: %+v", what, e)
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
	if got := covIndexes(sent); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("sent indexes %v", got)
	}

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
		{"older before the first", im.MessageDirectionOlder, 1, 3, nil, false, 1},
		{"newer from the start", im.MessageDirectionNewer, 0, 3, []int64{1, 2, 3}, true, 3},
		{"newer from an anchor", im.MessageDirectionNewer, 3, 3, []int64{4, 5, 6}, true, 6},
		{"newer exactly to the end", im.MessageDirectionNewer, 4, 3, []int64{5, 6, 7}, false, 7},
		{"newer past the end", im.MessageDirectionNewer, 7, 3, nil, false, 7},
		{"limit 0 is the server's default (100)", im.MessageDirectionNewer, 0, 0, []int64{1, 2, 3, 4, 5, 6, 7}, false, 7},
		{"older, limit 0", im.MessageDirectionOlder, 0, 0, []int64{1, 2, 3, 4, 5, 6, 7}, false, 1},
	}
	for _, tc := range cases {
		page := opsMust(b.LoadMessages(cx, group.Ref(), tc.dir, tc.anchor, tc.limit))(t)
		if got := covIndexes(page.Messages); !slices.Equal(got, tc.want) || page.HasMore != tc.wantMore || page.Next != tc.wantNext {
			t.Errorf("%s: indexes %v, more %v, next %d; want %v, %v, %d", tc.name, got, page.HasMore, page.Next, tc.want, tc.wantMore, tc.wantNext)
		}
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
		t.Fatalf("%v: paging did not end", dir)
		return nil
	}
	for _, dir := range []im.MessageDirection{im.MessageDirectionOlder, im.MessageDirectionNewer} {
		if got := walk(dir); !slices.Equal(got, covIndexes(sent)) {
			t.Errorf("paging %v: %v, want %v", dir, got, covIndexes(sent))
		}
	}

	// Loaded messages join the cache, as they are on the server.
	cached := b.CachedMessages(group.ID)
	if got := covIndexes(cached); !slices.Equal(got, covIndexes(sent)) {
		t.Fatalf("cached after loading: %v", got)
	}
	if m := cached[2]; m.ServerID != sent[2].ServerID || m.Text() != "m3" || m.Sender != 1 {
		t.Fatalf("cached message 3 = %+v", m)
	}

	_, err := stranger.LoadMessages(cx, group.Ref(), im.MessageDirectionOlder, 0, 0)
	opsIs(t, err, im.ErrNotMember, "a stranger loads the history")
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

	opsOK(t, b.DeleteMessage(cx, group.Ref(), gone.ServerID))
	opsOK(t, b.DeleteMessage(cx, group.Ref(), gone.ServerID)) // deleting twice is no error
	page := opsMust(b.LoadMessages(cx, group.Ref(), im.MessageDirectionNewer, 0, 0))(t)
	if got := covIndexes(page.Messages); !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("b's history after deleting index 2: %v, want [1 3]", got)
	}
	if m := opsMust(b.GetMessage(cx, group.Ref(), gone.ServerID))(t); m != nil {
		t.Fatalf("b still gets the deleted message: %+v", m)
	}
	// For this user only: the sender still has it.
	page = opsMust(a.LoadMessages(cx, group.Ref(), im.MessageDirectionNewer, 0, 0))(t)
	if got := covIndexes(page.Messages); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("a's history: %v, want [1 2 3]", got)
	}
	if m := opsMust(a.GetMessage(cx, group.Ref(), gone.ServerID))(t); m == nil || m.Text() != "two" {
		t.Fatalf("a's copy of the message b deleted: %+v", m)
	}
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
	if !slices.Equal(got, []int64{1, 3, 4}) {
		t.Fatalf("replayed inbox delivered %v, want [1 3 4]", got)
	}

	opsIs(t, stranger.DeleteMessage(cx, group.Ref(), sent[0].ServerID), im.ErrNotMember, "a stranger deletes")
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
	opsIs(t, b2.RecallMessage(cx, group.Ref(), owners.ServerID), im.ErrForbidden, "an ordinary member recalls another's message")
	opsStatus(t, b2.RecallMessage(cx, group.Ref(), 424242), improto.StatusCode_INVALID_REQUEST, "recalling an unknown message")
	stranger := s.client(3, opsNoSocket)
	opsIs(t, stranger.RecallMessage(cx, group.Ref(), owners.ServerID), im.ErrNotMember, "a stranger recalls")

	opsOK(t, a.RecallMessage(cx, group.Ref(), mine.ServerID)) // the owner, past the window
	ev := covNext(t, recalls, "the recall of b's message")
	cancelled.Unsubscribe()
	if ev.Message.ServerID != mine.ServerID || !ev.Message.IsRecalled() || ev.Message.Content != "" || ev.Message.Version != mine.Version+1 {
		t.Fatalf("recalled = %+v, want message %d recalled, no content, version %d", ev.Message, mine.ServerID, mine.Version+1)
	}
	if ev.Previous == nil || ev.Previous.IsRecalled() || ev.Previous.Text() != "b's own" {
		t.Fatalf("previous = %+v, want the message as it was", ev.Previous)
	}
	if up := covNext(t, updates, "the recall as an update"); up.Message.ServerID != mine.ServerID || !up.Message.IsRecalled() {
		t.Fatalf("update = %+v", up.Message)
	}
	if m := opsMust(b2.GetMessage(cx, group.Ref(), mine.ServerID))(t); m == nil || !m.IsRecalled() || m.Content != "" {
		t.Fatalf("GetMessage after the recall = %+v", m)
	}
	if c := b.CachedMessages(group.ID); len(c) == 0 || !c[0].IsRecalled() {
		t.Fatalf("b's cached copy is not recalled: %+v", c)
	}

	opsOK(t, a.RecallMessage(cx, group.Ref(), mine.ServerID)) // again: no error, no change
	_, err := a.ModifyProperties(cx, group.Ref(), mine.ServerID, im.PropertyChange{Key: "like", Value: "1"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a property on a recalled message")
	_, err = a.ModifyMessageExt(cx, group.Ref(), mine.ServerID, map[string]string{"k": "v"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "ext on a recalled message")

	opsOK(t, a.RecallMessage(cx, group.Ref(), marker.ServerID))
	if ev := covNext(t, recalls, "the marker's recall"); ev.Message.ServerID != marker.ServerID {
		t.Fatalf("after the first recall came a recall of %d, want only the marker's (%d)", ev.Message.ServerID, marker.ServerID)
	}
	if up := covNext(t, updates, "the marker's update"); up.Message.ServerID != marker.ServerID {
		t.Fatalf("after the first recall came an update of %d, want only the marker's", up.Message.ServerID)
	}
	covNone(t, props, "property event for a recall")
	if n := cancelledN.Load(); n != 1 {
		t.Fatalf("the cancelled OnMessageRecalled got %d events, want 1", n)
	}
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
		if ev.Message.ServerID != m.ServerID || ev.Message.Version != version {
			t.Fatalf("%s: property event of message %d version %d, want %d version %d", step, ev.Message.ServerID, ev.Message.Version, m.ServerID, version)
		}
		if up := covNext(t, updates, step+" as an update"); up.Message.ServerID != m.ServerID || up.Message.Version != version {
			t.Fatalf("%s: update of %d version %d", step, up.Message.ServerID, up.Message.Version)
		}
		return ev
	}

	opsOK(t, a.React(cx, group.Ref(), m.ServerID, "like", "👍"))
	ev := next("a's reaction", m.Version+1)
	cancelled.Unsubscribe()
	if ev.Previous == nil || len(ev.Previous.Properties) != 0 {
		t.Fatalf("previous properties = %+v, want none", ev.Previous)
	}
	likes := ev.Message.Properties["like"]
	if len(likes) != 1 {
		t.Fatalf("like = %+v, want one item", likes)
	}
	want := im.MessageProperty{MessageID: m.ServerID, ConversationID: group.ID, Key: "like", UserID: 1,
		IdempotentID: "1:like:👍", Value: "👍", Status: im.PropertyStatusSuccess, CreateTime: likes[0].CreateTime}
	if likes[0] != want || likes[0].CreateTime.IsZero() {
		t.Fatalf("like item = %+v, want %+v", likes[0], want)
	}

	// React is once per (user, key, value): repeating it changes nothing.
	opsOK(t, a.React(cx, group.Ref(), m.ServerID, "like", "👍"))
	v := opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeAddPropertyItem, Key: "like", Value: "👍", IdempotentID: "1:like:👍"}))(t)
	if v != m.Version+1 {
		t.Fatalf("a repeated add answered version %d, want %d (unchanged)", v, m.Version+1)
	}

	// Several changes in one request make one version.
	v = opsMust(b2.ModifyProperties(cx, group.Ref(), m.ServerID,
		im.PropertyChange{Operation: im.OperationTypeAddPropertyItem, Key: "like", Value: "❤", IdempotentID: "b-heart"},
		im.PropertyChange{Operation: im.OperationTypeSetProperty, Key: "pin", Value: "yes", IdempotentID: "pin-1"},
	))(t)
	if v != m.Version+2 {
		t.Fatalf("two changes in one request: version %d, want %d", v, m.Version+2)
	}
	ev = next("b's heart and pin", v)
	if got := covItems(ev.Message, "like"); !slices.Equal(got, []string{"1:👍/1:like:👍", "2:❤/b-heart"}) {
		t.Fatalf("like = %v", got)
	}
	if got := covItems(ev.Message, "pin"); !slices.Equal(got, []string{"2:yes/pin-1"}) {
		t.Fatalf("pin = %v", got)
	}
	if got := covItems(ev.Previous, "like"); len(got) != 1 {
		t.Fatalf("previous like = %v, want a's item alone", got)
	}

	// One removes only one's own items.
	_, err := b2.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeRemovePropertyItem, Key: "like", IdempotentID: "1:like:👍"})
	opsIs(t, err, im.ErrForbidden, "removing another user's item")
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeRemovePropertyItem, Key: "like", IdempotentID: "1:like:👍"}))(t)
	ev = next("a's reaction removed", v)
	if got := covItems(ev.Message, "like"); !slices.Equal(got, []string{"2:❤/b-heart"}) {
		t.Fatalf("like after the removal = %v", got)
	}

	// SET replaces a key's items with one; DEL removes the key.
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{
		Operation: im.OperationTypeSetProperty, Key: "pin", Value: "no", IdempotentID: "pin-2"}))(t)
	ev = next("pin set again", v)
	if got := covItems(ev.Message, "pin"); !slices.Equal(got, []string{"1:no/pin-2"}) {
		t.Fatalf("pin after SET = %v", got)
	}
	v = opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationTypeDelProperty, Key: "pin"}))(t)
	ev = next("pin deleted", v)
	if _, ok := ev.Message.Properties["pin"]; ok || len(ev.Message.Properties["like"]) != 1 {
		t.Fatalf("properties after DEL = %+v", ev.Message.Properties)
	}
	// Removing what is not there changes nothing.
	if again := opsMust(a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationTypeDelProperty, Key: "pin"}))(t); again != v {
		t.Fatalf("deleting a missing key moved the version to %d", again)
	}

	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "no changes")
	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Key: ""})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an empty key")
	if err == nil || !strings.Contains(err.Error(), "INVALID_LENGTH") {
		t.Fatalf("an empty key: %v, want the MODIFY_PROPERTY_INVALID_LENGTH status named", err)
	}
	_, err = a.ModifyProperties(cx, group.Ref(), m.ServerID, im.PropertyChange{Operation: im.OperationType(7), Key: "k"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an unknown operation")
	_, err = a.ModifyProperties(cx, group.Ref(), 424242, im.PropertyChange{Key: "k"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an unknown message")
	opsIs(t, stranger.React(cx, group.Ref(), m.ServerID, "like", "x"), im.ErrNotMember, "a stranger reacts")

	// The marker's change is the next event: none of the refusals or
	// repeats above made one.
	opsOK(t, a.React(cx, group.Ref(), marker.ServerID, "like", "👍"))
	if ev := covNext(t, props, "the marker's reaction"); ev.Message.ServerID != marker.ServerID {
		t.Fatalf("an extra property event for message %d version %d", ev.Message.ServerID, ev.Message.Version)
	}
	covNone(t, recalls, "recall event for a property change")
	if n := cancelledN.Load(); n != 1 {
		t.Fatalf("the cancelled OnPropertyChanged got %d events, want 1", n)
	}
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
	if got.Ext["k"] != "v" || got.Ext["n"] != "1" || got.Version != m.Version+1 || got.ServerID != m.ServerID {
		t.Fatalf("ModifyMessageExt = %+v (ext %v)", got, got.Ext)
	}
	ev := covNext(t, updates, "the ext change")
	cancelled.Unsubscribe()
	if ev.Message.ServerID != m.ServerID || ev.Message.Ext["k"] != "v" || ev.Message.Version != m.Version+1 {
		t.Fatalf("update = %+v (ext %v)", ev.Message, ev.Message.Ext)
	}
	if ev.Previous == nil || ev.Previous.Ext["k"] != "" || ev.Previous.Version != m.Version {
		t.Fatalf("previous = %+v, want the message before the change", ev.Previous)
	}
	if cur := b.CachedMessages(group.ID)[0]; cur.Ext["k"] != "v" {
		t.Fatalf("b's cached ext = %v", cur.Ext)
	}

	// Merging: an empty value deletes a key, the others stay.
	got = opsMust(a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"k": ""}))(t)
	if _, ok := got.Ext["k"]; ok || got.Ext["n"] != "1" || got.Version != m.Version+2 {
		t.Fatalf("after deleting k: ext %v, version %d", got.Ext, got.Version)
	}
	ev = covNext(t, updates, "the key's deletion")
	if _, ok := ev.Message.Ext["k"]; ok || ev.Message.Version != m.Version+2 || ev.Previous.Ext["k"] != "v" {
		t.Fatalf("update = ext %v version %d, previous ext %v", ev.Message.Ext, ev.Message.Version, ev.Previous.Ext)
	}
	// A merge that changes nothing keeps the version and tells nobody.
	if same := opsMust(a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"n": "1"}))(t); same.Version != m.Version+2 {
		t.Fatalf("a merge without change moved the version to %d", same.Version)
	}

	_, err := a.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{string(im.InfoKeyIsRecalled): "true"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "setting a system key")
	if !strings.Contains(err.Error(), string(im.InfoKeyIsRecalled)) {
		t.Fatalf("the refusal %q does not name the key", err)
	}
	_, err = a.ModifyMessageExt(cx, group.Ref(), m.ServerID, nil)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an empty ext")
	_, err = b2.ModifyMessageExt(cx, group.Ref(), m.ServerID, map[string]string{"x": "y"})
	opsIs(t, err, im.ErrForbidden, "an ordinary member changes another's message")

	opsMust(a.ModifyMessageExt(cx, group.Ref(), marker.ServerID, map[string]string{"k": "marker"}))(t)
	if ev := covNext(t, updates, "the marker's change"); ev.Message.ServerID != marker.ServerID {
		t.Fatalf("an extra update of message %d version %d", ev.Message.ServerID, ev.Message.Version)
	}
	covNone(t, props, "property event for an ext change")
	covNone(t, recalls, "recall event for an ext change")
	if n := cancelledN.Load(); n != 1 {
		t.Fatalf("the cancelled OnMessageUpdated got %d events, want 1", n)
	}
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
		if ev.Conversation.ID != conv.ID || ev.Conversation.IsMember || ev.Previous == nil || !ev.Previous.IsMember {
			t.Fatalf("%s: removed %s (member %v, previous %+v), want %s, no longer a member", what, ev.Conversation.ID, ev.Conversation.IsMember, ev.Previous, conv.ID)
		}
		if c := b.CachedConversation(conv.ID); c == nil || c.IsMember {
			t.Fatalf("%s: cached %+v", what, c)
		}
	}

	// Removed by the owner.
	opsMust(a.RemoveParticipants(cx, groups[0].Ref(), 2))(t)
	check("removed by the owner", groups[0])
	cancelled.Unsubscribe()
	// Left from another device of the same user.
	opsOK(t, b2.LeaveConversation(cx, groups[1].Ref()))
	check("left on another device", groups[1])
	// Dissolved: the members stay members of a dissolved group, so this
	// is an update, not a removal.
	opsOK(t, a.DissolveConversation(cx, groups[2].Ref()))
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
	if n := cancelledN.Load(); n != 1 {
		t.Fatalf("the cancelled OnConversationRemoved got %d events, want 1", n)
	}
}
