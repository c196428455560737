package im_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// The operations of ops_conversation.go, ops_members.go, ops_live.go and
// ops_friends.go against the real server.

// opsEvents subscribes with subscribe and returns a channel of what the
// subscription delivers. Subscribe before Init: events emitted with no
// subscriber are not kept.
func opsEvents[E any](subscribe func(func(E)) im.Subscription) <-chan E {
	ch := make(chan E, 256)
	subscribe(func(e E) {
		select {
		case ch <- e:
		default:
		}
	})
	return ch
}

// opsWait waits for an event on ch that ok accepts (any, when ok is nil).
func opsWait[E any](t *testing.T, ch <-chan E, what string, ok func(E) bool) E {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case e := <-ch:
			if ok == nil || ok(e) {
				return e
			}
		case <-timer.C:
			t.Fatalf("no %s within %v", what, waitFor)
		}
	}
}

// opsOnline starts c, subscribed already, and waits until its socket is up,
// so that pushes reach it.
func opsOnline(t *testing.T, c *im.Client) *im.Client {
	t.Helper()
	start(t, c)
	waitConnected(t, c)
	return c
}

// opsNoSocket keeps a client off the socket: for users who only act.
func opsNoSocket(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelDisable }

// opsIs fails unless errors.Is(err, want).
func opsIs(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// opsStatus fails unless err is a server answer with status code.
func opsStatus(t *testing.T, err error, code improto.StatusCode, what string) {
	t.Helper()
	if got := im.StatusCodeOf(err); err == nil || got != code {
		t.Fatalf("%s: got %v (status %v), want status %v", what, err, got, code)
	}
}

// opsMust returns v, failing the test (opsMust(call())(t)) on err.
func opsMust[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// opsOK fails on err.
func opsOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// opsGroup has owner create a group with members.
func opsGroup(t *testing.T, owner *im.Client, members ...im.UserID) *im.Conversation {
	t.Helper()
	return opsMust(owner.CreateConversation(ctx(t), im.CreateConversationOptions{Type: im.ConversationTypeGroup, Participants: members}))(t)
}

// opsWaitAdded waits until a client that subscribed to
// OnConversationAdded has seen conv: pushes are hints and the client
// fetches the conversation as it is when it handles one, so a change made
// before that would not be a change to it.
func opsWaitAdded(t *testing.T, added <-chan im.ConversationEvent, conv *im.Conversation) {
	t.Helper()
	opsWait(t, added, "conversation "+conv.ID.String()+" added", func(e im.ConversationEvent) bool { return e.Conversation.ID == conv.ID })
}

// opsSend sends text to conv and returns the message as the server stored
// it, with its index.
func opsSend(t *testing.T, c *im.Client, conv im.ConversationRef, text string) *im.Message {
	t.Helper()
	cx := ctx(t)
	m := opsMust(c.SendMessage(cx, conv, im.OutgoingMessage{Content: im.TextContent(text)}))(t)
	stored := opsMust(c.GetMessage(cx, conv, m.ServerID))(t)
	if stored == nil || stored.Index == 0 {
		t.Fatalf("message %d is not stored: %+v", m.ServerID, stored)
	}
	return stored
}

func opsIDs[T any](list []T, id func(T) im.UserID) []im.UserID {
	out := make([]im.UserID, len(list))
	for i, x := range list {
		out[i] = id(x)
	}
	return out
}

func opsParticipantIDs(list []*im.Participant) []im.UserID {
	return opsIDs(list, func(p *im.Participant) im.UserID { return p.UserID })
}

func TestOpsCreateAndGetConversation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b, c := s.client(1), s.client(2, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)

	single := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}}))(t)
	if want := im.SingleChatID(0, 1, 2); single.ID != want || single.Type != im.ConversationTypeOneToOne || !single.IsMember {
		t.Fatalf("single chat = %+v, want id %s, a member", single, want)
	}
	again := opsMust(b.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1}}))(t)
	if again.ID != single.ID || again.ShortID != single.ShortID {
		t.Fatalf("the single chat was not found again: %s/%d, then %s/%d", single.ID, single.ShortID, again.ID, again.ShortID)
	}
	_, err := a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2, 3}})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a single chat of three")

	opts := im.CreateConversationOptions{
		Type: im.ConversationTypeGroup, Participants: []im.UserID{2},
		Name: "team", Avatar: "icon.png", Description: "the team", Ext: map[string]string{"k": "v"}, IdempotentID: "team-1",
	}
	group := opsMust(a.CreateConversation(cx, opts))(t)
	core := group.CoreInfo
	if core.Name != "team" || core.Icon != "icon.png" || core.Desc != "the team" || core.Owner != 1 || core.Ext["k"] != "v" {
		t.Fatalf("core info = %+v", core)
	}
	if group.Participant == nil || group.Participant.Role != im.GroupRoleOwner || group.ParticipantCount != 2 {
		t.Fatalf("creator = %+v, count %d; want the owner of 2", group.Participant, group.ParticipantCount)
	}
	if a.CachedConversation(group.ID) == nil {
		t.Fatal("the created group is not cached")
	}
	if repeat := opsMust(a.CreateConversation(cx, opts))(t); repeat.ShortID != group.ShortID {
		t.Fatalf("repeating the idempotent id made %d, want %d", repeat.ShortID, group.ShortID)
	}
	opts.IdempotentID = "team-2"
	if other := opsMust(a.CreateConversation(cx, opts))(t); other.ShortID == group.ShortID {
		t.Fatal("a new idempotent id found the old group")
	}

	got := opsMust(b.GetConversation(cx, group.Ref()))(t)
	if !got.IsMember || got.CoreInfo.Name != "team" || got.Participant.Role != im.GroupRoleOrdinary {
		t.Fatalf("b's view = %+v", got)
	}
	if b.CachedConversation(group.ID) == nil {
		t.Fatal("the fetched group is not cached")
	}
	list := opsMust(b.GetConversations(cx, single.Ref(), group.Ref(), im.ConversationRef{ID: "424242"}, group.Ref()))(t)
	if ids := opsIDs(list, func(c *im.Conversation) im.UserID { return im.UserID(c.ShortID) }); len(ids) != 2 {
		t.Fatalf("GetConversations = %v, want the two b may see, once each", ids)
	}
	if list := opsMust(b.GetConversations(cx))(t); len(list) != 0 {
		t.Fatalf("GetConversations() = %v", list)
	}

	_, err = c.GetConversation(cx, group.Ref())
	opsIs(t, err, im.ErrNotMember, "a stranger reads the group")
	_, err = c.GetConversation(cx, im.ConversationRef{ID: "424242", Type: im.ConversationTypeGroup})
	opsIs(t, err, im.ErrNotFound, "an unknown conversation")
}

func TestOpsListConversations(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b := s.client(1, opsNoSocket), s.client(2, opsNoSocket)
	cx := ctx(t)

	var want []im.ConversationShortID
	for range 4 {
		want = append(want, opsGroup(t, a, 2).ShortID)
	}
	single := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}}))(t)
	want = append(want, single.ShortID)
	theirs := opsGroup(t, b, 1) // a is an ordinary member here
	want = append(want, theirs.ShortID)

	page := opsMust(a.ListConversations(cx, im.ListConversationsOptions{Limit: 2}))(t)
	if len(page.Conversations) != 2 || !page.HasMore || page.Next != int64(want[1]) {
		t.Fatalf("first page: %d conversations, more %v, next %d", len(page.Conversations), page.HasMore, page.Next)
	}
	all := func(opts im.ListConversationsOptions) []im.ConversationShortID {
		t.Helper()
		var got []im.ConversationShortID
		for conv, err := range a.AllConversations(cx, opts) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, conv.ShortID)
		}
		return got
	}
	if got := all(im.ListConversationsOptions{Limit: 2}); !slices.Equal(got, want) {
		t.Fatalf("AllConversations = %v, want %v", got, want)
	}
	if got := all(im.ListConversationsOptions{Limit: 2, Type: im.ConversationTypeOneToOne}); !slices.Equal(got, []im.ConversationShortID{single.ShortID}) {
		t.Fatalf("single chats = %v", got)
	}
	if got := all(im.ListConversationsOptions{Cursor: int64(want[3])}); !slices.Equal(got, want[4:]) {
		t.Fatalf("from a cursor = %v, want %v", got, want[4:])
	}
	for conv, err := range a.AllConversations(cx, im.ListConversationsOptions{Limit: 1}) {
		if err != nil || conv.ShortID != want[0] {
			t.Fatalf("first = %v, %v", conv, err)
		}
		break // stopping early opsMust not panic
	}

	// Leaving takes a conversation off the list unless IncludeLeft.
	opsOK(t, a.LeaveConversation(cx, theirs.Ref()))
	if c := a.CachedConversation(theirs.ID); c == nil || c.IsMember {
		t.Fatalf("cached after leaving = %+v", c)
	}
	if got := all(im.ListConversationsOptions{}); slices.Contains(got, theirs.ShortID) {
		t.Fatalf("the group a left is listed: %v", got)
	}
	if got := all(im.ListConversationsOptions{IncludeLeft: true}); !slices.Equal(got, want) {
		t.Fatalf("with IncludeLeft = %v, want %v", got, want)
	}
	if former := opsMust(a.GetConversation(cx, theirs.Ref()))(t); former.IsMember {
		t.Fatal("a former member reads the group as a member")
	}

	// Deleting hides a conversation from its deleter only.
	opsOK(t, a.DeleteConversation(cx, single.Ref()))
	if got := all(im.ListConversationsOptions{}); slices.Contains(got, single.ShortID) {
		t.Fatalf("the deleted chat is listed: %v", got)
	}
	if got := opsMust(b.ListConversations(cx, im.ListConversationsOptions{Type: im.ConversationTypeOneToOne}))(t); len(got.Conversations) != 1 {
		t.Fatal("deleting hid the chat from the other user")
	}
	_, err := a.ListConversations(cx, im.ListConversationsOptions{Cursor: -1})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a negative cursor")
}

func TestOpsMarkReadAndReadIndexes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.unstarted(1)
	reads := opsEvents(a.OnReadIndexChanged)
	opsOnline(t, a)
	b, stranger := s.client(2, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)

	group := opsGroup(t, a, 2)
	var sent []*im.Message
	for _, text := range []string{"one", "two", "three"} {
		sent = append(sent, opsSend(t, a, group.Ref(), text))
	}
	idx := sent[1].Index
	if err := b.MarkRead(cx, group.Ref(), idx); err != nil {
		t.Fatal(err)
	}
	ev := opsWait(t, reads, "read receipt of user 2", func(e im.ReadIndexEvent) bool { return e.UserID == 2 })
	if ev.ConversationID != group.ID || ev.ReadIndex != idx || ev.MessageID != sent[1].ServerID {
		t.Fatalf("read event = %+v, want index %d of message %d", ev, idx, sent[1].ServerID)
	}

	r := opsMust(a.GetReadIndexes(cx, group.Ref()))(t)
	if r.ByUser[2] != idx || len(r.ByUser) != 2 || r.Min > idx {
		t.Fatalf("read indexes = %+v, want user 2 at %d", r, idx)
	}
	if n := r.ReadBy(idx); n < 1 {
		t.Fatalf("ReadBy(%d) = %d", idx, n)
	}
	// Marks only move forward.
	opsOK(t, b.MarkRead(cx, group.Ref(), 1))
	if r := opsMust(b.GetReadIndexes(cx, group.Ref()))(t); r.ByUser[2] != idx {
		t.Fatalf("the read index went back to %d", r.ByUser[2])
	}

	opsIs(t, stranger.MarkRead(cx, group.Ref(), idx), im.ErrNotMember, "a stranger marks read")
	_, err := stranger.GetReadIndexes(cx, group.Ref())
	opsIs(t, err, im.ErrNotMember, "a stranger reads the read indexes")
}

func TestOpsCoreInfo(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b := s.unstarted(2)
	added, updates := opsEvents(b.OnConversationAdded), opsEvents(b.OnConversationUpdated)
	opsOnline(t, b)
	cx := ctx(t)

	group := opsGroup(t, a, 2)
	opsWaitAdded(t, added, group)
	name, notice := "renamed", "read the rules"
	core := opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name, Notice: &notice}))(t)
	if core.Name != name || core.Notice != notice || core.Version <= group.CoreInfo.Version {
		t.Fatalf("core = %+v (was version %d)", core, group.CoreInfo.Version)
	}
	if cached := a.CachedConversation(group.ID); cached.CoreInfo.Name != name {
		t.Fatalf("cached name %q", cached.CoreInfo.Name)
	}
	ev := opsWait(t, updates, "the rename at user 2", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == group.ID && e.Conversation.CoreInfo.Name == name
	})
	if ev.Conversation.CoreInfo.Notice != notice {
		t.Fatalf("pushed core = %+v", ev.Conversation.CoreInfo)
	}
	same := opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name}))(t)
	if same.Version != core.Version {
		t.Fatal("a change that changes nothing moved the version")
	}

	core = opsMust(a.UpsertCoreExt(cx, group.Ref(), map[string]string{"a": "1", "b": "2"}))(t)
	core = opsMust(a.UpsertCoreExt(cx, group.Ref(), map[string]string{"a": ""}))(t)
	if _, ok := core.Ext["a"]; ok || core.Ext["b"] != "2" {
		t.Fatalf("ext after upserts = %v", core.Ext)
	}
	core = opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Ext: map[string]string{"c": "3"}}))(t)
	if len(core.Ext) != 1 || core.Ext["c"] != "3" {
		t.Fatalf("SetCoreInfo's ext replaces: got %v", core.Ext)
	}

	_, err := b.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name})
	opsIs(t, err, im.ErrForbidden, "an ordinary member renames")
	_, err = b.UpsertCoreExt(cx, group.Ref(), map[string]string{"x": "y"})
	opsIs(t, err, im.ErrForbidden, "an ordinary member changes the ext")
	single := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2}}))(t)
	_, err = a.SetCoreInfo(cx, single.Ref(), im.CoreInfoChange{Name: &name})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "renaming a single chat")
}

func TestOpsSettingInfo(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, stranger := s.client(1, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	on := true

	set := opsMust(a.SetSettingInfo(cx, group.Ref(), im.SettingChange{StickTop: &on, Favorite: &on}))(t)
	if set.StickTop != im.StickTopStateOn || set.SetTopTime.IsZero() || set.Favorite != im.FavoriteStateOn || set.Mute != im.MuteStateOff {
		t.Fatalf("settings = %+v", set)
	}
	if cached := a.CachedConversation(group.ID); !cached.IsStickOnTop() || !cached.IsFavorite() {
		t.Fatal("the cached conversation did not take the settings")
	}

	set = opsMust(a.SetPushStatus(cx, group.Ref(), im.PushStatusPartAllow))(t)
	if set.PushStatus != im.PushStatusPartAllow {
		t.Fatalf("push status = %v", set.PushStatus)
	}
	want := im.ConversationSettingWeakMuteInfo{WhiteUIDs: []im.UserID{2}, WhiteMsgTypes: []im.MessageType{im.MessageTypeText}}
	set = opsMust(a.SetWeakMuteInfo(cx, group.Ref(), &want))(t)
	if w := set.WeakMuteInfo; w == nil || !slices.Equal(w.WhiteUIDs, want.WhiteUIDs) || !slices.Equal(w.WhiteMsgTypes, want.WhiteMsgTypes) {
		t.Fatalf("weak-mute info = %+v", set.WeakMuteInfo)
	}
	cached := a.CachedConversation(group.ID)
	if cached.PushStatus() != im.PushStatusPartAllow || cached.WeakMuteInfo() == nil || !cached.WeakMuteInfo().Allows(&im.Message{Sender: 2}) {
		t.Fatalf("cached push settings: %v, %+v", cached.PushStatus(), cached.WeakMuteInfo())
	}
	// The model reads back what the helpers wrote, and the server stored it.
	fetched := opsMust(a.GetConversation(cx, group.Ref()))(t)
	if fetched.PushStatus() != im.PushStatusPartAllow || fetched.WeakMuteInfo() == nil {
		t.Fatalf("fetched push settings: %v, %+v", fetched.PushStatus(), fetched.WeakMuteInfo())
	}

	set = opsMust(a.SetPushStatus(cx, group.Ref(), im.PushStatusUnknown))(t)
	set = opsMust(a.SetWeakMuteInfo(cx, group.Ref(), nil))(t)
	if set.PushStatus != im.PushStatusUnknown || set.WeakMuteInfo != nil || len(set.Ext) != 0 {
		t.Fatalf("after clearing: %+v", set)
	}
	set = opsMust(a.UpsertSettingExt(cx, group.Ref(), map[string]string{"mine": "x"}))(t)
	if set.Ext["mine"] != "x" {
		t.Fatalf("setting ext = %v", set.Ext)
	}
	_, err := a.SetPushStatus(cx, group.Ref(), im.PushStatus(9))
	var e *im.Error
	if !errors.As(err, &e) || e.Type != im.ErrorTypeInvalidArgument {
		t.Fatalf("push status 9: %v", err)
	}
	_, err = a.UpsertSettingExt(cx, group.Ref(), map[string]string{string(im.InfoKeyPushStatus): "7"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an invalid push status")
	_, err = stranger.SetSettingInfo(cx, group.Ref(), im.SettingChange{Mute: &on})
	opsIs(t, err, im.ErrNotMember, "a stranger's settings")
}

func TestOpsParticipants(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b := s.unstarted(2)
	added, changes := opsEvents(b.OnConversationAdded), opsEvents(b.OnParticipantsChanged)
	opsOnline(t, b)
	stranger := s.client(50, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2)
	opsWaitAdded(t, added, group)

	res := opsMust(a.AddParticipants(cx, group.Ref(), 3, 4, -5))(t)
	if !res.Success || !slices.Equal(res.FailedParticipants, []im.UserID{-5}) || res.Payload == nil || res.Payload.ParticipantCount != 4 {
		t.Fatalf("add: success %v, failed %v, payload %+v", res.Success, res.FailedParticipants, res.Payload)
	}
	if a.CachedConversation(group.ID).ParticipantCount != 4 {
		t.Fatal("the cache did not take the new members")
	}
	ev := opsWait(t, changes, "the new members at user 2", func(e im.ParticipantsEvent) bool {
		return e.Conversation.ID == group.ID && slices.Contains(e.Added, 3) && slices.Contains(e.Added, 4)
	})
	if ev.Conversation.ParticipantCount != 4 {
		t.Fatalf("pushed count %d", ev.Conversation.ParticipantCount)
	}
	_, err := b.AddParticipants(cx, group.Ref(), 7)
	opsIs(t, err, im.ErrForbidden, "an ordinary member adds")

	rm := opsMust(a.RemoveParticipants(cx, group.Ref(), 4, 99))(t)
	if len(rm.FailedParticipants) != 0 || rm.Payload.ParticipantCount != 3 {
		t.Fatalf("remove: failed %v, count %d", rm.FailedParticipants, rm.Payload.ParticipantCount)
	}
	opsWait(t, changes, "the removal at user 2", func(e im.ParticipantsEvent) bool { return slices.Contains(e.Removed, 4) })
	if rm := opsMust(a.RemoveParticipants(cx, group.Ref(), 1))(t); !slices.Equal(rm.FailedParticipants, []im.UserID{1}) {
		t.Fatalf("the owner removed themself: failed %v", rm.FailedParticipants)
	}
	_, err = b.RemoveParticipants(cx, group.Ref(), 3)
	opsIs(t, err, im.ErrForbidden, "an ordinary member removes")

	// Paging: 1, 2, 3, 5, 6, 7, 8, 9.
	opsMust(a.AddParticipants(cx, group.Ref(), 5, 6, 7, 8, 9))(t)
	wantIDs := []im.UserID{1, 2, 3, 5, 6, 7, 8, 9}
	page := opsMust(b.ListParticipants(cx, group.Ref(), 0, 3))(t)
	if got := opsParticipantIDs(page.Participants); !slices.Equal(got, wantIDs[:3]) || !page.HasMore || page.Next != 3 {
		t.Fatalf("first page %v, more %v, next %d", got, page.HasMore, page.Next)
	}
	if page.Participants[0].ConversationID != group.ID || page.Participants[0].Role != im.GroupRoleOwner {
		t.Fatalf("participant = %+v", page.Participants[0])
	}
	var got []im.UserID
	for p, err := range b.AllParticipants(cx, group.Ref(), 3) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.UserID)
	}
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("AllParticipants = %v, want %v", got, wantIDs)
	}
	some := opsMust(b.GetParticipants(cx, group.Ref(), 9, 4, 2))(t)
	if ids := opsParticipantIDs(some); !slices.Equal(ids, []im.UserID{9, 2}) {
		t.Fatalf("GetParticipants = %v, want the members in the order asked", ids)
	}
	_, err = stranger.ListParticipants(cx, group.Ref(), 0, 0)
	opsIs(t, err, im.ErrNotMember, "a stranger lists members")
	for _, err := range stranger.AllParticipants(cx, group.Ref(), 0) {
		opsIs(t, err, im.ErrNotMember, "a stranger iterates members")
	}
	_, err = stranger.GetParticipants(cx, group.Ref(), 1)
	opsIs(t, err, im.ErrNotMember, "a stranger gets members")

	// Updates: own alias and ext, roles by the owner, ownership.
	alias := "bee"
	p := opsMust(b.UpdateParticipant(cx, group.Ref(), 2, im.ParticipantChange{Alias: &alias, Ext: map[string]string{"x": "1"}}))(t)
	if p.Alias != alias || p.Ext["x"] != "1" {
		t.Fatalf("updated self = %+v", p)
	}
	if me := b.CachedConversation(group.ID).Participant; me == nil || me.Alias != alias {
		t.Fatalf("b's cached self = %+v", me)
	}
	_, err = b.UpdateParticipant(cx, group.Ref(), 1, im.ParticipantChange{Alias: &alias})
	opsIs(t, err, im.ErrForbidden, "an ordinary member renames the owner")
	manager, owner := im.GroupRoleManager, im.GroupRoleOwner
	_, err = b.UpdateParticipant(cx, group.Ref(), 3, im.ParticipantChange{Role: &manager})
	opsIs(t, err, im.ErrForbidden, "an ordinary member gives a role")
	if p := opsMust(a.UpdateParticipant(cx, group.Ref(), 3, im.ParticipantChange{Role: &manager}))(t); p.Role != im.GroupRoleManager {
		t.Fatalf("role = %v", p.Role)
	}
	_, err = a.UpdateParticipant(cx, group.Ref(), 50, im.ParticipantChange{Role: &manager})
	opsIs(t, err, im.ErrNotMember, "a role for a stranger")
	opsMust(a.UpdateParticipant(cx, group.Ref(), 2, im.ParticipantChange{Role: &owner}))(t)
	after := opsMust(a.GetConversation(cx, group.Ref()))(t)
	if after.CoreInfo.Owner != 2 || after.Participant.Role != im.GroupRoleManager {
		t.Fatalf("after the transfer: owner %d, a is %v", after.CoreInfo.Owner, after.Participant.Role)
	}
}

func TestOpsBlock(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b, m := s.client(1, opsNoSocket), s.client(2, opsNoSocket), s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2, 3)
	manager := im.GroupRoleManager
	opsMust(a.UpdateParticipant(cx, group.Ref(), 3, im.ParticipantChange{Role: &manager}))(t)
	send := func(c *im.Client) error {
		_, err := c.SendMessage(cx, group.Ref(), im.OutgoingMessage{Content: im.TextContent("hi")})
		return err
	}

	failed := opsMust(a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: 0, 99: 0}, true))(t)
	if !slices.Equal(failed, []im.UserID{99}) {
		t.Fatalf("failed = %v, want the stranger", failed)
	}
	opsIs(t, send(b), im.ErrMuted, "a muted member sends")
	ps := opsMust(a.GetParticipants(cx, group.Ref(), 2))(t)
	if !ps[0].Blocked || ps[0].LeftBlockTime != 0 {
		t.Fatalf("muted until unmuted: %+v", ps[0])
	}
	// A duration rounds up to whole seconds, never down to "forever".
	opsMust(a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: 1500 * time.Millisecond}, true))(t)
	ps = opsMust(a.GetParticipants(cx, group.Ref(), 2))(t)
	if left := ps[0].LeftBlockTime; !ps[0].Blocked || left <= time.Second || left > 2*time.Second {
		t.Fatalf("muted for 1.5s: %+v", ps[0])
	}
	opsMust(a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: time.Hour}, false))(t)
	if err := send(b); err != nil {
		t.Fatalf("an unmuted member sends: %v", err)
	}

	if failed := opsMust(m.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{1: 0}, true))(t); !slices.Equal(failed, []im.UserID{1}) {
		t.Fatalf("a manager muted the owner: failed %v", failed)
	}
	_, err := b.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{3: 0}, true)
	opsIs(t, err, im.ErrForbidden, "an ordinary member mutes")
	_, err = a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: -time.Second}, true)
	var e *im.Error
	if !errors.As(err, &e) || e.Type != im.ErrorTypeInvalidArgument {
		t.Fatalf("a negative duration: %v", err)
	}

	opsOK(t, a.BlockConversation(cx, group.Ref(), true, false))
	if !a.CachedConversation(group.ID).IsBlocked() {
		t.Fatal("the cache does not know the conversation is muted")
	}
	opsIs(t, send(b), im.ErrMuted, "a member sends to a muted conversation")
	opsIs(t, send(m), im.ErrMuted, "a manager sends to a muted conversation")
	if err := send(a); err != nil {
		t.Fatalf("the owner sends to a muted conversation: %v", err)
	}
	opsOK(t, a.BlockConversation(cx, group.Ref(), true, true))
	if c := a.CachedConversation(group.ID); !c.IsBlockNormalOnly() {
		t.Fatal("the cache does not know the mute is for ordinary members")
	}
	if err := send(m); err != nil {
		t.Fatalf("a manager sends when only ordinary members are muted: %v", err)
	}
	opsIs(t, send(b), im.ErrMuted, "an ordinary member sends when they are muted")
	opsIs(t, b.BlockConversation(cx, group.Ref(), false, false), im.ErrForbidden, "an ordinary member unmutes")
	opsOK(t, a.BlockConversation(cx, group.Ref(), false, false))
	if err := send(b); err != nil {
		t.Fatalf("a member sends after the mute: %v", err)
	}
}

func TestOpsDissolveAndLeave(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	b := s.unstarted(2)
	added, updates := opsEvents(b.OnConversationAdded), opsEvents(b.OnConversationUpdated)
	opsOnline(t, b)
	c := s.client(3, opsNoSocket)
	cx := ctx(t)
	group := opsGroup(t, a, 2, 3)
	opsWaitAdded(t, added, group)
	opsMust(c.GetConversation(cx, group.Ref()))(t) // into c's cache

	opsIs(t, a.LeaveConversation(cx, group.Ref()), im.ErrForbidden, "the owner leaves others behind")
	opsOK(t, c.LeaveConversation(cx, group.Ref()))
	if cached := c.CachedConversation(group.ID); cached.IsMember || cached.Participant != nil {
		t.Fatalf("cached after leaving: %+v", cached)
	}
	opsIs(t, c.LeaveConversation(cx, group.Ref()), im.ErrNotMember, "leaving twice")

	opsIs(t, b.DissolveConversation(cx, group.Ref()), im.ErrForbidden, "a member dissolves")
	opsOK(t, a.DissolveConversation(cx, group.Ref()))
	if cached := a.CachedConversation(group.ID); cached.Status != im.ConversationStatusDissolved || cached.CoreInfo.Status != im.ConversationStatusDissolved {
		t.Fatalf("cached after dissolving: %v", cached.Status)
	}
	opsWait(t, updates, "the dissolution at user 2", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == group.ID && e.Conversation.Status == im.ConversationStatusDissolved
	})
	name := "late"
	_, err := a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name})
	opsIs(t, err, im.ErrNotFound, "renaming a dissolved group")
	_, err = a.AddParticipants(cx, group.Ref(), 4)
	opsIs(t, err, im.ErrNotFound, "adding to a dissolved group")
	if got := opsMust(b.GetConversation(cx, group.Ref()))(t); got.Status != im.ConversationStatusDissolved || !got.IsMember {
		t.Fatalf("a member reads the dissolved group: %+v", got)
	}
}

func TestOpsLiveChat(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b := s.client(1), s.client(2)
	waitConnected(t, a)
	waitConnected(t, b)
	stranger := s.client(3, opsNoSocket)
	cx := ctx(t)

	live := opsMust(a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeMassChat, Name: "show"}))(t)
	conv, me := opsMust2(b.JoinLiveChat(cx, live.Ref()))(t)
	if !conv.IsMember || conv.ID != live.ID || me.UserID != 2 || !me.IsInConversation || me.Role != im.GroupRoleVisitor {
		t.Fatalf("joined: %+v as %+v", conv, me)
	}
	if b.CachedConversation(live.ID) == nil {
		t.Fatal("the joined live chat is not cached")
	}

	counts := opsMust(a.LiveOnlineCounts(cx, live.Ref(), im.ConversationRef{ID: live.ID}, im.ConversationRef{ShortID: 424242}))(t)
	if len(counts) != 1 || counts[live.ShortID] != 2 {
		t.Fatalf("online counts = %v, want %d: 2", counts, live.ShortID)
	}
	if n := a.CachedConversation(live.ID).OnlineMemberCount; n != 2 {
		t.Fatalf("cached online count %d", n)
	}

	page := opsMust(a.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{Limit: 1}))(t)
	if len(page.Members) != 1 || page.Members[0].UserID != 1 || !page.HasMore || page.OnlineCount != 2 {
		t.Fatalf("first page: %+v", page)
	}
	page = opsMust(a.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{Cursor: page.Next, Limit: 1}))(t)
	if len(page.Members) != 1 || page.Members[0].UserID != 2 || page.HasMore {
		t.Fatalf("second page: %+v", page)
	}

	var sent []*im.Message
	for _, text := range []string{"one", "two", "three"} {
		sent = append(sent, opsMust(b.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent(text)}))(t)) // no index needed
	}
	latest := opsMust(a.LiveMessages(cx, live.Ref(), 0, 2, true))(t)
	if got := opsServerIDs(latest.Messages); !slices.Equal(got, opsServerIDs(sent[1:])) || !latest.HasMore {
		t.Fatalf("latest two = %v (more %v), want %v", got, latest.HasMore, opsServerIDs(sent[1:]))
	}
	older := opsMust(a.LiveMessages(cx, live.Ref(), latest.Next, 2, true))(t)
	if got := opsServerIDs(older.Messages); !slices.Equal(got, opsServerIDs(sent[:1])) || older.HasMore {
		t.Fatalf("older = %v (more %v)", got, older.HasMore)
	}
	forward := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	if got := opsServerIDs(forward.Messages); !slices.Equal(got, opsServerIDs(sent)) {
		t.Fatalf("forward = %v", got)
	}

	left := opsMust(b.LeaveLiveChat(cx, live.Ref()))(t)
	if left.IsInConversation {
		t.Fatalf("left: %+v", left)
	}
	if cached := b.CachedConversation(live.ID); cached.IsMember {
		t.Fatal("the cache still has b as a member")
	}
	_, err := b.LiveMessages(cx, live.Ref(), 0, 0, false)
	opsIs(t, err, im.ErrNotMember, "a member who left pages the history")
	if n := opsMust(a.LiveOnlineCounts(cx, live.Ref()))(t)[live.ShortID]; n != 1 {
		t.Fatalf("online after leaving = %d, want 1", n)
	}
	_, err = stranger.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{})
	opsIs(t, err, im.ErrNotMember, "a stranger lists the live members")
	group := opsGroup(t, a, 2)
	_, _, err = a.JoinLiveChat(cx, group.Ref())
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "joining a group as a live chat")
}

// opsMust2 is opsMust for calls with two results.
func opsMust2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func opsServerIDs(list []*im.Message) []im.MessageID {
	out := make([]im.MessageID, len(list))
	for i, m := range list {
		out[i] = m.ServerID
	}
	return out
}

func TestOpsFriends(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.unstarted(1)
	replied, added := opsEvents(a.OnFriendApplyReplied), opsEvents(a.OnFriendAdded)
	ownApply := opsEvents(a.OnFriendApplyReceived) // a's own apply is not one a received
	opsOnline(t, a)
	b := s.unstarted(2)
	received, removed := opsEvents(b.OnFriendApplyReceived), opsEvents(b.OnFriendRemoved)
	acceptedByB, ownReply := opsEvents(b.OnFriendAdded), opsEvents(b.OnFriendApplyReplied)
	opsOnline(t, b)
	c := s.client(3, opsNoSocket)
	cx := ctx(t)

	apply := opsMust(a.SendFriendApply(cx, 2, map[string]string{"hello": "there"}))(t)
	if apply.ID == 0 || apply.FromUserID != 1 || apply.ToUserID != 2 || apply.Status != im.FriendApplyStatusWaiting || apply.Ext["hello"] != "there" {
		t.Fatalf("apply = %+v", apply)
	}
	ev := opsWait(t, received, "the apply at user 2", nil)
	if ev.Apply.ID != apply.ID || ev.Apply.FromUserID != 1 {
		t.Fatalf("received = %+v", ev.Apply)
	}

	dup, err := a.SendFriendApply(cx, 2, nil)
	opsIs(t, err, im.ErrDuplicateApply, "applying twice")
	var e *im.Error
	if !errors.As(err, &e) || e.Args["friend_status"] != improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY || dup == nil || dup.ID != apply.ID {
		t.Fatalf("duplicate: %v, apply %+v", err, dup)
	}
	if errors.Is(err, im.ErrAlreadyFriends) {
		t.Fatal("a duplicate apply matches ErrAlreadyFriends")
	}

	waiting := im.FriendApplyStatusWaiting
	in := opsMust(b.ReceivedFriendApplies(cx, im.FriendApplyListOptions{Status: &waiting}))(t)
	if len(in.Applies) != 1 || in.Applies[0].ID != apply.ID || in.HasMore {
		t.Fatalf("received applies = %+v", in)
	}
	out := opsMust(a.SentFriendApplies(cx, im.FriendApplyListOptions{}))(t)
	if len(out.Applies) != 1 || out.Applies[0].ToUserID != 2 {
		t.Fatalf("sent applies = %+v", out)
	}

	answered, failed := opsMust2(b.ReplyFriendApply(cx, im.ReplyFriendAttitudeAccept, 1, 9))(t)
	if len(answered) != 1 || answered[0].ID != apply.ID || answered[0].Status != im.FriendApplyStatusAgree || !slices.Equal(failed, []im.UserID{9}) {
		t.Fatalf("reply: answered %+v, failed %v", answered, failed)
	}
	if ev := opsWait(t, replied, "the answer at user 1", nil); ev.Apply.Status != im.FriendApplyStatusAgree {
		t.Fatalf("replied = %+v", ev.Apply)
	}
	if ev := opsWait(t, added, "the new friend at user 1", nil); ev.Friend.UserID != 2 {
		t.Fatalf("added = %+v", ev.Friend)
	}
	// The client that accepted hears of its new friend too; neither side
	// takes the other's half of the exchange for its own.
	if ev := opsWait(t, acceptedByB, "the new friend at user 2, who accepted", nil); ev.Friend.UserID != 1 {
		t.Fatalf("added at user 2 = %+v", ev.Friend)
	}
	if len(ownApply) != 0 || len(ownReply) != 0 {
		t.Fatalf("user 1 got its own apply as received (%d), user 2 its own answer as replied (%d)", len(ownApply), len(ownReply))
	}
	_, err = a.SendFriendApply(cx, 2, nil)
	opsIs(t, err, im.ErrAlreadyFriends, "applying to a friend")
	friends := opsMust(a.Friends(cx, 0, 0))(t)
	if len(friends.Friends) != 1 || friends.Friends[0].UserID != 2 || friends.Friends[0].CreateTime.IsZero() {
		t.Fatalf("friends = %+v", friends)
	}
	if failed := opsMust(a.DeleteFriends(cx, 2, 9))(t); !slices.Equal(failed, []im.UserID{9}) {
		t.Fatalf("delete failed = %v", failed)
	}
	if ev := opsWait(t, removed, "the removal at user 2", nil); ev.Friend == nil {
		t.Fatal("no friend in the removal")
	}
	if friends := opsMust(a.Friends(cx, 0, 0))(t); len(friends.Friends) != 0 {
		t.Fatalf("friends after delete = %+v", friends.Friends)
	}

	// Refusing, and applying back, which accepts.
	opsMust(c.SendFriendApply(cx, 1, nil))(t)
	refused, _ := opsMust2(a.ReplyFriendApply(cx, im.ReplyFriendAttitudeReject, 3))(t)
	if len(refused) != 1 || refused[0].Status != im.FriendApplyStatusRefuse {
		t.Fatalf("refused = %+v", refused)
	}
	opsMust(c.SendFriendApply(cx, 2, nil))(t)
	back := opsMust(b.SendFriendApply(cx, 3, nil))(t)
	if back.Status != im.FriendApplyStatusAgree || back.FromUserID != 3 {
		t.Fatalf("applying back = %+v", back)
	}
	_, err = b.SendFriendApply(cx, 2, nil)
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "applying to oneself")
}

func TestOpsFriendIterators(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := s.client(1, opsNoSocket)
	cx := ctx(t)
	applicants := []im.UserID{10, 11, 12, 13, 14}
	for _, u := range applicants {
		opsMust(s.client(int64(u), opsNoSocket).SendFriendApply(cx, 1, nil))(t)
	}

	var from []im.UserID
	for apply, err := range a.AllReceivedFriendApplies(cx, im.FriendApplyListOptions{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		from = append(from, apply.FromUserID)
	}
	if !slices.Equal(from, applicants) {
		t.Fatalf("received applies from %v, want %v", from, applicants)
	}
	answered, _ := opsMust2(a.ReplyFriendApply(cx, im.ReplyFriendAttitudeAccept, applicants...))(t)
	if len(answered) != len(applicants) {
		t.Fatalf("answered %d", len(answered))
	}
	agreed := im.FriendApplyStatusAgree
	n := 0
	for _, err := range a.AllReceivedFriendApplies(cx, im.FriendApplyListOptions{Limit: 2, Status: &agreed}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(applicants) {
		t.Fatalf("%d agreed applies, want %d", n, len(applicants))
	}

	var friends []im.UserID
	for f, err := range a.AllFriends(cx, 2) {
		if err != nil {
			t.Fatal(err)
		}
		friends = append(friends, f.UserID)
	}
	if !slices.Equal(friends, applicants) {
		t.Fatalf("friends %v, want %v", friends, applicants)
	}

	for _, u := range []im.UserID{20, 21, 22} {
		opsMust(a.SendFriendApply(cx, u, nil))(t)
	}
	var to []im.UserID
	for apply, err := range a.AllSentFriendApplies(cx, im.FriendApplyListOptions{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		to = append(to, apply.ToUserID)
	}
	if !slices.Equal(to, []im.UserID{20, 21, 22}) {
		t.Fatalf("sent applies to %v", to)
	}
	for _, err := range a.AllSentFriendApplies(cx, im.FriendApplyListOptions{Cursor: -1}) {
		opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a negative cursor")
	}
}
