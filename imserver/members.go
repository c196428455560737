package imserver

import (
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// statusDissolved is ConversationCoreInfo.status of a dissolved
// conversation (the seed's ConversationStatus; improto choice 18).
const statusDissolved = int32(1)

// Paging bounds of the member lists (605, 654).
const (
	defaultMemberPage = 100
	maxMemberPage     = 500
)

// loadMutable loads the group or live chat a membership change names, with
// the caller's Participant record. It refuses dissolved conversations
// (CONVERSATION_NOT_FOUND), single chats, whose two members are fixed
// (INVALID_REQUEST), and callers who are not members (USER_NOT_IN_GROUP).
func loadMutable(tx store.Tx, c *call, id string, shortID int64) (*convRecord, *improto.Participant, error) {
	return memberConv(tx, c, id, shortID, requireWritable, func(conv *convRecord) error {
		if conv.Type == typeSingle {
			return errStatus(improto.StatusCode_INVALID_REQUEST,
				"conversation %s is a single chat: its members and their roles cannot change", conv.ID)
		}
		return nil
	})
}

// changeCoreInfo applies change to conv's core record, increments its
// info_version and stores it.
func changeCoreInfo(tx store.Tx, conv *convRecord, change func(core *improto.ConversationCoreInfo)) error {
	core, err := coreInfo(tx, conv)
	if err != nil {
		return err
	}
	change(core)
	return putCore(tx, conv, core)
}

// saveMember stores a changed Participant record.
func saveMember(tx store.Tx, conv *convRecord, p *improto.Participant) error {
	return putProto(tx, bucketMember, key(conv.ShortID, p.GetUserId()), p)
}

// notifyMembers queues a 502 for conv's current members and for extra
// (users who just left it), all sockets but except.
func notifyMembers(tx store.Tx, out *outbox, conv *convRecord, extra []int64, except *conn) error {
	ids, err := memberIDs(tx, conv.ShortID)
	if err != nil {
		return err
	}
	pushConversationUpdated(out, conv, append(ids, extra...), except)
	return nil
}

// opStatus is the ConversationOperationStatus of a request on total users
// of which failed could not be served.
func opStatus(failed, total int) int32 {
	switch {
	case failed == 0:
		return int32(improto.ConversationOperationStatus_OP_SUCCEED)
	case failed == total:
		return int32(improto.ConversationOperationStatus_REJECTED)
	default:
		return int32(improto.ConversationOperationStatus_PARTLY_REJECTED)
	}
}

// targetIDs checks the users a 650 or 651 names (some, and at most
// maxParticipants) and returns them sorted without duplicates, leaving ids
// untouched.
func targetIDs(ids []int64) ([]int64, error) {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "participants is empty")
	}
	if len(out) > maxParticipants {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d participants exceed the limit of %d per request", len(out), maxParticipants)
	}
	return out, nil
}

// dissolveConversation serves 614: the owner ends a group or live chat.
// The members stay recorded, so they can still read its info and history,
// but the conversation turns read-only (core status 1, "dissolved").
func (s *Server) dissolveConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.DissolveConversationRequestBody)
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if self.GetRole() != roleOwner {
			return errStatus(improto.StatusCode_USER_FORBIDDEN, "only the owner of conversation %s may dissolve it", conv.ID)
		}
		conv.Dissolved = true
		err = changeCoreInfo(tx, conv, func(core *improto.ConversationCoreInfo) {
			core.Status = proto.Int32(statusDissolved)
		})
		if err != nil {
			return err
		}
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	return nil, err
}

// leaveConversation serves 652: the caller leaves a group or live chat.
// The owner must first hand ownership on (655) or dissolve (614) unless
// they are its last member.
func (s *Server) leaveConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.ConversationLeaveRequestBody)
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if self.GetRole() == roleOwner && conv.Members > 1 {
			return errStatus(improto.StatusCode_USER_FORBIDDEN,
				"user %d owns conversation %s, which has %d other members: transfer ownership first (%v with role 1) or dissolve it (%v)",
				c.user, conv.ID, conv.Members-1, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, improto.IMCMD_DISSOLVE_CONVERSATION)
		}
		if _, err := removeMember(tx, conv, c.user); err != nil {
			return err
		}
		if conv.Type == typeLive {
			if err := markLiveMember(tx, conv, c.user, false, c.now.UnixMilli()); err != nil {
				return err
			}
		}
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, []int64{c.user}, c.conn)
	})
	return nil, err
}

// addParticipants serves 650: the owner or a manager adds users as
// ordinary members. Users already in count as added; users past the
// membership limit are reported failed.
func (s *Server) addParticipants(c *call) (proto.Message, error) {
	b := c.body.(*improto.ConversationAddParticipantsRequestBody)
	ids, err := targetIDs(b.GetParticipants())
	if err != nil {
		return nil, err
	}
	nowMs := c.now.UnixMilli()
	resp := &improto.ConversationAddParticipantsResponseBody{}
	err = s.update(func(tx store.Tx, out *outbox) error {
		resp.SuccessParticipants, resp.FailedParticipants = nil, nil
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if err := requireAdmin(conv, self, "add members"); err != nil {
			return err
		}
		added := 0
		for _, u := range ids {
			if u <= 0 {
				resp.FailedParticipants = append(resp.FailedParticipants, u)
				continue
			}
			p, err := member(tx, conv.ShortID, u)
			if err != nil {
				return err
			}
			if p == nil && conv.Members >= maxParticipants {
				resp.FailedParticipants = append(resp.FailedParticipants, u)
				continue
			}
			if p == nil {
				if _, err := addMember(tx, conv, u, roleOrdinary, nowMs); err != nil {
					return err
				}
				if conv.Type == typeLive {
					if err := markLiveMember(tx, conv, u, true, nowMs); err != nil {
						return err
					}
				}
				added++
			}
			resp.SuccessParticipants = append(resp.SuccessParticipants, u)
		}
		resp.Status = proto.Int32(opStatus(len(resp.FailedParticipants), len(ids)))
		if added == 0 {
			return nil
		}
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// removeParticipants serves 651: the owner removes anyone but themself; a
// manager removes ordinary members and visitors. Targets the caller may
// not remove are reported failed; users who are not members are skipped.
func (s *Server) removeParticipants(c *call) (proto.Message, error) {
	b := c.body.(*improto.ConversationRemoveParticipantsRequestBody)
	ids, err := targetIDs(b.GetParticipants())
	if err != nil {
		return nil, err
	}
	resp := &improto.ConversationRemoveParticipantsResponseBody{}
	err = s.update(func(tx store.Tx, out *outbox) error {
		resp.FailedParticipants = nil
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		if err := requireAdmin(conv, self, "remove members"); err != nil {
			return err
		}
		var removed []int64
		for _, u := range ids {
			p, err := member(tx, conv.ShortID, u)
			if err != nil {
				return err
			}
			if p == nil {
				continue
			}
			if !mayModerate(self, p) {
				resp.FailedParticipants = append(resp.FailedParticipants, u)
				continue
			}
			if _, err := removeMember(tx, conv, u); err != nil {
				return err
			}
			if conv.Type == typeLive {
				if err := markLiveMember(tx, conv, u, false, c.now.UnixMilli()); err != nil {
					return err
				}
			}
			removed = append(removed, u)
		}
		resp.Status = proto.Int32(opStatus(len(resp.FailedParticipants), len(ids)))
		if len(removed) == 0 {
			return nil
		}
		if err := saveConv(tx, conv); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, removed, c.conn)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// mayModerate reports whether admin may remove or mute target: the owner
// may act on everyone but themself, a manager on ordinary members and
// visitors only. The owner is never a target.
func mayModerate(admin, target *improto.Participant) bool {
	switch {
	case target.GetRole() == roleOwner || target.GetUserId() == admin.GetUserId():
		return false
	case admin.GetRole() == roleOwner:
		return true
	case admin.GetRole() == roleManager:
		return target.GetRole() == roleOrdinary || target.GetRole() == roleVisitor
	default:
		return false
	}
}

// listParticipants serves 605: a page of the members in user id order.
// cursor is the last user id of the previous page (0 for the first).
// Members may list a dissolved conversation too.
func (s *Server) listParticipants(c *call) (proto.Message, error) {
	b := c.body.(*improto.ConversationParticipantsListRequestBody)
	cursor := b.GetCursor()
	if cursor < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", cursor)
	}
	limit := pageLimit(int64(b.GetLimit()), defaultMemberPage, maxMemberPage)
	nowMs := c.now.UnixMilli()
	page := &improto.ParticipantsPage{}
	err := s.view(func(tx store.Tx) error {
		page.Participants = nil
		page.HasMore = proto.Bool(false)
		page.Cursor = proto.Int64(cursor)
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil || cursor == math.MaxInt64 {
			return err
		}
		return fillParticipants(tx, conv.ShortID, cursor+1, limit, nowMs, page)
	})
	if err != nil {
		return nil, err
	}
	return &improto.ConversationParticipantsListResponseBody{ParticipantsPage: page}, nil
}

// mgetParticipants serves 654: the Participant records of the listed users
// who are members, in the order asked; the others are left out. Like 605
// it serves dissolved conversations too.
func (s *Server) mgetParticipants(c *call) (proto.Message, error) {
	b := c.body.(*improto.MgetConversationParticipantsRequestBody)
	ids := b.GetParticipants()
	if len(ids) > maxMemberPage {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d participants exceed the limit of %d per request", len(ids), maxMemberPage)
	}
	nowMs := c.now.UnixMilli()
	resp := &improto.MgetConversationParticipantsResponseBody{}
	err := s.view(func(tx store.Tx) error {
		resp.Participants = nil
		conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		seen := make(map[int64]bool, len(ids))
		for _, u := range ids {
			if seen[u] {
				continue
			}
			seen[u] = true
			p, err := member(tx, conv.ShortID, u)
			if err != nil {
				return err
			}
			if p != nil {
				resp.Participants = append(resp.Participants, participantView(p, nowMs))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// updateParticipant serves 655: a member's alias and ext (their own, or
// anyone's for the owner and managers) and role (the owner only). Giving
// another member role 1 (owner) transfers ownership: the caller becomes a
// manager.
func (s *Server) updateParticipant(c *call) (proto.Message, error) {
	b := c.body.(*improto.UpdateConversationParticipantRequestBody)
	if b.GetUserId() <= 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "user_id %d must be positive", b.GetUserId())
	}
	if b.Role != nil {
		switch b.GetRole() {
		case roleOrdinary, roleOwner, roleManager, roleVisitor:
		default:
			return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "role %d cannot be given (0 ordinary, 1 owner, 2 manager, 3 visitor)", b.GetRole())
		}
	}
	nowMs := c.now.UnixMilli()
	var view *improto.Participant
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConversationShortId())
		if err != nil {
			return err
		}
		target := self
		if b.GetUserId() != c.user {
			if target, err = member(tx, conv.ShortID, b.GetUserId()); err != nil {
				return err
			}
			if target == nil {
				return errStatus(improto.StatusCode_USER_NOT_IN_GROUP, "user %d is not a member of conversation %s", b.GetUserId(), conv.ID)
			}
		}
		isSelf := target == self
		changed := false
		if b.GetIsAliasSet() || len(b.GetBizExt()) > 0 {
			if !isSelf && !isOwnerOrManager(self) {
				return errStatus(improto.StatusCode_USER_FORBIDDEN,
					"only the owner or a manager of conversation %s may change another member's alias or ext", conv.ID)
			}
			if b.GetIsAliasSet() {
				target.Alias = proto.String(b.GetAlias())
			}
			// biz_ext merges like every other ext: an empty value deletes.
			target.Ext, _ = mergeExt(target.Ext, b.GetBizExt())
			changed = true
		}
		if b.Role != nil && b.GetRole() != target.GetRole() {
			if self.GetRole() != roleOwner {
				return errStatus(improto.StatusCode_USER_FORBIDDEN, "only the owner of conversation %s may change roles", conv.ID)
			}
			if isSelf {
				return errStatus(improto.StatusCode_USER_FORBIDDEN,
					"the owner of conversation %s cannot change their own role: transfer ownership by giving another member role 1", conv.ID)
			}
			if b.GetRole() == roleOwner {
				self.Role = proto.Int32(roleManager)
				if err := saveMember(tx, conv, self); err != nil {
					return err
				}
				err := changeCoreInfo(tx, conv, func(core *improto.ConversationCoreInfo) {
					core.Owner = proto.Int64(target.GetUserId())
				})
				if err != nil {
					return err
				}
			}
			target.Role = proto.Int32(b.GetRole())
			changed = true
		}
		view = participantView(target, nowMs)
		if !changed {
			return nil
		}
		if err := saveMember(tx, conv, target); err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	if err != nil {
		return nil, err
	}
	return &improto.UpdateConversationParticipantResponseBody{Participant: view, Status: proto.Int32(0)}, nil
}

// blockMembers serves 2019: the owner or a manager mutes members, each for
// a number of seconds (0: until unmuted), or unmutes them. The stored
// left_block_time is the absolute end in ms; participantView turns it into
// the time left. Members the caller may not moderate (mayModerate) and
// users who are not members are reported failed.
func (s *Server) blockMembers(c *call) (proto.Message, error) {
	b := c.body.(*improto.BlockMembersRequestBody)
	if b.BlockStatus == nil {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "block_status is required (0 unblock, 1 block)")
	}
	if len(b.GetBlockTime()) == 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "block_time names no members")
	}
	if len(b.GetBlockTime()) > maxParticipants {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d members exceed the limit of %d per request", len(b.GetBlockTime()), maxParticipants)
	}
	block := b.GetBlockStatus() == improto.BlockStatus_BLOCK
	nowMs := c.now.UnixMilli()
	resp := &improto.BlockMembersResponseBody{}
	err := s.update(func(tx store.Tx, out *outbox) error {
		resp.FailedMembers = nil
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConvShortId())
		if err != nil {
			return err
		}
		if err := requireAdmin(conv, self, "mute members"); err != nil {
			return err
		}
		changed := false
		for _, u := range slices.Sorted(maps.Keys(b.GetBlockTime())) {
			seconds := b.GetBlockTime()[u]
			p, err := member(tx, conv.ShortID, u)
			if err != nil {
				return err
			}
			if p == nil || !mayModerate(self, p) || (block && seconds < 0) {
				resp.FailedMembers = append(resp.FailedMembers, u)
				continue
			}
			if block {
				p.Blocked = improto.BlockStatus_BLOCK.Enum()
				p.LeftBlockTime = proto.Int64(blockEnd(nowMs, seconds))
			} else {
				p.Blocked, p.LeftBlockTime = nil, nil
			}
			if err := saveMember(tx, conv, p); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// blockEnd is the absolute end (ms) of a mute of seconds starting at
// nowMs, or 0 (until unmuted) for seconds 0. Ends past the int64 range
// are clamped.
func blockEnd(nowMs, seconds int64) int64 {
	if seconds <= 0 {
		return 0
	}
	if seconds > (math.MaxInt64-nowMs)/1000 {
		return math.MaxInt64
	}
	return nowMs + seconds*1000
}

// blockConversation serves 2020: the owner or a manager mutes the whole
// conversation (only the owner may send; with block_normal_only the
// managers too, see checkCanSend) or lifts the mute.
func (s *Server) blockConversation(c *call) (proto.Message, error) {
	b := c.body.(*improto.BlockConversationRequestBody)
	if b.BlockStatus == nil {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "block_status is required (0 unblock, 1 block)")
	}
	err := s.update(func(tx store.Tx, out *outbox) error {
		conv, self, err := loadMutable(tx, c, b.GetConversationId(), b.GetConvShortId())
		if err != nil {
			return err
		}
		if err := requireAdmin(conv, self, "mute the conversation"); err != nil {
			return err
		}
		err = changeCoreInfo(tx, conv, func(core *improto.ConversationCoreInfo) {
			core.BlockStatus = b.GetBlockStatus().Enum()
			core.BlockNormalOnly = proto.Bool(b.GetBlockNormalOnly())
		})
		if err != nil {
			return err
		}
		return notifyMembers(tx, out, conv, nil, c.conn)
	})
	if err != nil {
		return nil, err
	}
	return &improto.BlockConversationResponseBody{}, nil
}
