package im

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// GetMessage fetches one message by server id (211). It returns nil and no
// error when the message does not exist or the caller may not see it. The
// message's Source is MessageSourceLoadMore, as for every message an
// operation fetches from one conversation on request.
func (c *Client) GetMessage(ctx context.Context, conv ConversationRef, id MessageID) (*Message, error) {
	body, err := callBody[*improto.GetMessageByIdResponseBody](ctx, c, improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID,
		&improto.GetMessageByIdRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			ServerMessageId:     proto.Int64(int64(id)),
		})
	if err != nil || body.GetMsgInfo().GetBody() == nil {
		return nil, err
	}
	return fetchedMessage(body.GetMsgInfo().GetBody()), nil
}

// MessagePage is one page of a conversation's history.
type MessagePage struct {
	// Messages in increasing index order.
	Messages []*Message
	// HasMore reports more messages in the same direction; Next is the
	// anchor to ask for them.
	HasMore bool
	Next    int64
}

// LoadMessages pages a conversation's history (301): OLDER returns the
// messages before anchor (0: the latest), NEWER those after it. limit 0
// means the server's default. Loaded messages join the local cache, with
// Source MessageSourceLoadMore.
func (c *Client) LoadMessages(ctx context.Context, conv ConversationRef, dir MessageDirection, anchor int64, limit int) (*MessagePage, error) {
	body, err := callBody[*improto.MessagesInConversationResponseBody](ctx, c, improto.IMCMD_GET_MESSAGES_BY_CONVERSATION,
		&improto.MessagesInConversationRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Direction:           improto.MessageDirection(dir).Enum(),
			AnchorIndex:         proto.Int64(anchor),
			Limit:               proto.Int32(int32(limit)),
		})
	if err != nil {
		return nil, err
	}
	page := &MessagePage{HasMore: body.GetHasMore(), Next: body.GetNextCursor()}
	for _, b := range body.GetMessages() {
		m := fetchedMessage(b)
		c.cache.putMessage(m)
		page.Messages = append(page.Messages, m)
	}
	return page, nil
}

// DeleteMessage deletes a message for this user only (701).
func (c *Client) DeleteMessage(ctx context.Context, conv ConversationRef, id MessageID) error {
	_, err := c.call(ctx, improto.IMCMD_DELETE_MESSAGE, &improto.DeleteMessageRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		MessageId:           proto.Int64(int64(id)),
	})
	return err
}

// RecallMessage recalls a message for everyone (702): the sender within the
// server's recall window, owners and managers of a group at any time.
// Members get the change as OnMessageRecalled.
func (c *Client) RecallMessage(ctx context.Context, conv ConversationRef, id MessageID) error {
	_, err := c.call(ctx, improto.IMCMD_RECALL_MESSAGE, &improto.RecallMessageRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		ServerMessageId:     proto.Int64(int64(id)),
	})
	return err
}

// PropertyChange is one change of a message property (705).
type PropertyChange struct {
	Operation OperationType
	Key       string
	Value     string
	// IdempotentID identifies an item: adding it twice is a repeat, and
	// removing names it.
	IdempotentID string
}

// ModifyProperties applies property changes to a message in one request
// (705) — reactions and the like — and returns the message's new version.
// A request that repeats what is already there succeeds without a change.
func (c *Client) ModifyProperties(ctx context.Context, conv ConversationRef, id MessageID, changes ...PropertyChange) (version int64, err error) {
	contents := make([]*improto.ModifyPropertyContent, len(changes))
	for i, ch := range changes {
		contents[i] = &improto.ModifyPropertyContent{
			Operation:    improto.OPERATION_TYPE(ch.Operation).Enum(),
			Key:          proto.String(ch.Key),
			Value:        proto.String(ch.Value),
			IdempotentId: proto.String(ch.IdempotentID),
		}
	}
	body, err := callBody[*improto.ModifyMessagePropertyResponseBody](ctx, c, improto.IMCMD_SET_MESSAGE_PROPERTY,
		&improto.ModifyMessagePropertyRequestBody{PropertyList: &improto.ModifyPropertyBody{
			ConversationId:        proto.String(string(conv.ID)),
			ConversationShortId:   proto.Int64(int64(conv.ShortID)),
			ConversationType:      proto.Int32(int32(conv.Type)),
			ServerMessageId:       proto.Int64(int64(id)),
			ModifyPropertyContent: contents,
		}})
	if err != nil {
		return 0, err
	}
	return body.GetVersion(), nil
}

// React adds this user's reaction value under key to a message, once per
// (key, value): the idempotent id is derived from them.
func (c *Client) React(ctx context.Context, conv ConversationRef, id MessageID, key, value string) error {
	_, err := c.ModifyProperties(ctx, conv, id, PropertyChange{
		Operation: OperationTypeAddPropertyItem, Key: key, Value: value,
		IdempotentID: c.opts.UserID.String() + ":" + key + ":" + value,
	})
	return err
}

// ModifyMessageExt merges ext into a message's ext (2021); an empty value
// deletes a key. s: keys are the system's and are refused. It returns the
// message as it is now (Source MessageSourceLoadMore).
func (c *Client) ModifyMessageExt(ctx context.Context, conv ConversationRef, id MessageID, ext map[string]string) (*Message, error) {
	body, err := callBody[*improto.ModifyMessageExtResponseBody](ctx, c, improto.IMCMD_MODIFY_MESSAGE_EXT,
		&improto.ModifyMessageExtRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			ServerMessageId:     proto.Int64(int64(id)),
			Ext:                 ext,
		})
	if err != nil {
		return nil, err
	}
	if body.GetMessage() == nil {
		return nil, malformedAnswer(improto.IMCMD_MODIFY_MESSAGE_EXT, "message", "")
	}
	return fetchedMessage(body.GetMessage()), nil
}

// fetchedMessage converts a message an operation fetched on request: the
// seed's MessageSourceLoadMore ("load more", pulled from one
// conversation), the sync engine's pulls and pushes having their own.
func fetchedMessage(b *improto.MessageBody) *Message {
	m := messageFromProto(b)
	if m != nil {
		m.Source = MessageSourceLoadMore
	}
	return m
}
