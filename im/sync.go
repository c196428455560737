package im

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Sync bounds.
const (
	pullPage       = 1000 // messages per 200 GET_MESSAGES_BY_USER: the server's maximum
	initPages      = 100  // 203 pages at most (50 conversations each)
	pushQueue      = 1024 // pushes waiting for the sync goroutine
	pullRetryDelay = 500 * time.Millisecond
)

// syncer is the sync engine. Its run goroutine alone owns the sync
// position and the per-conversation state, so messages are applied one at
// a time, in the order of the user's inbox stream.
//
// The inbox stream is the source of truth: pushes are hints. A push whose
// previous_cursor is the current position is applied at once; any other
// push, a reconnect, a full push queue, or the PullInterval tick makes the
// engine pull from its position until the server has nothing more. Since
// every new message and every change to one has exactly one place in the
// stream, applying the stream in order delivers each message once.
type syncer struct {
	c      *Client
	kickCh chan struct{} // cap 1: "pull now"
	pushes chan push     // pushes for the run goroutine

	cursor atomic.Int64 // the position: everything up to it is applied

	// reconnected, set by the connect loop before it kicks, is the
	// outage the next kicked pull catches up on, for its log line.
	reconnected atomic.Pointer[outage]

	// caughtUp is set once a pull got to the end of the inbox, and
	// cleared by socketUp each time the socket comes up, before its
	// kicked pull: what was pushed while it was down is not applied until
	// a pull that started after it is done. sockets counts the sockets
	// that came up, so that a pull that began before one does not count.
	caughtUp atomic.Bool
	sockets  atomic.Int64
	// synced is closed the first time caughtUp is set with the socket up,
	// or without one by choice (Client.Synced).
	synced     chan struct{}
	syncedOnce sync.Once

	// out collects the events of what the run goroutine applies; their
	// callbacks run after each page and each push (events.go).
	out eventBuffer

	// Owned by the run goroutine (and by init, before run starts).
	lastIndex  map[ConversationID]int64 // the last new message delivered
	initLatest map[ConversationID]int64 // the latest index Init saw
	// reported is, per conversation, the version each message was last
	// reported at, for those reported past version 1 (see report).
	reported map[ConversationID][]reportedVersion
	// toRead collects, with Options.AutoReadIndex, the read index to set
	// per conversation; flushReads sends one mark-read for each.
	toRead map[ConversationRef]int64
}

func newSyncer(c *Client) *syncer {
	return &syncer{
		c:          c,
		out:        eventBuffer{d: c.events, inline: true},
		kickCh:     make(chan struct{}, 1),
		synced:     make(chan struct{}),
		pushes:     make(chan push, pushQueue),
		lastIndex:  make(map[ConversationID]int64),
		initLatest: make(map[ConversationID]int64),
		reported:   make(map[ConversationID][]reportedVersion),
		toRead:     make(map[ConversationRef]int64),
	}
}

// Cursor returns the sync position: every inbox entry up to it has been
// applied and its events queued.
func (c *Client) Cursor() int64 { return c.sync.cursor.Load() }

// socketUp notes that a socket came up: the client is not caught up
// until a pull that starts after it is done.
func (s *syncer) socketUp() {
	s.sockets.Add(1)
	s.caughtUp.Store(false)
}

// kick asks for a pull; it never blocks.
func (s *syncer) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// handlePush is called on the socket's read loop. It never blocks: a push
// that does not fit the queue is dropped and a pull requested instead.
func (c *Client) handlePush(p push) {
	select {
	case c.sync.pushes <- p:
	default:
		c.sync.kick()
	}
}

// init pulls the conversation list and recent messages (203) into the
// cache, unless DisableInitPull, and sets the starting position: the
// server's position at the first page, or Options.Cursor with Resume.
// It ends with ctx or Close, whichever comes first. Past initPages pages it
// stops with a warning: the position is set by then, so nothing is lost
// but the cached copies of the conversations it did not reach.
func (s *syncer) init(ctx context.Context) error {
	if s.c.opts.Resume {
		s.cursor.Store(s.c.opts.Cursor)
	}
	if s.c.opts.DisableInitPull && s.c.opts.Resume {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.c.ctx, cancel)
	defer stop()
	cursor := int64(0)
	for page := 0; page < initPages; page++ {
		body, resp, err := callBodyEnvelope[*improto.MessagesPerUserInitV2ResponseBody](ctx, s.c, improto.IMCMD_GET_MESSAGES_BY_USER_INIT_V2,
			&improto.MessagesPerUserInitV2RequestBody{Cursor: proto.Int64(cursor)})
		if err != nil {
			return err
		}
		if page == 0 {
			h := resp.GetHeaders()
			if err := s.c.checkIdentity(h[improto.HeaderUserID], h[improto.HeaderAppID]); err != nil {
				return err
			}
		}
		if page == 0 {
			s.c.metrics.serverAt(body.GetPerUserCursor())
			if !s.c.opts.Resume {
				s.cursor.Store(body.GetPerUserCursor())
			}
		}
		if s.c.opts.DisableInitPull {
			return nil // the position was all it needed
		}
		for _, info := range body.GetConversations() {
			s.c.cache.putConversation(conversationFromProto(info))
		}
		for _, b := range body.GetMessages() {
			m := messageFromProto(b)
			m.Source = MessageSourceInit
			// Not new: the conversation's unread count already has it.
			s.c.cache.applyMessage(m, s.c.opts.UserID, false)
			s.initLatest[m.ConversationID] = max(s.initLatest[m.ConversationID], m.Index)
		}
		if !body.GetHasMore() {
			return nil
		}
		cursor = body.GetNextCursor()
	}
	s.c.log.Warn("im: init pull stopped after its page limit; conversations past it are not cached until fetched",
		"pages", initPages, "next_cursor", cursor)
	return nil
}

// run applies pushes and pulls until the client closes.
func (s *syncer) run() {
	ctx := s.c.ctx
	var tick <-chan time.Time
	if s.c.opts.PullInterval != PullOff {
		t := time.NewTicker(s.c.opts.PullInterval)
		defer t.Stop()
		tick = t.C
	}
	retry := time.NewTimer(0) // an initial pull catches up from the start position
	defer retry.Stop()
	pull := func() int {
		sockets := s.sockets.Load()
		n, err := s.pull(ctx)
		if err != nil && ctx.Err() == nil {
			s.c.log.Warn("im: pull failed; retrying", "err", err)
			retry.Reset(pullRetryDelay)
		}
		if err == nil && s.sockets.Load() == sockets {
			s.caughtUp.Store(true)
			if sockets > 0 || s.c.opts.WebSocketLevel == WebSocketLevelDisable {
				s.syncedOnce.Do(func() { close(s.synced) })
			}
		}
		return n
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kickCh:
			n := pull()
			if o := s.reconnected.Swap(nil); o != nil {
				s.c.log.Info("im: reconnected", "downtime", o.downtime.Round(time.Millisecond), "attempts", o.attempts, "caught_up", n)
			}
		case <-tick:
			pull()
		case <-retry.C:
			pull()
		case p := <-s.pushes:
			if s.applyPush(ctx, p) {
				pull()
			}
		}
		s.out.send(ctx)
		s.flushReads(ctx)
	}
}

// flushReads marks read, once per conversation, what AutoReadIndex
// collected since the last flush.
func (s *syncer) flushReads(ctx context.Context) {
	for ref, index := range s.toRead {
		delete(s.toRead, ref)
		_, err := s.c.call(ctx, improto.IMCMD_MARK_CONVERSATION_READ_V3, &improto.MarkConversationReadRequestBody{
			ConversationId:      proto.String(string(ref.ID)),
			ConversationShortId: proto.Int64(int64(ref.ShortID)),
			ConversationType:    proto.Int32(int32(ref.Type)),
			ReadMessageIndex:    proto.Int64(index),
		})
		switch {
		case err == nil:
			s.c.cache.setReadIndex(ref.ID, index, s.c.opts.UserID)
		case ctx.Err() == nil:
			s.c.log.Warn("im: auto read index failed", "conversation", ref.ID, "err", err)
		}
	}
}

// pull applies the inbox stream from the position until the server has
// nothing more. A long catch-up is a pipeline of three goroutines: one
// fetches pages, asking for the next as soon as it has read where it
// starts (before decoding the messages); one decodes them; this one
// applies them. So the server produces page k+2 while the client decodes
// page k+1 and delivers page k. Both helpers end before pull returns.
func (s *syncer) pull(ctx context.Context) (applied int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	fetched := make(chan fetchedPage, 1)
	decoded := make(chan fetchedPage, 1)
	wg.Go(func() {
		defer close(fetched)
		s.fetchPages(ctx, s.cursor.Load(), fetched)
	})
	wg.Go(func() {
		defer close(decoded)
		for p := range fetched {
			if p.err == nil {
				p.inboxPage, p.err = decodePages(p.raw)
				p.raw = nil
			}
			select {
			case decoded <- p:
			case <-ctx.Done():
				return
			}
		}
	})
	for p := range decoded {
		if p.err != nil {
			return applied, p.err
		}
		s.c.metrics.caughtUp(true, len(p.messages))
		for _, m := range p.messages {
			m.Source = MessageSourceUserInbox
			if err := s.apply(ctx, m, p.from); err != nil {
				s.out.send(ctx)
				return applied, err
			}
			applied++
		}
		if p.nextCursor > p.from {
			s.cursor.Store(p.nextCursor)
		}
		if !p.hasMore {
			s.c.metrics.serverAt(s.cursor.Load()) // where the server was at this answer
		}
		s.out.send(ctx) // before waiting for the next page
	}
	return applied, ctx.Err()
}

// outage is a socket's time down, for the "reconnected" log line.
type outage struct {
	downtime time.Duration
	attempts int
}

// fetchedPage is a page on its way through the pull pipeline.
type fetchedPage struct {
	from int64    // the cursor the page starts after
	raw  [][]byte // the encoded page (its occurrences), until it is decoded
	inboxPage
	err error // the page could not be fetched or decoded; it is the last
}

// fetchPages fetches the inbox from a cursor page after page into out,
// until the server has nothing more, an error (sent as the last page), or
// ctx ends.
func (s *syncer) fetchPages(ctx context.Context, from int64, out chan<- fetchedPage) {
	for {
		_, p, err := callDecoded(ctx, s.c, improto.IMCMD_GET_MESSAGES_BY_USER,
			&improto.MessagesPerUserRequestBody{Cursor: proto.Int64(from), Limit: proto.Int32(pullPage)},
			func(data []byte) (*improto.Response, fetchedPage, error) {
				env, pages, err := splitPullResponse(data)
				if err != nil {
					return nil, fetchedPage{}, err
				}
				p := fetchedPage{from: from}
				for _, b := range pages {
					// Where the next page starts, read before decoding the
					// messages; a copy, since data goes back to its pool.
					if err := p.decode(b, false); err != nil {
						return nil, fetchedPage{}, err
					}
					p.raw = append(p.raw, bytes.Clone(b))
				}
				return env, p, nil
			})
		if err != nil {
			p = fetchedPage{from: from, err: err}
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
		if err != nil || !p.hasMore || p.nextCursor <= from {
			return
		}
		from = p.nextCursor
	}
}

// applyPush handles one push and reports whether a pull is needed.
func (s *syncer) applyPush(ctx context.Context, p push) bool {
	body := p.resp.GetBody()
	switch improto.IMCMD(p.resp.GetCmd()) {
	case improto.IMCMD_NEW_MSG_NOTIFY:
		n := p.notify
		s.c.metrics.serverAt(n.nextCursor)
		if n.message == nil {
			return true
		}
		cur := s.cursor.Load()
		switch {
		case n.nextCursor <= cur:
			return false // already applied through a pull
		case n.previousCursor != cur:
			return true // a gap: pull it
		}
		n.message.Source = MessageSourceOnline
		if err := s.apply(ctx, n.message, cur); err != nil {
			if ctx.Err() == nil {
				s.c.log.Warn("im: applying a push failed; pulling instead", "err", err)
			}
			return true
		}
		s.cursor.Store(n.nextCursor)
	case improto.IMCMD_NEW_BROADCAST_MSG_NOTIFY:
		if m := p.notify.message; m != nil {
			m.Source = MessageSourceOnline
			s.applyLive(ctx, m)
		}
	case improto.IMCMD_MARK_READ_NOTIFY:
		n := body.GetMarkConversationReadNotify()
		if me := s.c.opts.UserID; UserID(n.GetUserId()) == me {
			// This user read on another device: the badge follows.
			s.c.cache.setReadIndex(ConversationID(n.GetConversationId()), n.GetReadIndex(), me)
		}
		emit(ctx, &s.out, kindReadIndexChanged, ReadIndexEvent{
			ConversationID:   ConversationID(n.GetConversationId()),
			ConversationType: ConversationType(n.GetConversationType()),
			UserID:           UserID(n.GetUserId()),
			ReadIndex:        n.GetReadIndex(),
			MessageID:        MessageID(n.GetMessageId()),
		})
	case improto.IMCMD_CONVERSATION_INFO_UPDATED_NOTIFY:
		s.refreshConversation(ctx, body.GetConversationInfoUpdatedNotify().GetConversation())
	case improto.IMCMD_NEW_FRIEND_MSG_NOTIFY:
		s.applyFriend(ctx, body.GetNewFriendMessageNotify())
	}
	return false
}

// apply delivers one inbox entry: a new message (its index is past the last
// one delivered in its conversation) or a change to a known one. from is
// the position before the page that carried it.
func (s *syncer) apply(ctx context.Context, m *Message, from int64) error {
	if m.ConversationType == ConversationTypeMassChat {
		return nil // live chats have no inbox
	}
	last, known := s.lastIndex[m.ConversationID]
	isNew := m.Index > last
	if !known {
		// The first entry of this conversation since the start position.
		// A version-1 entry is a new message: any change would have raised
		// the version it resolves to. A later version is a new message only
		// past the latest one Init saw; at or before it, it is a change.
		isNew = m.Version == 1 || m.Index > s.initLatest[m.ConversationID]
	}
	if isNew {
		if known && m.Index > last+1 {
			if err := s.fillGap(ctx, m.ConversationID, last, m.Index, from); err != nil {
				return err
			}
		}
		s.lastIndex[m.ConversationID] = m.Index
		s.report(m)
		s.c.cache.applyMessage(m, s.c.opts.UserID, true)
		if s.c.opts.AutoReadIndex && m.Sender != s.c.opts.UserID && m.MovesReadIndex() {
			s.toRead[m.Conversation()] = m.Index
		}
		emit(ctx, &s.out, kindMessageReceived, MessageEvent{Message: m, Cursor: from})
		return nil
	}
	// A change is reported once per version, whatever the cache held: the
	// stream carries each entry at the message's version when pulled, so
	// a new message, or an earlier change, pulled after this change was
	// made already carried it; but a copy cached without an event (Init's,
	// LoadMessages') was never reported and hides nothing.
	if s.reportedAt(m) >= m.Version {
		return nil
	}
	prev, stale := s.c.cache.applyMessage(m, s.c.opts.UserID, false)
	if stale {
		return nil // the newer version has a later entry in the stream
	}
	if prev != nil && prev.Version >= m.Version {
		prev = nil // the client never had the version before the change
	}
	s.report(m)
	ev := MessageEvent{Message: m, Previous: prev, Cursor: from}
	emit(ctx, &s.out, kindMessageUpdated, ev)
	if m.IsRecalled() && (prev == nil || !prev.IsRecalled()) {
		emit(ctx, &s.out, kindMessageRecalled, ev)
	}
	if prev == nil || !reflect.DeepEqual(prev.Properties, m.Properties) {
		emit(ctx, &s.out, kindPropertyChanged, ev)
	}
	return nil
}

// fillGap fetches the messages of a conversation between two indexes that
// the stream skipped (301 NEWER) and delivers those the user may see, as
// MessageSourceLoadMore (a pull of the one conversation). A conversation
// this user may no longer read has nothing to fill; any other failure,
// a refusal such as TOO_MANY_REQUESTS included, is returned, so that the
// entry is applied again by the next pull and no message is skipped.
func (s *syncer) fillGap(ctx context.Context, id ConversationID, last, next int64, from int64) error {
	anchor := last
	for anchor < next-1 {
		body, err := callBody[*improto.MessagesInConversationResponseBody](ctx, s.c, improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
			&improto.MessagesInConversationRequestBody{
				ConversationId: proto.String(string(id)),
				Direction:      improto.MessageDirection_NEWER.Enum(),
				AnchorIndex:    proto.Int64(anchor),
				Limit:          proto.Int32(int32(min(next-1-anchor, 100))),
			})
		if err != nil {
			if errors.Is(err, ErrNotMember) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
				s.c.log.Info("im: a gap in a conversation this user may no longer read is left unfilled",
					"conversation", id, "after", anchor, "before", next, "err", err)
				return nil
			}
			return fmt.Errorf("filling the gap after index %d before %d in %s: %w", anchor, next, id, err)
		}
		for _, b := range body.GetMessages() {
			m := messageFromProto(b)
			if m.Index >= next {
				return nil
			}
			anchor = m.Index
			s.c.metrics.caughtUp(false, 1)
			m.Source = MessageSourceLoadMore
			// Delivered now, so a retry after a failed fetch starts past
			// it; a copy the cache held (Init's, LoadMessages') was not.
			s.lastIndex[id] = m.Index
			s.report(m)
			s.c.cache.applyMessage(m, s.c.opts.UserID, true)
			emit(ctx, &s.out, kindMessageReceived, MessageEvent{Message: m, Cursor: from})
		}
		if !body.GetHasMore() || len(body.GetMessages()) == 0 {
			return nil
		}
	}
	return nil
}

// reportedVersion is the version a message was last reported at.
type reportedVersion struct{ index, version int64 }

// report records the version m is reported at. Version 1 needs no record:
// every change raises the version, so no change entry has version 1. Like
// the cache, it keeps at most Options.MaxMessageCount messages per
// conversation, the latest: a change to an older one that comes again is
// reported again.
func (s *syncer) report(m *Message) {
	if m.Version <= 1 {
		return
	}
	list := s.reported[m.ConversationID]
	i, found := slices.BinarySearchFunc(list, m.Index, compareReported)
	switch {
	case found:
		list[i].version = max(list[i].version, m.Version)
	case i == 0 && len(list) >= s.c.opts.MaxMessageCount:
		return // older than every message kept
	default:
		list = slices.Insert(list, i, reportedVersion{m.Index, m.Version})
		if len(list) > s.c.opts.MaxMessageCount {
			list = slices.Delete(list, 0, 1)
		}
	}
	s.reported[m.ConversationID] = list
}

// reportedAt returns the version m was last reported at, 0 when unknown.
func (s *syncer) reportedAt(m *Message) int64 {
	list := s.reported[m.ConversationID]
	if i, found := slices.BinarySearchFunc(list, m.Index, compareReported); found {
		return list[i].version
	}
	return 0
}

func compareReported(r reportedVersion, index int64) int { return cmp.Compare(r.index, index) }

// applyLive delivers a live-chat message from its push, once per index.
func (s *syncer) applyLive(ctx context.Context, m *Message) {
	if m.Index <= s.lastIndex[m.ConversationID] {
		return
	}
	s.lastIndex[m.ConversationID] = m.Index
	s.c.cache.applyMessage(m, s.c.opts.UserID, true)
	emit(ctx, &s.out, kindMessageReceived, MessageEvent{Message: m})
}

// refreshConversation fetches a conversation a 502 push named and reports
// what changed.
func (s *syncer) refreshConversation(ctx context.Context, n *improto.ConversationInfo) {
	if n == nil {
		return
	}
	body, err := callBody[*improto.GetConversationInfoV2ResponseBody](ctx, s.c, improto.IMCMD_GET_CONVERSATION_INFO_V2,
		&improto.GetConversationInfoV2RequestBody{
			ConversationId:      proto.String(n.GetConversationId()),
			ConversationShortId: proto.Int64(n.GetConversationShortId()),
			ConversationType:    proto.Int32(n.GetConversationType()),
		})
	if err != nil {
		s.c.log.Warn("im: refreshing a conversation failed", "conversation", n.GetConversationId(), "err", err)
		return
	}
	conv := conversationFromProto(body.GetConversationInfo())
	prev := s.c.cache.putConversation(conv)
	ev := ConversationEvent{Conversation: conv, Previous: prev}
	switch {
	case !conv.IsMember && (prev == nil || prev.IsMember):
		emit(ctx, &s.out, kindConversationRemoved, ev)
		return
	case prev == nil || !prev.IsMember:
		emit(ctx, &s.out, kindConversationAdded, ev)
		return
	}
	emit(ctx, &s.out, kindConversationUpdated, ev)
	if added, removed := diffMembers(prev, conv); len(added)+len(removed) > 0 || prev.ParticipantCount != conv.ParticipantCount {
		emit(ctx, &s.out, kindParticipantsChanged, ParticipantsEvent{Conversation: conv, Added: added, Removed: removed})
	}
}

// diffMembers compares the first pages of participants of two versions of
// a conversation.
func diffMembers(prev, cur *Conversation) (added, removed []UserID) {
	was := make(map[UserID]bool)
	for _, p := range prev.FirstPageParticipants {
		was[p.UserID] = true
	}
	now := make(map[UserID]bool)
	for _, p := range cur.FirstPageParticipants {
		now[p.UserID] = true
		if !was[p.UserID] {
			added = append(added, p.UserID)
		}
	}
	for _, p := range prev.FirstPageParticipants {
		if !now[p.UserID] {
			removed = append(removed, p.UserID)
		}
	}
	return added, removed
}

// applyFriend turns a friend push into its event.
func (s *syncer) applyFriend(ctx context.Context, n *improto.NewFriendMessageNotify) {
	// The server pushes an apply and its answer to both users' sockets,
	// the acting one included: each event goes only to the side it names
	// (an apply to the user asked, an answer to the applicant).
	me := s.c.opts.UserID
	switch improto.FriendMessageType(n.GetMessageType()) {
	case improto.FriendMessageType_SendApply:
		if a := friendApplyFromProto(n.GetApply()); a.ToUserID == me {
			emit(ctx, &s.out, kindFriendApplyReceived, FriendApplyEvent{Apply: a})
		}
	case improto.FriendMessageType_ReplyApply:
		if a := friendApplyFromProto(n.GetApply()); a.FromUserID == me {
			emit(ctx, &s.out, kindFriendApplyReplied, FriendApplyEvent{Apply: a})
		}
	case improto.FriendMessageType_AddFriend:
		emit(ctx, &s.out, kindFriendAdded, FriendEvent{Friend: friendFromProto(n.GetFriend())})
	case improto.FriendMessageType_DeleteFriend:
		emit(ctx, &s.out, kindFriendRemoved, FriendEvent{Friend: friendFromProto(n.GetFriend())})
	}
}
