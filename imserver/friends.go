package imserver

import (
	"cmp"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/store"
)

// Friends (2046–2051).
//
// Friendship is symmetric and app-wide: users are not per inbox type, so
// a friendship or an apply made in one inbox type is seen from every
// other. The inbox type of a request only labels the pushes it causes.
//
// An apply is stored once (bucketApply, with both parties) and indexed
// three ways: in the receiver's list by its index (1, 2, 3 … per
// receiver), in the sender's list by apply id, and by the pair
// (sender, receiver), which points at the pair's latest apply. Applies are
// never deleted; answering one changes its status.
//
// Every change pushes 508 NEW_FRIEND_MSG_NOTIFY to every socket of the
// users concerned, the socket whose request made the change included (as
// the sender's socket gets its own 500): a client learns of a friend it
// made, or ended, the same way whichever of its devices acted, and a bot
// that accepts an apply hears of its new friend. Friend events do not
// enter the message inbox, so a client that was offline catches up by
// listing (2047, 2048, 2050).

// Apply status values on the wire: the seed's FriendApplyStatus.
const (
	applyWaiting = int32(0)
	applyAgree   = int32(1)
	applyRefuse  = int32(2)
)

// Reply attitudes on the wire: the seed's ReplyFriendAttitude.
const (
	attitudeAccept = int32(0)
	attitudeReject = int32(1)
)

// Paging and batch bounds of the friend commands.
const (
	defaultFriendPage = 50
	maxFriendPage     = 200
	maxFriendBatch    = 200 // user ids in one 2049 or 2051
)

// loadApply returns the apply with id, or nil when there is none.
func loadApply(tx store.Tx, id int64) (*improto.ApplyUserInfo, error) {
	return findProto[*improto.ApplyUserInfo](tx, bucketApply, key(id))
}

// pairApply returns the latest apply from one user to another, or nil.
func pairApply(tx store.Tx, from, to int64) (*improto.ApplyUserInfo, error) {
	v := tx.Get(bucketApplyPair, key(from, to))
	if len(v) != 8 {
		return nil, nil
	}
	return loadApply(tx, int64At(v, 0))
}

// applyView returns a as viewer sees it: user_id is the other party, the
// applicant for the receiver and the receiver for the applicant.
func applyView(a *improto.ApplyUserInfo, viewer int64) *improto.ApplyUserInfo {
	out := proto.Clone(a).(*improto.ApplyUserInfo)
	other := a.GetToUserId()
	if viewer == other {
		other = a.GetFromUserId()
	}
	out.UserId = proto.Int64(other)
	return out
}

// nextApplyIndex returns the index the next apply to user gets: one more
// than the last in their received list. Applies are never deleted, so the
// last key of bucketApplyTo is the highest index handed out.
func nextApplyIndex(tx store.Tx, user int64) (int64, error) {
	prefix := key(user)
	var last int64
	err := tx.Descend(bucketApplyTo, prefix, prefixEnd(prefix), func(k, _ []byte) bool {
		last = int64At(k, len(prefix))
		return false
	})
	return last + 1, err
}

// loadFriend returns user's record of friend, or nil when they are not
// friends.
func loadFriend(tx store.Tx, user, friend int64) (*improto.FriendUserInfo, error) {
	return findProto[*improto.FriendUserInfo](tx, bucketFriend, key(user, friend))
}

// pushFriend queues a 508 push of n to every socket of user, the
// requesting one included.
func pushFriend(out *outbox, user int64, inbox int32, n *improto.NewFriendMessageNotify) {
	out.add(user, inbox, improto.IMCMD_NEW_FRIEND_MSG_NOTIFY, &improto.ResponseBody{NewFriendMessageNotify: n}, nil)
}

func friendEvent(typ improto.FriendMessageType, from, to int64) *improto.NewFriendMessageNotify {
	return &improto.NewFriendMessageNotify{
		MessageType: proto.Int32(int32(typ)),
		FromId:      proto.Int64(from),
		ToId:        proto.Int64(to),
	}
}

// answerApply sets a waiting apply's status and tells the applicant
// (ReplyApply). Accepting also makes the two users friends, each record
// carrying the apply's time and ext, and tells both (AddFriend, from_id the
// applicant, to_id the receiver, friend as the recipient sees it).
func answerApply(tx store.Tx, out *outbox, c *call, a *improto.ApplyUserInfo, status int32) error {
	a.Status = proto.Int32(status)
	if err := putProto(tx, bucketApply, key(a.GetApplyId()), a); err != nil {
		return err
	}
	from, to := a.GetFromUserId(), a.GetToUserId()
	reply := friendEvent(improto.FriendMessageType_ReplyApply, from, to)
	reply.Apply = applyView(a, from)
	pushFriend(out, from, c.inbox, reply)
	if status != applyAgree {
		return nil
	}
	for _, pair := range [][2]int64{{from, to}, {to, from}} {
		user, friend := pair[0], pair[1]
		f := &improto.FriendUserInfo{
			UserId:          proto.Int64(friend),
			ApplyTimeSecond: proto.Int64(a.GetApplyTimeSecond()),
			Ext:             maps.Clone(a.GetExt()),
			CreateTime:      proto.Int64(c.now.UnixMilli()),
		}
		if err := putProto(tx, bucketFriend, key(user, friend), f); err != nil {
			return err
		}
		added := friendEvent(improto.FriendMessageType_AddFriend, from, to)
		added.Friend = f
		pushFriend(out, user, c.inbox, added)
	}
	return nil
}

// sendFriendApply serves 2046. The body's status is a FriendErrorCode and
// the response status stays OK: FRIEND_ALREADY_FRIEND when the two are
// friends (no apply is made), FRIEND_DUPLICATE_APPLY with the pending
// apply when the caller already has one waiting for the same user, and
// otherwise FRIEND_SUCCESS with the new apply, pushed (SendApply) to the
// target and the caller. When the target has an apply
// waiting for the caller, applying back accepts it instead: the two
// become friends and the answer carries that apply, now agreed.
func (s *Server) sendFriendApply(c *call) (proto.Message, error) {
	b := c.body.(*improto.SendFriendApplyRequestBody)
	to := b.GetUserId()
	if to <= 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "user_id %d must be positive", to)
	}
	if to == c.user {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "user %d cannot apply to be their own friend", c.user)
	}
	resp := &improto.SendFriendApplyResponseBody{}
	err := s.update(func(tx store.Tx, out *outbox) error {
		resp.Status = proto.Int32(int32(improto.FriendErrorCode_FRIEND_SUCCESS))
		resp.Apply = nil
		if f, err := loadFriend(tx, c.user, to); err != nil || f != nil {
			resp.Status = proto.Int32(int32(improto.FriendErrorCode_FRIEND_ALREADY_FRIEND))
			return err
		}
		mine, err := pairApply(tx, c.user, to)
		if err != nil {
			return err
		}
		if mine != nil && mine.GetStatus() == applyWaiting {
			resp.Status = proto.Int32(int32(improto.FriendErrorCode_FRIEND_DUPLICATE_APPLY))
			resp.Apply = applyView(mine, c.user)
			return nil
		}
		theirs, err := pairApply(tx, to, c.user)
		if err != nil {
			return err
		}
		if theirs != nil && theirs.GetStatus() == applyWaiting {
			if err := answerApply(tx, out, c, theirs, applyAgree); err != nil {
				return err
			}
			resp.Apply = applyView(theirs, c.user)
			return nil
		}
		a, err := newApply(tx, c, to, b.GetExt())
		if err != nil {
			return err
		}
		for _, u := range []int64{to, c.user} {
			n := friendEvent(improto.FriendMessageType_SendApply, c.user, to)
			n.Apply = applyView(a, u)
			pushFriend(out, u, c.inbox, n)
		}
		resp.Apply = applyView(a, c.user)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// newApply stores a waiting apply from the caller to user to and indexes
// it in both users' lists and by the pair.
func newApply(tx store.Tx, c *call, to int64, ext map[string]string) (*improto.ApplyUserInfo, error) {
	id, err := nextID(tx, counterApplyID)
	if err != nil {
		return nil, err
	}
	index, err := nextApplyIndex(tx, to)
	if err != nil {
		return nil, err
	}
	a := &improto.ApplyUserInfo{
		ApplyTimeSecond: proto.Int64(c.now.Unix()),
		Ext:             maps.Clone(ext),
		Status:          proto.Int32(applyWaiting),
		ApplyId:         proto.Int64(id),
		FromUserId:      proto.Int64(c.user),
		ToUserId:        proto.Int64(to),
		Index:           proto.Int64(index),
	}
	if err := putProto(tx, bucketApply, key(id), a); err != nil {
		return nil, err
	}
	idBytes := int64Bytes(id)
	for _, kv := range []struct {
		bucket string
		k      []byte
	}{
		{bucketApplyTo, key(to, index)},
		{bucketApplyFrom, key(c.user, id)},
		{bucketApplyPair, key(c.user, to)},
	} {
		if err := tx.Put(kv.bucket, kv.k, idBytes); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// applyPage is one page of an apply list and the request that asked for it.
type applyPage struct {
	cursor    int64
	limit     int
	status    *int32 // nil lists every status
	wantTotal bool

	list    []*improto.ApplyUserInfo
	next    int64
	hasMore bool
	total   int64
}

// newApplyPage checks a list request's cursor and status filter.
func newApplyPage(cursor, limit int64, wantTotal bool, status *int32) (*applyPage, error) {
	if cursor < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", cursor)
	}
	if status != nil && (*status < applyWaiting || *status > applyRefuse) {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "status %d is not an apply status (0 waiting, 1 agree, 2 refuse)", *status)
	}
	return &applyPage{cursor: cursor, limit: pageLimit(limit, defaultFriendPage, maxFriendPage), status: status, wantTotal: wantTotal, next: cursor}, nil
}

// fill reads the page from bucket, an index whose keys are user|n and
// whose values are apply ids, in n order after the cursor; the next
// cursor is the n of the last apply returned. The total counts the whole
// list under the status filter.
func (p *applyPage) fill(tx store.Tx, bucket string, user int64) error {
	prefix := key(user)
	var loadErr error
	visit := func(onMatch func(n int64, a *improto.ApplyUserInfo) bool) func(k, v []byte) bool {
		return func(k, v []byte) bool {
			var a *improto.ApplyUserInfo
			if a, loadErr = loadApply(tx, int64At(v, 0)); loadErr != nil {
				return false
			}
			if a == nil || (p.status != nil && a.GetStatus() != *p.status) {
				return true
			}
			return onMatch(int64At(k, len(prefix)), a)
		}
	}
	err := tx.Ascend(bucket, key(user, p.cursor+1), prefixEnd(prefix), visit(func(n int64, a *improto.ApplyUserInfo) bool {
		if len(p.list) == p.limit {
			p.hasMore = true
			return false
		}
		p.list = append(p.list, applyView(a, user))
		p.next = n
		return true
	}))
	if err != nil || loadErr != nil || !p.wantTotal {
		return cmp.Or(err, loadErr)
	}
	err = tx.Ascend(bucket, prefix, prefixEnd(prefix), visit(func(int64, *improto.ApplyUserInfo) bool {
		p.total++
		return true
	}))
	return cmp.Or(err, loadErr)
}

// totalCount returns the total for a response: set only when asked for.
func (p *applyPage) totalCount() *int64 {
	if !p.wantTotal {
		return nil
	}
	return proto.Int64(p.total)
}

// sentFriendApplies serves 2047: the applies the caller sent, in apply id
// order; the cursor is the last apply id seen. status, when set, filters
// by apply status.
func (s *Server) sentFriendApplies(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetFriendApplyListRequestBody)
	p, err := newApplyPage(b.GetCursor(), b.GetLimit(), b.GetGetTotalCount(), b.Status)
	if err != nil {
		return nil, err
	}
	if err := s.view(func(tx store.Tx) error { return p.fill(tx, bucketApplyFrom, c.user) }); err != nil {
		return nil, err
	}
	return &improto.GetFriendApplyListResponseBody{
		NextCursor: proto.Int64(p.next),
		HasMore:    proto.Bool(p.hasMore),
		UserList:   p.list,
		TotalCount: p.totalCount(),
	}, nil
}

// receivedFriendApplies serves 2048: the applies sent to the caller, in
// index order (the order they arrived); the cursor is the last index
// seen. status, when set, filters by apply status. This is how a client
// that was offline finds the applies it missed.
func (s *Server) receivedFriendApplies(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetFriendReceiveApplyListRequestBody)
	p, err := newApplyPage(b.GetCursor(), b.GetLimit(), b.GetGetTotalCount(), b.Status)
	if err != nil {
		return nil, err
	}
	if err := s.view(func(tx store.Tx) error { return p.fill(tx, bucketApplyTo, c.user) }); err != nil {
		return nil, err
	}
	return &improto.GetFriendReceiveApplyListResponseBody{
		NextCursor: proto.Int64(p.next),
		HasMore:    proto.Bool(p.hasMore),
		UserList:   p.list,
		TotalCount: p.totalCount(),
	}, nil
}

// userIDs checks a batch of user ids (present, positive, bounded) and
// returns them without repeats, in request order.
func userIDs(ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "user_id is empty")
	}
	if len(ids) > maxFriendBatch {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d user ids exceed the limit of %d", len(ids), maxFriendBatch)
	}
	out := make([]int64, 0, len(ids))
	for _, u := range ids {
		if u <= 0 {
			return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "user id %d must be positive", u)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// replyFriendApply serves 2049: the caller answers the waiting applies of
// the listed applicants (attitude 0 accept, 1 reject; unset is the wire
// default, accept). Accepting makes them friends. Applicants without a
// waiting apply to the caller come back in failed_user_id; applies holds
// the answered applies as the caller sees them.
func (s *Server) replyFriendApply(c *call) (proto.Message, error) {
	b := c.body.(*improto.ReplyFriendApplyRequestBody)
	var status int32
	switch b.GetAttitude() {
	case attitudeAccept:
		status = applyAgree
	case attitudeReject:
		status = applyRefuse
	default:
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "attitude %d is not 0 (accept) or 1 (reject)", b.GetAttitude())
	}
	applicants, err := userIDs(b.GetUserId())
	if err != nil {
		return nil, err
	}
	resp := &improto.ReplyFriendApplyResponseBody{}
	err = s.update(func(tx store.Tx, out *outbox) error {
		resp.FailedUserId, resp.Applies = nil, nil
		for _, u := range applicants {
			a, err := pairApply(tx, u, c.user)
			if err != nil {
				return err
			}
			if a == nil || a.GetStatus() != applyWaiting {
				resp.FailedUserId = append(resp.FailedUserId, u)
				continue
			}
			if err := answerApply(tx, out, c, a, status); err != nil {
				return err
			}
			resp.Applies = append(resp.Applies, applyView(a, c.user))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// friendList serves 2050: the caller's friends in user id order; the
// cursor is the last friend id seen.
func (s *Server) friendList(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetFriendListRequestBody)
	if b.GetCursor() < 0 {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "cursor %d is negative", b.GetCursor())
	}
	limit := pageLimit(b.GetLimit(), defaultFriendPage, maxFriendPage)
	resp := &improto.GetFriendListResponseBody{NextCursor: proto.Int64(b.GetCursor()), HasMore: proto.Bool(false)}
	err := s.view(func(tx store.Tx) error {
		prefix := key(c.user)
		var decodeErr error
		err := tx.Ascend(bucketFriend, key(c.user, b.GetCursor()+1), prefixEnd(prefix), func(k, v []byte) bool {
			if len(resp.UserList) == limit {
				resp.HasMore = proto.Bool(true)
				return false
			}
			f := &improto.FriendUserInfo{}
			if decodeErr = proto.Unmarshal(v, f); decodeErr != nil {
				return false
			}
			resp.UserList = append(resp.UserList, f)
			resp.NextCursor = proto.Int64(int64At(k, len(prefix)))
			return true
		})
		if err != nil || decodeErr != nil || !b.GetGetTotalCount() {
			return cmp.Or(err, decodeErr)
		}
		var total int64
		err = tx.Ascend(bucketFriend, prefix, prefixEnd(prefix), func(_, _ []byte) bool {
			total++
			return true
		})
		resp.TotalCount = proto.Int64(total)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// deleteFriend serves 2051: it ends the caller's friendship with each
// listed user, on both sides, and pushes DeleteFriend (from_id the
// caller, to_id the other, friend as the recipient saw it) to the other
// user and the caller. Users who are not the caller's
// friends come back in failed_user_id. Past applies keep their status, so
// either may apply again.
func (s *Server) deleteFriend(c *call) (proto.Message, error) {
	b := c.body.(*improto.DeleteFriendRequestBody)
	others, err := userIDs(b.GetUserId())
	if err != nil {
		return nil, err
	}
	resp := &improto.DeleteFriendResponseBody{}
	err = s.update(func(tx store.Tx, out *outbox) error {
		resp.FailedUserId = nil
		for _, other := range others {
			mine, err := loadFriend(tx, c.user, other)
			if err != nil {
				return err
			}
			if mine == nil {
				resp.FailedUserId = append(resp.FailedUserId, other)
				continue
			}
			theirs, err := loadFriend(tx, other, c.user)
			if err != nil {
				return err
			}
			if theirs == nil { // a half record; delete what is there
				theirs = &improto.FriendUserInfo{UserId: proto.Int64(c.user)}
			}
			if err := tx.Delete(bucketFriend, key(c.user, other)); err != nil {
				return err
			}
			if err := tx.Delete(bucketFriend, key(other, c.user)); err != nil {
				return err
			}
			for _, r := range []struct {
				user int64
				f    *improto.FriendUserInfo
			}{{other, theirs}, {c.user, mine}} {
				n := friendEvent(improto.FriendMessageType_DeleteFriend, c.user, other)
				n.Friend = r.f
				pushFriend(out, r.user, c.inbox, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
