package im

import (
	"context"
	"encoding/json"
	"iter"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Conversation operations: create, read, list, read marks, core and setting
// info, delete, dissolve, leave.
//
// What the client caches: a conversation this client fetched or created
// replaces the cached one; core and setting info the server answers with
// replace those of the cached conversation; dissolving, leaving and muting
// a conversation mark the cached one as the server's answer implies. The
// server does not push a change to the socket that asked for it, so these
// operations report no events to this client; other members' clients (and
// this user's other devices) get them.

// Request bounds the server documents, used to split long requests.
const (
	maxConversationsPerRequest = 100 // 610
	maxCountersPerRequest      = 100 // 2009
	maxParticipantsPerRequest  = 500 // 654
)

// CreateConversationOptions describes a conversation to create (609).
type CreateConversationOptions struct {
	// Type is the conversation's type: OneToOne, Group or MassChat.
	Type ConversationType
	// Participants are the members besides the creator. A single chat
	// needs exactly one.
	Participants []UserID
	// Name, Avatar and Description are a group's or live chat's core info
	// (ignored for single chats).
	Name        string
	Avatar      string
	Description string
	// Ext is the initial core ext of a group or live chat.
	Ext map[string]string
	// IdempotentID makes creating a group or live chat idempotent: the
	// same creator repeating it in the same inbox gets the conversation
	// the first request created.
	IdempotentID string
}

// CreateConversation creates a conversation (609) and returns it as this
// user sees it. A single chat needs exactly one other participant and is
// found again, not created twice, when it exists; a group or live chat gets
// a new short id (its id is the short id in decimal) unless
// IdempotentID repeats an earlier request. The creator of a group or live
// chat is its owner; the other participants join as ordinary members and
// get OnConversationAdded. The conversation joins the local cache.
func (c *Client) CreateConversation(ctx context.Context, opts CreateConversationOptions) (*Conversation, error) {
	participants := make([]int64, len(opts.Participants))
	for i, u := range opts.Participants {
		participants[i] = int64(u)
	}
	body, err := callBody[*improto.CreateConversationV2ResponseBody](ctx, c, improto.IMCMD_CREATE_CONVERSATION_V2,
		&improto.CreateConversationV2RequestBody{
			ConversationType: proto.Int32(int32(opts.Type)),
			Participants:     participants,
			IdempotentId:     proto.String(opts.IdempotentID),
			Name:             proto.String(opts.Name),
			AvatarUrl:        proto.String(opts.Avatar),
			Description:      proto.String(opts.Description),
			BizExt:           opts.Ext,
		})
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_CREATE_CONVERSATION_V2, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	if body.GetConversation() == nil {
		return nil, malformedAnswer(improto.IMCMD_CREATE_CONVERSATION_V2, "conversation", "")
	}
	return c.remember(conversationFromProto(body.GetConversation())), nil
}

// GetConversation fetches a conversation as this user sees it (608) and
// caches it. Current and former members may read it; a former member's
// copy has IsMember false. Anyone else gets ErrNotMember, and an unknown
// conversation (or one of another inbox type) ErrNotFound.
func (c *Client) GetConversation(ctx context.Context, conv ConversationRef) (*Conversation, error) {
	body, err := callBody[*improto.GetConversationInfoV2ResponseBody](ctx, c, improto.IMCMD_GET_CONVERSATION_INFO_V2, getInfoBody(conv))
	if err != nil {
		return nil, err
	}
	if body.GetConversationInfo() == nil {
		return nil, &Error{Type: ErrorTypeServer, Cmd: improto.IMCMD_GET_CONVERSATION_INFO_V2, ReachServer: true,
			Msg: "the answer carries no conversation", Inner: ErrNotFound}
	}
	return c.remember(conversationFromProto(body.GetConversationInfo())), nil
}

func getInfoBody(conv ConversationRef) *improto.GetConversationInfoV2RequestBody {
	return &improto.GetConversationInfoV2RequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	}
}

// GetConversations fetches several conversations at once (610, in requests
// of at most 100) and caches them. Conversations this user may not see are
// left out rather than failing the call, and each comes back once.
func (c *Client) GetConversations(ctx context.Context, convs ...ConversationRef) ([]*Conversation, error) {
	var out []*Conversation
	for chunk := range slices.Chunk(convs, maxConversationsPerRequest) {
		req := &improto.GetConversationInfoListV2RequestBody{}
		for _, ref := range chunk {
			req.ConversationInfoList = append(req.ConversationInfoList, getInfoBody(ref))
		}
		body, err := callBody[*improto.GetConversationInfoListV2ResponseBody](ctx, c, improto.IMCMD_GET_CONVERSATION_INFO_LIST_V2, req)
		if err != nil {
			return nil, err
		}
		for _, info := range body.GetConversationInfoList() {
			if conv := conversationFromProto(info); conv != nil {
				out = append(out, c.remember(conv))
			}
		}
	}
	return out, nil
}

// ListConversationsOptions selects a page of this user's conversations.
type ListConversationsOptions struct {
	// Cursor is the Next of the previous page; 0 starts at the beginning.
	Cursor int64
	// Limit is the page size; 0 means the server's default (50, at most
	// 200).
	Limit int
	// Type keeps one conversation type; 0 lists every type.
	Type ConversationType
	// IncludeLeft adds the conversations this user left or was removed
	// from.
	IncludeLeft bool
}

// ConversationPage is one page of this user's conversations: plain data,
// the caller's to keep.
type ConversationPage struct {
	Conversations []*Conversation
	// HasMore reports more conversations after this page; Next is the
	// cursor that asks for them.
	HasMore bool
	Next    int64
}

// ListConversations returns a page of this user's conversations in the
// client's inbox type (2006) and caches them. The server pages in creation
// (short id) order whatever order the caller wants, so that the cursor
// stays valid; sort the result as needed. Conversations deleted for self
// (DeleteConversation) are not listed until a new message revives them.
func (c *Client) ListConversations(ctx context.Context, opts ListConversationsOptions) (*ConversationPage, error) {
	req := &improto.GetUserConversationListRequestBody{
		Cursor:              proto.Int64(opts.Cursor),
		Limit:               proto.Int64(int64(opts.Limit)),
		IncludeRemovedGroup: proto.Bool(opts.IncludeLeft),
	}
	if opts.Type != 0 {
		req.ConType = improto.ConversationType(opts.Type).Enum()
	}
	body, err := callBody[*improto.GetUserConversationListResponseBody](ctx, c, improto.IMCMD_GET_USER_CONVERSATION_LIST, req)
	if err != nil {
		return nil, err
	}
	page := &ConversationPage{HasMore: body.GetHasMore(), Next: body.GetNextCursor()}
	for _, info := range body.GetList() {
		if conv := conversationFromProto(info); conv != nil {
			page.Conversations = append(page.Conversations, c.remember(conv))
		}
	}
	return page, nil
}

// AllConversations iterates over this user's conversations from
// opts.Cursor on, fetching page after page of opts.Limit with
// ListConversations. It stops at the first error, which it yields, and
// when the loop stops.
func (c *Client) AllConversations(ctx context.Context, opts ListConversationsOptions) iter.Seq2[*Conversation, error] {
	return pages(improto.IMCMD_GET_USER_CONVERSATION_LIST, opts.Cursor, func(cursor int64) ([]*Conversation, bool, int64, error) {
		o := opts
		o.Cursor = cursor
		p, err := c.ListConversations(ctx, o)
		if err != nil {
			return nil, false, 0, err
		}
		return p.Conversations, p.HasMore, p.Next, nil
	})
}

// pages iterates over a cursor-paged list: fetch returns the items after a
// cursor, whether more follow and the cursor that asks for them. The
// iteration stops at the first error, which it yields, when the list ends,
// and when the consumer stops. A server that says more follow without
// moving the cursor ends it with an error rather than a loop.
func pages[T any](cmd improto.IMCMD, cursor int64, fetch func(cursor int64) (items []T, more bool, next int64, err error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for {
			items, more, next, err := fetch(cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if !more {
				return
			}
			if next == cursor {
				yield(zero, &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true,
					Msg: "the server reported more items without moving the cursor " + strconv.FormatInt(cursor, 10)})
				return
			}
			cursor = next
		}
	}
}

// DeleteConversation deletes a conversation for this user only (603): it
// leaves their list, its history up to now is hidden from them and their
// read index moves to the end, until a new message revives it. Members
// and former members may delete; this user's other devices hear of it.
func (c *Client) DeleteConversation(ctx context.Context, conv ConversationRef) error {
	_, err := c.call(ctx, improto.IMCMD_MARK_CONVERSATION_DELETE, &improto.DeleteConversationRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	})
	if err == nil {
		c.cache.removeConversation(conv.ID)
	}
	return err
}

// MarkRead moves this user's read index in a conversation forward to the
// message at index (2002, the web SDK's mark-read; 604's body). The server
// clamps an index past the end and ignores one behind the current mark.
// When the index moves, the other members get OnReadIndexChanged (read
// receipts), and so do this user's other devices; in a live chat only the
// latter. Members only: others get ErrNotMember.
func (c *Client) MarkRead(ctx context.Context, conv ConversationRef, index int64) error {
	_, err := c.call(ctx, improto.IMCMD_MARK_CONVERSATION_READ_V3, &improto.MarkConversationReadRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		ReadMessageIndex:    proto.Int64(index),
		ReadMessageIndexV2:  proto.Int64(index),
	})
	if err != nil {
		return err
	}
	// The server pushes the new read index to this user's other sockets
	// only, so the cache learns it here.
	c.cache.setReadIndex(c.refID(conv), index, c.opts.UserID)
	return nil
}

// ReadIndexes is where every member of a conversation has read up to
// (2000), for read receipts: plain data, the caller's to keep.
type ReadIndexes struct {
	// ByUser maps each member to the index of the newest message they
	// read.
	ByUser map[UserID]int64
	// Min is the smallest of them: every member has read the messages up
	// to it.
	Min int64
}

// ReadBy returns how many members have read the message at index.
func (r *ReadIndexes) ReadBy(index int64) int {
	n := 0
	for _, i := range r.ByUser {
		if i >= index {
			n++
		}
	}
	return n
}

// GetReadIndexes returns every member's read index in a conversation
// (2000). Members only: others get ErrNotMember.
func (c *Client) GetReadIndexes(ctx context.Context, conv ConversationRef) (*ReadIndexes, error) {
	body, err := callBody[*improto.GetConversationParticipantsReadIndexV3ResponseBody](ctx, c,
		improto.IMCMD_GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3,
		&improto.GetConversationParticipantsReadIndexV3RequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
		})
	if err != nil {
		return nil, err
	}
	out := &ReadIndexes{ByUser: make(map[UserID]int64, len(body.GetIndexes()))}
	for i, e := range body.GetIndexes() {
		idx := e.GetIndex()
		if idx == 0 {
			idx = e.GetIndexV2()
		}
		out.ByUser[UserID(e.GetUserId())] = idx
		if i == 0 || idx < out.Min {
			out.Min = idx
		}
	}
	return out, nil
}

// GetCoreInfo returns a conversation's core info as it is on the server
// now, and the cached conversation takes it. The protocol's command for
// it, GET_CONVERSATION_CORE_INFO (901), has request and response bodies
// with no known fields (IM_PROTOCOL.md §6): it can name no conversation
// and carry no info, and imserver answers it empty. So GetCoreInfo reads
// the conversation (608, as GetConversation, whose rules of access
// apply), which carries the core info, and caches all of it.
func (c *Client) GetCoreInfo(ctx context.Context, conv ConversationRef) (*ConversationCoreInfo, error) {
	cv, err := c.GetConversation(ctx, conv)
	if err != nil {
		return nil, err
	}
	if cv.CoreInfo == nil {
		return nil, malformedAnswer(improto.IMCMD_GET_CONVERSATION_INFO_V2, "core info", "")
	}
	return cv.CoreInfo, nil
}

// GetSettingInfo returns this user's private settings of a conversation
// as they are on the server now, and the cached conversation takes them.
// Like 901, GET_CONVERSATION_SETTING_INFO (920) has bodies with no known
// fields, so GetSettingInfo reads the conversation (608, as
// GetConversation), which carries the settings, and caches all of it.
func (c *Client) GetSettingInfo(ctx context.Context, conv ConversationRef) (*ConversationSettingInfo, error) {
	cv, err := c.GetConversation(ctx, conv)
	if err != nil {
		return nil, err
	}
	if cv.SettingInfo == nil {
		return nil, malformedAnswer(improto.IMCMD_GET_CONVERSATION_INFO_V2, "setting info", "")
	}
	return cv.SettingInfo, nil
}

// CoreInfoChange is a change of a conversation's core info (902). A nil
// field is left as it is; a set one, even to "", is written.
type CoreInfoChange struct {
	Name   *string
	Desc   *string
	Icon   *string
	Notice *string
	// Ext, when not empty, replaces the whole core ext; use UpsertCoreExt
	// to change some keys.
	Ext map[string]string
}

// SetCoreInfo changes a group's or live chat's core info (902) and returns
// it as it is now. Owners and managers only (others: ErrForbidden); single
// chats have none to change. A change that changes nothing keeps the
// version; otherwise the version grows and the other members get
// OnConversationUpdated. The cached conversation takes the new core info.
func (c *Client) SetCoreInfo(ctx context.Context, conv ConversationRef, change CoreInfoChange) (*ConversationCoreInfo, error) {
	req := &improto.SetConversationCoreInfoRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		Ext:                 change.Ext,
	}
	set := func(v *string, dst **string, flag **bool) {
		if v != nil {
			*dst, *flag = proto.String(*v), proto.Bool(true)
		}
	}
	set(change.Name, &req.Name, &req.IsNameSet)
	set(change.Desc, &req.Desc, &req.IsDescSet)
	set(change.Icon, &req.Icon, &req.IsIconSet)
	set(change.Notice, &req.Notice, &req.IsNoticeSet)
	body, err := callBody[*improto.SetConversationCoreInfoResponseBody](ctx, c, improto.IMCMD_SET_CONVERSATION_CORE_INFO, req)
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_SET_CONVERSATION_CORE_INFO, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	return c.cacheCoreInfo(improto.IMCMD_SET_CONVERSATION_CORE_INFO, conv, body.GetConversationCoreInfo())
}

// UpsertCoreExt merges ext into a group's or live chat's core ext (904)
// and returns the core info as it is now: keys are set, an empty value
// deletes its key. Owners and managers only (others: ErrForbidden). Other
// members get OnConversationUpdated when the ext changed.
func (c *Client) UpsertCoreExt(ctx context.Context, conv ConversationRef, ext map[string]string) (*ConversationCoreInfo, error) {
	body, err := callBody[*improto.UpsertConversationCoreExtInfoResponseBody](ctx, c, improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO,
		&improto.UpsertConversationCoreExtInfoRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Ext:                 ext,
		})
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	return c.cacheCoreInfo(improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO, conv, body.GetCoreInfo())
}

// cacheCoreInfo converts the core info the server answered cmd with and
// puts it in the cached conversation; an answer without it is malformed.
func (c *Client) cacheCoreInfo(cmd improto.IMCMD, conv ConversationRef, b *improto.ConversationCoreInfo) (*ConversationCoreInfo, error) {
	core := coreInfoFromProto(b, c.refID(conv))
	if core == nil {
		return nil, malformedAnswer(cmd, "core info", "")
	}
	c.updateCached(core.ConversationID, func(cv *Conversation) {
		cv.CoreInfo = core
		cv.Status = core.Status
	})
	return core, nil
}

// SettingChange is a change of this user's private settings of a
// conversation (921). A nil field is left as it is.
type SettingChange struct {
	StickTop *bool
	Mute     *bool
	Favorite *bool
}

// SetSettingInfo changes this user's private settings of a conversation
// (921) and returns them as they are now: pinning and favouring also set
// or clear their times. Any member may, in a dissolved conversation too.
// This user's other devices get OnConversationUpdated. The cached
// conversation takes the new settings.
func (c *Client) SetSettingInfo(ctx context.Context, conv ConversationRef, change SettingChange) (*ConversationSettingInfo, error) {
	body, err := callBody[*improto.SetConversationSettingInfoResponseBody](ctx, c, improto.IMCMD_SET_CONVERSATION_SETTING_INFO,
		&improto.SetConversationSettingInfoRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			SetStickOnTop:       change.StickTop,
			SetMute:             change.Mute,
			SetFavorite:         change.Favorite,
		})
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_SET_CONVERSATION_SETTING_INFO, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	return c.cacheSettingInfo(improto.IMCMD_SET_CONVERSATION_SETTING_INFO, conv, body.GetSettingInfo())
}

// UpsertSettingExt merges ext into this user's private setting ext of a
// conversation (922) and returns the settings as they are now: keys are
// set, an empty value deletes its key. The server checks the keys it knows
// (s:push_status, s:push_part_disable_config); SetPushStatus and
// SetWeakMuteInfo write them.
func (c *Client) UpsertSettingExt(ctx context.Context, conv ConversationRef, ext map[string]string) (*ConversationSettingInfo, error) {
	body, err := callBody[*improto.UpsertConversationSettingExtInfoResponseBody](ctx, c, improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
		&improto.UpsertConversationSettingExtInfoRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Ext:                 ext,
		})
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	return c.cacheSettingInfo(improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO, conv, body.GetSettingInfo())
}

// SetPushStatus sets how a conversation's messages are pushed to this
// user (922, setting ext s:push_status, the status as a decimal number).
// PushStatusUnknown deletes the key, which reads back as Unknown.
func (c *Client) SetPushStatus(ctx context.Context, conv ConversationRef, status PushStatus) (*ConversationSettingInfo, error) {
	if status < PushStatusUnknown || status > PushStatusPartAllow {
		return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
			Msg: "push status " + status.String() + " is not one of Unknown, Allow, Disable, PartAllow"}
	}
	v := ""
	if status != PushStatusUnknown {
		v = strconv.Itoa(int(status))
	}
	return c.UpsertSettingExt(ctx, conv, map[string]string{string(InfoKeyPushStatus): v})
}

// SetWeakMuteInfo sets the white lists of low-disturbance mode (922,
// setting ext s:push_part_disable_config, JSON as
// ConversationSettingWeakMuteInfo writes it); nil deletes them. The lists
// apply while the push status is PushStatusPartAllow (SetPushStatus).
func (c *Client) SetWeakMuteInfo(ctx context.Context, conv ConversationRef, info *ConversationSettingWeakMuteInfo) (*ConversationSettingInfo, error) {
	v := ""
	if info != nil {
		b, err := json.Marshal(info)
		if err != nil {
			return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO,
				Msg: "encoding the weak-mute info", Inner: err}
		}
		v = string(b)
	}
	return c.UpsertSettingExt(ctx, conv, map[string]string{string(InfoKeyPushPartDisableConfig): v})
}

// cacheSettingInfo converts the settings the server answered cmd with and
// puts them in the cached conversation; an answer without them is
// malformed.
func (c *Client) cacheSettingInfo(cmd improto.IMCMD, conv ConversationRef, b *improto.ConversationSettingInfo) (*ConversationSettingInfo, error) {
	s := settingInfoFromProto(b, c.refID(conv))
	if s == nil {
		return nil, malformedAnswer(cmd, "setting info", "")
	}
	c.updateCached(s.ConversationID, func(cv *Conversation) {
		cv.SettingInfo = s
		cv.Version = s.Version
		cv.ReadIndex = s.ReadIndex
	})
	return s, nil
}

// DissolveConversation ends a group or live chat (614). The owner only
// (others: ErrForbidden). Members stay recorded and may still read it, but
// it no longer changes; they get OnConversationUpdated with Status
// Dissolved. The cached conversation is marked dissolved.
func (c *Client) DissolveConversation(ctx context.Context, conv ConversationRef) error {
	_, err := c.call(ctx, improto.IMCMD_DISSOLVE_CONVERSATION, &improto.DissolveConversationRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	})
	if err != nil {
		return err
	}
	c.updateCached(c.refID(conv), func(cv *Conversation) {
		cv.Status = ConversationStatusDissolved
		if cv.CoreInfo != nil {
			core := *cv.CoreInfo
			core.Status = ConversationStatusDissolved
			cv.CoreInfo = &core
		}
	})
	return nil
}

// LeaveConversation makes this user leave a group or live chat (652). The
// owner may not leave while others remain (ErrForbidden): transfer
// ownership first (UpdateParticipant with GroupRoleOwner) or dissolve. The
// remaining members get OnParticipantsChanged; the cached conversation is
// marked as no longer this user's.
func (c *Client) LeaveConversation(ctx context.Context, conv ConversationRef) error {
	_, err := c.call(ctx, improto.IMCMD_LEAVE_CONVERSATION, &improto.ConversationLeaveRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
	})
	if err != nil {
		return err
	}
	c.updateCached(c.refID(conv), func(cv *Conversation) {
		if !cv.IsMember {
			return
		}
		cv.IsMember = false
		cv.Participant = nil
		cv.ParticipantCount = max(cv.ParticipantCount-1, 0)
		me := c.opts.UserID
		cv.FirstPageParticipants = slices.DeleteFunc(slices.Clone(cv.FirstPageParticipants),
			func(p *Participant) bool { return p.UserID == me })
	})
	return nil
}

// bodyStatus turns the status a response body carries (0 is success) into
// an error naming the command and the content check's verdict.
func bodyStatus(cmd improto.IMCMD, status int32, checkCode int64, checkMsg string) error {
	if status == 0 {
		return nil
	}
	return &Error{Type: ErrorTypeServer, Cmd: cmd, ReachServer: true, CheckCode: checkCode, CheckMsg: checkMsg,
		Msg: "refused: " + improto.ConversationOperationStatus(status).String()}
}

// remember caches a conversation the server sent, keeping the online
// count, which the answer does not carry, from the cached copy (the cache
// keeps the last message itself), and returns it.
func (c *Client) remember(conv *Conversation) *Conversation {
	if conv == nil {
		return nil
	}
	if prev := c.cache.conversation(conv.ID); prev != nil {
		if conv.OnlineMemberCount == 0 {
			conv.OnlineMemberCount = prev.OnlineMemberCount
		}
	}
	c.cache.putConversation(conv)
	return conv
}

// refID returns the id of the conversation ref names: its ID, or the
// cached conversation with its short id, or (for a group or live chat,
// whose id is its short id in decimal) the short id in decimal.
func (c *Client) refID(ref ConversationRef) ConversationID {
	if ref.ID != "" || ref.ShortID == 0 {
		return ref.ID
	}
	for _, conv := range c.cache.conversations() {
		if conv.ShortID == ref.ShortID {
			return conv.ID
		}
	}
	if ref.Type == ConversationTypeOneToOne {
		return ""
	}
	return ConversationID(ref.ShortID.String())
}

// updateCached replaces the cached conversation id, if the client has it,
// with a copy that change edits (see cache.changeConversation).
func (c *Client) updateCached(id ConversationID, change func(conv *Conversation)) {
	if id != "" {
		c.cache.changeConversation(id, change)
	}
}

// resultOf copies the envelope of a server answer into a Result with
// payload.
func resultOf[T any](res *Result[proto.Message], payload T) Result[T] {
	return Result[T]{
		Success:    res.Success,
		Payload:    payload,
		Body:       res.Body,
		StatusCode: res.StatusCode,
		StatusMsg:  res.StatusMsg,
		InnerError: res.InnerError,
		LogID:      res.LogID,
	}
}
