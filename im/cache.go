package im

import (
	"slices"
	"sync"
)

// cache keeps the conversations the client knows and, per conversation, the
// latest messages (at most Options.MaxMessageCount), in index order.
//
// A cached Conversation is shared with callers, so it is never changed:
// every change stores a changed copy, under mu, so that concurrent changes
// (the sync engine's and an operation's) are not lost.
type cache struct {
	max   int
	mu    sync.RWMutex
	convs map[ConversationID]*Conversation
	msgs  map[ConversationID][]*Message // sorted by Index
	// counted marks the conversations whose UnreadCount was counted from
	// the cached messages (see unreadLocked): a message appended after
	// them adds to the count, without counting them all again.
	counted map[ConversationID]bool
}

func newCache(max int) *cache {
	return &cache{max: max, convs: make(map[ConversationID]*Conversation), msgs: make(map[ConversationID][]*Message),
		counted: make(map[ConversationID]bool)}
}

// putMessage stores m, replacing an older version of it, and returns the
// version it replaced (nil when new to the cache). A version older than the
// cached one is ignored and the cached one returned.
func (c *cache) putMessage(m *Message) (prev *Message, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.putMessageLocked(m)
}

// applyMessage is putMessage for a message the sync engine applies, which
// its conversation follows as the seed's SDK has it: LastMessage becomes m
// when m may be the last message (Message.UpdatesLastMessage) and is not
// older than it, and UnreadCount is counted again (see unreadLocked); isNew
// says that m is new to the client rather than a change or a message
// already counted (Init's), and a message the cache already held is not
// new either.
func (c *cache) applyMessage(m *Message, me UserID, isNew bool) (prev *Message, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.msgs[m.ConversationID]
	last := len(list) == 0 || m.Index > list[len(list)-1].Index
	prev, stale = c.putMessageLocked(m)
	conv := c.convs[m.ConversationID]
	if stale || conv == nil {
		return prev, stale
	}
	cp := *conv
	if m.UpdatesLastMessage() && (cp.LastMessage == nil || m.Index >= cp.LastMessage.Index) {
		cp.LastMessage = m
	}
	switch {
	case last && c.counted[cp.ID]:
		// The common case, a new message after those counted: counting
		// them all again would cost a bot that never marks read the whole
		// cache per message.
		cp.UnreadCount += len(cp.UnreadMessages([]*Message{m}, me))
	case isNew && prev == nil:
		cp.UnreadCount = c.unreadLocked(&cp, me, len(cp.UnreadMessages([]*Message{m}, me)))
	default:
		cp.UnreadCount = c.unreadLocked(&cp, me, 0)
	}
	if cp.LastMessage != conv.LastMessage || cp.UnreadCount != conv.UnreadCount {
		c.convs[cp.ID] = &cp
	}
	return prev, stale
}

// setReadIndex moves this user's cached read index of a conversation
// forward (their mark-read, or its push from another device) and counts
// the unread messages again. An index behind the cached one is ignored, as
// the server ignores it.
func (c *cache) setReadIndex(id ConversationID, index int64, me UserID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conv := c.convs[id]
	if conv == nil || index <= conv.ReadIndex {
		return
	}
	cp := *conv
	cp.ReadIndex = index
	if s := cp.SettingInfo; s != nil {
		s2 := *s
		s2.ReadIndex = index
		cp.SettingInfo = &s2
	}
	if p := cp.Participant; p != nil {
		p2 := *p
		p2.ReadIndex = index
		cp.Participant = &p2
	}
	cp.UnreadCount = c.unreadLocked(&cp, me, 0)
	c.convs[id] = &cp
}

// unreadLocked returns the unread count of conv, which gained added
// unread messages. When the cached messages reach back to the first one
// after the read index, it counts them as the server does
// ([Conversation.UnreadMessages]); that also corrects a count the server
// gave that included messages the sync applied after it. Otherwise (the
// unread messages are more than the cache keeps, or were never pulled) it
// is the count the server last gave plus added: which of the messages a
// moved read index passed were unread, only the server knows, and
// GetConversation asks it.
func (c *cache) unreadLocked(conv *Conversation, me UserID, added int) int {
	msgs := c.msgs[conv.ID]
	counted := len(msgs) > 0 && msgs[0].Index <= conv.ReadIndex+1
	c.counted[conv.ID] = counted
	if counted {
		return len(conv.UnreadMessages(msgs[after(msgs, conv.ReadIndex):], me))
	}
	return conv.UnreadCount + added
}

// after returns the position of the first message in msgs (sorted by
// Index) whose index is past index.
func after(msgs []*Message, index int64) int {
	i, _ := slices.BinarySearchFunc(msgs, index+1, func(x *Message, idx int64) int {
		switch {
		case x.Index < idx:
			return -1
		case x.Index > idx:
			return 1
		}
		return 0
	})
	return i
}

func (c *cache) putMessageLocked(m *Message) (prev *Message, stale bool) {
	list := c.msgs[m.ConversationID]
	i := after(list, m.Index-1)
	if i < len(list) && list[i].Index == m.Index {
		prev = list[i]
		if prev.Version > m.Version {
			return prev, true
		}
		list[i] = m
		return prev, false
	}
	if i == len(list) {
		list = append(list, m) // the common case: a newer message
	} else {
		list = slices.Insert(list, i, m)
	}
	for len(list) > c.max {
		// Drop the oldest by reslicing: O(1), and append reallocates
		// (copying only the kept messages) when the array runs out.
		list[0] = nil
		list = list[1:]
	}
	c.msgs[m.ConversationID] = list
	return nil, false
}

// messages returns a copy of the cached messages of a conversation.
func (c *cache) messages(id ConversationID) []*Message {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.msgs[id])
}

// putConversation stores conv, which the caller has not shared yet, and
// returns the one it replaced. A server's answer carries no last message,
// so conv's LastMessage becomes the newest of its own, the replaced
// conversation's and the newest cached message that may be the last one:
// fetching a conversation never loses what the sync applied.
func (c *cache) putConversation(conv *Conversation) *Conversation {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.convs[conv.ID]
	if prev != nil {
		conv.LastMessage = newer(conv.LastMessage, prev.LastMessage)
	}
	msgs := c.msgs[conv.ID]
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].UpdatesLastMessage() {
			conv.LastMessage = newer(conv.LastMessage, msgs[i])
			break
		}
	}
	c.convs[conv.ID] = conv
	c.counted[conv.ID] = false // the server's count may include messages not applied yet
	return prev
}

// changeConversation replaces the cached conversation id, if there is
// one, with a copy that change edits. Cached conversations are shared, so
// they are replaced, never changed; and the copy is made and stored under
// the lock, so that a change the sync engine makes meanwhile (the last
// message, the unread count) is not lost. The unread count is counted
// again at the next message, as change may move the read index.
func (c *cache) changeConversation(id ConversationID, change func(*Conversation)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.convs[id]
	if prev == nil {
		return
	}
	cp := *prev
	change(&cp)
	c.convs[id] = &cp
	c.counted[id] = false
}

// newer returns the later of two messages of one conversation by index,
// a when they have the same one; either may be nil.
func newer(a, b *Message) *Message {
	if a == nil || (b != nil && b.Index > a.Index) {
		return b
	}
	return a
}

// removeConversation forgets a conversation and its messages.
func (c *cache) removeConversation(id ConversationID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.convs, id)
	delete(c.msgs, id)
	delete(c.counted, id)
}

func (c *cache) conversation(id ConversationID) *Conversation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.convs[id]
}

func (c *cache) conversations() []*Conversation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Conversation, 0, len(c.convs))
	for _, conv := range c.convs {
		out = append(out, conv)
	}
	return out
}

// CachedMessages returns the messages the client keeps of a conversation,
// oldest first (at most Options.MaxMessageCount).
func (c *Client) CachedMessages(id ConversationID) []*Message { return c.cache.messages(id) }

// CachedConversation returns the conversation as the client last saw it, or
// nil. The sync engine keeps its LastMessage, UnreadCount and ReadIndex
// current as it applies messages and read indexes.
func (c *Client) CachedConversation(id ConversationID) *Conversation { return c.cache.conversation(id) }

// CachedConversations returns every conversation the client knows.
func (c *Client) CachedConversations() []*Conversation { return c.cache.conversations() }
