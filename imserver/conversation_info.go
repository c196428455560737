package imserver

import (
	"encoding/json"
	"errors"
	"maps"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Bounds of the conversation list commands.
const (
	maxInfoListItems     = 100 // 610 items per request
	defaultConvListLimit = 50  // 2006 page size when limit is unset
	maxConvListLimit     = 200 // 2006 largest page
)

// Setting ext keys the server validates (922): the seed's PushStatus and
// its weak-mute configuration (improto choice 19).
const (
	settingExtPushStatus   = "s:push_status"
	settingExtPushPartConf = "s:push_part_disable_config"
)

// Values of the seed's PushStatus, kept in the setting ext under
// s:push_status.
const (
	pushStatusUnknown   = 0
	pushStatusPartAllow = 3
)

// requireReader lets current members and former members (who left, were
// removed, or whose conversation was dissolved) read a conversation's
// info, so that the latter can see what happened to it; everyone else gets
// USER_NOT_IN_GROUP.
func requireReader(tx store.Tx, conv *convRecord, user int64) error {
	p, err := member(tx, conv.ShortID, user)
	if err != nil || p != nil {
		return err
	}
	var uc userConvRecord
	ok, err := getRecord(tx, bucketUserConv, key(user, conv.Inbox, conv.ShortID), &uc)
	if err != nil {
		return err
	}
	if ok && uc.Left {
		return nil
	}
	return errStatus(improto.StatusCode_USER_NOT_IN_GROUP, "user %d is not and never was a member of conversation %s", user, conv.ID)
}

// requireGroupLike refuses core changes to single chats, whose core info
// has no owner and no name of its own.
func requireGroupLike(conv *convRecord) error {
	if conv.Type == typeSingle {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "conversation %s is a single chat: only groups and live chats have editable core info", conv.ID)
	}
	return nil
}

// isStatus reports whether err is a status the client should see rather
// than an internal failure.
func isStatus(err error) bool {
	var se *statusError
	return errors.As(err, &se)
}

// getConversationInfo serves 608: the conversation as the caller sees it.
// Former members get it too, with is_participant false.
func (s *Server) getConversationInfo(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetConversationInfoV2RequestBody)
	var info *improto.ConversationInfoV2
	err := s.view(func(tx store.Tx) error {
		conv, err := loadConv(tx, c.inbox, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if err := requireReader(tx, conv, c.user); err != nil {
			return err
		}
		info, err = conversationInfo(tx, conv, c.user, c.now.UnixMilli())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &improto.GetConversationInfoV2ResponseBody{ConversationInfo: info}, nil
}

// getConversationInfoList serves 610: 608 for up to maxInfoListItems
// conversations at once. Items the caller may not see (unknown, another
// inbox, never a member) are left out rather than failing the request,
// and a conversation asked for twice is answered once.
func (s *Server) getConversationInfoList(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetConversationInfoListV2RequestBody)
	items := b.GetConversationInfoList()
	if len(items) > maxInfoListItems {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d conversations exceed the limit of %d per request", len(items), maxInfoListItems)
	}
	nowMs := c.now.UnixMilli()
	resp := &improto.GetConversationInfoListV2ResponseBody{}
	err := s.view(func(tx store.Tx) error {
		seen := make(map[int64]bool, len(items))
		for _, it := range items {
			conv, err := loadConv(tx, c.inbox, it.GetConversationId(), it.GetConversationShortId())
			if err == nil {
				err = requireReader(tx, conv, c.user)
			}
			if isStatus(err) {
				continue
			}
			if err != nil {
				return err
			}
			if seen[conv.ShortID] {
				continue
			}
			seen[conv.ShortID] = true
			info, err := conversationInfo(tx, conv, c.user, nowMs)
			if err != nil {
				return err
			}
			resp.ConversationInfoList = append(resp.ConversationInfoList, info)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// getUserConversationList serves 2006: the caller's conversations in the
// request's inbox, a page at a time.
//
// Pages are in conversation short id order (creation order) whatever
// sort_type asks for: a cursor (the last short id of the previous page)
// needs an order that does not change between pages, and join time, name
// and activity all do. Clients sort locally as the seed's SortType
// describes. con_type, when set, keeps one conversation type;
// include_removed_group adds the conversations the caller left or was
// removed from; conversations deleted for self (603) are never listed.
// include_role, exclude_role, with_cold and customed_con_type are ignored.
func (s *Server) getUserConversationList(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetUserConversationListRequestBody)
	if b.GetCursor() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", b.GetCursor())
	}
	limit := pageLimit(b.GetLimit(), defaultConvListLimit, maxConvListLimit)
	nowMs := c.now.UnixMilli()
	resp := &improto.GetUserConversationListResponseBody{HasMore: proto.Bool(false), NextCursor: proto.Int64(b.GetCursor())}
	err := s.view(func(tx store.Tx) error {
		return userConversations(tx, c.user, c.inbox, b.GetCursor(), b.GetIncludeRemovedGroup(), func(conv *convRecord, _ *userConvRecord) (bool, error) {
			// A closed enum leaves ConType nil for 0 and unknown values:
			// both mean every type.
			if b.ConType != nil && conv.Type != int32(b.GetConType()) {
				return true, nil
			}
			if len(resp.List) == limit {
				resp.HasMore = proto.Bool(true)
				return false, nil
			}
			info, err := conversationInfo(tx, conv, c.user, nowMs)
			if err != nil {
				return false, err
			}
			resp.List = append(resp.List, info)
			resp.NextCursor = proto.Int64(conv.ShortID)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// deleteConversation serves 603: the caller deletes the conversation for
// themself. It leaves their list (2006, 203) and its messages up to the
// current last index are hidden from 301 and 203, until a new message
// revives it; the caller's read index moves to the end. Members and former
// members may delete. Only the caller's other sockets hear of it (502).
// The request's last_message_index is not used: the server's last index
// is the one that counts.
func (s *Server) deleteConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.DeleteConversationRequestBody)
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, err := loadConv(tx, c.inbox, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if err := requireReader(tx, conv, c.user); err != nil {
			return err
		}
		k := key(c.user, conv.Inbox, conv.ShortID)
		var uc userConvRecord
		if _, err := getRecord(tx, bucketUserConv, k, &uc); err != nil {
			return err
		}
		uc.Deleted = true
		uc.DeletedAt = max(uc.DeletedAt, conv.LastIndex)
		if err := putRecord(tx, bucketUserConv, k, &uc); err != nil {
			return err
		}
		setting, err := settingInfo(tx, conv, c.user)
		if err != nil {
			return err
		}
		if conv.LastIndex > setting.GetReadIndex() {
			setting.ReadIndex = proto.Int64(conv.LastIndex)
			setting.ReadIndexV2 = proto.Int64(conv.LastIndex)
		}
		return saveSetting(tx, out, c, conv, setting, true)
	})
	return nil, err
}

// markConversationRead serves 604 and 2002 (same body): a member's read
// index moves forward to read_message_index, clamped to the last index;
// a lower index is accepted and ignored. When read_message_index is 0 the
// index comes from read_message_index_v2 (the same numbers here), else
// from the message server_message_id names. When the index moved, every
// member's sockets but the requesting one get 501, so that the reader's
// other devices clear their badge and senders see read receipts; in a live
// chat only the reader's own sockets do, sparing thousands of pushes per
// read.
func (s *Server) markConversationRead(c *call) (proto.Message, error) {
	b := c.body.(*improto.MarkConversationReadRequestBody)
	if b.GetReadMessageIndex() < 0 || b.GetReadMessageIndexV2() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "read_message_index %d / read_message_index_v2 %d is negative",
			b.GetReadMessageIndex(), b.GetReadMessageIndexV2())
	}
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		idx := b.GetReadMessageIndex()
		if idx == 0 {
			idx = b.GetReadMessageIndexV2()
		}
		var msg *improto.MessageBody
		if idx == 0 && b.GetServerMessageId() != 0 {
			if msg, err = loadMessageByID(tx, conv, b.GetServerMessageId()); err != nil {
				return err
			}
			idx = msg.GetIndexInConversation()
		}
		idx = min(idx, conv.LastIndex)
		setting, err := settingInfo(tx, conv, c.user)
		if err != nil {
			return err
		}
		if idx <= setting.GetReadIndex() {
			return nil
		}
		setting.ReadIndex = proto.Int64(idx)
		setting.ReadIndexV2 = proto.Int64(idx)
		if err := putSetting(tx, conv, c.user, setting); err != nil {
			return err
		}
		if msg == nil || msg.GetIndexInConversation() != idx {
			if msg, err = loadMessage(tx, conv.ShortID, idx); err != nil {
				return err
			}
		}
		notify := &improto.MarkConversationReadNotify{
			ConversationId:   proto.String(conv.ID),
			ConversationType: proto.Int32(conv.Type),
			ReadIndex:        proto.Int64(idx),
			ReadIndexV2:      proto.Int64(idx),
			UserId:           proto.Int64(c.user),
		}
		if msg != nil {
			notify.MessageId = proto.Int64(msg.GetServerMessageId())
		}
		users := []int64{c.user}
		if conv.Type != typeLive {
			if users, err = memberIDs(tx, conv.ShortID); err != nil {
				return err
			}
		}
		body := &improto.ResponseBody{MarkConversationReadNotify: notify}
		for _, u := range users {
			out.add(u, conv.Inbox, improto.IMCMD_MARK_READ_NOTIFY, body, c.conn)
		}
		return nil
	})
	return nil, err
}

// getReadIndexes serves 2000: every member's read index, for read
// receipts. index_v2 equals index (the server numbers both alike) and
// index_min, the same on every entry, is the smallest read index among
// the members: messages up to it are read by everyone.
func (s *Server) getReadIndexes(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetConversationParticipantsReadIndexV3RequestBody)
	resp := &improto.GetConversationParticipantsReadIndexV3ResponseBody{}
	err := s.view(func(tx store.Tx) error {
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		ids, err := memberIDs(tx, conv.ShortID)
		if err != nil {
			return err
		}
		var lowest int64
		for i, u := range ids {
			setting := &improto.ConversationSettingInfo{}
			if _, err := getProto(tx, bucketSetting, key(u, conv.ShortID), setting); err != nil {
				return err
			}
			r := setting.GetReadIndex()
			if i == 0 || r < lowest {
				lowest = r
			}
			resp.Indexes = append(resp.Indexes, &improto.ParticipantReadIndex{
				UserId:  proto.Int64(u),
				Index:   proto.Int64(r),
				IndexV2: proto.Int64(r),
			})
		}
		for _, e := range resp.Indexes {
			e.IndexMin = proto.Int64(lowest)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// getCoreInfo serves 901. Its request and response bodies have no known
// fields (the reference names them only), so it can carry no data: it
// answers OK with an empty body. Clients read core info with 608.
func (s *Server) getCoreInfo(c *call) (proto.Message, error) {
	return &improto.GetConversationCoreInfoResponseBody{}, nil
}

// getSettingInfo serves 920. Like 901 its bodies have no known fields: it
// answers OK with an empty body, and clients read settings with 608.
func (s *Server) getSettingInfo(c *call) (proto.Message, error) {
	return &improto.GetConversationSettingInfoResponseBody{}, nil
}

// setCoreInfo serves 902: the owner or a manager of a group or live chat
// sets name, desc, icon and notice (each only when its is_*_set flag is
// true) and, when ext is non-empty, replaces the core ext with it. A
// request that changes nothing leaves info_version as it is and pushes
// nothing; otherwise info_version grows by one and every member's sockets
// but the requesting one get 502.
func (s *Server) setCoreInfo(c *call) (proto.Message, error) {
	b := c.body.(*improto.SetConversationCoreInfoRequestBody)
	if err := checkExtKeys(b.GetExt()); err != nil {
		return nil, err
	}
	core, err := s.editCore(c, b.GetConversationId(), b.GetConversationShortId(), func(core *improto.ConversationCoreInfo) bool {
		changed := false
		set := func(flag bool, dst **string, v string) {
			if flag && (*dst == nil || **dst != v) {
				*dst = proto.String(v)
				changed = true
			}
		}
		set(b.GetIsNameSet(), &core.Name, b.GetName())
		set(b.GetIsDescSet(), &core.Desc, b.GetDesc())
		set(b.GetIsIconSet(), &core.Icon, b.GetIcon())
		set(b.GetIsNoticeSet(), &core.Notice, b.GetNotice())
		if len(b.GetExt()) > 0 && !maps.Equal(core.GetExt(), b.GetExt()) {
			core.Ext = maps.Clone(b.GetExt())
			changed = true
		}
		return changed
	})
	if err != nil {
		return nil, err
	}
	return &improto.SetConversationCoreInfoResponseBody{ConversationCoreInfo: core, Status: proto.Int32(0)}, nil
}

// upsertCoreExt serves 904: the owner or a manager of a group or live chat
// merges keys into the core ext; an empty value deletes its key. As with
// 902, info_version grows and members hear of it (502) only when the ext
// changed.
func (s *Server) upsertCoreExt(c *call) (proto.Message, error) {
	b := c.body.(*improto.UpsertConversationCoreExtInfoRequestBody)
	if err := checkExtKeys(b.GetExt()); err != nil {
		return nil, err
	}
	core, err := s.editCore(c, b.GetConversationId(), b.GetConversationShortId(), func(core *improto.ConversationCoreInfo) bool {
		var changed bool
		core.Ext, changed = mergeExt(core.GetExt(), b.GetExt())
		return changed
	})
	if err != nil {
		return nil, err
	}
	return &improto.UpsertConversationCoreExtInfoResponseBody{CoreInfo: core, Status: proto.Int32(0)}, nil
}

// editCore is the transaction of 902 and 904. The caller must be owner or
// manager of the group or live chat, which must not be dissolved; edit
// changes its core and reports whether anything changed. A change is
// stored with the next info_version and told to the members (502), all
// sockets but the requesting one; no change stores and pushes nothing.
// editCore returns the core as it is now.
func (s *Server) editCore(c *call, id string, shortID int64, edit func(core *improto.ConversationCoreInfo) bool) (*improto.ConversationCoreInfo, error) {
	var core *improto.ConversationCoreInfo
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, p, err := memberConv(tx, c, id, shortID, requireGroupLike, requireWritable)
		if err != nil {
			return err
		}
		if err := requireAdmin(conv, p, "change its core info"); err != nil {
			return err
		}
		if core, err = coreInfo(tx, conv); err != nil {
			return err
		}
		if !edit(core) {
			return nil
		}
		if err := putCore(tx, conv, core); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	return core, err
}

// setSettingInfo serves 921: a member changes their private settings.
// Only the fields present in the request change: set_stick_on_top
// (stick_on_top 0/1, set_top_time now when turned on, 0 when off),
// set_mute (mute 0/1), set_favorite (favorite 0/1, set_favorite_time
// likewise) and set_category. setting_version grows and the caller's
// other sockets get 502 when anything changed.
func (s *Server) setSettingInfo(c *call) (proto.Message, error) {
	b := c.body.(*improto.SetConversationSettingInfoRequestBody)
	nowMs := c.now.UnixMilli()
	setting, err := s.editSetting(c, b.GetConversationId(), b.GetConversationShortId(), func(setting *improto.ConversationSettingInfo) bool {
		changed := false
		flip := func(on *bool, state **int32, since **int64) {
			if on == nil {
				return
			}
			v := int32(0)
			if *on {
				v = 1
			}
			if *state != nil && **state == v {
				return
			}
			*state = proto.Int32(v)
			if since != nil {
				*since = proto.Int64(int64(v) * nowMs)
			}
			changed = true
		}
		flip(b.SetStickOnTop, &setting.StickOnTop, &setting.SetTopTime)
		flip(b.SetMute, &setting.Mute, nil)
		flip(b.SetFavorite, &setting.Favorite, &setting.SetFavoriteTime)
		if b.SetCategory != nil && setting.GetCategory() != b.GetSetCategory() {
			setting.Category = proto.Int32(b.GetSetCategory())
			changed = true
		}
		return changed
	})
	if err != nil {
		return nil, err
	}
	return &improto.SetConversationSettingInfoResponseBody{SettingInfo: setting, Status: proto.Int32(0)}, nil
}

// upsertSettingExt serves 922: a member merges keys into their private
// setting ext; an empty value deletes its key. Any key is accepted; two
// carry the seed's settings and are checked:
//
//   - "s:push_status": the seed's PushStatus, "0" unknown, "1" allow,
//     "2" disable, "3" partly allow;
//   - "s:push_part_disable_config": the seed's weak-mute configuration
//     (ConversationSettingWeakMuteInfo), JSON the client owns; the server
//     only checks that it is valid JSON.
//
// setting_version grows and the caller's other sockets get 502 when the
// ext changed.
func (s *Server) upsertSettingExt(c *call) (proto.Message, error) {
	b := c.body.(*improto.UpsertConversationSettingExtInfoRequestBody)
	if err := checkSettingExt(b.GetExt()); err != nil {
		return nil, err
	}
	setting, err := s.editSetting(c, b.GetConversationId(), b.GetConversationShortId(), func(setting *improto.ConversationSettingInfo) bool {
		var changed bool
		setting.Ext, changed = mergeExt(setting.GetExt(), b.GetExt())
		return changed
	})
	if err != nil {
		return nil, err
	}
	return &improto.UpsertConversationSettingExtInfoResponseBody{SettingInfo: setting, Status: proto.Int32(0)}, nil
}

// editSetting is the transaction of 921 and 922: edit changes the
// caller's private setting of a conversation they are a member of (a
// dissolved one too) and reports whether anything changed; saveSetting
// stores and tells. It returns the setting as it is now.
func (s *Server) editSetting(c *call, id string, shortID int64, edit func(setting *improto.ConversationSettingInfo) bool) (*improto.ConversationSettingInfo, error) {
	var setting *improto.ConversationSettingInfo
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, _, err := memberConv(tx, c, id, shortID)
		if err != nil {
			return err
		}
		if setting, err = settingInfo(tx, conv, c.user); err != nil {
			return err
		}
		return saveSetting(tx, out, c, conv, setting, edit(setting))
	})
	return setting, err
}

// saveSetting stores the caller's changed setting with the next
// setting_version and tells their other sockets (502). It does nothing
// when nothing changed.
func saveSetting(tx store.Tx, out *outbox, c *call, conv *convRecord, setting *improto.ConversationSettingInfo, changed bool) error {
	if !changed {
		return nil
	}
	if err := putSetting(tx, conv, c.user, setting); err != nil {
		return err
	}
	pushConversationUpdated(out, conv, []int64{c.user}, c.conn)
	return nil
}

// mergeExt applies an upsert to ext: keys with an empty value are deleted,
// the others set. It returns the merged map (nil when empty) and whether
// anything changed; ext itself is not modified.
func mergeExt(ext, upsert map[string]string) (map[string]string, bool) {
	out := maps.Clone(ext)
	if out == nil {
		out = map[string]string{}
	}
	changed := false
	for k, v := range upsert {
		old, had := out[k]
		switch {
		case v == "" && had:
			delete(out, k)
			changed = true
		case v != "" && (!had || old != v):
			out[k] = v
			changed = true
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, changed
}

// checkExtKeys refuses an empty ext key, which no client can address.
func checkExtKeys(ext map[string]string) error {
	if _, ok := ext[""]; ok {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "ext has an empty key")
	}
	return nil
}

// checkSettingExt validates the setting ext keys the server knows; an
// empty value (a deletion) is always accepted.
func checkSettingExt(ext map[string]string) error {
	if err := checkExtKeys(ext); err != nil {
		return err
	}
	if v := ext[settingExtPushStatus]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < pushStatusUnknown || n > pushStatusPartAllow {
			return errStatus(improto.StatusCode_INVALID_REQUEST, "%s %q is not a PushStatus (0 unknown, 1 allow, 2 disable, 3 partly allow)", settingExtPushStatus, v)
		}
	}
	if v := ext[settingExtPushPartConf]; v != "" && !json.Valid([]byte(v)) {
		return errStatus(improto.StatusCode_INVALID_REQUEST, "%s is not valid JSON", settingExtPushPartConf)
	}
	return nil
}
