package imserver

import (
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// getMessagesByUser serves 200: the caller's inbox after a cursor, across
// all their conversations, in the order the server delivered it. Every new
// message and every change to one (recall, property, ext) is one inbox
// entry; an entry resolves to the message as it is now, so a client keeps
// the highest version it has seen per server message id.
func (s *Server) getMessagesByUser(c *call) (proto.Message, error) {
	b := c.body.(*improto.MessagesPerUserRequestBody)
	if b.GetCursor() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", b.GetCursor())
	}
	limit := pageLimit(int64(b.GetLimit()), defaultPullLimit, maxPullLimit)
	err := s.view(func(tx store.Tx) error {
		prefix := key(c.user, c.inbox)
		hasMore := false
		cursors, shorts, indexes := make([]int64, 0, limit), make([]int64, 0, limit), make([]int64, 0, limit)
		err := tx.Ascend(bucketInbox, key(c.user, c.inbox, b.GetCursor()+1), prefixEnd(prefix), func(k, v []byte) bool {
			if len(cursors) == limit {
				hasMore = true
				return false
			}
			// An inbox entry is the message's key: short id|index.
			cursors = append(cursors, int64At(k, len(prefix)))
			shorts = append(shorts, int64At(v, 0))
			indexes = append(indexes, int64At(v, 8))
			return true
		})
		if err != nil {
			return err
		}
		msgs, err := loadEntries(tx, shorts, indexes)
		if err != nil {
			return err
		}
		// Most users never delete a message for themselves: look for
		// their hidden messages only when they have some.
		hidden := false
		_ = tx.Ascend(bucketHidden, key(c.user), prefixEnd(key(c.user)), func(_, _ []byte) bool {
			hidden = true
			return false
		})
		next, size := b.GetCursor(), 0
		for i, m := range msgs {
			next = cursors[i] // the cursor moves past what is left out too
			if m == nil || (hidden && tx.Get(bucketHidden, key(c.user, storedMessageID(m))) != nil) {
				msgs[i] = nil
				continue
			}
			size += protowire.SizeTag(1) + protowire.SizeBytes(len(m))
		}
		// The stored messages are already encoded: they are copied once,
		// into the response body's bytes (repeated field 1, messages),
		// which spares a decode and an encode per message on the hottest
		// read path, and the copies of the page that proto would make.
		body := newEncodedBody(size + 2*protowire.SizeTag(2) + protowire.SizeVarint(uint64(next)) + 1)
		body = protowire.AppendTag(body, 2, protowire.VarintType) // next_cursor
		body = protowire.AppendVarint(body, uint64(next))
		body = protowire.AppendTag(body, 3, protowire.VarintType) // has_more
		body = protowire.AppendVarint(body, protowire.EncodeBool(hasMore))
		for _, m := range msgs {
			if m != nil {
				body = protowire.AppendBytes(protowire.AppendTag(body, 1, protowire.BytesType), m)
			}
		}
		c.encoded = body
		return nil
	})
	return nil, err
}

// loadEntries returns the stored (encoded) messages at the given short
// ids and indexes, nil where there is none. Inbox entries mostly come in
// runs of one conversation's consecutive messages, and a run is read with
// one range scan of the store instead of a lookup per message.
func loadEntries(tx store.Tx, shorts, indexes []int64) ([][]byte, error) {
	msgs := make([][]byte, len(shorts))
	for i := 0; i < len(shorts); {
		j := i + 1
		for j < len(shorts) && shorts[j] == shorts[i] && indexes[j] == indexes[j-1]+1 {
			j++
		}
		first := indexes[i]
		err := tx.Ascend(bucketMsg, key(shorts[i], first), key(shorts[i], indexes[j-1]+1), func(k, v []byte) bool {
			if at := int64At(k, 8) - first; at >= 0 && at < int64(j-i) {
				msgs[i+int(at)] = v
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		i = j
	}
	return msgs, nil
}

// userConversations visits the caller's conversations in inbox in short id
// order, skipping those deleted for self and, unless withLeft, those left.
func userConversations(tx store.Tx, user int64, inbox int32, after int64, withLeft bool, visit func(conv *convRecord, uc *userConvRecord) (bool, error)) error {
	prefix := key(user, inbox)
	var shorts []int64
	var records []userConvRecord
	var decodeErr error
	err := tx.Ascend(bucketUserConv, key(user, inbox, after+1), prefixEnd(prefix), func(k, v []byte) bool {
		var uc userConvRecord
		if decodeErr = uc.unmarshal(v); decodeErr != nil {
			return false
		}
		shorts = append(shorts, int64At(k, len(prefix)))
		records = append(records, uc)
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return err
	}
	for i, short := range shorts {
		uc := &records[i]
		if uc.Deleted || (uc.Left && !withLeft) {
			continue
		}
		conv, err := loadConv(tx, inbox, "", short)
		if err != nil {
			return err
		}
		more, err := visit(conv, uc)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// initPageConversations bounds one 203 page.
const initPageConversations = 50

// getMessagesByUserInit serves 203: the first full sync, paged by
// conversation. Each page carries conversations (with the caller's view of
// them), their latest messages, and per_user_cursor: the inbox cursor at
// the time of the page. A client continues with 200 from the
// per_user_cursor of the FIRST page; anything that arrives during a paged
// init is then delivered again by 200, and deduplicated by server id.
func (s *Server) getMessagesByUserInit(c *call) (proto.Message, error) {
	b := c.body.(*improto.MessagesPerUserInitV2RequestBody)
	nowMs := c.now.UnixMilli()
	// Who the token logged in as, so that a client configured as another
	// user stops at its first sync (improto README, choice 23).
	c.headers = map[string]string{
		improto.HeaderUserID: strconv.FormatInt(c.user, 10),
		improto.HeaderAppID:  strconv.FormatInt(s.cfg.AppID, 10),
	}
	resp := &improto.MessagesPerUserInitV2ResponseBody{
		HasMore:  proto.Bool(false),
		InitType: improto.InitType_TYPE_BY_CONVERSATION.Enum(),
	}
	err := s.view(func(tx store.Tx) error {
		resp.PerUserCursor = proto.Int64(currentCursor(tx, c.user, c.inbox))
		resp.NextCursor = proto.Int64(b.GetCursor())
		return userConversations(tx, c.user, c.inbox, b.GetCursor(), false, func(conv *convRecord, uc *userConvRecord) (bool, error) {
			if len(resp.Conversations) == initPageConversations {
				resp.HasMore = proto.Bool(true)
				return false, nil
			}
			info, err := conversationInfo(tx, conv, c.user, nowMs)
			if err != nil {
				return false, err
			}
			resp.Conversations = append(resp.Conversations, info)
			resp.NextCursor = proto.Int64(conv.ShortID)
			if conv.Type == typeLive {
				return true, nil // live chats are paged with 2008
			}
			var latest []*improto.MessageBody
			err = visitMessages(tx, conv.ShortID, uc.DeletedAt+1, conv.LastIndex+1, true, func(m *improto.MessageBody) bool {
				if visibleTo(m, c.user) && !hiddenFor(tx, c.user, m) {
					latest = append(latest, m)
				}
				return len(latest) < s.cfg.InitMessages
			})
			for i := len(latest) - 1; i >= 0; i-- {
				resp.Messages = append(resp.Messages, latest[i])
			}
			return true, err
		})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// getMessagesByConversation serves 301: one conversation's messages before
// (OLDER) or after (NEWER) an anchor index, or the latest (FROM_LATEST, or
// OLDER without an anchor). Messages come in increasing index order;
// next_cursor is the anchor of the next page in the same direction.
func (s *Server) getMessagesByConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.MessagesInConversationRequestBody)
	limit := pageLimit(int64(b.GetLimit()), defaultPullLimit, maxPullLimit)
	dir := b.GetDirection()
	switch dir {
	case improto.MessageDirection_OLDER, improto.MessageDirection_NEWER, improto.MessageDirection_FROM_LATEST:
	default:
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "direction %d is not OLDER, NEWER or FROM_LATEST", dir)
	}
	resp := &improto.MessagesInConversationResponseBody{HasMore: proto.Bool(false)}
	err := s.view(func(tx store.Tx) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		var uc userConvRecord
		if _, err := getRecord(tx, bucketUserConv, key(c.user, conv.Inbox, conv.ShortID), &uc); err != nil {
			return err
		}
		floor := uc.DeletedAt + 1 // deleting a conversation hides its history
		from, to, descend := floor, conv.LastIndex+1, true
		switch {
		case dir == improto.MessageDirection_NEWER:
			from, descend = max(floor, b.GetAnchorIndex()+1), false
		case dir == improto.MessageDirection_OLDER && b.GetAnchorIndex() > 0:
			to = min(to, b.GetAnchorIndex())
		}
		var page []*improto.MessageBody
		err = visitMessages(tx, conv.ShortID, from, to, descend, func(m *improto.MessageBody) bool {
			if len(page) == limit {
				resp.HasMore = proto.Bool(true)
				return false
			}
			if visibleTo(m, c.user) && !hiddenFor(tx, c.user, m) {
				page = append(page, m)
			}
			return true
		})
		if err != nil {
			return err
		}
		if descend {
			slices.Reverse(page)
		}
		resp.Messages = page
		switch {
		case len(page) == 0:
			resp.NextCursor = proto.Int64(b.GetAnchorIndex())
		case descend:
			resp.NextCursor = proto.Int64(page[0].GetIndexInConversation())
		default:
			resp.NextCursor = proto.Int64(page[len(page)-1].GetIndexInConversation())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
