package bot

import (
	"context"
	"errors"
	"strconv"

	"github.com/imbot-go/imbot/im"
)

// Cluster divides a bot's conversations among the replicas of the bot:
// processes logged in as the same user, each as its own device, each
// receiving every message, each handling those of the partitions it
// holds. A conversation belongs to one of a fixed number of partitions,
// by a stable hash of its id, and each partition is leased by one live
// replica at a time; package redisstate implements it over Redis.
//
// With Options.Cluster set, a bot handles an event only while it holds
// the event's partition: a conversation's messages, recalls, property
// changes, membership and conversation events (live-chat messages
// included) follow the conversation's owner, and friend applications
// and friends follow the owner of the applicant's key (FriendKey). On
// taking a partition, the bot first catches each of its conversations up
// from its committed index (Options.Progress, shared by the replicas)
// through the server's per-conversation pull, then handles the
// partition's events as they come, so that nothing a dead replica left
// unfinished is lost and nothing it committed is handled again. It
// commits a conversation's progress under the partition's lease, which
// the store fences: a replica that lost its partition without knowing it
// yet cannot commit over the new owner.
type Cluster interface {
	// Partition returns the partition of key, a conversation id or a
	// FriendKey: the same on every replica, in [0, the number of
	// partitions). Every replica of a bot must be configured with the
	// same number of partitions; nothing can tell a replica that hashes
	// otherwise.
	Partition(key string) int
	// Run takes part in the cluster until ctx ends, and calls claim,
	// from one goroutine at a time, each time this replica takes a
	// partition; claim must return soon (the bot's starts the catch-up
	// and returns). When ctx ends it gives up the partitions still held
	// and returns nil; the bot ends ctx only once its handlers have
	// drained, so that their commits pass. Run returns an error only
	// when it cannot take part at all (a misuse, say): a lost store is
	// retried.
	Run(ctx context.Context, claim func(Claim)) error
}

// Claim is a partition a replica has taken.
type Claim struct {
	Partition int
	// Lease carries the partition's lease: the progress store fences
	// the commits made under it (a context derived from it, even with
	// context.WithoutCancel), refusing them once the lease is no longer
	// held. It ends when the replica is to stop handling the partition:
	// context.Cause is ErrPartitionMoved when the cluster hands the
	// partition to another replica (a rebalance, or this replica
	// leaving), or the store's error when the lease was lost.
	Lease context.Context
	// Release gives the partition up, so that the next owner can take
	// it at once. It must be called after Lease ended, also when the
	// lease was lost: until then the cluster counts the partition as
	// held here and does not take it again. The bot calls it once it
	// handles none of the partition's events; calling it again does
	// nothing.
	Release func()
}

// ErrPartitionMoved is the cause of the end of a Claim's Lease when the
// cluster moves the partition to another replica in good order: the
// replica finishes the partition's running handlers before it releases
// the partition, and the next owner takes it then.
var ErrPartitionMoved = errors.New("bot: the partition moves to another replica")

// FriendKey is the key of the partition whose owner handles the friend
// events (applications, new friends) of user: the events of one user go
// to one replica, in order.
func FriendKey(user im.UserID) string {
	return "friend:" + strconv.FormatInt(int64(user), 10)
}
