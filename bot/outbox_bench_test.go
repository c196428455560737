package bot

// Benchmarks of the outbound queue with a fake wire (the queue is what is
// measured):
//
//	go test -run XXX -bench OutboxBroadcast -benchtime 10x ./bot/
//	go test -run XXX -bench OutboxIdle -benchmem ./bot/
//
// "A 1000-message broadcast never delays a reply by more than one send
// slot." With MaxInFlight slots all busy with broadcast sends, a reply
// takes the first slot that frees after it arrives: no broadcast send is
// granted a slot between the reply's arrival and its own grant, so the
// reply waits at most for the rest of one send already on the wire — at
// most one send's duration — however many broadcast sends are queued.
// (That is for a reply to a conversation the broadcast does not target.
// In one it does target, the reply also waits for the broadcast sends
// queued there before it, since a conversation's order is kept; those
// move with the reply's priority.)
// TestOutboxBroadcastDelaysReplyOneSlot checks exactly that on a fake
// clock; BenchmarkOutboxBroadcast measures it in real time.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
)

// broadcastStats is what a broadcast did to the replies sent during it.
type broadcastStats struct {
	// overtaken is, for each reply, how many broadcast sends started on
	// the wire after it arrived and before it started.
	overtaken []int
	// wait is, for each reply, how long it waited to start.
	wait []time.Duration
	// send is the mean time a send took on the wire (d, plus the timer's
	// lateness in real time).
	send time.Duration
}

// broadcast queues 10 conversations × 100 bulk messages in an outbox of
// 4 slots whose wire takes d per send; settle returns once they are all
// queued (or sent). While they drain, it sends 20 replies to conversations
// of their own, 10.25·d apart from 0.3·d on (off the grid of the sends'
// ends, so that on a fake clock no reply arrives at the instant a slot
// frees).
func broadcast(tb testing.TB, d time.Duration, settle func(o *outbox, started func() int)) broadcastStats {
	const convs, per, replies, slots = 10, 100, 20, 4
	type event struct {
		reply   int // -1: a broadcast send
		arrival bool
		at      time.Time
	}
	var mu sync.Mutex
	var log []event
	bulk := 0 // broadcast sends started
	var onWire time.Duration
	sends := 0
	record := func(e event) {
		mu.Lock()
		defer mu.Unlock()
		e.at = time.Now()
		log = append(log, e)
		if e.reply < 0 {
			bulk++
		}
	}
	wire := func(ctx context.Context, to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error) {
		reply := -1
		if to.ID[0] == 'r' {
			fmt.Sscan(out.Content, &reply)
		}
		record(event{reply: reply})
		start := time.Now()
		t := time.NewTimer(d) // the send's time on the wire
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		mu.Lock()
		onWire += time.Since(start)
		sends++
		mu.Unlock()
		return &im.Message{ClientID: out.ClientID}, nil
	}
	o, err := newOutbox(SendOptions{MaxInFlight: slots}, wire)
	require.NoError(tb, err)
	defer o.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range convs * per {
		wg.Go(func() {
			_, err := o.send(ctx, PriorityBulk, conv(fmt.Sprint("b", i%convs)), im.OutgoingMessage{Content: "news"})
			assert.NoError(tb, err)
		})
	}
	settle(o, func() int {
		mu.Lock()
		defer mu.Unlock()
		return bulk
	})
	start := time.Now()
	for i := range replies {
		t := time.NewTimer(time.Until(start.Add(d*3/10 + time.Duration(i)*d*41/4)))
		<-t.C
		record(event{reply: i, arrival: true})
		_, err := o.send(ctx, PriorityReply, conv(fmt.Sprint("r", i)), im.OutgoingMessage{Content: fmt.Sprint(i)})
		assert.NoError(tb, err)
	}
	wg.Wait()
	st := broadcastStats{send: onWire / time.Duration(sends)}
	arrival := map[int]time.Time{}
	for _, e := range log {
		switch {
		case e.reply < 0:
		case e.arrival:
			arrival[e.reply] = e.at
		default:
			a := arrival[e.reply]
			n := 0
			for _, b := range log {
				if b.reply < 0 && b.at.After(a) && b.at.Before(e.at) {
					n++
				}
			}
			st.wait = append(st.wait, e.at.Sub(a))
			st.overtaken = append(st.overtaken, n)
		}
	}
	return st
}

// TestOutboxBroadcastDelaysReplyOneSlot: on a fake clock, where the
// order of grants is exact, no broadcast send overtakes a reply, and no
// reply waits longer than one send.
func TestOutboxBroadcastDelaysReplyOneSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const d = time.Millisecond
		st := broadcast(t, d, func(*outbox, func() int) { synctest.Wait() })
		require.Len(t, st.wait, 20, "replies")
		for i := range st.wait {
			assert.Zero(t, st.overtaken[i], "broadcast sends that overtook reply %d", i)
			assert.LessOrEqual(t, st.wait[i], d, "reply %d's wait: want at most one send", i)
		}
	})
}

// BenchmarkOutboxBroadcast runs the broadcast of
// TestOutboxBroadcastDelaysReplyOneSlot in real time, with sends of 1ms.
// It reports, over all the replies, how many broadcast sends started
// between a reply's arrival and its own start (overtaken-max and
// overtaken-mean: 0 in theory; in real time the slots do not free at one
// instant, and a broadcast send granted another slot while the reply's
// goroutine wakes up counts too, as do those granted while the reply's
// goroutine is preempted between recording its arrival and queueing),
// and how long a reply waited, in sends
// of the measured mean duration (wait-p50-sends, wait-max-sends: at most
// 1 in theory, plus the scheduler's latency).
func BenchmarkOutboxBroadcast(b *testing.B) {
	const d = time.Millisecond
	var waits []float64
	overtaken, most := 0, 0
	for range b.N {
		st := broadcast(b, d, func(o *outbox, started func() int) {
			// Until every broadcast send is queued or started, a reply
			// would race the broadcast's arrival, not its drain.
			for q, _ := o.counts(); q+started() < 1000; q, _ = o.counts() {
				runtime.Gosched()
			}
		})
		for i, w := range st.wait {
			waits = append(waits, float64(w)/float64(st.send))
			overtaken += st.overtaken[i]
			most = max(most, st.overtaken[i])
		}
	}
	slices.Sort(waits)
	b.ReportMetric(float64(most), "overtaken-max")
	b.ReportMetric(float64(overtaken)/float64(len(waits)), "overtaken-mean")
	b.ReportMetric(waits[len(waits)/2], "wait-p50-sends")
	b.ReportMetric(waits[len(waits)-1], "wait-max-sends")
}

// BenchmarkOutboxIdle measures the fast path: a send through an idle
// outbox (no queue, free slots, no limits) against a direct call of the
// same sendFunc, which does nothing, so that all of the difference is the
// outbox's. The message has its client id already (as the IM client would
// otherwise make one itself).
func BenchmarkOutboxIdle(b *testing.B) {
	m := &im.Message{}
	wire := func(context.Context, im.ConversationRef, im.OutgoingMessage) (*im.Message, error) { return m, nil }
	o, err := newOutbox(SendOptions{}, wire)
	require.NoError(b, err)
	defer o.close()
	ctx := context.Background()
	to := conv("a")
	out := im.OutgoingMessage{Content: "hi", ClientID: "0123456789abcdef0123456789abcdef"}
	const chunk = 1000 // calls timed together, alternating between the two
	var direct, queued time.Duration
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		start := time.Now()
		for range n {
			_, err := wire(ctx, to, out)
			require.NoError(b, err)
		}
		direct += time.Since(start)
		start = time.Now()
		for range n {
			_, err := o.send(ctx, PriorityReply, to, out)
			require.NoError(b, err)
		}
		queued += time.Since(start)
	}
	b.ReportMetric(float64(direct.Nanoseconds())/float64(b.N), "direct-ns/send")
	b.ReportMetric(float64(queued.Nanoseconds())/float64(b.N), "outbox-ns/send")
	b.ReportMetric(float64(queued-direct)/float64(b.N), "overhead-ns/send")
	b.ReportMetric(float64(queued)/float64(max(direct, 1)), "ratio")
}
