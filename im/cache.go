package im

import (
	"slices"
	"sync"
)

// cache keeps the conversations the client knows and, per conversation, the
// latest messages (at most Options.MaxMessageCount), in index order.
type cache struct {
	max   int
	mu    sync.RWMutex
	convs map[ConversationID]*Conversation
	msgs  map[ConversationID][]*Message // sorted by Index
}

func newCache(max int) *cache {
	return &cache{max: max, convs: make(map[ConversationID]*Conversation), msgs: make(map[ConversationID][]*Message)}
}

// putMessage stores m, replacing an older version of it, and returns the
// version it replaced (nil when new to the cache). A version older than the
// cached one is ignored and the cached one returned.
func (c *cache) putMessage(m *Message) (prev *Message, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.msgs[m.ConversationID]
	i, found := slices.BinarySearchFunc(list, m.Index, func(x *Message, idx int64) int {
		switch {
		case x.Index < idx:
			return -1
		case x.Index > idx:
			return 1
		}
		return 0
	})
	if found {
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

// putConversation stores conv and returns the one it replaced.
func (c *cache) putConversation(conv *Conversation) *Conversation {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.convs[conv.ID]
	c.convs[conv.ID] = conv
	return prev
}

// removeConversation forgets a conversation and its messages.
func (c *cache) removeConversation(id ConversationID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.convs, id)
	delete(c.msgs, id)
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
// nil.
func (c *Client) CachedConversation(id ConversationID) *Conversation { return c.cache.conversation(id) }

// CachedConversations returns every conversation the client knows.
func (c *Client) CachedConversations() []*Conversation { return c.cache.conversations() }
