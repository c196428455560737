package bot_test

import (
	"context"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// handCluster is a Cluster the test deals partitions out of by hand:
// give claims one, take ends its lease. Partitions are key hashes mod 8.
type handCluster struct {
	mu       sync.Mutex
	claim    func(bot.Claim)
	running  chan struct{} // closed once Run is called
	leases   map[int]context.CancelCauseFunc
	released map[int]chan struct{} // closed when the bot releases the partition
}

func newHandCluster() *handCluster {
	return &handCluster{running: make(chan struct{}), leases: map[int]context.CancelCauseFunc{}, released: map[int]chan struct{}{}}
}

func (h *handCluster) Partition(key string) int {
	f := fnv.New32a()
	f.Write([]byte(key))
	return int(f.Sum32() % 8)
}

func (h *handCluster) Run(ctx context.Context, claim func(bot.Claim)) error {
	h.mu.Lock()
	h.claim = claim
	h.mu.Unlock()
	close(h.running)
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, end := range h.leases {
		end(bot.ErrPartitionMoved)
		delete(h.leases, p)
	}
	return nil
}

// give claims partition p for the bot.
func (h *handCluster) give(t *testing.T, p int) {
	t.Helper()
	select {
	case <-h.running:
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "the bot did not run its cluster")
	}
	lease, end := context.WithCancelCause(context.Background())
	released := make(chan struct{})
	h.mu.Lock()
	h.leases[p] = end
	h.released[p] = released
	claim := h.claim
	h.mu.Unlock()
	claim(bot.Claim{Partition: p, Lease: lease, Release: sync.OnceFunc(func() { close(released) })})
}

// take ends the lease of p with cause and returns a channel closed when
// the bot released it.
func (h *handCluster) take(p int, cause error) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leases[p](cause)
	delete(h.leases, p)
	return h.released[p]
}

// twoPartitions creates groups of u with the bot until two are in
// different partitions of h.
func twoPartitions(t *testing.T, h *handCluster, u *imtest.User, botID im.UserID) (a, b im.ConversationRef) {
	t.Helper()
	a = u.CreateGroup(t, botID)
	for range 20 {
		b = u.CreateGroup(t, botID)
		if h.Partition(string(b.ID)) != h.Partition(string(a.ID)) {
			return a, b
		}
	}
	require.FailNow(t, "20 groups in one partition of 8")
	return
}

// TestClusterHandlesHeldPartitions: a bot handles only the conversations
// of the partitions it holds; on taking one, it first handles what came
// before (pulled from the server), then the live messages, in order.
func TestClusterHandlesHeldPartitions(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	hc := newHandCluster()
	h := newHandled()
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Cluster = hc })
	b.Handle(recorder(h))
	s.RunBot(t, b)
	u := s.NewUser(t, 1001)
	a, other := twoPartitions(t, hc, u, 100)
	assert.False(t, b.Owns(string(a.ID)), "Owns before the partition is given")
	hc.give(t, hc.Partition(string(a.ID)))
	assert.Equal(t, []int{hc.Partition(string(a.ID))}, b.Partitions())
	require.Eventually(t, func() bool { return b.Owns(string(a.ID)) }, imtest.DefaultTimeout, time.Millisecond, "Owns once caught up")
	assert.False(t, b.Owns(string(other.ID)), "Owns a partition held elsewhere")
	for range 3 {
		u.Send(t, a, "a")
		u.Send(t, other, "other")
	}
	h.waitFor(t, 3, imtest.DefaultTimeout)
	assert.Empty(t, h.indexes(other.ID), "messages of a partition held elsewhere")
	// Both groups were made alike: their first messages have one index.
	first := map[im.ConversationID]int64{a.ID: h.indexes(a.ID)[0], other.ID: h.indexes(a.ID)[0]}

	hc.give(t, hc.Partition(string(other.ID))) // catches up the 3 sent before
	h.waitFor(t, 6, imtest.DefaultTimeout)
	for range 2 {
		u.Send(t, other, "other")
	}
	h.waitFor(t, 8, imtest.DefaultTimeout)
	h.check(t, []im.ConversationRef{other}, first, 5)
	h.check(t, []im.ConversationRef{a}, first, 3)
	assert.ElementsMatch(t, []int{hc.Partition(string(a.ID)), hc.Partition(string(other.ID))}, b.Partitions())
}

// TestClusterMoveWaitsForHandlers: a partition moved away is released
// only once its running handler returned; its queued events are dropped
// and a handler waiting in WaitNext there gets ErrPartitionMoved.
func TestClusterMoveWaitsForHandlers(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	hc := newHandCluster()
	started, finish := make(chan *im.Message, 10), make(chan struct{})
	waited := make(chan error, 1)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Cluster = hc })
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		started <- c.Event.Message
		switch c.Event.Message.Text() {
		case "block":
			<-finish
		case "dialog":
			_, err := c.WaitNext(imtest.DefaultTimeout)
			waited <- err
		}
		return nil
	}))
	s.RunBot(t, b)
	u := s.NewUser(t, 1001)
	a, d := twoPartitions(t, hc, u, 100)
	pa, pd := hc.Partition(string(a.ID)), hc.Partition(string(d.ID))
	hc.give(t, pa)
	hc.give(t, pd)
	u.Send(t, a, "block")
	u.Send(t, d, "dialog")
	for range 2 {
		select {
		case <-started:
		case <-time.After(imtest.DefaultTimeout):
			require.FailNow(t, "handlers did not start")
		}
	}
	u.Send(t, a, "queued behind the blocked one")

	releasedD := hc.take(pd, bot.ErrPartitionMoved)
	select {
	case err := <-waited:
		assert.ErrorIs(t, err, bot.ErrPartitionMoved, "WaitNext in a partition moved away")
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "WaitNext did not end when its partition moved")
	}
	select {
	case <-releasedD:
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "the dialog's partition was not released")
	}

	releasedA := hc.take(pa, bot.ErrPartitionMoved)
	select {
	case <-releasedA:
		require.FailNow(t, "released while its handler still ran")
	case <-time.After(50 * time.Millisecond): // a release would come at once
	}
	close(finish)
	select {
	case <-releasedA:
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "not released after its handler returned")
	}
	assert.Empty(t, b.Partitions())
	select {
	case m := <-started:
		assert.Failf(t, "a dropped event ran", "message %q", m.Text())
	default:
	}
}

// TestClusterEventsFollowOwner: membership events follow their
// conversation's owner, and friend applies the owner of the applicant's
// FriendKey.
func TestClusterEventsFollowOwner(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	hc := newHandCluster()
	events := make(chan bot.Event, 64)
	b := s.NewBot(t, 100, func(o *bot.Options) { o.Cluster = hc })
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if c.Event.Kind == bot.EventParticipantsAdded || c.Event.Kind == bot.EventFriendApplyReceived {
			events <- c.Event
		}
		return nil
	}))
	s.RunBot(t, b)
	u := s.NewUser(t, 1001)
	mine, other := twoPartitions(t, hc, u, 100)
	hc.give(t, hc.Partition(string(mine.ID)))
	require.Eventually(t, func() bool { return b.Owns(string(mine.ID)) }, imtest.DefaultTimeout, time.Millisecond)
	ctx := t.Context()
	// other's first: the client delivers in order, so once mine's event
	// is handled, other's was delivered, and let go.
	_, err := u.Client.AddParticipants(ctx, other, 3)
	require.NoError(t, err)
	_, err = u.Client.AddParticipants(ctx, mine, 3)
	require.NoError(t, err)
	select {
	case ev := <-events:
		assert.Equal(t, mine.ID, ev.ConversationRef.ID, "the participants event handled")
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "the participants event of a held conversation was not handled")
	}
	if hc.Partition(bot.FriendKey(1001)) != hc.Partition(string(mine.ID)) {
		hc.give(t, hc.Partition(bot.FriendKey(1001)))
		require.Eventually(t, func() bool { return b.Owns(bot.FriendKey(1001)) }, imtest.DefaultTimeout, time.Millisecond)
	}
	_, err = u.Client.SendFriendApply(ctx, 100, nil)
	require.NoError(t, err)
	select {
	case ev := <-events:
		assert.Equal(t, bot.EventFriendApplyReceived, ev.Kind, "the friend apply of a held FriendKey handled")
	case <-time.After(imtest.DefaultTimeout):
		require.FailNow(t, "the friend apply was not handled by the owner of its FriendKey")
	}
	assert.Empty(t, events, "events of partitions held elsewhere")
}
