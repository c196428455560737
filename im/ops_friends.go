package im

import (
	"context"
	"iter"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Friends: applies, answers, the friend list. Friendship is app-wide, not
// per inbox type. The users concerned get the changes as events
// (OnFriendApplyReceived, OnFriendApplyReplied, OnFriendAdded,
// OnFriendRemoved) while online; friend events do not enter the message
// inbox, so a client that was away lists ReceivedFriendApplies and Friends.

// friendStatusKey is the Error.Args key holding the body's
// improto.FriendErrorCode.
const friendStatusKey = "friend_status"

// SendFriendApply asks user to to become friends (2046), with ext stored on
// the apply, and returns the apply; to gets OnFriendApplyReceived. When to
// already has an apply waiting for this user, applying back accepts it:
// the two become friends, both users' clients (this one included) get
// OnFriendAdded, and the answer is that apply, agreed.
//
// Already friends: ErrAlreadyFriends and no apply. An apply of this user to
// to still waiting: ErrDuplicateApply, returned with that apply. Both are
// *Error values whose Args["friend_status"] holds the body's
// improto.FriendErrorCode, as do the other refusals (apply limits).
func (c *Client) SendFriendApply(ctx context.Context, to UserID, ext map[string]string) (*FriendApply, error) {
	body, err := callBody[*improto.SendFriendApplyResponseBody](ctx, c, improto.IMCMD_SEND_FRIEND_APPLY, &improto.SendFriendApplyRequestBody{
		UserId: proto.Int64(int64(to)),
		Ext:    ext,
	})
	if err != nil {
		return nil, err
	}
	apply := friendApplyFromProto(body.GetApply())
	status := improto.FriendErrorCode(body.GetStatus())
	if status == improto.FriendErrorCode_FRIEND_SUCCESS {
		if apply == nil {
			return nil, malformedAnswer(improto.IMCMD_SEND_FRIEND_APPLY, "apply", "")
		}
		return apply, nil
	}
	e := &Error{Type: ErrorTypeServer, Cmd: improto.IMCMD_SEND_FRIEND_APPLY, ReachServer: true,
		Msg: "apply to user " + to.String() + " refused: " + status.String(), CheckCode: body.GetCheckCode(), CheckMsg: body.GetCheckMessage(),
		Args: map[string]any{friendStatusKey: status}}
	switch status {
	case improto.FriendErrorCode_FRIEND_ALREADY_FRIEND:
		e.Inner = ErrAlreadyFriends
	case improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY:
		e.Inner = ErrDuplicateApply
	}
	return apply, e
}

// FriendApplyListOptions selects a page of friend applies.
type FriendApplyListOptions struct {
	// Cursor is the Next of the previous page; 0 starts at the beginning.
	Cursor int64
	// Limit is the page size; 0 means the server's default (50, at most
	// 200).
	Limit int
	// Status keeps the applies in one status; nil lists them all.
	Status *FriendApplyStatus
}

// FriendApplyPage is one page of friend applies: plain data, the caller's
// to keep.
type FriendApplyPage struct {
	Applies []*FriendApply
	// HasMore reports more applies after this page; Next is the cursor
	// that asks for them.
	HasMore bool
	Next    int64
}

// SentFriendApplies returns a page of the applies this user sent, oldest
// first (2047).
func (c *Client) SentFriendApplies(ctx context.Context, opts FriendApplyListOptions) (*FriendApplyPage, error) {
	body, err := callBody[*improto.GetFriendApplyListResponseBody](ctx, c, improto.IMCMD_GET_FRIEND_APPLY_LIST,
		&improto.GetFriendApplyListRequestBody{
			Cursor: proto.Int64(opts.Cursor),
			Limit:  proto.Int64(int64(opts.Limit)),
			Status: applyStatusToProto(opts.Status),
		})
	if err != nil {
		return nil, err
	}
	return applyPage(body.GetUserList(), body.GetHasMore(), body.GetNextCursor()), nil
}

// ReceivedFriendApplies returns a page of the applies sent to this user, in
// the order they arrived (2048; the cursor is FriendApply.Index). This is
// how a client that was offline finds the applies it missed.
func (c *Client) ReceivedFriendApplies(ctx context.Context, opts FriendApplyListOptions) (*FriendApplyPage, error) {
	body, err := callBody[*improto.GetFriendReceiveApplyListResponseBody](ctx, c, improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST,
		&improto.GetFriendReceiveApplyListRequestBody{
			Cursor: proto.Int64(opts.Cursor),
			Limit:  proto.Int64(int64(opts.Limit)),
			Status: applyStatusToProto(opts.Status),
		})
	if err != nil {
		return nil, err
	}
	return applyPage(body.GetUserList(), body.GetHasMore(), body.GetNextCursor()), nil
}

// AllSentFriendApplies iterates over the applies this user sent from
// opts.Cursor on, fetching pages of opts.Limit with SentFriendApplies. It
// stops at the first error, which it yields, and when the loop stops.
func (c *Client) AllSentFriendApplies(ctx context.Context, opts FriendApplyListOptions) iter.Seq2[*FriendApply, error] {
	return c.allApplies(improto.IMCMD_GET_FRIEND_APPLY_LIST, opts, func(o FriendApplyListOptions) (*FriendApplyPage, error) {
		return c.SentFriendApplies(ctx, o)
	})
}

// AllReceivedFriendApplies iterates over the applies sent to this user from
// opts.Cursor on, fetching pages of opts.Limit with ReceivedFriendApplies.
// It stops at the first error, which it yields, and when the loop stops.
func (c *Client) AllReceivedFriendApplies(ctx context.Context, opts FriendApplyListOptions) iter.Seq2[*FriendApply, error] {
	return c.allApplies(improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST, opts, func(o FriendApplyListOptions) (*FriendApplyPage, error) {
		return c.ReceivedFriendApplies(ctx, o)
	})
}

func (c *Client) allApplies(cmd improto.IMCMD, opts FriendApplyListOptions, list func(FriendApplyListOptions) (*FriendApplyPage, error)) iter.Seq2[*FriendApply, error] {
	return pages(cmd, opts.Cursor, func(cursor int64) ([]*FriendApply, bool, int64, error) {
		o := opts
		o.Cursor = cursor
		p, err := list(o)
		if err != nil {
			return nil, false, 0, err
		}
		return p.Applies, p.HasMore, p.Next, nil
	})
}

func applyStatusToProto(s *FriendApplyStatus) *int32 {
	if s == nil {
		return nil
	}
	return proto.Int32(int32(*s))
}

func applyPage(list []*improto.ApplyUserInfo, more bool, next int64) *FriendApplyPage {
	page := &FriendApplyPage{HasMore: more, Next: next}
	for _, a := range list {
		if apply := friendApplyFromProto(a); apply != nil {
			page.Applies = append(page.Applies, apply)
		}
	}
	return page
}

// ReplyFriendApply answers the waiting applies of applicants to this user
// (2049): accepting makes them friends, and each applicant gets
// OnFriendApplyReplied and OnFriendAdded. This user's clients, the one
// that replied included, get OnFriendAdded too. It returns the applies
// answered, as they are now, and the applicants who had no apply waiting.
func (c *Client) ReplyFriendApply(ctx context.Context, attitude ReplyFriendAttitude, applicants ...UserID) (answered []*FriendApply, failed []UserID, err error) {
	body, err := callBody[*improto.ReplyFriendApplyResponseBody](ctx, c, improto.IMCMD_REPLY_FRIEND_APPLY, &improto.ReplyFriendApplyRequestBody{
		UserId:   userIDsToProto(applicants),
		Attitude: proto.Int32(int32(attitude)),
	})
	if err != nil {
		return nil, nil, err
	}
	for _, a := range body.GetApplies() {
		if apply := friendApplyFromProto(a); apply != nil {
			answered = append(answered, apply)
		}
	}
	return answered, userIDsFromProto(body.GetFailedUserId()), nil
}

// FriendPage is one page of this user's friends: plain data, the caller's
// to keep.
type FriendPage struct {
	// Friends in user id order.
	Friends []*Friend
	// HasMore reports more friends after this page; Next is the cursor
	// that asks for them.
	HasMore bool
	Next    int64
}

// Friends returns a page of this user's friends in user id order (2050):
// those after cursor (0 for the first page), at most limit (0: the
// server's default, 50; at most 200).
func (c *Client) Friends(ctx context.Context, cursor int64, limit int) (*FriendPage, error) {
	body, err := callBody[*improto.GetFriendListResponseBody](ctx, c, improto.IMCMD_GET_FRIEND_LIST, &improto.GetFriendListRequestBody{
		Cursor: proto.Int64(cursor),
		Limit:  proto.Int64(int64(limit)),
	})
	if err != nil {
		return nil, err
	}
	page := &FriendPage{HasMore: body.GetHasMore(), Next: body.GetNextCursor()}
	for _, f := range body.GetUserList() {
		if friend := friendFromProto(f); friend != nil {
			page.Friends = append(page.Friends, friend)
		}
	}
	return page, nil
}

// AllFriends iterates over this user's friends, fetching pages of pageSize
// (0: the server's default) with Friends. It stops at the first error,
// which it yields, and when the loop stops.
func (c *Client) AllFriends(ctx context.Context, pageSize int) iter.Seq2[*Friend, error] {
	return pages(improto.IMCMD_GET_FRIEND_LIST, 0, func(cursor int64) ([]*Friend, bool, int64, error) {
		p, err := c.Friends(ctx, cursor, pageSize)
		if err != nil {
			return nil, false, 0, err
		}
		return p.Friends, p.HasMore, p.Next, nil
	})
}

// DeleteFriends ends this user's friendship with users, on both sides
// (2051); each of them, and this user's clients (this one included), get
// OnFriendRemoved. Users who were not friends
// come back in failed. Past applies stay, so either side may apply again.
func (c *Client) DeleteFriends(ctx context.Context, users ...UserID) (failed []UserID, err error) {
	body, err := callBody[*improto.DeleteFriendResponseBody](ctx, c, improto.IMCMD_DELETE_FRIEND, &improto.DeleteFriendRequestBody{
		UserId: userIDsToProto(users),
	})
	if err != nil {
		return nil, err
	}
	return userIDsFromProto(body.GetFailedUserId()), nil
}
