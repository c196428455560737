package bot

// Tests of the outbound queue with a fake sendFunc: what is tested is the
// queue. Most run in a synctest bubble, whose clock advances only when
// every goroutine is blocked: synctest.Wait is how a test knows that the
// sends it started are queued, and the limits' and retries' waits take no
// real time and are exact.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// call is one attempt that reached the fake wire.
type call struct {
	conv     im.ConversationID
	text     string
	clientID string
	at       time.Time
}

// fakeWire is a sendFunc that records its calls, checks that no
// conversation has two sends on the wire at once, and answers with fail.
type fakeWire struct {
	gate     chan struct{}             // when non-nil, each call waits for a value (or close) before answering
	fail     func(c call, n int) error // the error of the n-th call (from 0); nil: success
	mu       sync.Mutex
	calls    []call
	onWire   map[im.ConversationID]int
	total    int
	maxTotal int
	overlap  []im.ConversationID // conversations that had two sends on the wire at once
}

func newWire() *fakeWire { return &fakeWire{onWire: make(map[im.ConversationID]int)} }

func (w *fakeWire) send(ctx context.Context, to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error) {
	c := call{conv: to.ID, text: out.Content, clientID: out.ClientID, at: time.Now()}
	w.mu.Lock()
	n := len(w.calls)
	w.calls = append(w.calls, c)
	if w.onWire[to.ID]++; w.onWire[to.ID] > 1 {
		w.overlap = append(w.overlap, to.ID)
	}
	w.total++
	w.maxTotal = max(w.maxTotal, w.total)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.onWire[to.ID]--
		w.total--
		w.mu.Unlock()
	}()
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m := &im.Message{ClientID: out.ClientID, ConversationID: to.ID, Content: out.Content}
	if w.fail != nil {
		if err := w.fail(c, n); err != nil {
			m.FlightStatus = im.FlightStatusFailed
			return m, err
		}
	}
	return m, nil
}

// texts returns the texts of the calls, in order.
func (w *fakeWire) texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		out = append(out, c.text)
	}
	return out
}

func (w *fakeWire) snapshot() []call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]call(nil), w.calls...)
}

// conv returns a single chat's ref; live returns a live chat's.
func conv(name string) im.ConversationRef {
	return im.ConversationRef{ID: im.ConversationID(name), Type: im.ConversationTypeOneToOne}
}

func live(name string) im.ConversationRef {
	return im.ConversationRef{ID: im.ConversationID(name), Type: im.ConversationTypeMassChat}
}

type result struct {
	m   *im.Message
	err error
}

// start sends text to to on a new goroutine and returns its result's
// channel. In a bubble, callers follow it with synctest.Wait to know that
// the send is queued (or on the wire) before they start the next.
func start(ctx context.Context, o *outbox, prio Priority, to im.ConversationRef, text string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		m, err := o.send(ctx, prio, to, im.OutgoingMessage{Content: text})
		ch <- result{m, err}
	}()
	return ch
}

// queue starts a send and waits until it is queued or on the wire.
func queue(ctx context.Context, o *outbox, prio Priority, to im.ConversationRef, text string) <-chan result {
	ch := start(ctx, o, prio, to, text)
	synctest.Wait()
	return ch
}

// mustOK fails t unless every result is a success.
func mustOK(t *testing.T, chs ...<-chan result) {
	t.Helper()
	for i, ch := range chs {
		assert.NoError(t, (<-ch).err, "send %d", i)
	}
}

func newTestOutbox(t *testing.T, opts SendOptions, w *fakeWire) *outbox {
	t.Helper()
	o, err := newOutbox(opts, w.send)
	require.NoError(t, err)
	t.Cleanup(o.close)
	return o
}

// counts returns the outbox's sends queued and waiting for a place.
func (o *outbox) counts() (queued, waitPlace int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.placeWait {
		waitPlace += len(w)
	}
	return o.queued, waitPlace
}

func TestOutboxOrderPerConversation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 3}, w)
		const convs, per = 5, 10
		prios := []Priority{PriorityBulk, PriorityReply, PriorityNormal}
		var chs []<-chan result
		for i := range per {
			for c := range convs {
				// Mixed priorities: they must not reorder a conversation.
				chs = append(chs, queue(t.Context(), o, prios[(i+c)%len(prios)], conv(fmt.Sprint("c", c)), fmt.Sprint(i)))
			}
		}
		close(w.gate)
		mustOK(t, chs...)
		got := map[im.ConversationID][]string{}
		for _, c := range w.snapshot() {
			got[c.conv] = append(got[c.conv], c.text)
		}
		for c := range convs {
			id := im.ConversationID(fmt.Sprint("c", c))
			assert.Equal(t, "0 1 2 3 4 5 6 7 8 9", strings.Join(got[id], " "), "how %s went out", id)
		}
		assert.Empty(t, w.overlap, "conversations with two sends on the wire at once")
		assert.LessOrEqual(t, w.maxTotal, 3, "most sends on the wire at once (MaxInFlight 3)")
	})
}

// TestOutboxConcurrent runs senders on real goroutines (no bubble), for
// the race detector: each sender's sends to a conversation go out in its
// order, one at a time.
func TestOutboxConcurrent(t *testing.T) {
	t.Parallel()
	w := newWire()
	o := newTestOutbox(t, SendOptions{MaxInFlight: 4, MaxQueued: 8}, w)
	const senders, per, convs = 8, 50, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				prio := Priority(1 + (s+i)%3)
				_, err := o.send(t.Context(), prio, conv(fmt.Sprint("c", (s+i)%convs)), im.OutgoingMessage{Content: fmt.Sprintf("%d/%d", s, i)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	last := map[int]int{}
	for _, text := range w.texts() {
		var s, i int
		fmt.Sscanf(text, "%d/%d", &s, &i)
		if l, ok := last[s]; ok {
			require.Equal(t, l+1, i, "sender %d: the send that went out after %d", s, l)
		}
		last[s] = i
	}
	assert.Equal(t, senders*per, len(w.texts()), "sends on the wire")
	assert.Empty(t, w.overlap, "conversations with overlapping sends")
	assert.LessOrEqual(t, w.maxTotal, 4, "most sends on the wire at once (MaxInFlight 4)")
	q, p := o.counts()
	assert.Zero(t, q, "queued after the sends")
	assert.Zero(t, p, "waiting for a place after the sends")
	assert.Zero(t, o.inFlight, "in flight after the sends")
	assert.Zero(t, o.ready.Len(), "ready after the sends")
	assert.Zero(t, o.parked.Len(), "parked after the sends")
}

// TestOutboxPriority queues sends behind one on the wire (MaxInFlight 1)
// and checks the order they leave in: replies before normal sends before
// bulk ones, in arrival order within a priority, except that a reply
// queued behind bulk sends of its conversation pulls them ahead (it
// cannot overtake them).
func TestOutboxPriority(t *testing.T) {
	t.Parallel()
	type send struct {
		prio       Priority
		conv, text string
	}
	for _, tc := range []struct {
		name  string
		sends []send
		want  string
	}{
		{"by priority", []send{
			{PriorityNormal, "z", "z"}, // on the wire
			{PriorityBulk, "a", "a"}, {PriorityBulk, "b", "b"}, {PriorityNormal, "c", "c"},
			{PriorityReply, "d", "d"}, {PriorityNormal, "e", "e"}, {PriorityReply, "f", "f"},
		}, "z d f c e a b"},
		{"inherited by the sends a reply waits behind", []send{
			{PriorityNormal, "z", "z"},
			{PriorityBulk, "b", "b1"}, {PriorityBulk, "a", "a1"}, {PriorityBulk, "a", "a2"},
			{PriorityReply, "a", "a3"}, {PriorityNormal, "c", "c1"},
		}, "z a1 a2 a3 c1 b1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.gate = make(chan struct{})
				o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
				var chs []<-chan result
				for _, s := range tc.sends {
					chs = append(chs, queue(t.Context(), o, s.prio, conv(s.conv), s.text))
				}
				close(w.gate)
				mustOK(t, chs...)
				assert.Equal(t, tc.want, strings.Join(w.texts(), " "), "order")
			})
		})
	}
}

func TestOutboxMaxInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt, want int
	}{{3, 3}, {0, DefaultSendMaxInFlight}} {
		t.Run(fmt.Sprint(tc.opt), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.gate = make(chan struct{})
				o := newTestOutbox(t, SendOptions{MaxInFlight: tc.opt}, w)
				var chs []<-chan result
				for i := range 20 {
					chs = append(chs, start(t.Context(), o, PriorityNormal, conv(fmt.Sprint("c", i)), "x"))
				}
				synctest.Wait()
				q, _ := o.counts()
				assert.Equal(t, tc.want, w.total, "sends on the wire")
				assert.Equal(t, 20-tc.want, q, "sends queued")
				close(w.gate)
				mustOK(t, chs...)
				assert.Equal(t, tc.want, w.maxTotal, "most sends on the wire at once")
			})
		})
	}
}

// sinceStart returns the times of the calls, relative to t0, rounded to
// the millisecond (the limits' waits are computed in floating point).
func sinceStart(w *fakeWire, t0 time.Time) string {
	var out []string
	for _, c := range w.snapshot() {
		out = append(out, fmt.Sprintf("%s@%v", c.text, c.at.Sub(t0).Round(time.Millisecond)))
	}
	return strings.Join(out, " ")
}

func TestOutboxLimits(t *testing.T) {
	t.Parallel()
	type step struct {
		to   im.ConversationRef
		text string
	}
	a, b, l := conv("a"), conv("b"), live("l")
	for _, tc := range []struct {
		name  string
		opts  SendOptions
		sends []step
		want  string // text@time since the start, in call order
	}{{
		name:  "global",
		opts:  SendOptions{Global: Limit{Rate: 10, Burst: 2}},
		sends: []step{{a, "a1"}, {b, "b1"}, {a, "a2"}, {b, "b2"}, {conv("c"), "c1"}},
		want:  "a1@0s b1@0s a2@100ms b2@200ms c1@300ms",
	}, {
		// A conversation waiting for its limit holds no slot and holds up
		// no other conversation (MaxInFlight 1).
		name:  "per conversation",
		opts:  SendOptions{PerConversation: Limit{Rate: 10, Burst: 1}, MaxInFlight: 1},
		sends: []step{{a, "a1"}, {a, "a2"}, {a, "a3"}, {b, "b1"}, {b, "b2"}},
		want:  "a1@0s b1@0s a2@100ms b2@100ms a3@200ms",
	}, {
		name:  "burst defaults to 1",
		opts:  SendOptions{PerConversation: Limit{Rate: 10}},
		sends: []step{{a, "a1"}, {a, "a2"}},
		want:  "a1@0s a2@100ms",
	}, {
		// PerLiveChat replaces PerConversation for live chats.
		name:  "live",
		opts:  SendOptions{PerConversation: Limit{Rate: 1, Burst: 1}, PerLiveChat: Limit{Rate: 10, Burst: 1}},
		sends: []step{{l, "l1"}, {a, "a1"}, {l, "l2"}, {a, "a2"}, {l, "l3"}},
		want:  "l1@0s a1@0s l2@100ms l3@200ms a2@1s",
	}, {
		name:  "rate.Inf",
		opts:  SendOptions{Global: Limit{Rate: rate.Inf}, PerConversation: Limit{Rate: rate.Inf}},
		sends: []step{{a, "a1"}, {a, "a2"}, {a, "a3"}},
		want:  "a1@0s a2@0s a3@0s",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				o := newTestOutbox(t, tc.opts, w)
				t0 := time.Now()
				var chs []<-chan result
				for _, s := range tc.sends {
					chs = append(chs, start(t.Context(), o, PriorityNormal, s.to, s.text))
					// Queued in this order, not further (the clock has
					// not moved: the limits' waits are still running).
					synctest.Wait()
					require.Zero(t, time.Since(t0), "how far the clock moved while queueing")
				}
				mustOK(t, chs...)
				assert.Equal(t, tc.want, sinceStart(w, t0), "when the sends went out")
			})
		})
	}
}

// fakeClock is a clock for SendOptions.Now that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestOutboxNow: the limits read SendOptions.Now, not the real clock.
func TestOutboxNow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		w := newWire()
		o := newTestOutbox(t, SendOptions{Global: Limit{Rate: 1, Burst: 1}, Now: clock.Now}, w)
		ctx := t.Context()
		mustOK(t, queue(ctx, o, PriorityNormal, conv("a"), "a"))
		b := queue(ctx, o, PriorityNormal, conv("b"), "b") // no token yet
		require.Len(t, w.texts(), 1, "sent before the limit allowed")
		clock.advance(time.Second)
		t0 := time.Now()
		// A send arriving dispatches: by the fake clock b may go now, and
		// goes first; c waits for the next token.
		c := queue(ctx, o, PriorityNormal, conv("c"), "c")
		mustOK(t, b)
		require.Equal(t, "a b", strings.Join(w.texts(), " "), "sent")
		require.Zero(t, time.Since(t0), "the wait for \"a b\", want them at once")
		clock.advance(time.Second)
		mustOK(t, c) // when the timer fires, the fake clock allows it
	})
}

// rateLimited is the server's 429 answer with a retry hint.
func rateLimited(hint time.Duration) error {
	return &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_TOO_MANY_REQUESTS,
		Msg: "too many requests", RetryAfter: hint}
}

func TestOutboxRetryHonoursHint(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.fail = func(c call, n int) error {
			if n == 0 {
				return rateLimited(1500 * time.Millisecond)
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{}, w)
		ctx := t.Context()
		t0 := time.Now()
		a1 := queue(ctx, o, PriorityNormal, conv("a"), "a1") // fails, waits for its retry
		a2 := queue(ctx, o, PriorityReply, conv("a"), "a2")  // waits for a1: its conversation's order
		b1 := queue(ctx, o, PriorityReply, conv("b"), "b1")  // waits: the hint pauses every send
		r := <-a1
		require.NoError(t, r.err)
		mustOK(t, a2, b1)
		// a1's retry and b1 go at once, on two slots, in either order.
		at := map[string][]time.Duration{}
		ids := map[string][]string{}
		var order []string
		for _, c := range w.snapshot() {
			at[c.text] = append(at[c.text], c.at.Sub(t0))
			ids[c.text] = append(ids[c.text], c.clientID)
			order = append(order, c.text)
		}
		assert.Equal(t, "map[a1:[0s 1.5s] a2:[1.5s] b1:[1.5s]]", fmt.Sprint(at), "when the sends went out")
		assert.GreaterOrEqual(t, slices.Index(order, "a2"), 2, "order %v: a2 went before a1's retry", order)
		id := ids["a1"]
		assert.NotEmpty(t, id[0], "a1's client id")
		assert.Equal(t, id[0], id[1], "the client id of a1's retry")
		assert.Equal(t, id[0], r.m.ClientID, "the client id a1's send returned")
		assert.NotEqual(t, ids["a1"][0], ids["b1"][0], "b1 got a1's client id")
		assert.NotEqual(t, ids["a1"][0], ids["a2"][0], "a2 got a1's client id")
	})
}

func TestOutboxRetryKeepsClientID(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.fail = func(c call, n int) error {
			if n == 0 {
				return &im.Error{Type: im.ErrorTypeTimeout, Msg: "request failed"}
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{}, w)
		t0 := time.Now()
		_, err := o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "x", ClientID: "mine"})
		require.NoError(t, err)
		calls := w.snapshot()
		require.Len(t, calls, 2, "calls")
		require.Equal(t, "mine", calls[0].clientID, "the client id of the first call")
		require.Equal(t, "mine", calls[1].clientID, "the client id of the retry")
		assert.Equal(t, sendRetryBackoff, calls[1].at.Sub(t0), "the wait before the retry, want the backoff")
	})
}

// TestOutboxRetries: which failures are retried, how often, how soon.
func TestOutboxRetries(t *testing.T) {
	t.Parallel()
	network := &im.Error{Type: im.ErrorTypeNetwork, Msg: "request failed", Inner: errors.New("connection reset")}
	for _, tc := range []struct {
		name       string
		maxRetries int
		err        error
		wantGaps   []time.Duration // between the attempts
	}{
		{"network, default", 0, network, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"network, 1", 1, network, []time.Duration{100 * time.Millisecond}},
		{"network, -1", -1, network, nil},
		{"timeout", 1, &im.Error{Type: im.ErrorTypeTimeout, Msg: "request failed", Inner: context.DeadlineExceeded}, []time.Duration{100 * time.Millisecond}},
		{"429 without hint", 2, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_TOO_MANY_REQUESTS},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"429 with a shorter hint than the backoff", 2, rateLimited(10 * time.Millisecond), []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"429 with a hint", 2, rateLimited(time.Second), []time.Duration{time.Second, time.Second}},
		{"wrapped ErrRateLimited", 1, fmt.Errorf("proxy: %w", im.ErrRateLimited), []time.Duration{100 * time.Millisecond}},
		{"server error", 2, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_SERVER_ERR},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		// Logical answers are final.
		{"not a member", 3, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_USER_NOT_IN_GROUP}, nil},
		{"invalid argument", 3, &im.Error{Type: im.ErrorTypeInvalidArgument, Msg: "bad"}, nil},
		{"client closed", 3, &im.Error{Type: im.ErrorTypeClosed, Msg: "closed", Inner: im.ErrClosed}, nil},
		{"im.ErrClosed", 3, im.ErrClosed, nil},
		{"other", 3, errors.New("boom"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.fail = func(call, int) error { return tc.err }
				o := newTestOutbox(t, SendOptions{MaxRetries: tc.maxRetries}, w)
				m, err := o.send(t.Context(), PriorityNormal, conv("a"), im.OutgoingMessage{Content: "x"})
				require.ErrorIs(t, err, tc.err, "error")
				if assert.NotNil(t, m, "the send's message") {
					assert.Equal(t, im.FlightStatusFailed, m.FlightStatus, "the send's message's flight status")
				}
				calls := w.snapshot()
				var gaps []time.Duration
				for i := 1; i < len(calls); i++ {
					gaps = append(gaps, calls[i].at.Sub(calls[i-1].at))
				}
				assert.Equal(t, fmt.Sprint(tc.wantGaps), fmt.Sprint(gaps), "the gaps between the %d attempts (want %d)", len(calls), len(tc.wantGaps)+1)
				if n := len(calls); n > 1 {
					assert.ErrorContains(t, err, fmt.Sprintf("after %d attempts", n), "the error must tell the attempts")
				}
			})
		})
	}
}

// TestOutboxNoRetryAfterCancel: a send whose context ends is not retried,
// whatever the error says.
func TestOutboxNoRetryAfterCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		w := newWire()
		w.fail = func(call, int) error {
			cancel()
			return &im.Error{Type: im.ErrorTypeNetwork, Msg: "request failed", Inner: context.Canceled}
		}
		o := newTestOutbox(t, SendOptions{}, w)
		_, err := o.send(ctx, PriorityReply, conv("a"), im.OutgoingMessage{})
		assert.ErrorIs(t, err, context.Canceled, "error")
		assert.Len(t, w.snapshot(), 1, "attempts")
	})
}

// TestOutboxContextEnds: a caller whose context ends while its send waits
// gets a clear error, and the send leaves the queue.
func TestOutboxContextEnds(t *testing.T) {
	t.Parallel()
	t.Run("queued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			w.gate = make(chan struct{})
			o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
			z := queue(t.Context(), o, PriorityNormal, conv("z"), "z")
			ctx, cancel := context.WithCancel(t.Context())
			b := queue(ctx, o, PriorityReply, conv("b"), "b")
			c := queue(t.Context(), o, PriorityNormal, conv("c"), "c")
			cancel()
			r := <-b
			assert.EqualError(t, r.err, "bot: send to b not sent: context canceled", "b's error")
			assert.ErrorIs(t, r.err, context.Canceled, "b's error")
			q, _ := o.counts()
			assert.Equal(t, 1, q, "queued (c)")
			close(w.gate)
			mustOK(t, z, c)
			assert.Equal(t, "z c", strings.Join(w.texts(), " "), "sent")
			if c := o.convs["b"]; c != nil {
				assert.True(t, c.idle(&instant{now: o.now}), "b's conversation state is not idle: %+v", c)
			}
		})
	})
	t.Run("before", func(t *testing.T) {
		w := newWire()
		o := newTestOutbox(t, SendOptions{}, w)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := o.send(ctx, PriorityReply, conv("a"), im.OutgoingMessage{})
		assert.EqualError(t, err, "bot: send to a not sent: context canceled", "error")
		assert.Empty(t, w.snapshot(), "sent with a context already done")
	})
	t.Run("limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			o := newTestOutbox(t, SendOptions{Global: Limit{Rate: 1, Burst: 1}}, w)
			mustOK(t, queue(t.Context(), o, PriorityNormal, conv("a"), "a"))
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			_, err := o.send(ctx, PriorityNormal, conv("b"), im.OutgoingMessage{})
			assert.EqualError(t, err, "bot: send to b not sent: context deadline exceeded", "error")
			assert.ErrorIs(t, err, context.DeadlineExceeded, "error")
			q, _ := o.counts()
			assert.Zero(t, q, "queued")
			assert.Len(t, w.snapshot(), 1, "sent")
		})
	})
	t.Run("retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			w.fail = func(call, int) error { return rateLimited(5 * time.Second) }
			o := newTestOutbox(t, SendOptions{}, w)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := o.send(ctx, PriorityNormal, conv("a"), im.OutgoingMessage{})
			var e *im.Error
			if assert.ErrorIs(t, err, context.DeadlineExceeded, "error: want it wrapping the deadline") {
				assert.True(t, strings.HasPrefix(err.Error(), "bot: send to a given up after 1 attempts: context deadline exceeded"),
					"error %v, want one that gives up after 1 attempt", err)
			}
			if assert.ErrorAs(t, err, &e, "error: want it wrapping the 429") {
				assert.Equal(t, 5*time.Second, e.RetryAfter, "the 429's retry hint")
			}
			q, _ := o.counts()
			assert.Zero(t, q, "queued")
			assert.Len(t, w.snapshot(), 1, "sent")
		})
	})
}

// TestOutboxBackpressure: beyond MaxQueued a send waits for a place, the
// most urgent first, until its context ends.
func TestOutboxBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1, MaxQueued: 2}, w)
		ctx := t.Context()
		z := queue(ctx, o, PriorityNormal, conv("z"), "z") // on the wire
		q1 := queue(ctx, o, PriorityBulk, conv("q1"), "q1")
		q2 := queue(ctx, o, PriorityBulk, conv("q2"), "q2")
		p3 := queue(ctx, o, PriorityBulk, conv("p3"), "p3") // waits for a place
		q, p := o.counts()
		require.Equal(t, 2, q, "queued")
		require.Equal(t, 1, p, "waiting for a place")
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		t0 := time.Now()
		r := <-start(dctx, o, PriorityBulk, conv("p4"), "p4")
		assert.EqualError(t, r.err, "bot: send to p4 not sent: context deadline exceeded", "p4's error")
		assert.Equal(t, time.Second, time.Since(t0), "p4's wait for its error")
		r5 := queue(ctx, o, PriorityReply, conv("r5"), "r5") // takes the first place that frees, before p3
		q, p = o.counts()
		require.Equal(t, 2, q, "queued")
		require.Equal(t, 2, p, "waiting for a place")
		close(w.gate)
		mustOK(t, z, q1, q2, p3, r5)
		assert.Equal(t, "z q1 r5 q2 p3", strings.Join(w.texts(), " "), "order")
	})
}

func TestOutboxClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1, MaxQueued: 1}, w)
		ctx := t.Context()
		z := queue(ctx, o, PriorityNormal, conv("z"), "z") // on the wire
		q := queue(ctx, o, PriorityNormal, conv("q"), "q") // queued
		p := queue(ctx, o, PriorityNormal, conv("p"), "p") // waiting for a place
		o.close()
		o.close() // idempotent
		for name, ch := range map[string]<-chan result{"q": q, "p": p} {
			r := <-ch
			assert.ErrorIs(t, r.err, ErrClosed, "%s: error", name)
			assert.ErrorContains(t, r.err, "not sent", "%s: error", name)
		}
		_, err := o.send(ctx, PriorityReply, conv("x"), im.OutgoingMessage{})
		assert.ErrorIs(t, err, ErrClosed, "send after close")
		close(w.gate)
		mustOK(t, z) // in flight: finishes
		assert.Equal(t, "z", strings.Join(w.texts(), " "), "sent")
		assert.Zero(t, o.inFlight, "in flight after close")
		assert.Zero(t, o.queued, "queued after close")
	})
}

// TestOutboxCloseWaits: close wakes the sends waiting for a limit or a
// retry, and stops the timer; an attempt in flight that fails is not
// retried.
func TestOutboxCloseWaits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		release := make(chan struct{})
		w.fail = func(c call, n int) error {
			switch c.text {
			case "c1":
				return nil
			case "late":
				<-release
			}
			return rateLimited(time.Minute)
		}
		o := newTestOutbox(t, SendOptions{PerConversation: Limit{Rate: 0.001, Burst: 1}}, w)
		ctx := t.Context()
		mustOK(t, queue(ctx, o, PriorityNormal, conv("c"), "c1"))      // takes c's token
		late := queue(ctx, o, PriorityNormal, conv("b"), "late")       // on the wire
		retrying := queue(ctx, o, PriorityNormal, conv("a"), "retry")  // failed, waits a minute
		behind := queue(ctx, o, PriorityNormal, conv("a"), "behind")   // behind it
		limited := queue(ctx, o, PriorityNormal, conv("c"), "limited") // waits for a token (and the pause)
		t0 := time.Now()
		o.close()
		close(release)
		for name, ch := range map[string]<-chan result{"retrying": retrying, "behind": behind, "limited": limited} {
			assert.ErrorIs(t, (<-ch).err, ErrClosed, "%s: error", name)
		}
		r := <-late
		var e *im.Error
		assert.ErrorIs(t, r.err, ErrClosed, "late: error")
		assert.ErrorAs(t, r.err, &e, "late: error: want the 429")
		assert.ErrorContains(t, r.err, "not retried", "late: error")
		assert.Zero(t, time.Since(t0), "the clock close took")
		if o.timer != nil {
			assert.False(t, o.timer.Stop(), "the timer still runs after close")
		}
	})
}

// TestOutboxSendPanics: a sendFunc that panics frees its slot and its
// conversation; the panic goes up to the caller.
func TestOutboxSendPanics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) { // a slot never freed is a deadlock, which fails the test
		w := newWire()
		w.fail = func(c call, n int) error {
			if c.text == "panic" {
				panic("wire broke")
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
		assert.PanicsWithValue(t, "wire broke", func() {
			_, _ = o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "panic"})
		}, "the sendFunc's panic must go up to the caller")
		_, err := o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "after"})
		require.NoError(t, err)
		assert.Zero(t, o.inFlight, "in flight after the sends")
	})
}

func TestOutboxForgetsConversations(t *testing.T) {
	t.Parallel()
	t.Run("no limit", func(t *testing.T) {
		o := newTestOutbox(t, SendOptions{}, newWire())
		most := 0
		for i := range 1000 {
			_, err := o.send(t.Context(), PriorityNormal, conv(fmt.Sprint(i)), im.OutgoingMessage{})
			require.NoError(t, err)
			most = max(most, len(o.convs))
		}
		assert.LessOrEqual(t, most, minSweep, "conversation states at most: idle ones are swept")
	})
	t.Run("limit", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		o := newTestOutbox(t, SendOptions{PerConversation: Limit{Rate: 10, Burst: 1}, Now: clock.Now}, newWire())
		most := 0
		for i := range 1000 {
			if i%100 == 0 {
				clock.advance(time.Second) // the limiters of earlier conversations are full again
			}
			_, err := o.send(t.Context(), PriorityNormal, conv(fmt.Sprint(i)), im.OutgoingMessage{})
			require.NoError(t, err)
			most = max(most, len(o.convs))
		}
		// The limiters used in the last second are remembered (≤ 100 of
		// them), plus at most as many again before the next sweep.
		assert.LessOrEqual(t, most, 256, "conversation states at most")
	})
}

func TestNewOutboxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts    SendOptions
		wantErr string
	}{
		{SendOptions{MaxInFlight: -1}, "SendOptions.MaxInFlight must not be negative"},
		{SendOptions{MaxQueued: -2}, "SendOptions.MaxQueued must not be negative"},
		{SendOptions{MaxRetries: -2}, "SendOptions.MaxRetries must be -1 (none) or more"},
		{SendOptions{Global: Limit{Rate: -1}}, "SendOptions.Global.Rate must be a number ≥ 0, got -1"},
		{SendOptions{PerConversation: Limit{Rate: rate.Limit(math.NaN())}}, "SendOptions.PerConversation.Rate must be a number ≥ 0, got NaN"},
		{SendOptions{PerLiveChat: Limit{Rate: 1, Burst: -1}}, "SendOptions.PerLiveChat.Burst must not be negative"},
		{SendOptions{Global: Limit{Burst: 3}}, "SendOptions.Global.Burst (3) is set without a Rate"},
	} {
		_, err := newOutbox(tc.opts, newWire().send)
		if assert.ErrorContains(t, err, tc.wantErr, "newOutbox(%+v)", tc.opts) {
			assert.True(t, strings.HasPrefix(err.Error(), "bot: "), "newOutbox(%+v): %v, want a bot: error", tc.opts, err)
		}
	}
}

// TestOutboxDefaults checks the documented defaults (MaxInFlight is
// checked by TestOutboxMaxInFlight, MaxRetries by TestOutboxRetries).
func TestOutboxDefaults(t *testing.T) {
	t.Parallel()
	o, err := newOutbox(SendOptions{}, newWire().send)
	require.NoError(t, err)
	defer o.close()
	assert.Equal(t, 8, o.maxInFlight, "default in flight")
	assert.Equal(t, 1024, o.maxQueued, "default queued")
	assert.Equal(t, 3, o.maxRetries, "default retries")
	assert.Nil(t, o.global, "default global limit")
	assert.Zero(t, o.perConv, "default per conversation limit")
	assert.Zero(t, o.perLive, "default per live limit")
	assert.NotNil(t, o.now, "default clock")
	assert.Equal(t, PriorityNormal, sendConfigOf(nil).priority, "default priority")
	assert.Equal(t, PriorityBulk, sendConfigOf([]SendOption{WithPriority(PriorityBulk)}).priority, "WithPriority(Bulk)")
}

func TestOutboxQueueFills(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
		var chs []<-chan result
		for i := range DefaultSendMaxQueued + 2 {
			chs = append(chs, start(t.Context(), o, PriorityBulk, conv(fmt.Sprint(i)), "x"))
		}
		synctest.Wait()
		q, p := o.counts()
		assert.Equal(t, DefaultSendMaxQueued, q, "queued: want the default MaxQueued")
		assert.Equal(t, 1, p, "waiting for a place")
		close(w.gate)
		mustOK(t, chs...)
	})
}

func TestOutboxInvalidPriority(t *testing.T) {
	t.Parallel()
	w := newWire()
	o := newTestOutbox(t, SendOptions{}, w)
	for _, p := range []Priority{0, 4, -1} {
		_, err := o.send(t.Context(), p, conv("a"), im.OutgoingMessage{})
		assert.ErrorContains(t, err, "invalid priority "+p.String(), "priority %d", p)
	}
	assert.Empty(t, w.snapshot(), "a send with an invalid priority went out")
}

func TestPriorityString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Priority]string{PriorityReply: "Reply", PriorityNormal: "Normal", PriorityBulk: "Bulk", 0: "Priority(0)", 9: "Priority(9)"} {
		assert.Equal(t, want, p.String(), "Priority(%d).String()", int(p))
	}
}
