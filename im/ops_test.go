package im_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
			require.FailNow(t, "no "+what, "no %s within %v", what, waitFor)
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

// opsStatus fails unless err is a server answer with status code.
func opsStatus(t *testing.T, err error, code improto.StatusCode, what string) {
	t.Helper()
	require.Error(t, err, "%s: want status %v", what, code)
	require.Equal(t, code, im.StatusCodeOf(err), "%s: the status of %v", what, err)
}

// opsMust returns v, failing the test (opsMust(call())(t)) on err.
func opsMust[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		require.NoError(t, err)
		return v
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
	require.NotNil(t, stored, "message %d is not stored", m.ServerID)
	require.NotZero(t, stored.Index, "message %d is not stored: %+v", m.ServerID, stored)
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
	require.Equal(t, im.SingleChatID(0, 1, 2), single.ID, "single chat = %+v: id", single)
	require.Equal(t, im.ConversationTypeOneToOne, single.Type, "single chat = %+v: type", single)
	require.True(t, single.IsMember, "single chat = %+v: a member", single)
	again := opsMust(b.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{1}}))(t)
	require.Equal(t, single.ID, again.ID, "the single chat was not found again")
	require.Equal(t, single.ShortID, again.ShortID, "the single chat was not found again")
	_, err := a.CreateConversation(cx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{2, 3}})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a single chat of three")

	opts := im.CreateConversationOptions{
		Type: im.ConversationTypeGroup, Participants: []im.UserID{2},
		Name: "team", Avatar: "icon.png", Description: "the team", Ext: map[string]string{"k": "v"}, IdempotentID: "team-1",
	}
	group := opsMust(a.CreateConversation(cx, opts))(t)
	core := group.CoreInfo
	require.Equal(t, "team", core.Name, "core info = %+v: name", core)
	require.Equal(t, "icon.png", core.Icon, "core info = %+v: icon", core)
	require.Equal(t, "the team", core.Desc, "core info = %+v: description", core)
	require.EqualValues(t, 1, core.Owner, "core info = %+v: owner", core)
	require.Equal(t, "v", core.Ext["k"], "core info = %+v: ext", core)
	require.NotNil(t, group.Participant, "creator, want the owner")
	require.Equal(t, im.GroupRoleOwner, group.Participant.Role, "creator = %+v, want the owner", group.Participant)
	require.EqualValues(t, 2, group.ParticipantCount, "participant count")
	require.NotNil(t, a.CachedConversation(group.ID), "the created group is not cached")
	repeat := opsMust(a.CreateConversation(cx, opts))(t)
	require.Equal(t, group.ShortID, repeat.ShortID, "what repeating the idempotent id made")
	opts.IdempotentID = "team-2"
	other := opsMust(a.CreateConversation(cx, opts))(t)
	require.NotEqual(t, group.ShortID, other.ShortID, "a new idempotent id found the old group")

	got := opsMust(b.GetConversation(cx, group.Ref()))(t)
	require.True(t, got.IsMember, "b's view = %+v: a member", got)
	require.Equal(t, "team", got.CoreInfo.Name, "b's view = %+v: name", got)
	require.Equal(t, im.GroupRoleOrdinary, got.Participant.Role, "b's view = %+v: role", got)
	require.NotNil(t, b.CachedConversation(group.ID), "the fetched group is not cached")
	list := opsMust(b.GetConversations(cx, single.Ref(), group.Ref(), im.ConversationRef{ID: "424242"}, group.Ref()))(t)
	require.Len(t, opsIDs(list, func(c *im.Conversation) im.UserID { return im.UserID(c.ShortID) }), 2, "GetConversations, want the two b may see, once each")
	require.Empty(t, opsMust(b.GetConversations(cx))(t), "GetConversations()")

	_, err = c.GetConversation(cx, group.Ref())
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger reads the group")
	_, err = c.GetConversation(cx, im.ConversationRef{ID: "424242", Type: im.ConversationTypeGroup})
	require.ErrorIs(t, err, im.ErrNotFound, "an unknown conversation")
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
	require.Len(t, page.Conversations, 2, "first page")
	require.True(t, page.HasMore, "first page: more")
	require.Equal(t, int64(want[1]), page.Next, "first page: next")
	all := func(opts im.ListConversationsOptions) []im.ConversationShortID {
		t.Helper()
		var got []im.ConversationShortID
		for conv, err := range a.AllConversations(cx, opts) {
			require.NoError(t, err)
			got = append(got, conv.ShortID)
		}
		return got
	}
	require.Equal(t, want, all(im.ListConversationsOptions{Limit: 2}), "AllConversations")
	require.Equal(t, []im.ConversationShortID{single.ShortID}, all(im.ListConversationsOptions{Limit: 2, Type: im.ConversationTypeOneToOne}), "single chats")
	require.Equal(t, want[4:], all(im.ListConversationsOptions{Cursor: int64(want[3])}), "from a cursor")
	for conv, err := range a.AllConversations(cx, im.ListConversationsOptions{Limit: 1}) {
		require.NoError(t, err, "first")
		require.Equal(t, want[0], conv.ShortID, "first = %v", conv)
		break // stopping early opsMust not panic
	}

	// Leaving takes a conversation off the list unless IncludeLeft.
	require.NoError(t, a.LeaveConversation(cx, theirs.Ref()))
	c := a.CachedConversation(theirs.ID)
	require.NotNil(t, c, "cached after leaving")
	require.False(t, c.IsMember, "cached after leaving = %+v", c)
	require.NotContains(t, all(im.ListConversationsOptions{}), theirs.ShortID, "the group a left is listed")
	require.Equal(t, want, all(im.ListConversationsOptions{IncludeLeft: true}), "with IncludeLeft")
	require.False(t, opsMust(a.GetConversation(cx, theirs.Ref()))(t).IsMember, "a former member reads the group as a member")

	// Deleting hides a conversation from its deleter only.
	require.NoError(t, a.DeleteConversation(cx, single.Ref()))
	require.NotContains(t, all(im.ListConversationsOptions{}), single.ShortID, "the deleted chat is listed")
	require.Len(t, opsMust(b.ListConversations(cx, im.ListConversationsOptions{Type: im.ConversationTypeOneToOne}))(t).Conversations, 1,
		"deleting hid the chat from the other user")
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
	require.NoError(t, b.MarkRead(cx, group.Ref(), idx))
	ev := opsWait(t, reads, "read receipt of user 2", func(e im.ReadIndexEvent) bool { return e.UserID == 2 })
	require.Equal(t, group.ID, ev.ConversationID, "read event = %+v: conversation", ev)
	require.Equal(t, idx, ev.ReadIndex, "read event = %+v: index", ev)
	require.Equal(t, sent[1].ServerID, ev.MessageID, "read event = %+v: message", ev)

	r := opsMust(a.GetReadIndexes(cx, group.Ref()))(t)
	require.Equal(t, idx, r.ByUser[2], "read indexes = %+v: user 2", r)
	require.Len(t, r.ByUser, 2, "read indexes = %+v", r)
	require.LessOrEqual(t, r.Min, idx, "read indexes = %+v: min", r)
	require.GreaterOrEqual(t, r.ReadBy(idx), 1, "ReadBy(%d)", idx)
	// Marks only move forward.
	require.NoError(t, b.MarkRead(cx, group.Ref(), 1))
	require.Equal(t, idx, opsMust(b.GetReadIndexes(cx, group.Ref()))(t).ByUser[2], "the read index went back")

	require.ErrorIs(t, stranger.MarkRead(cx, group.Ref(), idx), im.ErrNotMember, "a stranger marks read")
	_, err := stranger.GetReadIndexes(cx, group.Ref())
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger reads the read indexes")
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
	require.Equal(t, name, core.Name, "core = %+v: name", core)
	require.Equal(t, notice, core.Notice, "core = %+v: notice", core)
	require.Greater(t, core.Version, group.CoreInfo.Version, "core = %+v: version", core)
	require.Equal(t, name, a.CachedConversation(group.ID).CoreInfo.Name, "cached name")
	ev := opsWait(t, updates, "the rename at user 2", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == group.ID && e.Conversation.CoreInfo.Name == name
	})
	require.Equal(t, notice, ev.Conversation.CoreInfo.Notice, "pushed core = %+v", ev.Conversation.CoreInfo)
	same := opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name}))(t)
	require.Equal(t, core.Version, same.Version, "a change that changes nothing moved the version")

	core = opsMust(a.UpsertCoreExt(cx, group.Ref(), map[string]string{"a": "1", "b": "2"}))(t)
	core = opsMust(a.UpsertCoreExt(cx, group.Ref(), map[string]string{"a": ""}))(t)
	require.NotContains(t, core.Ext, "a", "ext after upserts")
	require.Equal(t, "2", core.Ext["b"], "ext after upserts = %v", core.Ext)
	core = opsMust(a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Ext: map[string]string{"c": "3"}}))(t)
	require.Equal(t, map[string]string{"c": "3"}, core.Ext, "SetCoreInfo's ext replaces")

	_, err := b.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name})
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member renames")
	_, err = b.UpsertCoreExt(cx, group.Ref(), map[string]string{"x": "y"})
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member changes the ext")
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
	require.Equal(t, im.StickTopStateOn, set.StickTop, "settings = %+v: stick top", set)
	require.False(t, set.SetTopTime.IsZero(), "settings = %+v: set-top time", set)
	require.Equal(t, im.FavoriteStateOn, set.Favorite, "settings = %+v: favorite", set)
	require.Equal(t, im.MuteStateOff, set.Mute, "settings = %+v: mute", set)
	cached := a.CachedConversation(group.ID)
	require.True(t, cached.IsStickOnTop(), "the cached conversation did not take the settings: stick on top")
	require.True(t, cached.IsFavorite(), "the cached conversation did not take the settings: favorite")

	set = opsMust(a.SetPushStatus(cx, group.Ref(), im.PushStatusPartAllow))(t)
	require.Equal(t, im.PushStatusPartAllow, set.PushStatus, "push status")
	want := im.ConversationSettingWeakMuteInfo{WhiteUIDs: []im.UserID{2}, WhiteMsgTypes: []im.MessageType{im.MessageTypeText}}
	set = opsMust(a.SetWeakMuteInfo(cx, group.Ref(), &want))(t)
	w := set.WeakMuteInfo
	require.NotNil(t, w, "weak-mute info")
	require.Equal(t, want.WhiteUIDs, w.WhiteUIDs, "weak-mute info = %+v: white uids", w)
	require.Equal(t, want.WhiteMsgTypes, w.WhiteMsgTypes, "weak-mute info = %+v: white message types", w)
	cached = a.CachedConversation(group.ID)
	require.Equal(t, im.PushStatusPartAllow, cached.PushStatus(), "cached push status")
	require.NotNil(t, cached.WeakMuteInfo(), "cached weak-mute info")
	require.True(t, cached.WeakMuteInfo().Allows(&im.Message{Sender: 2}), "cached weak-mute info %+v allows user 2", cached.WeakMuteInfo())
	// The model reads back what the helpers wrote, and the server stored it.
	fetched := opsMust(a.GetConversation(cx, group.Ref()))(t)
	require.Equal(t, im.PushStatusPartAllow, fetched.PushStatus(), "fetched push status")
	require.NotNil(t, fetched.WeakMuteInfo(), "fetched weak-mute info")

	set = opsMust(a.SetPushStatus(cx, group.Ref(), im.PushStatusUnknown))(t)
	set = opsMust(a.SetWeakMuteInfo(cx, group.Ref(), nil))(t)
	require.Equal(t, im.PushStatusUnknown, set.PushStatus, "after clearing: %+v: push status", set)
	require.Nil(t, set.WeakMuteInfo, "after clearing: weak-mute info")
	require.Empty(t, set.Ext, "after clearing: ext")
	set = opsMust(a.UpsertSettingExt(cx, group.Ref(), map[string]string{"mine": "x"}))(t)
	require.Equal(t, "x", set.Ext["mine"], "setting ext = %v", set.Ext)
	_, err := a.SetPushStatus(cx, group.Ref(), im.PushStatus(9))
	var e *im.Error
	require.ErrorAs(t, err, &e, "push status 9")
	require.Equal(t, im.ErrorTypeInvalidArgument, e.Type, "push status 9: %v", err)
	_, err = a.UpsertSettingExt(cx, group.Ref(), map[string]string{string(im.InfoKeyPushStatus): "7"})
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "an invalid push status")
	_, err = stranger.SetSettingInfo(cx, group.Ref(), im.SettingChange{Mute: &on})
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger's settings")
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
	require.True(t, res.Success, "add: success")
	require.Equal(t, []im.UserID{-5}, res.FailedParticipants, "add: failed")
	require.NotNil(t, res.Payload, "add: payload")
	require.EqualValues(t, 4, res.Payload.ParticipantCount, "add: payload %+v", res.Payload)
	require.EqualValues(t, 4, a.CachedConversation(group.ID).ParticipantCount, "the cache did not take the new members")
	ev := opsWait(t, changes, "the new members at user 2", func(e im.ParticipantsEvent) bool {
		return e.Conversation.ID == group.ID && slices.Contains(e.Added, 3) && slices.Contains(e.Added, 4)
	})
	require.EqualValues(t, 4, ev.Conversation.ParticipantCount, "pushed count")
	_, err := b.AddParticipants(cx, group.Ref(), 7)
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member adds")

	rm := opsMust(a.RemoveParticipants(cx, group.Ref(), 4, 99))(t)
	require.Empty(t, rm.FailedParticipants, "remove: failed")
	require.EqualValues(t, 3, rm.Payload.ParticipantCount, "remove: count")
	opsWait(t, changes, "the removal at user 2", func(e im.ParticipantsEvent) bool { return slices.Contains(e.Removed, 4) })
	rm = opsMust(a.RemoveParticipants(cx, group.Ref(), 1))(t)
	require.Equal(t, []im.UserID{1}, rm.FailedParticipants, "the owner removed themself: failed")
	_, err = b.RemoveParticipants(cx, group.Ref(), 3)
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member removes")

	// Paging: 1, 2, 3, 5, 6, 7, 8, 9.
	opsMust(a.AddParticipants(cx, group.Ref(), 5, 6, 7, 8, 9))(t)
	wantIDs := []im.UserID{1, 2, 3, 5, 6, 7, 8, 9}
	page := opsMust(b.ListParticipants(cx, group.Ref(), 0, 3))(t)
	require.Equal(t, wantIDs[:3], opsParticipantIDs(page.Participants), "first page")
	require.True(t, page.HasMore, "first page: more")
	require.EqualValues(t, 3, page.Next, "first page: next")
	require.Equal(t, group.ID, page.Participants[0].ConversationID, "participant = %+v: conversation", page.Participants[0])
	require.Equal(t, im.GroupRoleOwner, page.Participants[0].Role, "participant = %+v: role", page.Participants[0])
	var got []im.UserID
	for p, err := range b.AllParticipants(cx, group.Ref(), 3) {
		require.NoError(t, err)
		got = append(got, p.UserID)
	}
	require.Equal(t, wantIDs, got, "AllParticipants")
	some := opsMust(b.GetParticipants(cx, group.Ref(), 9, 4, 2))(t)
	require.Equal(t, []im.UserID{9, 2}, opsParticipantIDs(some), "GetParticipants, want the members in the order asked")
	_, err = stranger.ListParticipants(cx, group.Ref(), 0, 0)
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger lists members")
	for _, err := range stranger.AllParticipants(cx, group.Ref(), 0) {
		require.ErrorIs(t, err, im.ErrNotMember, "a stranger iterates members")
	}
	_, err = stranger.GetParticipants(cx, group.Ref(), 1)
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger gets members")

	// Updates: own alias and ext, roles by the owner, ownership.
	alias := "bee"
	p := opsMust(b.UpdateParticipant(cx, group.Ref(), 2, im.ParticipantChange{Alias: &alias, Ext: map[string]string{"x": "1"}}))(t)
	require.Equal(t, alias, p.Alias, "updated self = %+v: alias", p)
	require.Equal(t, "1", p.Ext["x"], "updated self = %+v: ext", p)
	me := b.CachedConversation(group.ID).Participant
	require.NotNil(t, me, "b's cached self")
	require.Equal(t, alias, me.Alias, "b's cached self = %+v: alias", me)
	_, err = b.UpdateParticipant(cx, group.Ref(), 1, im.ParticipantChange{Alias: &alias})
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member renames the owner")
	manager, owner := im.GroupRoleManager, im.GroupRoleOwner
	_, err = b.UpdateParticipant(cx, group.Ref(), 3, im.ParticipantChange{Role: &manager})
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member gives a role")
	require.Equal(t, im.GroupRoleManager, opsMust(a.UpdateParticipant(cx, group.Ref(), 3, im.ParticipantChange{Role: &manager}))(t).Role, "role")
	_, err = a.UpdateParticipant(cx, group.Ref(), 50, im.ParticipantChange{Role: &manager})
	require.ErrorIs(t, err, im.ErrNotMember, "a role for a stranger")
	opsMust(a.UpdateParticipant(cx, group.Ref(), 2, im.ParticipantChange{Role: &owner}))(t)
	after := opsMust(a.GetConversation(cx, group.Ref()))(t)
	require.EqualValues(t, 2, after.CoreInfo.Owner, "after the transfer: owner")
	require.Equal(t, im.GroupRoleManager, after.Participant.Role, "after the transfer: a's role")
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
	require.Equal(t, []im.UserID{99}, failed, "failed, want the stranger")
	require.ErrorIs(t, send(b), im.ErrMuted, "a muted member sends")
	ps := opsMust(a.GetParticipants(cx, group.Ref(), 2))(t)
	require.True(t, ps[0].Blocked, "muted until unmuted: %+v", ps[0])
	require.Zero(t, ps[0].LeftBlockTime, "muted until unmuted: %+v", ps[0])
	// A duration rounds up to whole seconds, never down to "forever".
	opsMust(a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: 1500 * time.Millisecond}, true))(t)
	ps = opsMust(a.GetParticipants(cx, group.Ref(), 2))(t)
	require.True(t, ps[0].Blocked, "muted for 1.5s: %+v", ps[0])
	require.Greater(t, ps[0].LeftBlockTime, time.Second, "muted for 1.5s: %+v", ps[0])
	require.LessOrEqual(t, ps[0].LeftBlockTime, 2*time.Second, "muted for 1.5s: %+v", ps[0])
	opsMust(a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: time.Hour}, false))(t)
	require.NoError(t, send(b), "an unmuted member sends")

	require.Equal(t, []im.UserID{1}, opsMust(m.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{1: 0}, true))(t), "a manager muted the owner: failed")
	_, err := b.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{3: 0}, true)
	require.ErrorIs(t, err, im.ErrForbidden, "an ordinary member mutes")
	_, err = a.BlockMembers(cx, group.Ref(), map[im.UserID]time.Duration{2: -time.Second}, true)
	var e *im.Error
	require.ErrorAs(t, err, &e, "a negative duration")
	require.Equal(t, im.ErrorTypeInvalidArgument, e.Type, "a negative duration: %v", err)

	require.NoError(t, a.BlockConversation(cx, group.Ref(), true, false))
	require.True(t, a.CachedConversation(group.ID).IsBlocked(), "the cache does not know the conversation is muted")
	require.ErrorIs(t, send(b), im.ErrMuted, "a member sends to a muted conversation")
	require.ErrorIs(t, send(m), im.ErrMuted, "a manager sends to a muted conversation")
	require.NoError(t, send(a), "the owner sends to a muted conversation")
	require.NoError(t, a.BlockConversation(cx, group.Ref(), true, true))
	require.True(t, a.CachedConversation(group.ID).IsBlockNormalOnly(), "the cache does not know the mute is for ordinary members")
	require.NoError(t, send(m), "a manager sends when only ordinary members are muted")
	require.ErrorIs(t, send(b), im.ErrMuted, "an ordinary member sends when they are muted")
	require.ErrorIs(t, b.BlockConversation(cx, group.Ref(), false, false), im.ErrForbidden, "an ordinary member unmutes")
	require.NoError(t, a.BlockConversation(cx, group.Ref(), false, false))
	require.NoError(t, send(b), "a member sends after the mute")
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

	require.ErrorIs(t, a.LeaveConversation(cx, group.Ref()), im.ErrForbidden, "the owner leaves others behind")
	require.NoError(t, c.LeaveConversation(cx, group.Ref()))
	cached := c.CachedConversation(group.ID)
	require.False(t, cached.IsMember, "cached after leaving: %+v", cached)
	require.Nil(t, cached.Participant, "cached after leaving: participant")
	require.ErrorIs(t, c.LeaveConversation(cx, group.Ref()), im.ErrNotMember, "leaving twice")

	require.ErrorIs(t, b.DissolveConversation(cx, group.Ref()), im.ErrForbidden, "a member dissolves")
	require.NoError(t, a.DissolveConversation(cx, group.Ref()))
	cached = a.CachedConversation(group.ID)
	require.Equal(t, im.ConversationStatusDissolved, cached.Status, "cached after dissolving: status")
	require.Equal(t, im.ConversationStatusDissolved, cached.CoreInfo.Status, "cached after dissolving: core info status")
	opsWait(t, updates, "the dissolution at user 2", func(e im.ConversationEvent) bool {
		return e.Conversation.ID == group.ID && e.Conversation.Status == im.ConversationStatusDissolved
	})
	name := "late"
	_, err := a.SetCoreInfo(cx, group.Ref(), im.CoreInfoChange{Name: &name})
	require.ErrorIs(t, err, im.ErrNotFound, "renaming a dissolved group")
	_, err = a.AddParticipants(cx, group.Ref(), 4)
	require.ErrorIs(t, err, im.ErrNotFound, "adding to a dissolved group")
	got := opsMust(b.GetConversation(cx, group.Ref()))(t)
	require.Equal(t, im.ConversationStatusDissolved, got.Status, "a member reads the dissolved group: %+v: status", got)
	require.True(t, got.IsMember, "a member reads the dissolved group: %+v: a member", got)
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
	require.True(t, conv.IsMember, "joined: %+v: a member", conv)
	require.Equal(t, live.ID, conv.ID, "joined: %+v", conv)
	require.EqualValues(t, 2, me.UserID, "joined as %+v: user", me)
	require.True(t, me.IsInConversation, "joined as %+v: in the conversation", me)
	require.Equal(t, im.GroupRoleVisitor, me.Role, "joined as %+v: role", me)
	require.NotNil(t, b.CachedConversation(live.ID), "the joined live chat is not cached")

	counts := opsMust(a.LiveOnlineCounts(cx, live.Ref(), im.ConversationRef{ID: live.ID}, im.ConversationRef{ShortID: 424242}))(t)
	require.Len(t, counts, 1, "online counts")
	require.EqualValues(t, 2, counts[live.ShortID], "online counts = %v, of %d", counts, live.ShortID)
	require.EqualValues(t, 2, a.CachedConversation(live.ID).OnlineMemberCount, "cached online count")

	page := opsMust(a.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{Limit: 1}))(t)
	require.Len(t, page.Members, 1, "first page: %+v", page)
	require.EqualValues(t, 1, page.Members[0].UserID, "first page: %+v: member", page)
	require.True(t, page.HasMore, "first page: %+v: more", page)
	require.EqualValues(t, 2, page.OnlineCount, "first page: %+v: online count", page)
	page = opsMust(a.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{Cursor: page.Next, Limit: 1}))(t)
	require.Len(t, page.Members, 1, "second page: %+v", page)
	require.EqualValues(t, 2, page.Members[0].UserID, "second page: %+v: member", page)
	require.False(t, page.HasMore, "second page: %+v: more", page)

	var sent []*im.Message
	for _, text := range []string{"one", "two", "three"} {
		sent = append(sent, opsMust(b.SendMessage(cx, live.Ref(), im.OutgoingMessage{Content: im.TextContent(text)}))(t)) // no index needed
	}
	latest := opsMust(a.LiveMessages(cx, live.Ref(), 0, 2, true))(t)
	require.Equal(t, opsServerIDs(sent[1:]), opsServerIDs(latest.Messages), "latest two")
	require.True(t, latest.HasMore, "latest two: more")
	older := opsMust(a.LiveMessages(cx, live.Ref(), latest.Next, 2, true))(t)
	require.Equal(t, opsServerIDs(sent[:1]), opsServerIDs(older.Messages), "older")
	require.False(t, older.HasMore, "older: more")
	forward := opsMust(a.LiveMessages(cx, live.Ref(), 0, 0, false))(t)
	require.Equal(t, opsServerIDs(sent), opsServerIDs(forward.Messages), "forward")

	left := opsMust(b.LeaveLiveChat(cx, live.Ref()))(t)
	require.False(t, left.IsInConversation, "left: %+v", left)
	require.False(t, b.CachedConversation(live.ID).IsMember, "the cache still has b as a member")
	_, err := b.LiveMessages(cx, live.Ref(), 0, 0, false)
	require.ErrorIs(t, err, im.ErrNotMember, "a member who left pages the history")
	require.EqualValues(t, 1, opsMust(a.LiveOnlineCounts(cx, live.Ref()))(t)[live.ShortID], "online after leaving")
	_, err = stranger.LiveMembers(cx, live.Ref(), im.LiveMembersOptions{})
	require.ErrorIs(t, err, im.ErrNotMember, "a stranger lists the live members")
	group := opsGroup(t, a, 2)
	_, _, err = a.JoinLiveChat(cx, group.Ref())
	opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "joining a group as a live chat")
}

// opsMust2 is opsMust for calls with two results.
func opsMust2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		require.NoError(t, err)
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
	require.NotZero(t, apply.ID, "apply = %+v: id", apply)
	require.EqualValues(t, 1, apply.FromUserID, "apply = %+v: from", apply)
	require.EqualValues(t, 2, apply.ToUserID, "apply = %+v: to", apply)
	require.Equal(t, im.FriendApplyStatusWaiting, apply.Status, "apply = %+v: status", apply)
	require.Equal(t, "there", apply.Ext["hello"], "apply = %+v: ext", apply)
	ev := opsWait(t, received, "the apply at user 2", nil)
	require.Equal(t, apply.ID, ev.Apply.ID, "received = %+v", ev.Apply)
	require.EqualValues(t, 1, ev.Apply.FromUserID, "received = %+v: from", ev.Apply)

	dup, err := a.SendFriendApply(cx, 2, nil)
	require.ErrorIs(t, err, im.ErrDuplicateApply, "applying twice")
	var e *im.Error
	require.ErrorAs(t, err, &e, "duplicate")
	require.Equal(t, improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY, e.Args["friend_status"], "duplicate: %v: friend status", err)
	require.NotNil(t, dup, "duplicate: the apply")
	require.Equal(t, apply.ID, dup.ID, "duplicate: apply %+v", dup)
	require.NotErrorIs(t, err, im.ErrAlreadyFriends, "a duplicate apply matches ErrAlreadyFriends")

	waiting := im.FriendApplyStatusWaiting
	in := opsMust(b.ReceivedFriendApplies(cx, im.FriendApplyListOptions{Status: &waiting}))(t)
	require.Len(t, in.Applies, 1, "received applies = %+v", in)
	require.Equal(t, apply.ID, in.Applies[0].ID, "received applies = %+v", in)
	require.False(t, in.HasMore, "received applies = %+v: more", in)
	out := opsMust(a.SentFriendApplies(cx, im.FriendApplyListOptions{}))(t)
	require.Len(t, out.Applies, 1, "sent applies = %+v", out)
	require.EqualValues(t, 2, out.Applies[0].ToUserID, "sent applies = %+v", out)

	answered, failed := opsMust2(b.ReplyFriendApply(cx, im.ReplyFriendAttitudeAccept, 1, 9))(t)
	require.Len(t, answered, 1, "reply: answered")
	require.Equal(t, apply.ID, answered[0].ID, "reply: answered %+v", answered)
	require.Equal(t, im.FriendApplyStatusAgree, answered[0].Status, "reply: answered %+v", answered)
	require.Equal(t, []im.UserID{9}, failed, "reply: failed")
	require.Equal(t, im.FriendApplyStatusAgree, opsWait(t, replied, "the answer at user 1", nil).Apply.Status, "replied")
	require.EqualValues(t, 2, opsWait(t, added, "the new friend at user 1", nil).Friend.UserID, "added")
	// The client that accepted hears of its new friend too; neither side
	// takes the other's half of the exchange for its own.
	require.EqualValues(t, 1, opsWait(t, acceptedByB, "the new friend at user 2, who accepted", nil).Friend.UserID, "added at user 2")
	require.Empty(t, ownApply, "user 1 got its own apply as received (%d)", len(ownApply))
	require.Empty(t, ownReply, "user 2 got its own answer as replied (%d)", len(ownReply))
	_, err = a.SendFriendApply(cx, 2, nil)
	require.ErrorIs(t, err, im.ErrAlreadyFriends, "applying to a friend")
	friends := opsMust(a.Friends(cx, 0, 0))(t)
	require.Len(t, friends.Friends, 1, "friends = %+v", friends)
	require.EqualValues(t, 2, friends.Friends[0].UserID, "friends = %+v", friends)
	require.False(t, friends.Friends[0].CreateTime.IsZero(), "friends = %+v: create time", friends)
	require.Equal(t, []im.UserID{9}, opsMust(a.DeleteFriends(cx, 2, 9))(t), "delete failed")
	require.NotNil(t, opsWait(t, removed, "the removal at user 2", nil).Friend, "no friend in the removal")
	require.Empty(t, opsMust(a.Friends(cx, 0, 0))(t).Friends, "friends after delete")

	// Refusing, and applying back, which accepts.
	opsMust(c.SendFriendApply(cx, 1, nil))(t)
	refused, _ := opsMust2(a.ReplyFriendApply(cx, im.ReplyFriendAttitudeReject, 3))(t)
	require.Len(t, refused, 1, "refused")
	require.Equal(t, im.FriendApplyStatusRefuse, refused[0].Status, "refused = %+v", refused)
	opsMust(c.SendFriendApply(cx, 2, nil))(t)
	back := opsMust(b.SendFriendApply(cx, 3, nil))(t)
	require.Equal(t, im.FriendApplyStatusAgree, back.Status, "applying back = %+v: status", back)
	require.EqualValues(t, 3, back.FromUserID, "applying back = %+v: from", back)
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
		require.NoError(t, err)
		from = append(from, apply.FromUserID)
	}
	require.Equal(t, applicants, from, "received applies from")
	answered, _ := opsMust2(a.ReplyFriendApply(cx, im.ReplyFriendAttitudeAccept, applicants...))(t)
	require.Len(t, answered, len(applicants), "answered")
	agreed := im.FriendApplyStatusAgree
	n := 0
	for _, err := range a.AllReceivedFriendApplies(cx, im.FriendApplyListOptions{Limit: 2, Status: &agreed}) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, len(applicants), n, "agreed applies")

	var friends []im.UserID
	for f, err := range a.AllFriends(cx, 2) {
		require.NoError(t, err)
		friends = append(friends, f.UserID)
	}
	require.Equal(t, applicants, friends, "friends")

	for _, u := range []im.UserID{20, 21, 22} {
		opsMust(a.SendFriendApply(cx, u, nil))(t)
	}
	var to []im.UserID
	for apply, err := range a.AllSentFriendApplies(cx, im.FriendApplyListOptions{Limit: 2}) {
		require.NoError(t, err)
		to = append(to, apply.ToUserID)
	}
	require.Equal(t, []im.UserID{20, 21, 22}, to, "sent applies to")
	for _, err := range a.AllSentFriendApplies(cx, im.FriendApplyListOptions{Cursor: -1}) {
		opsStatus(t, err, improto.StatusCode_INVALID_REQUEST, "a negative cursor")
	}
}
