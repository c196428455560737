package im

import (
	"context"
	"iter"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Member operations: add, remove, list, update and mute the members of a
// group or live chat. Single chats have two fixed members: the server
// refuses to change them.

// userIDsToProto converts user ids for the wire.
func userIDsToProto(users []UserID) []int64 {
	out := make([]int64, len(users))
	for i, u := range users {
		out[i] = int64(u)
	}
	return out
}

// AddParticipants adds users to a group or live chat as ordinary members
// (650). Owners and managers only (others: ErrForbidden). Users already in
// count as added; users the server could not add (an invalid id, the
// membership limit) are in FailedParticipants, and the call still
// succeeds. The members, old and new, get OnParticipantsChanged (new ones
// OnConversationAdded).
//
// Payload is the conversation as it is after the change, fetched (608)
// and cached. Should that fetch fail, the users were added all the same:
// the result comes back without a Payload, with the fetch's error.
func (c *Client) AddParticipants(ctx context.Context, conv ConversationRef, users ...UserID) (*AddParticipantResult, error) {
	res, err := c.call(ctx, improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS, &improto.ConversationAddParticipantsRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		Participants:        userIDsToProto(users),
	})
	if err != nil {
		return nil, err
	}
	body, _ := res.Body.(*improto.ConversationAddParticipantsResponseBody)
	out := &AddParticipantResult{
		Result:             resultOf[*Conversation](res, nil),
		FailedParticipants: userIDsFromProto(body.GetFailedParticipants()),
	}
	out.CheckCode, out.CheckMsg = body.GetCheckCode(), body.GetCheckMessage()
	out.Payload, err = c.GetConversation(ctx, conv)
	return out, err
}

// RemoveParticipants removes members from a group or live chat (651). The
// owner removes anyone but themself; a manager removes ordinary members and
// visitors; anyone else gets ErrForbidden. Members the caller may not
// remove are in FailedParticipants; users who are not members are
// skipped. The removed users get OnConversationRemoved, the others
// OnParticipantsChanged.
//
// Payload is the conversation as it is after the change, fetched (608)
// and cached; as with AddParticipants, a failed fetch leaves it nil and
// returns the fetch's error with the result.
func (c *Client) RemoveParticipants(ctx context.Context, conv ConversationRef, users ...UserID) (*RemoveParticipantResult, error) {
	res, err := c.call(ctx, improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS, &improto.ConversationRemoveParticipantsRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		Participants:        userIDsToProto(users),
	})
	if err != nil {
		return nil, err
	}
	body, _ := res.Body.(*improto.ConversationRemoveParticipantsResponseBody)
	out := &RemoveParticipantResult{
		Result:             resultOf[*Conversation](res, nil),
		FailedParticipants: userIDsFromProto(body.GetFailedParticipants()),
	}
	out.CheckCode, out.CheckMsg = body.GetCheckCode(), body.GetCheckMessage()
	out.Payload, err = c.GetConversation(ctx, conv)
	return out, err
}

// ParticipantPage is one page of a conversation's members: plain data,
// the caller's to keep.
type ParticipantPage struct {
	// Participants in user id order.
	Participants []*Participant
	// HasMore reports more members after this page; Next is the cursor
	// that asks for them.
	HasMore bool
	Next    int64
}

// ListParticipants returns a page of a conversation's members in user id
// order (605): those after cursor (0 for the first page), at most limit
// (0: the server's default, 100; at most 500). Members only, in a
// dissolved conversation too; others get ErrNotMember. A muted member's
// LeftBlockTime is the time left when the server answered.
func (c *Client) ListParticipants(ctx context.Context, conv ConversationRef, cursor int64, limit int) (*ParticipantPage, error) {
	body, err := callBody[*improto.ConversationParticipantsListResponseBody](ctx, c, improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST,
		&improto.ConversationParticipantsListRequestBody{
			ConversationId:      proto.String(string(conv.ID)),
			ConversationShortId: proto.Int64(int64(conv.ShortID)),
			ConversationType:    proto.Int32(int32(conv.Type)),
			Cursor:              proto.Int64(cursor),
			Limit:               proto.Int32(int32(limit)),
		})
	if err != nil {
		return nil, err
	}
	p := body.GetParticipantsPage()
	id := c.refID(conv)
	page := &ParticipantPage{HasMore: p.GetHasMore(), Next: p.GetCursor()}
	for _, wp := range p.GetParticipants() {
		if m := participantFromProto(wp, id); m != nil {
			page.Participants = append(page.Participants, m)
		}
	}
	return page, nil
}

// AllParticipants iterates over every member of a conversation, fetching
// pages of pageSize (0: the server's default) with ListParticipants. It
// stops at the first error, which it yields, and when the loop stops.
func (c *Client) AllParticipants(ctx context.Context, conv ConversationRef, pageSize int) iter.Seq2[*Participant, error] {
	return pages(improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST, 0, func(cursor int64) ([]*Participant, bool, int64, error) {
		p, err := c.ListParticipants(ctx, conv, cursor, pageSize)
		if err != nil {
			return nil, false, 0, err
		}
		return p.Participants, p.HasMore, p.Next, nil
	})
}

// GetParticipants returns the members among users (654, in requests of at
// most 500), in the order asked; users who are not members are left out.
// Members only (others: ErrNotMember).
func (c *Client) GetParticipants(ctx context.Context, conv ConversationRef, users ...UserID) ([]*Participant, error) {
	id := c.refID(conv)
	var out []*Participant
	for chunk := range slices.Chunk(users, maxParticipantsPerRequest) {
		body, err := callBody[*improto.MgetConversationParticipantsResponseBody](ctx, c, improto.IMCMD_MGET_CONVERSATION_PARTICIPANTS,
			&improto.MgetConversationParticipantsRequestBody{
				ConversationId:      proto.String(string(conv.ID)),
				ConversationShortId: proto.Int64(int64(conv.ShortID)),
				ConversationType:    proto.Int32(int32(conv.Type)),
				Participants:        userIDsToProto(chunk),
			})
		if err != nil {
			return nil, err
		}
		for _, wp := range body.GetParticipants() {
			if m := participantFromProto(wp, id); m != nil {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// ParticipantChange is a change of one member (655). A nil field is left as
// it is.
type ParticipantChange struct {
	// Role is the member's new role. Only the owner changes roles, and not
	// their own; GroupRoleOwner hands ownership to the member, and the old
	// owner becomes a manager.
	Role *GroupRole
	// Alias is the member's nickname in the conversation; "" clears it.
	Alias *string
	// Ext is merged into the member's ext: keys are set, an empty value
	// deletes its key.
	Ext map[string]string
}

// UpdateParticipant changes a member of a group or live chat (655) and
// returns them as they are now. A member changes their own alias and ext;
// owners and managers anyone's; only the owner changes roles. Anything else
// is ErrForbidden, and a user who is not a member ErrNotMember. The members
// get OnConversationUpdated when something changed. A change of this user
// replaces the cached conversation's Participant.
func (c *Client) UpdateParticipant(ctx context.Context, conv ConversationRef, user UserID, change ParticipantChange) (*Participant, error) {
	req := &improto.UpdateConversationParticipantRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		UserId:              proto.Int64(int64(user)),
		BizExt:              change.Ext,
	}
	if change.Role != nil {
		req.Role = proto.Int32(int32(*change.Role))
	}
	if change.Alias != nil {
		req.Alias, req.IsAliasSet = proto.String(*change.Alias), proto.Bool(true)
	}
	body, err := callBody[*improto.UpdateConversationParticipantResponseBody](ctx, c, improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, req)
	if err != nil {
		return nil, err
	}
	if err := bodyStatus(improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, body.GetStatus(), body.GetCheckCode(), body.GetCheckMessage()); err != nil {
		return nil, err
	}
	if body.GetParticipant() == nil {
		return nil, malformedAnswer(improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT, "participant", "")
	}
	id := c.refID(conv)
	p := participantFromProto(body.GetParticipant(), id)
	if p.UserID == c.opts.UserID {
		c.updateCached(id, func(cv *Conversation) {
			self := *p
			if cv.Participant != nil {
				self.ReadIndex, self.MinIndex = cv.Participant.ReadIndex, cv.Participant.MinIndex
			}
			cv.Participant = &self
		})
	}
	return p, nil
}

// BlockMembers mutes (block) or unmutes members of a group or live chat
// (2019). Each member is muted for their duration, rounded up to whole
// seconds (the wire's unit); 0 mutes until unmuted. Durations are ignored
// when unmuting. Owners and managers only (others: ErrForbidden); a
// manager may mute ordinary members and visitors, the owner anyone but
// themself. Users the caller may not mute and users who are not members
// come back in failed. A muted member's sends fail with ErrMuted. The
// members get OnConversationUpdated.
func (c *Client) BlockMembers(ctx context.Context, conv ConversationRef, durations map[UserID]time.Duration, block bool) (failed []UserID, err error) {
	times := make(map[int64]int64, len(durations))
	for u, d := range durations {
		if block && d < 0 {
			return nil, &Error{Type: ErrorTypeInvalidArgument, Cmd: improto.IMCMD_BLOCK_MEMBERS,
				Msg: "the mute of user " + u.String() + " has a negative duration " + d.String()}
		}
		secs := int64(0)
		if block {
			secs = int64(d / time.Second)
			if d%time.Second != 0 {
				secs++ // 0 would mean "until unmuted"
			}
		}
		times[int64(u)] = secs
	}
	status := improto.BlockStatus_UNBLOCK
	if block {
		status = improto.BlockStatus_BLOCK
	}
	body, err := callBody[*improto.BlockMembersResponseBody](ctx, c, improto.IMCMD_BLOCK_MEMBERS, &improto.BlockMembersRequestBody{
		ConversationId:   proto.String(string(conv.ID)),
		ConvShortId:      proto.Int64(int64(conv.ShortID)),
		ConversationType: proto.Int32(int32(conv.Type)),
		BlockStatus:      status.Enum(),
		BlockTime:        times,
	})
	if err != nil {
		return nil, err
	}
	return userIDsFromProto(body.GetFailedMembers()), nil
}

// BlockConversation mutes (block) or unmutes a whole group or live chat
// (2020). While it is muted only the owner may send, and with normalOnly
// the managers too; the others' sends fail with ErrMuted. Owners and
// managers only (others: ErrForbidden). The members get
// OnConversationUpdated; the cached conversation takes the new state.
func (c *Client) BlockConversation(ctx context.Context, conv ConversationRef, block, normalOnly bool) error {
	status := improto.BlockStatus_UNBLOCK
	if block {
		status = improto.BlockStatus_BLOCK
	}
	_, err := c.call(ctx, improto.IMCMD_BLOCK_CONVERSATION, &improto.BlockConversationRequestBody{
		ConversationId:   proto.String(string(conv.ID)),
		ConvShortId:      proto.Int64(int64(conv.ShortID)),
		ConversationType: proto.Int32(int32(conv.Type)),
		BlockStatus:      status.Enum(),
		BlockNormalOnly:  proto.Bool(normalOnly),
	})
	if err != nil {
		return err
	}
	c.updateCached(c.refID(conv), func(cv *Conversation) {
		if cv.CoreInfo == nil {
			return
		}
		core := *cv.CoreInfo
		core.BlockStatus = BlockStatus(status)
		core.BlockNormalOnly = normalOnly
		cv.CoreInfo = &core
	})
	return nil
}
