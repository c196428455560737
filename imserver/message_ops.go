package imserver

import (
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Bounds of what 705 and 2021 may store on one message, so that a member
// cannot grow a shared message without limit.
const (
	maxPropertyKeyBytes   = 128  // a property or ext key
	maxPropertyValueBytes = 4096 // a property or ext value
	maxPropertyItems      = 1000 // items under one property key
	maxPropertyKeys       = 128  // property keys on one message
)

// systemExtPrefix marks the ext keys the server owns (s:is_recalled,
// s:server_message_id, …); clients may not set them with 2021.
const systemExtPrefix = "s:"

// requireServerID refuses a missing or non-positive server message id.
func requireServerID(id int64) error {
	if id <= 0 {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "server_message_id %d must be positive", id)
	}
	return nil
}

// changeMessage bumps m's version, stores it and delivers it again: every
// member who can see it gets a new inbox entry and a 500 push carrying the
// message as it is now (IMPROTO choice 16).
func (s *Server) changeMessage(tx store.Tx, out *outbox, c *call, conv *convRecord, m *improto.MessageBody) error {
	m.Version = proto.Int64(m.GetVersion() + 1)
	encoded, err := saveMessage(tx, m)
	if err != nil {
		return err
	}
	return s.deliver(tx, out, c, conv, m, encoded, false)
}

// getMessageByID serves 211: one message as the caller may see it. An id
// the conversation does not hold is answered OK with NOT_EXIST; a message
// the caller may not see (s:visible/s:invisible, deleted for self, or
// before the point where they deleted the conversation) is INVISIBLE.
// Neither carries a body. A recalled message is RECALLED, with its body.
func (s *Server) getMessageByID(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetMessageByIdRequestBody)
	if err := requireServerID(b.GetServerMessageId()); err != nil {
		return nil, err
	}
	info := &improto.MessageInfo{}
	err := s.view(func(tx store.Tx) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		m, err := findMessage(tx, conv, b.GetServerMessageId())
		if err != nil {
			return err
		}
		if m == nil {
			info.Status = improto.MessageStatus_NOT_EXIST.Enum()
			return nil
		}
		var uc userConvRecord
		if _, err := getRecord(tx, bucketUserConv, key(c.user, conv.Inbox, conv.ShortID), &uc); err != nil {
			return err
		}
		switch {
		case !visibleTo(m, c.user) || hiddenFor(tx, c.user, m) || m.GetIndexInConversation() <= uc.DeletedAt:
			info.Status = improto.MessageStatus_INVISIBLE.Enum()
		case isRecalled(m):
			info.Status, info.Body = improto.MessageStatus_RECALLED.Enum(), m
		default:
			info.Status, info.Body = improto.MessageStatus_AVAILABLE.Enum(), m
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &improto.GetMessageByIdResponseBody{MsgInfo: info}, nil
}

// deleteMessage serves 701: the caller deletes a message for themself
// only. Their pulls (200, 203, 301) and 211 stop returning it; the other
// members are unaffected, and nobody is pushed. Deleting twice is OK. It
// works in a dissolved conversation too, since it changes nothing shared.
func (s *Server) deleteMessage(c *call) (proto.Message, error) {
	b := c.body.(*improto.DeleteMessageRequestBody)
	if err := requireServerID(b.GetMessageId()); err != nil {
		return nil, err
	}
	err := s.update(func(tx store.Tx, _ *outbox) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		m, err := loadMessageByID(tx, conv, b.GetMessageId())
		if err != nil {
			return err
		}
		return tx.Put(bucketHidden, key(c.user, m.GetServerMessageId()), []byte{})
	})
	return nil, err
}

// recallMessage serves 702. The sender may recall within
// Config.RecallWindow of sending (RECALL_TIMEOUT after it); the owner or a
// manager may recall any message at any time; anyone else is refused. A
// recall marks the message s:is_recalled, drops its content, bumps its
// version and delivers it again. Recalling a recalled message is OK and
// changes nothing.
func (s *Server) recallMessage(c *call) (proto.Message, error) {
	b := c.body.(*improto.RecallMessageRequestBody)
	if err := requireServerID(b.GetServerMessageId()); err != nil {
		return nil, err
	}
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, p, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireWritable)
		if err != nil {
			return err
		}
		m, err := loadMessageByID(tx, conv, b.GetServerMessageId())
		if err != nil {
			return err
		}
		admin, sender := isOwnerOrManager(p), m.GetSender() == c.user
		if !admin && !sender {
			return errStatus(improto.StatusCode_USER_FORBIDDEN,
				"user %d may not recall message %d of user %d in conversation %s: only its sender, the owner or a manager may",
				c.user, m.GetServerMessageId(), m.GetSender(), conv.ID)
		}
		if isRecalled(m) {
			return nil
		}
		if !admin && s.cfg.RecallWindow >= 0 {
			sent := time.UnixMilli(m.GetCreateTime())
			if c.now.Sub(sent) > s.cfg.RecallWindow {
				return errStatus(improto.StatusCode_RECALL_TIMEOUT,
					"message %d was sent at %s, more than %v ago: too late to recall",
					m.GetServerMessageId(), sent.UTC().Format(time.RFC3339), s.cfg.RecallWindow)
			}
		}
		if m.Ext == nil {
			m.Ext = map[string]string{}
		}
		if err := revokeGrants(tx, m); err != nil {
			return err
		}
		m.Ext[extIsRecalled] = "true"
		m.Content = proto.String("")
		m.ContentPb = nil
		m.MediaInfoList = nil
		return s.changeMessage(tx, out, c, conv, m)
	})
	if err != nil {
		return nil, err
	}
	return &improto.RecallMessageResponseBody{}, nil
}

// errProperty refuses a 705 request. The ModifyMessagePropertyStatus the
// reference pairs with the refusal leads error_desc, since a failed
// Response carries no body.
func errProperty(status improto.ModifyMessagePropertyStatus, format string, args ...any) error {
	return errStatus(improto.StatusCode_INVALID_REQUEST, status.String()+": "+format, args...)
}

// checkPropertyContent validates one 705 operation before anything is
// applied, so that a request is applied whole or not at all.
func checkPropertyContent(i int, pc *improto.ModifyPropertyContent) error {
	op := pc.GetOperation()
	if pc.Operation == nil && len(pc.ProtoReflect().GetUnknown()) > 0 {
		// An operation value this schema does not know lands in the
		// unknown fields, and the getter would read it as ADD.
		return errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_REQUEST,
			"modify_property_content[%d]: unknown operation", i)
	}
	switch op {
	case improto.OPERATION_TYPE_ADD_PROPERTY_ITEM, improto.OPERATION_TYPE_REMOVE_PROPERTY_ITEM,
		improto.OPERATION_TYPE_SET_PROPERTY, improto.OPERATION_TYPE_DEL_PROPERTY:
	default:
		return errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_REQUEST,
			"modify_property_content[%d]: operation %v is not served (ADD_PROPERTY_ITEM, REMOVE_PROPERTY_ITEM, SET_PROPERTY, DEL_PROPERTY)", i, op)
	}
	if k := pc.GetKey(); k == "" || len(k) > maxPropertyKeyBytes {
		return errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_LENGTH,
			"modify_property_content[%d]: key of %d bytes, want 1 to %d", i, len(k), maxPropertyKeyBytes)
	}
	if v := pc.GetValue(); len(v) > maxPropertyValueBytes {
		return errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_LENGTH,
			"modify_property_content[%d]: value of %d bytes exceeds %d", i, len(v), maxPropertyValueBytes)
	}
	return nil
}

// propertyResult is what applying one 705 operation did.
type propertyResult int

const (
	propertyUnchanged propertyResult = iota // nothing to do (removing what is not there)
	propertyChanged
	propertyRepeat // the idempotent id was applied before
)

// applyProperty applies one validated 705 operation of user to m's
// property list.
func applyProperty(m *improto.MessageBody, pc *improto.ModifyPropertyContent, user int64, now time.Time) (propertyResult, error) {
	k, value, idem := pc.GetKey(), pc.GetValue(), pc.GetIdempotentId()
	if m.PropertyList == nil {
		m.PropertyList = map[string]*improto.PropertyItemList{}
	}
	list := m.PropertyList[k]
	item := &improto.PropertyItem{
		Uid:             proto.Int64(user),
		CreateTime:      proto.Int64(now.UnixMilli()),
		IdempotentId:    proto.String(idem),
		Value:           proto.String(value),
		CreateTimeMicro: proto.Int64(now.UnixMicro()),
	}
	// same reports whether it is the item this operation would make: the
	// same idempotent id or, without one, the same user and value.
	same := func(it *improto.PropertyItem) bool {
		if idem != "" {
			return it.GetIdempotentId() == idem
		}
		return it.GetIdempotentId() == "" && it.GetUid() == user && it.GetValue() == value
	}
	switch pc.GetOperation() {
	case improto.OPERATION_TYPE_ADD_PROPERTY_ITEM:
		if slices.ContainsFunc(list.GetItems(), same) {
			return propertyRepeat, nil
		}
		if len(list.GetItems()) >= maxPropertyItems {
			return 0, errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_LENGTH,
				"property %q of message %d already holds %d items", k, m.GetServerMessageId(), maxPropertyItems)
		}
		if list == nil {
			if len(m.PropertyList) >= maxPropertyKeys {
				return 0, errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_LENGTH,
					"message %d already has %d property keys", m.GetServerMessageId(), maxPropertyKeys)
			}
			list = &improto.PropertyItemList{}
			m.PropertyList[k] = list
		}
		list.Items = append(list.Items, item)
		return propertyChanged, nil
	case improto.OPERATION_TYPE_REMOVE_PROPERTY_ITEM:
		var match func(it *improto.PropertyItem) bool
		if idem != "" {
			if i := slices.IndexFunc(list.GetItems(), func(it *improto.PropertyItem) bool { return it.GetIdempotentId() == idem }); i >= 0 && list.Items[i].GetUid() != user {
				return 0, errStatus(improto.StatusCode_USER_FORBIDDEN,
					"property %q item %q of message %d belongs to user %d: one may only remove their own items",
					k, idem, m.GetServerMessageId(), list.Items[i].GetUid())
			}
			match = func(it *improto.PropertyItem) bool { return it.GetIdempotentId() == idem }
		} else {
			match = func(it *improto.PropertyItem) bool { return it.GetUid() == user && it.GetValue() == value }
		}
		if list == nil || !slices.ContainsFunc(list.Items, match) {
			return propertyUnchanged, nil
		}
		list.Items = slices.DeleteFunc(list.Items, match)
		if len(list.Items) == 0 {
			delete(m.PropertyList, k)
		}
		return propertyChanged, nil
	case improto.OPERATION_TYPE_SET_PROPERTY:
		if idem != "" && len(list.GetItems()) == 1 && same(list.Items[0]) {
			return propertyRepeat, nil
		}
		if list == nil && len(m.PropertyList) >= maxPropertyKeys {
			return 0, errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_LENGTH,
				"message %d already has %d property keys", m.GetServerMessageId(), maxPropertyKeys)
		}
		m.PropertyList[k] = &improto.PropertyItemList{Items: []*improto.PropertyItem{item}}
		return propertyChanged, nil
	default: // DEL_PROPERTY; checkPropertyContent let nothing else through
		if list == nil {
			return propertyUnchanged, nil
		}
		delete(m.PropertyList, k)
		return propertyChanged, nil
	}
}

// setMessageProperty serves 705: members add, remove, set and delete a
// message's properties (reactions and the like), all operations of a
// request in order and in one transaction. If anything changed, the
// message's version grows by one and it is delivered again; the response
// carries the version the message has now. A request that changed nothing
// because its items were added before answers MODIFY_PROPERTY_REPEAT_REQUEST.
func (s *Server) setMessageProperty(c *call) (proto.Message, error) {
	b := c.body.(*improto.ModifyMessagePropertyRequestBody).GetPropertyList()
	if err := requireServerID(b.GetServerMessageId()); err != nil {
		return nil, err
	}
	contents := b.GetModifyPropertyContent()
	if len(contents) == 0 {
		return nil, errProperty(improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_INVALID_REQUEST, "modify_property_content is empty")
	}
	for i, pc := range contents {
		if err := checkPropertyContent(i, pc); err != nil {
			return nil, err
		}
	}
	resp := &improto.ModifyMessagePropertyResponseBody{}
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireWritable)
		if err != nil {
			return err
		}
		m, err := s.editableMessage(tx, c, conv, b.GetServerMessageId())
		if err != nil {
			return err
		}
		changed, repeat := false, false
		for _, pc := range contents {
			r, err := applyProperty(m, pc, c.user, c.now)
			if err != nil {
				return err
			}
			changed = changed || r == propertyChanged
			repeat = repeat || r == propertyRepeat
		}
		resp.Status = improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_SUCCESS.Enum()
		if !changed {
			if repeat {
				resp.Status = improto.ModifyMessagePropertyStatus_MODIFY_PROPERTY_REPEAT_REQUEST.Enum()
			}
			resp.Version = proto.Int64(m.GetVersion())
			return nil
		}
		if len(m.PropertyList) == 0 {
			m.PropertyList = nil
		}
		if err := s.changeMessage(tx, out, c, conv, m); err != nil {
			return err
		}
		resp.Version = proto.Int64(m.GetVersion())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// editableMessage returns the message 705 and 2021 change: one the caller
// can see (others are answered as unknown) that has not been recalled.
func (s *Server) editableMessage(tx store.Tx, c *call, conv *convRecord, serverID int64) (*improto.MessageBody, error) {
	m, err := findMessage(tx, conv, serverID)
	if err != nil {
		return nil, err
	}
	if m == nil || !visibleTo(m, c.user) {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "message %d not found in conversation %s", serverID, conv.ID)
	}
	if isRecalled(m) {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "message %d in conversation %s was recalled", serverID, conv.ID)
	}
	return m, nil
}

// checkExt validates a 2021 ext: client keys only (not s:…), within the
// property bounds. Keys are checked in order so the error is stable.
func checkExt(ext map[string]string) error {
	if len(ext) == 0 {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "ext is empty: nothing to modify")
	}
	for _, k := range slices.Sorted(maps.Keys(ext)) {
		switch {
		case k == "" || len(k) > maxPropertyKeyBytes:
			return errStatus(improto.StatusCode_INVALID_REQUEST, "ext key %q of %d bytes, want 1 to %d", k, len(k), maxPropertyKeyBytes)
		case strings.HasPrefix(k, systemExtPrefix):
			return errStatus(improto.StatusCode_INVALID_REQUEST, "ext key %q is a system key (prefix %q) that clients may not set", k, systemExtPrefix)
		case len(ext[k]) > maxPropertyValueBytes:
			return errStatus(improto.StatusCode_INVALID_REQUEST, "ext value of key %q has %d bytes, more than %d", k, len(ext[k]), maxPropertyValueBytes)
		}
	}
	return nil
}

// modifyMessageExt serves 2021 (IMPROTO choice 8): the sender, or the
// owner or a manager, merges keys into a message's ext; an empty value
// deletes its key. If anything changed, the version grows by one and the
// message is delivered again. The response carries the message as it is.
func (s *Server) modifyMessageExt(c *call) (proto.Message, error) {
	b := c.body.(*improto.ModifyMessageExtRequestBody)
	if err := requireServerID(b.GetServerMessageId()); err != nil {
		return nil, err
	}
	if err := checkExt(b.GetExt()); err != nil {
		return nil, err
	}
	var m *improto.MessageBody
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, p, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireWritable)
		if err != nil {
			return err
		}
		if m, err = s.editableMessage(tx, c, conv, b.GetServerMessageId()); err != nil {
			return err
		}
		if m.GetSender() != c.user && !isOwnerOrManager(p) {
			return errStatus(improto.StatusCode_USER_FORBIDDEN,
				"user %d may not modify the ext of message %d of user %d in conversation %s: only its sender, the owner or a manager may",
				c.user, m.GetServerMessageId(), m.GetSender(), conv.ID)
		}
		var changed bool
		if m.Ext, changed = mergeExt(m.GetExt(), b.GetExt()); !changed {
			return nil
		}
		return s.changeMessage(tx, out, c, conv, m)
	})
	if err != nil {
		return nil, err
	}
	return &improto.ModifyMessageExtResponseBody{Message: m}, nil
}
