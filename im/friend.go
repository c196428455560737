package im

import "time"

// Friend is the seed's Friend: a user this user is friends with.
//
// A Friend is plain data, safe to read from many goroutines and not to be
// changed while shared.
type Friend struct {
	// UserID is the friend's user id.
	UserID UserID
	// ApplyTime is when the friend apply was sent.
	ApplyTime time.Time
	// CreateTime is when the two became friends (the apply was accepted).
	CreateTime time.Time
	// Ext is the friend's extra info.
	Ext map[string]string
}

// FriendApply is the seed's FriendApply: a request to become friends.
//
// A FriendApply is plain data, safe to read from many goroutines and not to
// be changed while shared.
type FriendApply struct {
	// ID is the apply's id.
	ID FriendApplyID
	// FromUserID is the user who applied.
	FromUserID UserID
	// ToUserID is the user asked.
	ToUserID UserID
	// ApplyTime is when the apply was sent.
	ApplyTime time.Time
	// Ext is the apply's ext map.
	Ext map[string]string
	// Status is whether the apply is waiting, accepted or refused.
	Status FriendApplyStatus
	// Index is the apply's position in the receiver's apply list, which
	// can be used to sync what was read.
	Index int64
}

// FriendApplyStatus is the seed's FriendApplyStatus.
type FriendApplyStatus int32

// The seed's friend apply statuses.
const (
	// FriendApplyStatusWaiting: not answered yet.
	FriendApplyStatusWaiting FriendApplyStatus = 0
	// FriendApplyStatusAgree: accepted.
	FriendApplyStatusAgree FriendApplyStatus = 1
	// FriendApplyStatusRefuse: refused.
	FriendApplyStatusRefuse FriendApplyStatus = 2
)

var friendApplyStatusNames = map[FriendApplyStatus]string{
	FriendApplyStatusWaiting: "Waiting",
	FriendApplyStatusAgree:   "Agree",
	FriendApplyStatusRefuse:  "Refuse",
}

// String returns the status's name.
func (s FriendApplyStatus) String() string {
	return enumString(s, "FriendApplyStatus", friendApplyStatusNames)
}

// ReplyFriendAttitude is the seed's ReplyFriendAttitude: the answer to a
// friend apply.
type ReplyFriendAttitude int32

// The seed's answers to a friend apply.
const (
	// ReplyFriendAttitudeAccept accepts the apply.
	ReplyFriendAttitudeAccept ReplyFriendAttitude = 0
	// ReplyFriendAttitudeReject rejects the apply.
	ReplyFriendAttitudeReject ReplyFriendAttitude = 1
)

var replyFriendAttitudeNames = map[ReplyFriendAttitude]string{
	ReplyFriendAttitudeAccept: "Accept",
	ReplyFriendAttitudeReject: "Reject",
}

// String returns the attitude's name.
func (a ReplyFriendAttitude) String() string {
	return enumString(a, "ReplyFriendAttitude", replyFriendAttitudeNames)
}
