package imserver

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Ext keys of the seed's InfoKeys that the server acts on.
const (
	extClientMessageID   = "s:client_message_id"
	extMentionedUsers    = "s:mentioned_users"
	extDoNotIncrease     = "s:do_not_increase_unread"
	extIsRecalled        = "s:is_recalled"
	extServerMessageID   = "s:server_message_id"
	extVisible           = "s:visible"
	extInvisible         = "s:invisible"
	extMessagePriority   = "s:message_priority"
	extIsRootReference   = "s:is_root_ref"
	specialMessageTypeGE = 50000 // types from here on are "special" (SD)
)

// Paging bounds of the pulls.
const (
	defaultPullLimit = 100
	maxPullLimit     = 1000
)

// pageLimit applies a command's default and largest page size to a
// requested limit; zero or negative asks for the default.
func pageLimit(requested int64, def, most int) int {
	if requested <= 0 {
		return def
	}
	return int(min(requested, int64(most)))
}

// userList parses a comma-separated list of user ids, as s:visible,
// s:invisible and s:mentioned_users carry them.
func userList(s string) []int64 {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// visibleTo applies s:visible and s:invisible: a message with s:visible
// reaches only those users (and its sender); one with s:invisible reaches
// everyone but them.
func visibleTo(m *improto.MessageBody, user int64) bool {
	if user == m.GetSender() {
		return true
	}
	ext := m.GetExt()
	if v, ok := ext[extVisible]; ok && v != "" && !slices.Contains(userList(v), user) {
		return false
	}
	if v, ok := ext[extInvisible]; ok && slices.Contains(userList(v), user) {
		return false
	}
	return true
}

// increasesUnread follows the seed's Message.increaseUnread: special types
// and messages flagged s:do_not_increase_unread do not count.
func increasesUnread(m *improto.MessageBody) bool {
	return m.GetMessageType() < specialMessageTypeGE && m.GetExt()[extDoNotIncrease] != "true"
}

func isRecalled(m *improto.MessageBody) bool { return m.GetExt()[extIsRecalled] == "true" }

// storedMessageID reads the server message id (field 3) of an encoded
// MessageBody without decoding the rest; 0 when absent or malformed.
func storedMessageID(b []byte) int64 {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		b = b[n:]
		if num == 3 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0
			}
			return int64(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0
		}
		b = b[n:]
	}
	return 0
}

// hiddenFor reports whether user deleted the message for themself (701).
func hiddenFor(tx store.Tx, user int64, m *improto.MessageBody) bool {
	return tx.Get(bucketHidden, key(user, m.GetServerMessageId())) != nil
}

// visitMessages visits conv's messages with from <= index < to.
func visitMessages(tx store.Tx, shortID, from, to int64, descend bool, visit func(m *improto.MessageBody) bool) error {
	walk := tx.Ascend
	if descend {
		walk = tx.Descend
	}
	return walkProtos(walk, bucketMsg, key(shortID, from), key(shortID, to), visit)
}

// loadMessage returns the message at index in conv, or nil.
func loadMessage(tx store.Tx, shortID, index int64) (*improto.MessageBody, error) {
	return findProto[*improto.MessageBody](tx, bucketMsg, key(shortID, index))
}

// findMessage returns the message with serverID in conv, or nil when there
// is none (also when the id belongs to another conversation). Unlike
// loadMessageByID, absence is not an error: 211 answers it as NOT_EXIST.
func findMessage(tx store.Tx, conv *convRecord, serverID int64) (*improto.MessageBody, error) {
	v := tx.Get(bucketMsgByID, key(serverID))
	if len(v) != 16 || int64At(v, 0) != conv.ShortID {
		return nil, nil
	}
	return loadMessage(tx, conv.ShortID, int64At(v, 8))
}

// loadMessageByID returns the message with a server id in conv, or a
// not-found status (also when the id belongs to another conversation).
func loadMessageByID(tx store.Tx, conv *convRecord, serverID int64) (*improto.MessageBody, error) {
	m, err := findMessage(tx, conv, serverID)
	if err != nil || m != nil {
		return m, err
	}
	return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "message %d not found in conversation %s", serverID, conv.ID)
}

// saveMessage stores m and returns its encoding, which deliver pushes as
// it is.
func saveMessage(tx store.Tx, m *improto.MessageBody) ([]byte, error) {
	b, err := marshalMessage(m)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(bucketMsg, key(m.GetConversationShortId(), m.GetIndexInConversation()), b)
}

// fieldMessageExt is MessageBody.ext.
const fieldMessageExt = 9

// marshalMessage is proto.Marshal(m) with the ext map written by hand:
// proto sizes and writes a map through reflection, which made the
// encoding of a new message a fifth of a send's transaction. Map entries
// are written as proto writes them (key 1, value 2, both present), in no
// particular order, as proto's own are.
func marshalMessage(m *improto.MessageBody) ([]byte, error) {
	ext := m.Ext
	m.Ext = nil
	size := proto.Size(m)
	m.Ext = ext
	for k, v := range ext {
		entry := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		size += protowire.SizeTag(fieldMessageExt) + protowire.SizeBytes(entry)
	}
	m.Ext = nil
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size), m)
	m.Ext = ext
	if err != nil {
		return nil, err
	}
	for k, v := range ext {
		entry := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		b = protowire.AppendTag(b, fieldMessageExt, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entry))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b, nil
}

// checkCanSend applies member mutes (2019) and conversation blocks (2020):
// a blocked conversation lets only its owner speak, or, with
// block_normal_only, its owner and managers.
func checkCanSend(tx store.Tx, conv *convRecord, p memberState, nowMs int64) error {
	if p.role == roleVisitor && conv.Type != typeLive {
		return errStatus(improto.StatusCode_USER_BANNED_TO_POST, "visitors cannot send in conversation %s", conv.ID)
	}
	if p.blocked && (p.blockEnd == 0 || p.blockEnd > nowMs) {
		return errStatus(improto.StatusCode_USER_BANNED_TO_POST, "user %d is muted in conversation %s", p.user, conv.ID)
	}
	mute, err := convMute(tx, conv)
	if err != nil {
		return err
	}
	if mute.blocked {
		allowed := p.role == roleOwner || (mute.normalOnly && p.role == roleManager)
		if !allowed {
			return errStatus(improto.StatusCode_USER_BANNED_TO_POST, "conversation %s is muted", conv.ID)
		}
	}
	return nil
}

// newMessage is what a sender asks to store.
type newMessage struct {
	sender    int64
	msgType   int32
	content   string
	ext       map[string]string
	clientID  string
	mentioned []int64
	ref       *improto.ReferencedMessageInfo
}

// clientIDOf returns a send's client message id: the body field, or the
// s:client_message_id ext key.
func clientIDOf(field string, ext map[string]string) string {
	if field != "" {
		return field
	}
	return ext[extClientMessageID]
}

// findByClientID returns the message sender already stored in conv under
// clientID, or nil. It is what makes a retried send idempotent.
func findByClientID(tx store.Tx, conv *convRecord, sender int64, clientID string) (*improto.MessageBody, error) {
	if clientID == "" {
		return nil, nil
	}
	v := tx.Get(bucketClientID, key(conv.ShortID, sender, clientID))
	if len(v) != 8 {
		return nil, nil
	}
	return loadMessageByID(tx, conv, int64At(v, 0))
}

// sendOnce is the body of a send (100, 2007) by member p: the message the
// sender already stored under nm.clientID, so that a retried send is
// answered with what the first attempt stored (even if the sender has
// been muted since), or else a new message, if checkCanSend allows it.
func (s *Server) sendOnce(tx store.Tx, out *outbox, c *call, conv *convRecord, p memberState, nm newMessage) (*improto.MessageBody, error) {
	m, err := findByClientID(tx, conv, nm.sender, nm.clientID)
	if err != nil || m != nil {
		return m, err
	}
	if err := checkCanSend(tx, conv, p, c.now.UnixMilli()); err != nil {
		return nil, err
	}
	return s.appendMessage(tx, out, c, conv, nm)
}

// appendMessage stores a new message at the end of conv and delivers it to
// the members. Callers check findByClientID first.
func (s *Server) appendMessage(tx store.Tx, out *outbox, c *call, conv *convRecord, nm newMessage) (*improto.MessageBody, error) {
	serverID, err := nextID(tx, counterMsgID)
	if err != nil {
		return nil, err
	}
	ext := maps.Clone(nm.ext)
	if ext == nil {
		ext = map[string]string{}
	}
	if nm.clientID != "" {
		ext[extClientMessageID] = nm.clientID
	}
	if len(nm.mentioned) > 0 && ext[extMentionedUsers] == "" {
		ids := make([]string, len(nm.mentioned))
		for i, u := range nm.mentioned {
			ids[i] = strconv.FormatInt(u, 10)
		}
		ext[extMentionedUsers] = strings.Join(ids, ",")
	}
	ext[extServerMessageID] = strconv.FormatInt(serverID, 10)
	nowUs := c.now.UnixMicro()
	conv.LastIndex++
	conv.LastOrder = max(conv.LastOrder+1, nowUs)
	m := &improto.MessageBody{
		ConversationId:        proto.String(conv.ID),
		ConversationType:      proto.Int32(conv.Type),
		ServerMessageId:       proto.Int64(serverID),
		IndexInConversation:   proto.Int64(conv.LastIndex),
		IndexInConversationV2: proto.Int64(conv.LastIndex),
		ConversationShortId:   proto.Int64(conv.ShortID),
		MessageType:           proto.Int32(nm.msgType),
		Sender:                proto.Int64(nm.sender),
		Content:               proto.String(nm.content),
		Ext:                   ext,
		CreateTime:            proto.Int64(c.now.UnixMilli()),
		Version:               proto.Int64(1),
		Status:                proto.Int32(0),
		OrderInConversation:   proto.Int64(conv.LastOrder),
	}
	if nm.ref != nil && nm.ref.GetReferencedMessageId() != 0 {
		m.ReferenceInfo = referenceInfo(tx, conv, nm.ref)
	}
	encoded, err := saveMessage(tx, m)
	if err != nil {
		return nil, err
	}
	if err := grantFiles(tx, m); err != nil {
		return nil, err
	}
	if err := tx.Put(bucketMsgByID, key(serverID), append(key(conv.ShortID), key(conv.LastIndex)...)); err != nil {
		return nil, err
	}
	if nm.clientID != "" {
		if err := tx.Put(bucketClientID, key(conv.ShortID, nm.sender, nm.clientID), int64Bytes(serverID)); err != nil {
			return nil, err
		}
	}
	if err := saveConv(tx, conv); err != nil {
		return nil, err
	}
	return m, s.deliver(tx, out, c, conv, m, encoded, true)
}

// referenceInfo describes the message a new message quotes.
func referenceInfo(tx store.Tx, conv *convRecord, ref *improto.ReferencedMessageInfo) *improto.ReferenceInfo {
	info := &improto.ReferenceInfo{
		ReferencedMessageId:  proto.Int64(ref.GetReferencedMessageId()),
		Hint:                 proto.String(ref.GetHint()),
		RootMessageId:        proto.Int64(ref.GetRootMessageId()),
		RootMessageConvIndex: proto.Int64(ref.GetRootMessageConvIndex()),
	}
	quoted, err := loadMessageByID(tx, conv, ref.GetReferencedMessageId())
	if err != nil || quoted == nil {
		info.ReferencedMessageStatus = improto.MessageStatus_NOT_EXIST.Enum()
		return info
	}
	info.RefMessageType = proto.Int64(int64(quoted.GetMessageType()))
	info.Sender = proto.Int64(quoted.GetSender())
	info.ReferencedMessageStatus = improto.MessageStatus_AVAILABLE.Enum()
	if isRecalled(quoted) {
		info.ReferencedMessageStatus = improto.MessageStatus_RECALLED.Enum()
	}
	if ref.GetRootMessageId() == 0 {
		// Quoting a message that quotes nothing makes it the root.
		info.RootMessageId = proto.Int64(quoted.GetServerMessageId())
		info.RootMessageConvIndex = proto.Int64(quoted.GetIndexInConversation())
		if qr := quoted.GetReferenceInfo(); qr.GetRootMessageId() != 0 {
			info.RootMessageId = proto.Int64(qr.GetRootMessageId())
			info.RootMessageConvIndex = proto.Int64(qr.GetRootMessageConvIndex())
		}
	}
	return info
}

// deliver puts a new or changed message into every member's inbox and
// pushes it to every socket of theirs (500), the sending one included.
// encoded is m as saveMessage stored it.
// Live chats have no inbox: joined members who are online get a 505 push.
func (s *Server) deliver(tx store.Tx, out *outbox, c *call, conv *convRecord, m *improto.MessageBody, encoded []byte, isNew bool) error {
	if conv.Type == typeLive {
		return s.deliverLive(tx, out, c, conv, m)
	}
	ids, err := memberIDs(tx, conv.ShortID)
	if err != nil {
		return err
	}
	users := make([]int64, 0, len(ids))
	for _, u := range ids {
		// A change to a message someone deleted for themself is not news
		// to them.
		if visibleTo(m, u) && (isNew || !hiddenFor(tx, u, m)) {
			users = append(users, u)
		}
	}
	entry := append(key(conv.ShortID), key(m.GetIndexInConversation())...)
	// The message is the bulk of every push and the same for all: its
	// stored encoding is attached to each recipient's notify as field 5
	// (message), which proto.Marshal writes out as it is.
	var msgField []byte
	for _, u := range users {
		cursor, err := nextCursor(tx, u, conv.Inbox)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketInbox, key(u, conv.Inbox, cursor), entry); err != nil {
			return err
		}
		if isNew {
			if err := reviveDeleted(tx, conv, u); err != nil {
				return err
			}
		}
		if !s.hub.online(u) {
			continue // they find it in their inbox
		}
		if msgField == nil {
			msgField = protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), encoded)
		}
		notify := &improto.NewMessageNotify{
			ConversationId:        proto.String(conv.ID),
			ConversationType:      proto.Int32(conv.Type),
			NotifyType:            improto.NewMessageNotifyType_PER_USER.Enum(),
			PreviousCursor:        proto.Int64(cursor - 1),
			NextCursor:            proto.Int64(cursor),
			IndexInConversation:   proto.Int64(m.GetIndexInConversation()),
			IndexInConversationV2: proto.Int64(m.GetIndexInConversation()),
		}
		notify.ProtoReflect().SetUnknown(msgField)
		// The socket that sent the message gets the push too: it carries
		// the sender's next cursor, and without it the sender's client
		// would see a gap at the next push and pull.
		if err := out.addNotify(u, conv.Inbox, improto.IMCMD_NEW_MSG_NOTIFY, notify, nil); err != nil {
			return err
		}
	}
	return nil
}

// nextCursor advances user's inbox cursor and returns the new value.
func nextCursor(tx store.Tx, user int64, inbox int32) (int64, error) {
	k := key(user, inbox)
	n, ok := int64(0), false
	if cache := cacheOf(tx); cache != nil {
		n, ok = cache.cursors[userInbox{user, inbox}]
	}
	if !ok {
		if v := tx.Get(bucketCursor, k); len(v) == 8 {
			n = int64At(v, 0)
		}
	}
	n++
	return n, tx.Put(bucketCursor, k, int64Bytes(n))
}

func currentCursor(tx store.Tx, user int64, inbox int32) int64 {
	if v := tx.Get(bucketCursor, key(user, inbox)); len(v) == 8 {
		return int64At(v, 0)
	}
	return 0
}

// reviveDeleted puts a conversation that user deleted for themself back on
// their list when a new message arrives in it.
func reviveDeleted(tx store.Tx, conv *convRecord, user int64) error {
	cache := cacheOf(tx)
	ck := userConvKey{user, conv.Inbox, conv.ShortID}
	uc, ok := userConvRecord{}, false
	if cache != nil {
		uc, ok = cache.userConvs[ck]
	}
	if !ok {
		var err error
		if ok, err = getRecord(tx, bucketUserConv, key(user, conv.Inbox, conv.ShortID), &uc); err != nil || !ok {
			return err
		}
		if cache != nil {
			room(cache.userConvs)
			cache.userConvs[ck] = uc
		}
	}
	if !uc.Deleted {
		return nil
	}
	uc.Deleted = false
	return putRecord(tx, bucketUserConv, key(user, conv.Inbox, conv.ShortID), &uc)
}

// sendMessage serves 100.
func (s *Server) sendMessage(c *call) (proto.Message, error) {
	b := c.body.(*improto.SendMessageRequestBody)
	// Live chats send with 2007, whether the body or the stored
	// conversation says it is one.
	refuseLive := func(typ int32) error {
		if typ == typeLive {
			return errStatus(improto.StatusCode_INVALID_REQUEST, "live chats send with %v (2007)", improto.IMCMD_BROADCAST_SEND_MESSAGE)
		}
		return nil
	}
	if err := refuseLive(b.GetConversationType()); err != nil {
		return nil, err
	}
	notLive := func(conv *convRecord) error { return refuseLive(conv.Type) }
	var resp *improto.SendMessageResponseBody
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, p, err := senderConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), notLive, requireWritable)
		if err != nil {
			return err
		}
		m, err := s.sendOnce(tx, out, c, conv, p, newMessage{
			sender: c.user, msgType: b.GetMessageType(), content: b.GetContent(), ext: b.GetExt(),
			clientID: clientIDOf(b.GetClientMessageId(), b.GetExt()), mentioned: b.GetMentionedUsers(), ref: b.GetRefMsgInfo(),
		})
		if err != nil {
			return err
		}
		resp = &improto.SendMessageResponseBody{
			ServerMessageId: proto.Int64(m.GetServerMessageId()),
			ClientMessageId: proto.String(m.GetExt()[extClientMessageID]),
			Status:          proto.Int32(int32(improto.SendMessageStatus_SEND_SUCCEED)),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
